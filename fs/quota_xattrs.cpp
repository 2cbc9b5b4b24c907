#include "quota_xattrs.hpp"

#include <linux/capability.h>

#include <cerrno>
#include <charconv>
#include <optional>

#include "options.hpp"

namespace spoolfs {
namespace {

// "ID" as a uid or gid; nullopt if it is not a number.
// user.spoolfs.quota.(user|group).(ID|default)
struct LimitName {
    bool group = false;
    std::optional<std::uint32_t> id;  // nullopt: the default
};
std::optional<LimitName> parse_limit_name(std::string_view name) {
    name.remove_prefix(quota_xattr_prefix.size());
    LimitName out;
    if (name.starts_with("user.")) {
        name.remove_prefix(5);
    } else if (name.starts_with("group.")) {
        name.remove_prefix(6);
        out.group = true;
    } else {
        return std::nullopt;
    }
    if (name == "default") return out;
    out.id = parse_number<std::uint32_t>(name);
    if (!out.id) return std::nullopt;
    return out;
}

bool privileged(const Requester& requester) {
    return has_capability(requester.pid, requester.uid, CAP_SYS_ADMIN);
}

std::string usage_line(const Quota::UserUsage& usage) {
    const auto& kinds = holding_names;
    std::string line;
    for (std::size_t i = 0; i < holding_kinds; ++i) {
        line += std::string(i ? " " : "") + kinds[i] + "_bytes=" + std::to_string(usage.bytes[i]);
        line += std::string(" ") + kinds[i] + "_files=" + std::to_string(usage.inodes[i]);
    }
    line += " block_limit=" + std::to_string(usage.limits.bytes);
    line += " inode_limit=" + std::to_string(usage.limits.inodes);
    return line;
}

}  // namespace

bool is_quota_xattr(std::string_view name) {
    return name.starts_with(quota_xattr_prefix) || name == by_user_xattr ||
           name.starts_with(user_usage_xattr_prefix);
}

bool parse_limit_change(std::string_view text, LimitChange& out) {
    if (text.ends_with('\0')) text.remove_suffix(1);
    out = {};
    bool any = false;
    while (!text.empty()) {
        const auto end = text.find(' ');
        const std::string_view word = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        if (word.empty()) continue;
        if (word.starts_with("block=") && !out.bytes) {
            out.bytes = parse_size(std::string(word.substr(6)));
            if (!out.bytes) return false;
        } else if (word.starts_with("inodes=") && !out.inodes) {
            out.inodes = parse_count(std::string(word.substr(7)));
            if (!out.inodes) return false;
        } else {
            return false;
        }
        any = true;
    }
    return any;
}

int get_quota_xattr(Filesystem& fs, Inode& inode, std::string_view name, const Requester& requester,
                    std::string& value) {
    if (inode.ino != FUSE_ROOT_ID) return ENODATA;
    if (name.starts_with(quota_xattr_prefix)) {
        auto target = parse_limit_name(name);
        if (!target) return ENODATA;
        const QuotaLimits limits = fs.quota.limits(target->group, target->id);
        value =
            "block=" + std::to_string(limits.bytes) + " inodes=" + std::to_string(limits.inodes);
        return 0;
    }
    if (name == by_user_xattr) {
        value.clear();
        const bool all = privileged(requester);
        for (uid_t uid : fs.quota.users()) {
            if (!all && uid != requester.uid) continue;
            value += (value.empty() ? "" : " ") + std::to_string(uid);
        }
        return 0;
    }
    const auto uid = parse_number<std::uint32_t>(name.substr(user_usage_xattr_prefix.size()));
    if (!uid) return ENODATA;
    if (*uid != requester.uid && !privileged(requester)) return EACCES;
    const auto usage = fs.quota.user(*uid);
    if (!usage) return ENODATA;
    value = usage_line(*usage);
    return 0;
}

int set_quota_xattr(Filesystem& fs, Inode& inode, std::string_view name, std::string_view value,
                    const Requester& requester) {
    if (!name.starts_with(quota_xattr_prefix)) return EPERM;  // the usage is read-only
    if (inode.ino != FUSE_ROOT_ID) return EINVAL;
    const auto target = parse_limit_name(name);
    if (!target) return EINVAL;
    LimitChange change;
    if (!parse_limit_change(value, change)) return EINVAL;
    if (!privileged(requester)) return EPERM;
    return fs.quota.set_limit(target->group, target->id, change.bytes, change.inodes);
}

}  // namespace spoolfs
