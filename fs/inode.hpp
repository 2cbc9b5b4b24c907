// Inode: one file, directory, symlink or special file of the mount.
//
// Two locks guard an inode, always taken in this order: the Tree's namespace lock, then
// the inode's own `mutex`. The namespace lock guards what links inodes together
// (directory entries, `names`, nlink, lookup and open counts); `mutex` guards the
// attributes, xattrs and file data, so reads and writes of independent files never wait
// on each other or on the namespace.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "options.hpp"
#include "quota.hpp"
#include "read_turn.hpp"
#include "tempfile/spool.hpp"

namespace spoolfs {

using Ino = fuse_ino_t;

// A directory's entries. Each entry gets a cookie from a counter that only grows, and
// readdir resumes after the last cookie it returned: an entry present for the whole
// listing is returned exactly once however the directory changes meanwhile.
struct Directory {
    struct Child {
        Ino ino;
        std::uint64_t cookie;
    };
    static constexpr std::uint64_t first_cookie = 3;  // 1 and 2 are "." and ".."

    std::map<std::string, Child, std::less<>> by_name;
    std::map<std::uint64_t, std::string> by_cookie;
    std::uint64_t next_cookie = first_cookie;
    Ino parent = FUSE_ROOT_ID;
    std::string name;  // this directory's entry in `parent`: expiry removes it without a search
    std::atomic<std::size_t> count = 0;  // = by_name.size(), readable without the lock
};

// Shared: the Tree's map holds each inode, and so may handles and requests in flight
// (shared_from_this() for a request that found it through the Tree).
struct Inode : std::enable_shared_from_this<Inode> {
    Inode(Ino ino, mode_t mode) : ino(ino), type(mode & S_IFMT), mode(mode) {}

    const Ino ino;
    const mode_t type;  // S_IFMT bits: they never change, so they need no lock

    // --- Guarded by the Tree's namespace lock.
    std::atomic<std::uint64_t> lookups = 0;  // the kernel's references: counted up under the
                                             // shared lock, down under the exclusive one
    std::uint32_t opens = 0;                 // open file handles
    std::atomic<nlink_t> nlink = 0;          // changed under the exclusive lock, read anywhere
    Directory dir;                           // directories only
    std::set<std::pair<Ino, std::string>> names;  // where a non-directory is linked
    Lifetime lifetime = Lifetime::mount;  // regular files: in force; directories: inherited
    std::chrono::seconds expire{0};  // expiry after this long unused (0: never); in force, and
                                     // inherited by a directory's new entries (expiry.hpp)
    timespec last_close{};           // the last release of a handle: its age starts there
    bool lingering = false;  // no name and no handle, only the kernel's lookups: as good as
                             // gone (tmpfs frees it at unlink), so nr_inodes does not count it

    // --- Guarded by `mutex`.
    mutable HandlerMutex mutex;
    mode_t mode;
    uid_t uid = 0;
    gid_t gid = 0;
    dev_t rdev = 0;
    timespec atime{}, mtime{}, ctime{};
    std::string symlink_target;
    std::map<std::string, std::string, std::less<>> xattrs;
    std::uint64_t xattr_bytes = 0;  // what the xattrs are charged (xattrs.hpp)
    std::uint64_t symlink_bytes = 0;  // what a long symlink target is charged, as tmpfs's page
    std::map<uid_t, unsigned> writers;  // handles open for writing, by opener
    std::size_t xattr_names = 0;    // their names' length as listxattr(2) returns them
    tempfile::Spool data;  // regular files only
    // What the Storage counts for `data`: all of it (size=), the part in RAM (ram=), and
    // what it holds in the RAM store (storage.hpp).
    std::uint64_t charged = 0;
    std::uint64_t charged_ram = 0;
    std::uint64_t charged_store = 0;
    bool in_store = false;  // the data is a file of the RAM store, not of the spill directory
    bool counted_on_disk = false;  // Storage::files_on_disk() counts it

    // Kernel passthrough (passthrough.hpp), regular files only.
    std::uint32_t handles = 0;    // open handles
    std::int32_t backing_id = 0;  // while the kernel serves all handles directly; 0: plain
    timespec backing_mtime{}, backing_atime{};  // the spill file's, as last seen
    bool cached_pages_stale = false;            // the kernel's page cache may predate direct writes

    // Who the inode's usage is charged to (quota.hpp): guarded by its own mutex.
    QuotaAccount quota;

    // --- Atomics, read without the mutex by the Storage to choose what rolls over.
    std::atomic<std::uint64_t> resident = 0;  // = charged_ram
    std::atomic<std::int64_t> last_use = 0;   // steady clock, nanoseconds

    bool is_dir() const { return S_ISDIR(type); }
    bool is_reg() const { return S_ISREG(type); }
};

}  // namespace spoolfs
