// Attributes of inodes as the kernel sees them (struct stat, entry replies), and the
// timestamp rules of reads, writes and setattr. Each function takes the inode's mutex
// itself unless it says the caller holds it.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include "filesystem.hpp"

namespace spoolfs {

struct stat stat_of(Inode& inode);

// The reply to LOOKUP, MKNOD, CREATE, ...: lifetime-close regular files get no entry
// cache, so that their removal on the last release is seen at once.
fuse_entry_param entry_of(Filesystem& fs, Inode& inode);
// The same, for a caller that holds the namespace lock and read the lifetime under it.
fuse_entry_param entry_of(Inode& inode, Lifetime lifetime);

// setattr(2) family: FUSE_SET_ATTR_* bits of `to_set` taken from `attr`.
int set_attributes(Filesystem& fs, Inode& inode, const struct stat& attr, int to_set);

// Caller holds inode.mutex. A read happened (relatime rules) / the data changed.
void note_access(Inode& inode);
void note_modification(Inode& inode);

// A write, truncate or chown by an unprivileged caller: clears set-user-ID, set-group-ID
// (when group-executable) and security.capability, as the kernel would.
void kill_privileges(Inode& inode);
// The same, with the inode's mutex held.
void kill_privileges_locked(Inode& inode);

// Applies the release of a handle to the namespace (at most once), tells the kernel
// about the names a lifetime-close file lost, and notes in the handle whether the
// release ended passthrough (the caller then runs after_passthrough()).
void release_handle(Filesystem& fs, Handle& handle);

// copy_file_range(2) between two regular files; `done` bytes copied.
int copy_range(Filesystem& fs, Inode& in, std::uint64_t off_in, Inode& out, std::uint64_t off_out,
               std::size_t len, std::size_t& done);

}  // namespace spoolfs
