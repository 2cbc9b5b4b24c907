// Preflight: what must hold on this machine before spoolfs mounts, checked before anything
// is mounted or started, so that a start that cannot succeed fails with one line naming
// the cause (and leaves nothing behind) instead of libfuse's and fusermount3's messages:
// - the mount point is not already a spoolfs mount;
// - /dev/fuse exists and this process may open it;
// - a plain user has fusermount3 (libfuse mounts through it) and an entry in the user
//   database (fusermount3 refuses others), and may use allow_other only where
//   /etc/fuse.conf says user_allow_other.
// Option syntax and directories are options.hpp's; this reads the running system.
#pragma once

#include <optional>
#include <string>

#include "options.hpp"

namespace spoolfs {

// Whether fusermount3 is there, where libfuse looks for it (/usr/bin, then the PATH): a
// plain user mounts through it, and auto_unmount is a fusermount3 process.
bool fusermount_found();

// The reason the mount cannot be made, without the "spoolfs: " prefix; nullopt if none.
std::optional<std::string> preflight(const Options& options);

// The file system type of the top-most mount at `path` (canonical), as in
// /proc/self/mountinfo ("fuse.spoolfs", "tmpfs"), or nullopt when nothing is mounted there.
std::optional<std::string> mounted_type(const std::string& path);

}  // namespace spoolfs
