#include "attributes.hpp"

#include <linux/capability.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <mutex>

#include "clock.hpp"
#include "passthrough.hpp"
#include "xattrs.hpp"

namespace spoolfs {
namespace {

// What tmpfs reports as a directory's size per entry (BOGO_DIRENT_SIZE).
constexpr off_t dirent_size = 20;

bool before(const timespec& a, const timespec& b) {
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec <= b.tv_nsec);
}

}  // namespace

bool kill_privileges_locked(Filesystem& fs, Inode& inode, const Requester* requester) {
    if (inode.is_dir()) return false;  // a chown clears them on every other kind, as tmpfs
    mode_t killed = inode.mode & ~S_ISUID;
    // Without group-execute, set-group-ID marks mandatory locking, not privilege: it goes
    // only for a caller outside the file's group without CAP_FSETID (the kernel's
    // setattr_should_drop_sgid). Only that case reads /proc, which takes no lock of ours.
    if ((killed & S_ISGID) &&
        ((killed & S_IXGRP) ||
         (requester && !in_group(*requester, inode.gid) &&
          !has_capability(requester->pid, requester->uid, CAP_FSETID))))
        killed &= ~S_ISGID;
    bool changed = erase_xattr_locked(fs, inode, "security.capability") || killed != inode.mode;
    inode.mode = killed;
    if (!changed) return false;
    inode.ctime = now();
    fs.notifier.invalidate_attributes(inode.ino);
    return true;
}

struct stat stat_of(Inode& inode) {
    struct stat st {};
    st.st_ino = inode.ino;
    st.st_nlink = inode.nlink.load(std::memory_order_relaxed);
    st.st_blksize = tempfile::Spool::chunk_size;
    std::size_t entries = inode.is_dir() ? inode.dir.count.load(std::memory_order_relaxed) : 0;
    std::lock_guard lock(inode.mutex);
    st.st_mode = inode.mode;
    st.st_uid = inode.uid;
    st.st_gid = inode.gid;
    st.st_rdev = inode.rdev;
    if (inode.is_reg()) follow_backing(inode);
    st.st_atim = inode.atime;
    st.st_mtim = inode.mtime;
    st.st_ctim = inode.ctime;
    if (inode.is_reg()) {
        st.st_size = static_cast<off_t>(inode.data.size());
        st.st_blocks = static_cast<blkcnt_t>((inode.data.allocated_bytes() + 511) / 512);
    } else if (inode.is_dir()) {
        st.st_size = static_cast<off_t>(entries + 2) * dirent_size;
    } else if (S_ISLNK(inode.type)) {
        st.st_size = static_cast<off_t>(inode.symlink_target.size());
    }
    return st;
}

fuse_entry_param entry_of(Filesystem& fs, Inode& inode) {
    return entry_of(inode, fs.tree.lifetime(inode));
}

fuse_entry_param entry_of(Inode& inode, Lifetime lifetime) {
    fuse_entry_param e{};
    e.ino = inode.ino;
    e.attr = stat_of(inode);
    e.attr_timeout = Filesystem::cache_timeout;
    bool vanishes = inode.is_reg() && lifetime == Lifetime::close;
    e.entry_timeout = vanishes ? 0 : Filesystem::cache_timeout;
    return e;
}

int set_attributes(Filesystem& fs, Inode& inode, const struct stat& attr, int to_set) {
    std::lock_guard lock(inode.mutex);
    follow_backing(inode);
    timespec t = now();
    if (to_set & FUSE_SET_ATTR_SIZE) {
        if (inode.is_dir()) return EISDIR;
        if (!inode.is_reg()) return EINVAL;
        if (attr.st_size < 0) return EINVAL;
        // As tmpfs: a truncate(2) to the same size touches the times only where it cuts
        // stored data (a file holding none is left alone); ftruncate(2) and open(O_TRUNC)
        // ask for them explicitly (ops.cpp adds FUSE_SET_ATTR_MTIME_NOW).
        const bool changes = inode.data.size() != static_cast<std::uint64_t>(attr.st_size) ||
                             inode.data.allocated_bytes() > 0;
        if (int err = fs.storage.truncate(inode, static_cast<std::uint64_t>(attr.st_size)))
            return err;
        if (!changes && to_set == FUSE_SET_ATTR_SIZE) return 0;
        if (changes) inode.mtime = t;
    }
    // chown/chgrp moves the inode's charge, as dquot_transfer() does: EDQUOT changes
    // nothing. (The kernel never sends a size with an owner: chown(2) is one SETATTR,
    // truncate(2) another.)
    if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
        const uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr.st_uid : inode.uid;
        const gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr.st_gid : inode.gid;
        if (int err = fs.quota.transfer(inode.quota, uid, gid)) return err;
    }
    // A chown drops the privileges of the file (with FUSE_HANDLE_KILLPRIV_V2 the
    // kernel leaves that to us), unless the same call sets the mode.
    if ((to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) && !(to_set & FUSE_SET_ATTR_MODE))
        kill_privileges_locked(fs, inode, nullptr);
    if (to_set & FUSE_SET_ATTR_MODE) inode.mode = inode.type | (attr.st_mode & 07777);
    if (to_set & FUSE_SET_ATTR_UID) inode.uid = attr.st_uid;
    if (to_set & FUSE_SET_ATTR_GID) inode.gid = attr.st_gid;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW)
        inode.atime = t;
    else if (to_set & FUSE_SET_ATTR_ATIME)
        inode.atime = attr.st_atim;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW)
        inode.mtime = t;
    else if (to_set & FUSE_SET_ATTR_MTIME)
        inode.mtime = attr.st_mtim;
    inode.ctime = (to_set & FUSE_SET_ATTR_CTIME) ? attr.st_ctim : t;
    // A file of its own takes the times too, so that the kernel's relatime decisions on
    // it, which follow_backing() reads, start from the same atime and mtime.
    constexpr int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME |
                          FUSE_SET_ATTR_MTIME_NOW;
    if ((to_set & times) && inode.is_reg() && inode.data.fd() >= 0) {
        const timespec both[2] = {inode.atime, inode.mtime};
        ::futimens(inode.data.fd(), both);
    }
    // What the truncate did to the spill file's times is ours, not a direct write.
    follow_backing(inode, false);
    return 0;
}

void note_access(Inode& inode) {
    timespec t = now();
    // relatime: once after each change, and at least daily.
    if (before(inode.atime, inode.mtime) || before(inode.atime, inode.ctime) ||
        t.tv_sec - inode.atime.tv_sec >= 24 * 3600)
        inode.atime = t;
}

void note_modification(Inode& inode) {
    inode.mtime = inode.ctime = now();
}

int clear_privileges_on_request(Filesystem& fs, Inode& inode, const Requester& requester) {
    uid_t owner;
    gid_t group;
    mode_t mode;
    bool writer;  // a handle open for writing: the kernel clears the bits for its write
    {
        std::lock_guard lock(inode.mutex);
        owner = inode.uid;
        group = inode.gid;
        mode = inode.mode;
        writer = inode.writers.contains(requester.uid);
    }
    if (inode.is_dir() || !(mode & (S_ISUID | S_ISGID))) return 0;
    // /proc is read only for a stranger, and never under the inode's mutex.
    bool allowed = requester.uid == owner || writer || (mode & S_IWOTH) ||
                   ((mode & S_IWGRP) && in_group(requester, group)) ||
                   has_capability(requester.pid, requester.uid, CAP_FOWNER);
    if (!allowed) return EPERM;
    kill_privileges(fs, inode, &requester);
    return 0;
}

bool kill_privileges(Filesystem& fs, Inode& inode, const Requester* requester) {
    std::lock_guard lock(inode.mutex);
    return kill_privileges_locked(fs, inode, requester);
}

void release_handle(Filesystem& fs, Handle& handle) {
    if (handle.released) return;
    Inode& inode = *handle.inode;
    bool owner_or_root;
    {
        std::lock_guard lock(inode.mutex);
        if (!handle.ended) {
            handle.ended_passthrough = end_handle(fs, inode);
            if (handle.writing) {
                auto it = inode.writers.find(handle.opener);
                if (it != inode.writers.end() && --it->second == 0) inode.writers.erase(it);
            }
            handle.ended = true;
        }
        owner_or_root = handle.opener == 0 || handle.opener == inode.uid;
    }
    // Under lifetime=close the last close makes the names vanish: only where the one who
    // opened that last handle could have unlinked them (the owner, or root). A stranger
    // who merely read the file must not empty a sticky directory of it.
    for (Removal& removal : fs.tree.release(inode, owner_or_root))
        fs.notifier.push(std::move(removal));
    handle.released = true;  // only now: a release that threw is done again by RELEASE
}

int copy_range(Filesystem& fs, Inode& in, std::uint64_t off_in, Inode& out, std::uint64_t off_out,
               std::size_t len, std::size_t& done) {
    done = 0;
    // Bounded per request, so that neither file stays locked for long; callers loop.
    constexpr std::size_t max_copy = 16 << 20;
    constexpr std::size_t piece = 1 << 20;
    len = std::min(len, max_copy);
    std::unique_lock<HandlerMutex> first, second;
    if (&in == &out) {
        first = std::unique_lock(in.mutex);
    } else {
        // Two inode locks: always in address order.
        first = std::unique_lock(std::less<Inode*>()(&in, &out) ? in.mutex : out.mutex);
        second = std::unique_lock(std::less<Inode*>()(&in, &out) ? out.mutex : in.mutex);
    }
    auto buffer = std::make_unique_for_overwrite<std::byte[]>(std::min(len, piece));
    while (done < len) {
        std::size_t got = 0, put = 0;
        std::size_t want = std::min(len - done, piece);
        if (int err = fs.storage.read(in, {buffer.get(), want}, off_in + done, got)) return err;
        if (got == 0) break;
        int err = fs.storage.write(out, {buffer.get(), got}, off_out + done, put);
        done += put;
        if (err) return done ? 0 : err;
        if (put < got) break;
    }
    if (done) {
        note_modification(out);
        const timespec atime = in.atime;
        note_access(in);
        // The kernel drops the destination's cached times after a copy, not the source's.
        if (atime.tv_sec != in.atime.tv_sec || atime.tv_nsec != in.atime.tv_nsec)
            fs.notifier.invalidate_attributes(in.ino);
    }
    return 0;
}

}  // namespace spoolfs
