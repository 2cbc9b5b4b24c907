#include "xattrs.hpp"

#include <sys/xattr.h>

#include <cerrno>
#include <chrono>
#include <mutex>
#include <optional>

#include "clock.hpp"
#include "stats.hpp"

namespace spoolfs {
namespace {

constexpr std::size_t xattr_name_max = 255;
constexpr std::size_t xattr_size_max = 65536;

int check_name(std::string_view name) {
    if (name.size() > xattr_name_max) return ERANGE;
    for (std::string_view prefix : {"user.", "trusted.", "security."}) {
        if (name.starts_with(prefix) && name.size() > prefix.size()) return 0;
    }
    return EOPNOTSUPP;
}

std::optional<Lifetime> parse_lifetime(std::string_view value) {
    if (value.ends_with('\0')) value.remove_suffix(1);
    if (value == "close") return Lifetime::close;
    if (value == "mount") return Lifetime::mount;
    return std::nullopt;
}

// A regular file that becomes lifetime-close may have names the kernel caches for
// long: have them expired before replying, so that the file's last close is seen at once.
int change_lifetime(Filesystem& fs, Inode& inode, Lifetime lifetime) {
    bool to_close =
        inode.is_reg() && lifetime == Lifetime::close && fs.tree.lifetime(inode) == Lifetime::mount;
    if (int err = fs.tree.set_lifetime(inode, lifetime)) return err;
    if (!to_close) return 0;
    std::uint64_t ticket = 0;
    for (auto& [parent, name] : fs.tree.names_of(inode))
        ticket = fs.notifier.push({parent, inode.ino, std::move(name)}, Notifier::Notice::expired);
    if (ticket) fs.notifier.wait(ticket, std::chrono::milliseconds(500));
    return 0;
}

}  // namespace

int set_xattr(Filesystem& fs, Inode& inode, std::string_view name, std::string_view value,
              int flags) {
    if (name == lifetime_xattr) {
        auto lifetime = parse_lifetime(value);
        if (!lifetime) return EINVAL;
        return change_lifetime(fs, inode, *lifetime);
    }
    if (int err = check_name(name)) return err;
    if (value.size() > xattr_size_max) return E2BIG;
    std::lock_guard lock(inode.mutex);
    auto it = inode.xattrs.find(name);
    if (it != inode.xattrs.end() && (flags & XATTR_CREATE)) return EEXIST;
    if (it == inode.xattrs.end() && (flags & XATTR_REPLACE)) return ENODATA;
    if (it == inode.xattrs.end())
        inode.xattrs.emplace(std::string(name), std::string(value));
    else
        it->second.assign(value);
    inode.ctime = now();
    return 0;
}

int get_xattr(Filesystem& fs, Inode& inode, std::string_view name, std::string& value) {
    if (inode.ino == FUSE_ROOT_ID && name.starts_with(stats_xattr_prefix)) {
        auto stat = stat_value(fs, name.substr(stats_xattr_prefix.size()));
        if (!stat) return ENODATA;
        value = std::to_string(*stat);
        return 0;
    }
    if (name == lifetime_xattr) {
        if (!inode.is_reg() && !inode.is_dir()) return ENODATA;
        value = fs.tree.lifetime(inode) == Lifetime::close ? "close" : "mount";
        return 0;
    }
    if (int err = check_name(name)) return err;
    std::lock_guard lock(inode.mutex);
    auto it = inode.xattrs.find(name);
    if (it == inode.xattrs.end()) return ENODATA;
    value = it->second;
    return 0;
}

int remove_xattr(Filesystem& fs, Inode& inode, std::string_view name) {
    if (name == lifetime_xattr) return change_lifetime(fs, inode, fs.default_lifetime);
    if (int err = check_name(name)) return err;
    std::lock_guard lock(inode.mutex);
    auto it = inode.xattrs.find(name);
    if (it == inode.xattrs.end()) return ENODATA;
    inode.xattrs.erase(it);
    inode.ctime = now();
    return 0;
}

std::string list_xattrs(Inode& inode) {
    std::string names;
    std::lock_guard lock(inode.mutex);
    for (const auto& [name, value] : inode.xattrs) {
        names += name;
        names += '\0';
    }
    return names;
}

}  // namespace spoolfs
