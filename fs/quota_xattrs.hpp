// The quota's virtual xattrs on the mount root: limits read and changed at run time, and
// the per-user usage (quota.hpp). Never stored, never listed.
//
// - user.spoolfs.quota.user.ID, user.spoolfs.quota.group.ID, and .default for each: the
//   hard limits, read as "block=BYTES inodes=N" (0: none); set with a value of
//   "block=SIZE", "inodes=N" or both (SIZE as size=, N as nr_inodes=; 0 removes the limit).
//   Setting needs CAP_SYS_ADMIN (EPERM otherwise) and the mount's usrquota or grpquota
//   (ESRCH otherwise, as quotactl(2)); `spoolfs --set-limit` does it.
// - user.spoolfs.stats.by_user: the uids holding something, space-separated; a caller
//   without CAP_SYS_ADMIN gets its own uid only. An xattr value ends at 64 KiB
//   (XATTR_SIZE_MAX): past some 9000 uids the list cannot be read (E2BIG), while each
//   uid's line still can.
// - user.spoolfs.stats.user.UID: "named_bytes=.. named_files=.. close_bytes=..
//   close_files=.. unlinked_bytes=.. unlinked_files=.. block_limit=.. inode_limit=..";
//   EACCES for another user's uid without CAP_SYS_ADMIN.
// Each function returns 0 or an errno value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "credentials.hpp"
#include "filesystem.hpp"

namespace spoolfs {

inline constexpr std::string_view quota_xattr_prefix = "user.spoolfs.quota.";
inline constexpr std::string_view by_user_xattr = "user.spoolfs.stats.by_user";
inline constexpr std::string_view user_usage_xattr_prefix = "user.spoolfs.stats.user.";

bool is_quota_xattr(std::string_view name);
int get_quota_xattr(Filesystem& fs, Inode& inode, std::string_view name, const Requester& requester,
                    std::string& value);
int set_quota_xattr(Filesystem& fs, Inode& inode, std::string_view name, std::string_view value,
                    const Requester& requester);

// "block=SIZE inodes=N" (either, or both, any order; a trailing NUL allowed): the limits
// it sets, or false if malformed.
struct LimitChange {
    std::optional<std::uint64_t> bytes;
    std::optional<std::uint64_t> inodes;
};
bool parse_limit_change(std::string_view text, LimitChange& out);

}  // namespace spoolfs
