#include "stats.hpp"

#include <sys/xattr.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "filesystem.hpp"

namespace spoolfs {

const std::vector<std::string_view>& stat_names() {
    static const std::vector<std::string_view> names = {
        "ram_bytes",   "spilled_bytes", "files_in_ram", "files_spilled",
        "files_close", "files_mount",   "passthrough",  "files_passthrough",
    };
    return names;
}

std::optional<std::uint64_t> stat_value(Filesystem& fs, std::string_view name) {
    if (name == "ram_bytes" || name == "spilled_bytes") {
        Storage::Usage usage = fs.storage.usage();
        return name == "ram_bytes" ? usage.ram : usage.used - usage.ram;
    }
    if (name == "passthrough") return fs.passthrough.available() ? 1 : 0;
    if (name == "files_passthrough") return fs.passthrough.active();
    Tree::Census census = fs.tree.census();
    if (name == "files_in_ram") return census.in_ram;
    if (name == "files_spilled") return census.spilled;
    if (name == "files_close") return census.close;
    if (name == "files_mount") return census.mount;
    return std::nullopt;
}

int print_stats(const std::filesystem::path& mountpoint) {
    std::printf("%-18s %s\n", "statistic", "value");
    for (std::string_view name : stat_names()) {
        std::string xattr = std::string(stats_xattr_prefix) + std::string(name);
        char value[32];
        ssize_t n = ::getxattr(mountpoint.c_str(), xattr.c_str(), value, sizeof(value) - 1);
        if (n < 0) {
            std::fprintf(stderr, "spoolfs: %s: not a spoolfs mount (%s: %s)\n", mountpoint.c_str(),
                         xattr.c_str(), std::strerror(errno));
            return 1;
        }
        value[n] = '\0';
        std::printf("%-18.*s %s\n", static_cast<int>(name.size()), name.data(), value);
    }
    return 0;
}

}  // namespace spoolfs
