#include "quota_report.hpp"

#include <sys/xattr.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "quota_xattrs.hpp"
#include "stats.hpp"

namespace spoolfs {
namespace {

// The columns of a user's line, as user.spoolfs.stats.user.UID gives them, totals first.
constexpr std::string_view kColumns[] = {
    "bytes",       "files",          "named_bytes",    "named_files", "close_bytes",
    "close_files", "unlinked_bytes", "unlinked_files", "block_limit", "inode_limit"};

struct UserLine {
    std::string uid;
    std::map<std::string, std::string, std::less<>> values;
};

// An xattr of the mount root; nullopt with errno set on failure.
std::optional<std::string> read_xattr(const std::filesystem::path& path, const std::string& name) {
    for (int attempt = 0; attempt < 4; ++attempt) {
        const ssize_t size = ::getxattr(path.c_str(), name.c_str(), nullptr, 0);
        if (size < 0) return std::nullopt;
        std::string value(static_cast<std::size_t>(size), '\0');
        const ssize_t n = ::getxattr(path.c_str(), name.c_str(), value.data(), value.size());
        if (n >= 0) {
            value.resize(static_cast<std::size_t>(n));
            return value;
        }
        if (errno != ERANGE) return std::nullopt;  // grew meanwhile: ask again
    }
    return std::nullopt;
}

std::vector<std::string> words(std::string_view text) {
    std::vector<std::string> out;
    while (!text.empty()) {
        const auto end = text.find(' ');
        if (end != 0) out.emplace_back(text.substr(0, end));
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 1);
    }
    return out;
}

UserLine parse_line(const std::string& uid, const std::string& text) {
    UserLine line{uid, {}};
    std::uint64_t bytes = 0, files = 0;
    for (const std::string& word : words(text)) {
        const auto eq = word.find('=');
        if (eq == std::string::npos) continue;
        const std::string key = word.substr(0, eq), value = word.substr(eq + 1);
        line.values[key] = value;
        const std::uint64_t n = std::strtoull(value.c_str(), nullptr, 10);
        if (key.ends_with("_bytes")) bytes += n;
        if (key.ends_with("_files")) files += n;
    }
    line.values["bytes"] = std::to_string(bytes);
    line.values["files"] = std::to_string(files);
    return line;
}

std::string value_of(const UserLine& line, std::string_view column) {
    auto it = line.values.find(column);
    return it == line.values.end() ? "0" : it->second;
}

void print_table(const std::vector<UserLine>& lines) {
    std::printf("%-10s", "uid");
    for (std::string_view column : kColumns)
        std::printf(" %*.*s", static_cast<int>(column.size()), static_cast<int>(column.size()),
                    column.data());
    std::printf("\n");
    for (const UserLine& line : lines) {
        std::printf("%-10s", line.uid.c_str());
        for (std::string_view column : kColumns)
            std::printf(" %*s", static_cast<int>(column.size()), value_of(line, column).c_str());
        std::printf("\n");
    }
}

void print_json(const std::filesystem::path& mountpoint, const std::vector<UserLine>& lines) {
    std::printf("{\"mountpoint\": %s, \"users\": [", escaped_literal(mountpoint.string()).c_str());
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::printf("%s{\"uid\": %s", i ? ", " : "", lines[i].uid.c_str());
        for (std::string_view column : kColumns)
            std::printf(", \"%.*s\": %s", static_cast<int>(column.size()), column.data(),
                        value_of(lines[i], column).c_str());
        std::printf("}");
    }
    std::printf("]}\n");
}

void print_prometheus(const std::filesystem::path& mountpoint, const std::vector<UserLine>& lines) {
    const std::string mount = "mountpoint=" + escaped_literal(mountpoint.string());
    struct Metric {
        const char* name;
        const char* help;
        const char* suffix;  // "_bytes", "_files", or a column of its own
    };
    static constexpr Metric metrics[] = {
        {"spoolfs_user_bytes", "Bytes a user's files hold, by how they are held.", "_bytes"},
        {"spoolfs_user_files", "Files a user owns, by how they are held.", "_files"},
        {"spoolfs_user_block_limit", "A user's byte hard limit (0: none).", "block_limit"},
        {"spoolfs_user_inode_limit", "A user's inode hard limit (0: none).", "inode_limit"},
    };
    for (const Metric& m : metrics) {
        std::printf("# HELP %s %s\n# TYPE %s gauge\n", m.name, m.help, m.name);
        const bool split = m.suffix[0] == '_';
        for (const UserLine& line : lines) {
            if (!split) {
                std::printf("%s{%s,uid=\"%s\"} %s\n", m.name, mount.c_str(), line.uid.c_str(),
                            value_of(line, m.suffix).c_str());
                continue;
            }
            for (const char* holding : holding_names)
                std::printf("%s{%s,uid=\"%s\",holding=\"%s\"} %s\n", m.name, mount.c_str(),
                            line.uid.c_str(), holding,
                            value_of(line, std::string(holding) + m.suffix).c_str());
        }
    }
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "spoolfs: %s\n", message.c_str());
    return 2;
}

}  // namespace

int print_usage_by_user(const std::filesystem::path& mountpoint, Options::StatsFormat format) {
    const std::string list_name(by_user_xattr);
    const auto list = read_xattr(mountpoint, list_name);
    if (!list) {
        std::fprintf(stderr, "spoolfs: %s: not a spoolfs mount (%s: %s)\n", mountpoint.c_str(),
                     list_name.c_str(), std::strerror(errno));
        return 1;
    }
    std::vector<UserLine> lines;
    for (const std::string& uid : words(*list)) {
        // A user whose last file went meanwhile has no line: skipped.
        if (auto text = read_xattr(mountpoint, std::string(user_usage_xattr_prefix) + uid))
            lines.push_back(parse_line(uid, *text));
    }
    switch (format) {
        case Options::StatsFormat::table:
            print_table(lines);
            break;
        case Options::StatsFormat::json:
            print_json(mountpoint, lines);
            break;
        case Options::StatsFormat::prometheus:
            print_prometheus(mountpoint, lines);
            break;
    }
    return 0;
}

bool is_set_limit_command(int argc, char** argv) {
    return argc >= 2 && std::strcmp(argv[1], "--set-limit") == 0;
}

int set_limit_command(int argc, char** argv) {
    constexpr const char* usage =
        "usage: spoolfs --set-limit MOUNTPOINT user|group ID|default [block=SIZE] [inodes=N]";
    if (argc < 6 || argc > 7) return usage_error(std::string("--set-limit: ") + usage);
    const std::string mountpoint = argv[2], kind = argv[3], id = argv[4];
    if (kind != "user" && kind != "group")
        return usage_error("--set-limit: '" + kind + "': must be user or group");
    const auto number = parse_number<std::uint32_t>(id);
    // (uid_t)-1 names no id (chown's "unchanged").
    if (id != "default" && (!number || *number == std::uint32_t(-1)))
        return usage_error("--set-limit: '" + id + "': not a numeric " + kind + " id or default");
    std::string value;
    for (int i = 5; i < argc; ++i) value += (value.empty() ? "" : " ") + std::string(argv[i]);
    LimitChange change;
    if (!parse_limit_change(value, change))
        return usage_error("--set-limit: '" + value + "': not block=SIZE and/or inodes=N");
    const std::string name = std::string(quota_xattr_prefix) + kind + "." + id;
    if (::setxattr(mountpoint.c_str(), name.c_str(), value.data(), value.size(), 0) != 0) {
        const int err = errno;
        std::string why = std::strerror(err);
        if (err == EPERM) why += ": changing limits needs CAP_SYS_ADMIN";
        if (err == ESRCH)
            why += ": the mount has no " + std::string(kind == "user" ? "usrquota" : "grpquota");
        std::fprintf(stderr, "spoolfs: %s: %s\n", mountpoint.c_str(), why.c_str());
        return 1;
    }
    return 0;
}

}  // namespace spoolfs
