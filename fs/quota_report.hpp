// The quota's command-line side: `spoolfs --stats --by-user MOUNTPOINT` prints who holds
// what on a mounted spoolfs (table, --json or --prometheus), and `spoolfs --set-limit`
// changes a limit at run time. Both read or write the mount root's virtual xattrs
// (quota_xattrs.hpp), so they work for any caller the kernel lets reach the mount; the
// daemon decides what each may see or change.
#pragma once

#include <filesystem>

#include "options.hpp"

namespace spoolfs {

// Returns the exit status: 1 with a message when MOUNTPOINT is no spoolfs mount.
int print_usage_by_user(const std::filesystem::path& mountpoint, Options::StatsFormat format);

// Whether argv asks for --set-limit (its first argument).
bool is_set_limit_command(int argc, char** argv);
// spoolfs --set-limit MOUNTPOINT user|group ID|default [block=SIZE] [inodes=N]
// Returns the exit status: 2 for a bad argument (one line naming it), 1 when the mount
// refuses (EPERM: not CAP_SYS_ADMIN; ESRCH: that quota is off).
int set_limit_command(int argc, char** argv);

}  // namespace spoolfs
