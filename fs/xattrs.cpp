#include "xattrs.hpp"

#include <linux/capability.h>
#include <sys/xattr.h>

#include <cerrno>
#include <chrono>
#include <mutex>
#include <optional>

#include "clock.hpp"
#include "credentials.hpp"
#include "quota_xattrs.hpp"
#include "stats.hpp"

namespace spoolfs {
namespace {

constexpr std::size_t xattr_name_max = 255;
constexpr std::size_t xattr_size_max = 65536;
constexpr std::size_t xattr_list_max = 65536;
// What one attribute costs beyond its name and value: the map node and two strings.
constexpr std::uint64_t entry_overhead = 128;

std::uint64_t cost_of(std::string_view name, std::string_view value) {
    return name.size() + value.size() + entry_overhead;
}

int check_name(std::string_view name) {
    if (name.size() > xattr_name_max) return ERANGE;
    for (std::string_view prefix : {"user.", "trusted.", "security."}) {
        // A namespace with no name in it: the VFS says EINVAL, as tmpfs gives.
        if (name.starts_with(prefix)) return name.size() > prefix.size() ? 0 : EINVAL;
    }
    return EOPNOTSUPP;
}

std::optional<Lifetime> parse_lifetime(std::string_view value) {
    if (value.ends_with('\0')) value.remove_suffix(1);
    if (value == "close") return Lifetime::close;
    if (value == "mount") return Lifetime::mount;
    return std::nullopt;
}

bool owns(const Inode& inode, const Requester& requester) {
    uid_t owner;
    {
        std::lock_guard lock(inode.mutex);
        owner = inode.uid;
    }
    return requester.uid == owner || has_capability(requester.pid, requester.uid, CAP_FOWNER);
}

// A regular file that becomes lifetime-close may have names the kernel caches for
// long: have them expired before replying, so that the file's last close is seen at once.
int change_lifetime(Filesystem& fs, Inode& inode, Lifetime lifetime, const Requester& requester) {
    if (!inode.is_reg() && !inode.is_dir()) return EINVAL;
    if (!owns(inode, requester)) return EPERM;
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

int change_expire(Filesystem& fs, Inode& inode, std::chrono::seconds expire,
                  const Requester& requester) {
    if (!inode.is_reg() && !inode.is_dir()) return EINVAL;
    if (!owns(inode, requester)) return EPERM;
    if (int err = fs.tree.set_expire(inode, expire)) return err;
    fs.expiry.consider(expire);
    return 0;
}

bool is_statistic(std::string_view name) {
    return name.starts_with(stats_xattr_prefix);
}

// Bytes outside file data: the owner's quota, then size= and ram=; nothing on failure.
int charge(Filesystem& fs, Inode& inode, std::uint64_t bytes) {
    if (int err = fs.quota.charge(inode.quota, bytes)) return err;
    if (int err = fs.storage.charge_metadata(bytes)) {
        fs.quota.uncharge(inode.quota, bytes);
        return err;
    }
    return 0;
}

void release(Filesystem& fs, Inode& inode, std::uint64_t bytes) {
    fs.storage.release_metadata(bytes);
    fs.quota.uncharge(inode.quota, bytes);
}

}  // namespace

int set_xattr(Filesystem& fs, Inode& inode, std::string_view name, std::string_view value,
              int flags, const Requester& requester) {
    if (name == lifetime_xattr) {
        auto lifetime = parse_lifetime(value);
        if (!lifetime) return EINVAL;
        return change_lifetime(fs, inode, *lifetime, requester);
    }
    if (name == expire_xattr) {
        auto expire = parse_duration(value);
        if (!expire) return EINVAL;
        return change_expire(fs, inode, *expire, requester);
    }
    if (is_quota_xattr(name)) return set_quota_xattr(fs, inode, name, value, requester);
    if (is_statistic(name)) return EPERM;
    if (int err = check_name(name)) return err;
    if (value.size() > xattr_size_max) return E2BIG;
    std::lock_guard lock(inode.mutex);
    auto it = inode.xattrs.find(name);
    if (it != inode.xattrs.end() && (flags & XATTR_CREATE)) return EEXIST;
    if (it == inode.xattrs.end() && (flags & XATTR_REPLACE)) return ENODATA;
    if (it == inode.xattrs.end()) {
        if (inode.xattr_names + name.size() + 1 > xattr_list_max) return ENOSPC;
        std::uint64_t cost = cost_of(name, value);
        if (int err = charge(fs, inode, cost)) return err;
        try {
            inode.xattrs.emplace(std::string(name), std::string(value));
        } catch (...) {
            release(fs, inode, cost);
            throw;
        }
        inode.xattr_names += name.size() + 1;
        inode.xattr_bytes += cost;
    } else {
        std::size_t old_size = it->second.size();
        if (value.size() > old_size) {
            if (int err = charge(fs, inode, value.size() - old_size)) return err;
            try {
                it->second.assign(value);
            } catch (...) {
                release(fs, inode, value.size() - old_size);
                throw;
            }
        } else {
            it->second.assign(value);
            release(fs, inode, old_size - value.size());
        }
        inode.xattr_bytes = inode.xattr_bytes - old_size + value.size();
    }
    inode.ctime = now();
    return 0;
}

int get_xattr(Filesystem& fs, Inode& inode, std::string_view name, std::string& value,
              const Requester& requester) {
    if (is_quota_xattr(name)) return get_quota_xattr(fs, inode, name, requester, value);
    if (inode.ino == FUSE_ROOT_ID && is_statistic(name)) {
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
    if (name == expire_xattr) {
        if (!inode.is_reg() && !inode.is_dir()) return ENODATA;
        value = format_duration(fs.tree.expire(inode));
        return 0;
    }
    if (int err = check_name(name)) return err;
    std::lock_guard lock(inode.mutex);
    auto it = inode.xattrs.find(name);
    if (it == inode.xattrs.end()) return ENODATA;
    value = it->second;
    return 0;
}

int remove_xattr(Filesystem& fs, Inode& inode, std::string_view name, const Requester& requester) {
    if (name == lifetime_xattr) return change_lifetime(fs, inode, fs.default_lifetime, requester);
    if (name == expire_xattr) return change_expire(fs, inode, fs.default_expire, requester);
    if (is_statistic(name) || is_quota_xattr(name)) return EPERM;
    if (int err = check_name(name)) return err;
    std::lock_guard lock(inode.mutex);
    if (!erase_xattr_locked(fs, inode, name)) return ENODATA;
    inode.ctime = now();
    return 0;
}

std::string list_xattrs(Inode& inode, const Requester& requester) {
    std::string names;
    bool has_trusted = false;
    {
        std::lock_guard lock(inode.mutex);
        for (const auto& [name, value] : inode.xattrs) has_trusted |= name.starts_with("trusted.");
    }
    // Read /proc only when the answer matters, and never under the inode's mutex.
    bool show_trusted = has_trusted && has_capability(requester.pid, requester.uid, CAP_SYS_ADMIN);
    std::lock_guard lock(inode.mutex);
    for (const auto& [name, value] : inode.xattrs) {
        if (!show_trusted && name.starts_with("trusted.")) continue;
        names += name;
        names += '\0';
    }
    return names;
}

bool erase_xattr_locked(Filesystem& fs, Inode& inode, std::string_view name) {
    auto it = inode.xattrs.find(name);
    if (it == inode.xattrs.end()) return false;
    std::uint64_t cost = cost_of(it->first, it->second);
    inode.xattr_names -= it->first.size() + 1;
    inode.xattr_bytes -= cost;
    inode.xattrs.erase(it);
    release(fs, inode, cost);
    return true;
}

void release_xattrs(Filesystem& fs, Inode& inode) {
    release(fs, inode, inode.xattr_bytes);
    inode.xattr_bytes = 0;
    inode.xattr_names = 0;
    inode.xattrs.clear();
}

}  // namespace spoolfs
