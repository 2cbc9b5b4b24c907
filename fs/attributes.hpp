// Attributes of inodes as the kernel sees them (struct stat, entry replies), and the
// timestamp rules of reads, writes and setattr. Each function takes the inode's mutex
// itself unless it says the caller holds it.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include "credentials.hpp"
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

// A SETATTR that sets nothing: the kernel asks to clear the set-id bits of a regular
// file, for chown(f, -1, -1) (Linux clears them: pjdfstest chown/00.t) or for a writer
// (file_remove_privs), and FUSE does not say which. The owner, CAP_FOWNER and whoever
// may write the file (so could clear them by writing) may; anyone else gets EPERM, as
// tmpfs gives a stranger's chown(f, -1, -1).
int clear_privileges_on_request(Filesystem& fs, Inode& inode, const Requester& requester);

// Caller holds inode.mutex. A read happened (relatime rules) / the data changed.
void note_access(Inode& inode);
void note_modification(Inode& inode);

// A write, truncate, open(O_TRUNC) or chown by `requester`, a caller without CAP_FSETID
// (the kernel says so under FUSE_HANDLE_KILLPRIV_V2): clears set-user-ID,
// security.capability and set-group-ID (when group-executable, or when the requester is
// outside the file's group; with no requester, only the former), as the kernel would,
// and has the kernel drop the mode it caches before the request is answered, so that no
// exec or stat sees the old one. Returns whether anything changed.
bool kill_privileges(Filesystem& fs, Inode& inode, const Requester* requester);
// The same, with the inode's mutex held.
bool kill_privileges_locked(Filesystem& fs, Inode& inode, const Requester* requester);

// Applies the release of a handle to the namespace (at most once), tells the kernel
// about the names a lifetime-close file lost, and notes in the handle whether the
// release ended passthrough (the caller then runs after_passthrough()).
void release_handle(Filesystem& fs, Handle& handle);

// copy_file_range(2) between two regular files; `done` bytes copied.
int copy_range(Filesystem& fs, Inode& in, std::uint64_t off_in, Inode& out, std::uint64_t off_out,
               std::size_t len, std::size_t& done);

}  // namespace spoolfs
