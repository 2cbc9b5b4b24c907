#include "stats.hpp"

#include <sys/xattr.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <string>

#include "filesystem.hpp"

namespace spoolfs {
namespace {

// A string as a JSON string or a Prometheus label value: both escape \ and " and a newline.
std::string string_literal(std::string_view text) {
    std::string out = "\"";
    for (char ch : text) {
        if (ch == '\\' || ch == '"')
            out += {'\\', ch};
        else if (ch == '\n')
            out += "\\n";
        else if (static_cast<unsigned char>(ch) < 0x20)
            out += ' ';
        else
            out += ch;
    }
    return out + "\"";
}

void print_table(const std::vector<std::pair<std::string_view, std::string>>& values) {
    std::printf("%-18s %s\n", "statistic", "value");
    for (const auto& [name, value] : values)
        std::printf("%-18.*s %s\n", static_cast<int>(name.size()), name.data(), value.c_str());
}

void print_json(const std::filesystem::path& mountpoint,
                const std::vector<std::pair<std::string_view, std::string>>& values) {
    std::printf("{\"mountpoint\": %s", string_literal(mountpoint.string()).c_str());
    for (const auto& [name, value] : values)
        std::printf(", \"%.*s\": %s", static_cast<int>(name.size()), name.data(), value.c_str());
    std::printf("}\n");
}

void print_prometheus(const std::filesystem::path& mountpoint,
                      const std::vector<std::pair<std::string_view, std::string>>& values) {
    const std::string label = "{mountpoint=" + string_literal(mountpoint.string()) + "}";
    for (std::size_t i = 0; i < values.size(); ++i) {
        const StatInfo& info = stat_infos()[i];
        const std::string metric = "spoolfs_" + std::string(info.name);
        std::printf("# HELP %s %.*s\n# TYPE %s gauge\n%s%s %s\n", metric.c_str(),
                    static_cast<int>(info.help.size()), info.help.data(), metric.c_str(),
                    metric.c_str(), label.c_str(), values[i].second.c_str());
    }
}

}  // namespace

const std::vector<StatInfo>& stat_infos() {
    static const std::vector<StatInfo> infos = {
        {"ram_bytes", "File data and extended attributes held in RAM (heap and RAM store)."},
        {"spilled_bytes", "File data rolled over to the spill directory."},
        {"files_in_ram", "Regular files whose data is in RAM."},
        {"files_spilled", "Regular files whose data is on disk."},
        {"files_close", "Named regular files that vanish at their last close."},
        {"files_mount", "Named regular files that live until unlinked or unmounted."},
        {"passthrough", "1 if the kernel serves files directly (kernel passthrough)."},
        {"files_passthrough", "Files the kernel serves directly now."},
        {"files_expired", "Files, symlinks and directories expiry removed since the mount."},
        {"ram_budget_bytes", "RAM budget in force: ram=, less while memory pressure lasts."},
        {"pressure_level", "Memory pressure: 0 none, 1 easing, 2 short of memory, 3 stalling."},
        {"pressure_bytes", "Bytes moved from RAM to disk because of memory pressure."},
        {"pressure_files", "Files moved from RAM to disk because of memory pressure."},
        {"ring", "1 if FUSE over io_uring serves the requests, 0 if /dev/fuse does."},
        {"ring_queues", "io_uring queues serving requests (one per possible CPU)."},
        {"ring_requests", "Requests served over io_uring since the mount."},
        {"ring_buffer_bytes", "Memory of the io_uring queues' request buffers."},
    };
    return infos;
}

std::optional<std::uint64_t> stat_value(Filesystem& fs, std::string_view name) {
    if (name == "ram_bytes" || name == "spilled_bytes") {
        Storage::Usage usage = fs.storage.usage();
        return name == "ram_bytes" ? usage.ram : usage.used - usage.ram;
    }
    if (name == "passthrough") return fs.passthrough.available() ? 1 : 0;
    if (name == "files_passthrough") return fs.passthrough.active();
    if (name == "ram_budget_bytes") return fs.pressure.budget();
    if (name == "pressure_level") return fs.pressure.level();
    if (name == "pressure_bytes") return fs.pressure.moved_bytes();
    if (name == "pressure_files") return fs.pressure.moved_files();
    if (name == "ring") return fs.ring.serving() ? 1 : 0;
    if (name == "ring_queues") return fs.ring.queue_count();
    if (name == "ring_requests") return fs.ring.requests();
    if (name == "ring_buffer_bytes") return fs.ring.buffer_bytes();
    Tree::Census census = fs.tree.census();
    // A file freed a moment ago may still be counted on disk: never below zero.
    std::uint64_t on_disk = std::min(fs.storage.files_on_disk(), census.files);
    if (name == "files_in_ram") return census.files - on_disk;
    if (name == "files_spilled") return on_disk;
    if (name == "files_close") return census.close;
    if (name == "files_mount") return census.mount;
    if (name == "files_expired") return census.expired;
    return std::nullopt;
}

int print_stats(const std::filesystem::path& mountpoint, Options::StatsFormat format) {
    std::vector<std::pair<std::string_view, std::string>> values;
    for (const StatInfo& info : stat_infos()) {
        std::string xattr = std::string(stats_xattr_prefix) + std::string(info.name);
        char value[32];
        ssize_t n = ::getxattr(mountpoint.c_str(), xattr.c_str(), value, sizeof(value) - 1);
        if (n < 0) {
            std::fprintf(stderr, "spoolfs: %s: not a spoolfs mount (%s: %s)\n", mountpoint.c_str(),
                         xattr.c_str(), std::strerror(errno));
            return 1;
        }
        values.emplace_back(info.name, std::string(value, static_cast<std::size_t>(n)));
    }
    switch (format) {
        case Options::StatsFormat::table:
            print_table(values);
            break;
        case Options::StatsFormat::json:
            print_json(mountpoint, values);
            break;
        case Options::StatsFormat::prometheus:
            print_prometheus(mountpoint, values);
            break;
    }
    return 0;
}

std::string escaped_literal(std::string_view text) {
    return string_literal(text);
}

}  // namespace spoolfs
