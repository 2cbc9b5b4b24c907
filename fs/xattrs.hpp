// Extended attributes: the user., trusted. and security. namespaces as tmpfs keeps them,
// plus the virtual `user.spoolfs.lifetime`, which reads and sets a file's lifetime (or
// the one a directory passes on to what is created in it), and `user.spoolfs.expire`, the
// same for expiry (a duration such as "10m", or "off"; expiry.hpp). Each function returns 0 or an
// errno value and takes the locks it needs.
//
// Limits: every attribute is charged against size= and ram= (Storage::charge_metadata)
// as its name, its value and a fixed overhead, and given back when it goes with its inode;
// the names of one inode's attributes take at most 64 KiB (XATTR_LIST_MAX), so that
// listxattr(2) can always return them. Past either: ENOSPC, nothing changed.
//
// # Security
// - Only a file's owner, or a caller with CAP_FOWNER, changes its lifetime or expiry: both
//   make names vanish, which unlink's rules (sticky directories) would forbid to anyone
//   else.
// - trusted.* names are listed only to callers with CAP_SYS_ADMIN (the kernel guards
//   their values itself).
// - user.spoolfs.stats.* are the mount's statistics, computed on the root: never stored.
// - user.spoolfs.quota.* (limits) and the per-user usage: quota_xattrs.hpp.
#pragma once

#include <string>
#include <string_view>

#include "credentials.hpp"
#include "filesystem.hpp"

namespace spoolfs {

inline constexpr std::string_view lifetime_xattr = "user.spoolfs.lifetime";
inline constexpr std::string_view expire_xattr = "user.spoolfs.expire";

int set_xattr(Filesystem& fs, Inode& inode, std::string_view name, std::string_view value,
              int flags, const Requester& requester);
int get_xattr(Filesystem& fs, Inode& inode, std::string_view name, std::string& value,
              const Requester& requester);
int remove_xattr(Filesystem& fs, Inode& inode, std::string_view name, const Requester& requester);

// The names, each followed by a NUL, as listxattr(2) returns them to `requester`.
std::string list_xattrs(Inode& inode, const Requester& requester);

// Removes the attribute `name` if present, giving its charge back. Caller holds the
// inode's mutex. Returns whether it was there.
bool erase_xattr_locked(Filesystem& fs, Inode& inode, std::string_view name);

// An inode is freed: its attributes' charge goes back. Caller holds the inode's mutex
// or owns the inode alone.
void release_xattrs(Filesystem& fs, Inode& inode);

}  // namespace spoolfs
