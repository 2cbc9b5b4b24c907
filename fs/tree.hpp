// Tree: the namespace of a mount. Inodes, directory entries, link counts, the kernel's
// lookup counts, open counts, lifetimes, expiry and the inode limit.
//
// Pure logic: no FUSE request, no I/O. Every operation returns 0 or an errno value.
// Thread-safe: one namespace lock (a shared_mutex) serialises changes to the namespace;
// an inode's attributes are then updated under its own mutex (see inode.hpp).
//
// An inode lives while it has a name (nlink > 0), the kernel holds a lookup on it, or a
// handle is open; the last of those to go frees it (FORGET is where most inodes die).
// Under lifetime close, releasing the last handle of a regular file removes all of its
// names first: release() returns them so the caller can tell the kernel.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "inode.hpp"
#include "quota.hpp"

namespace spoolfs {

using InodePtr = std::shared_ptr<Inode>;

// Who asks: new entries belong to the caller (or the directory's group when setgid).
struct Caller {
    uid_t uid = 0;
    gid_t gid = 0;
};

// A name the server removed by itself, which the kernel may still have cached.
struct Removal {
    Ino parent;
    Ino child;
    std::string name;
};

// The name the kernel gives a file created by open(O_TMPFILE): no real name can be "/".
inline constexpr std::string_view anonymous_name = "/";

inline constexpr std::size_t name_max = 255;

class Tree {
  public:
    struct Config {
        mode_t root_mode = 01777;
        uid_t uid = 0;
        gid_t gid = 0;
        Lifetime lifetime = Lifetime::close;
        std::optional<std::uint64_t> max_inodes;  // nullopt: no limit
        std::function<void(Inode&)> on_free;      // called as an inode is dropped
        std::chrono::seconds expire{0};           // the root's expiry (expire=), inherited
        Quota* quota = nullptr;  // charged an inode per new inode, told how each is held
    };

    explicit Tree(Config config);

    // nullptr if no such inode.
    InodePtr find(Ino ino) const;

    // Resolves `name` in `parent` and counts a lookup on the result.
    int lookup(Ino parent, std::string_view name, InodePtr& out);

    // The kernel dropped `n` lookups.
    void forget(Ino ino, std::uint64_t n);

    // Creates a file of any type in `parent` (mode carries the type; `target` is a
    // symlink's) and counts a lookup on it. The name anonymous_name creates a regular
    // file with no name at all (O_TMPFILE).
    int create(Ino parent, std::string_view name, mode_t mode, dev_t rdev, const Caller& caller,
               std::string_view target, InodePtr& out);

    // A new name for `ino`; counts a lookup on it.
    int link(Ino ino, Ino new_parent, std::string_view new_name, InodePtr& out);

    int unlink(Ino parent, std::string_view name);
    int rmdir(Ino parent, std::string_view name);

    // renameat2(2): flags 0, RENAME_NOREPLACE or RENAME_EXCHANGE, each but the last with
    // RENAME_WHITEOUT: an overlayfs whiteout (a character device 0/0, mode 0, owned by
    // `caller`) then takes the old name, as on tmpfs.
    int rename(Ino parent, std::string_view name, Ino new_parent, std::string_view new_name,
               unsigned flags, const Caller& caller = {});

    // Open handles. release() returns the names removed by a lifetime-close file's last
    // release, for the kernel's dentry cache; with `may_remove_names` false (the last
    // handle's opener could not have unlinked them) they stay. ENOSPC from open(): an
    // inode with no name and no handle would count again past nr_inodes.
    int open(Inode& inode);
    std::vector<Removal> release(Inode& inode, bool may_remove_names = true);

    // The lifetime in force for a regular file, or inherited by a directory's new entries.
    Lifetime lifetime(const Inode& inode) const;
    // Where a non-directory is linked: (parent, name) pairs.
    std::vector<std::pair<Ino, std::string>> names_of(const Inode& inode) const;
    // EINVAL for inodes that have no lifetime (symlinks, special files).
    int set_lifetime(Inode& inode, Lifetime lifetime);

    // The expiry in force for an inode (0: never), or inherited by a directory's new
    // entries. EINVAL from set_expire() for inodes other than regular files and directories.
    std::chrono::seconds expire(const Inode& inode) const;
    int set_expire(Inode& inode, std::chrono::seconds expire);

    // Expiry (expiry.hpp drives it). Looks at the inodes of a few hash buckets from
    // `cursor`, at most `budget` of them, under the shared lock, then removes every name of
    // those expired at `now` (all names of a file, a directory's entry), re-checked under
    // the exclusive lock, which is held for at most `budget` names at a time. Expired: a
    // regular file with no open handle, a symlink, or an empty directory, not the root,
    // whose expire is set and whose latest of atime, mtime, ctime and last close is that
    // old; an inode whose mutex is held is in use, and skipped. Times after `now` do not
    // count, except ctime and last close, which only the daemon's clock sets.
    struct ExpiryBatch {
        std::vector<Removal> removed;  // for the kernel's dentry cache
        bool pass_done = false;        // the cursor went round: it starts again at 0
    };
    ExpiryBatch expire_batch(std::size_t& cursor, const timespec& now, std::size_t budget);

    // Calls `fn(name, inode, next_cookie)` for the entries of a directory after `cookie`
    // (0 starts with "." and ".."), in cookie order, until fn returns false. fn runs
    // under the shared namespace lock: it may take the inode's mutex and count a lookup
    // (readdirplus), and must call nothing else of the Tree. It should not take an inode's
    // mutex, which a long write may hold: the namespace would wait with it.
    using DirentFn = std::function<bool(std::string_view, Inode&, std::uint64_t)>;
    int readdir(Ino dir, std::uint64_t cookie, const DirentFn& fn) const;

    // Inodes in use, as nr_inodes counts them: those with a name or an open handle, and
    // every name past a file's first (tmpfs counts hard links too).
    std::uint64_t inode_count() const;
    std::optional<std::uint64_t> max_inodes() const { return config_.max_inodes; }

    // Regular files: those with a name under each lifetime, and all of them. Kept as
    // counts, so that any user may read them often on a mount of millions of files.
    struct Census {
        std::uint64_t close = 0;
        std::uint64_t mount = 0;
        std::uint64_t files = 0;
        std::uint64_t expired = 0;  // inodes expiry removed since the mount
    };
    Census census() const;

  private:
    Inode* find_locked(Ino ino) const;
    Inode* dir_locked(Ino ino, int& err) const;
    InodePtr new_inode(mode_t mode);
    void add_entry(Inode& dir, std::string_view name, Inode& child);
    void remove_entry(Inode& dir, std::string_view name, Inode& child);
    // Marks `inode` lingering or not, from its names and handles.
    void update_lingering(Inode& inode);
    // What a namespace change does to inodes' own state, done once the namespace lock is
    // released: a file's mutex may be held for long (a write, a rollover copying it to
    // disk), and waiting for it under the namespace lock would stall the whole mount.
    // Freed inodes go to on_free (freeing data is work in proportion to its size); changed
    // inodes get their new ctime. Declared before the lock in a method, so that it is
    // destroyed after the lock is released.
    struct Deferred {
        const Tree& tree;
        std::vector<InodePtr> freed;
        std::vector<InodePtr> changed;
        timespec ctime{};
        ~Deferred();
    };
    // Frees `inode` into `deferred` if nothing holds it any more.
    void maybe_free(Inode& inode, Deferred& deferred);
    // `inode`'s ctime becomes deferred.ctime, once the lock is released.
    void touch_later(Inode& inode, Deferred& deferred);
    // Inodes in use (see inode_count()), and whether one more would pass nr_inodes.
    std::uint64_t in_use() const { return inodes_.size() - lingering_ + extra_links_; }
    bool full() const;
    // unlink (directory false) or rmdir (true).
    int remove(Ino parent, std::string_view name, bool directory);
    bool is_ancestor(Ino ancestor, Ino ino) const;
    bool expired_locked(Inode& inode, const timespec& now) const;
    // Tells the quota how `inode` is held now (named, lifetime=close, unlinked).
    void note_holding(Inode& inode);

    Config config_;
    mutable std::shared_mutex mutex_;
    std::unordered_map<Ino, InodePtr> inodes_;
    std::uint64_t lingering_ = 0;  // inodes_ that are lingering
    std::uint64_t named_[2] = {};  // regular files with a name, by Lifetime (census)
    std::uint64_t regular_ = 0;    // regular files (census)
    std::uint64_t extra_links_ = 0;  // names of non-directories past each one's first
    std::uint64_t expired_ = 0;      // inodes expiry removed (census)
    Ino next_ino_ = FUSE_ROOT_ID + 1;
};

}  // namespace spoolfs
