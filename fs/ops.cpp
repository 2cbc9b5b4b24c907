#include "ops.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <system_error>
#include <vector>

#include "attributes.hpp"
#include "clock.hpp"
#include "device_io.hpp"
#include "filesystem.hpp"
#include "passthrough.hpp"
#include "xattrs.hpp"

namespace spoolfs {
namespace {

Filesystem& fs_of(fuse_req_t req) {
    return *static_cast<Filesystem*>(fuse_req_userdata(req));
}

Caller caller_of(fuse_req_t req) {
    const fuse_ctx* ctx = fuse_req_ctx(req);
    return {ctx->uid, ctx->gid};
}

Requester requester_of(fuse_req_t req) {
    const fuse_ctx* ctx = fuse_req_ctx(req);
    return {ctx->uid, ctx->gid, ctx->pid};
}

// The inode `ino`, or nullptr once ENOENT is replied.
InodePtr find_or_reply(fuse_req_t req, fuse_ino_t ino) {
    InodePtr inode = fs_of(req).tree.find(ino);
    if (!inode) fuse_reply_err(req, ENOENT);
    return inode;
}

Handle& handle_of(const fuse_file_info* fi) {
    return *reinterpret_cast<Handle*>(fi->fh);
}

// The kernel releases a handle once: it goes however its RELEASE ends, a throw included.
struct HandleEnd {
    Filesystem& fs;
    Handle& handle;
    HandleEnd(Filesystem& fs, Handle& handle) : fs(fs), handle(handle) {}
    HandleEnd(const HandleEnd&) = delete;
    HandleEnd& operator=(const HandleEnd&) = delete;
    ~HandleEnd() { fs.handles.remove(handle); }
};

// Replies with the inode, or the error. A new lookup was already counted by the Tree.
void reply_entry(fuse_req_t req, Filesystem& fs, int err, const InodePtr& inode) {
    if (err) {
        fuse_reply_err(req, err);
        return;
    }
    fuse_entry_param e = entry_of(fs, *inode);
    fuse_reply_entry(req, &e);
}

void sp_init(void* userdata, fuse_conn_info* conn) {
    // Writes of up to 1 MiB per request: libfuse sizes max_pages to match.
    conn->max_write = 1 << 20;
    conn->max_read = 0;
    conn->time_gran = 1;
    // open(O_TRUNC) arrives as one OPEN, not an OPEN and a SETATTR.
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    // A symlink never changes: the kernel may keep its target.
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
    // Every write passes through this kernel, so its page cache is never stale: a new
    // mtime must not throw the file's cached pages away.
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    // Reads of spilled files go from the spill file to the device by splice.
    if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
    // ls -l, find, du: entries come with their attributes, without a LOOKUP each.
    if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
    // readdir keeps no state per open directory (offsets are cookies): the first OPENDIR
    // answers ENOSYS, and the kernel sends no OPENDIR or RELEASEDIR again.
    if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) {
        conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
        static_cast<Filesystem*>(userdata)->opendir_unneeded = true;
    }
}

void sp_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Filesystem& fs = fs_of(req);
    InodePtr inode;
    int err = fs.tree.lookup(parent, name, inode);
    if (err == ENOENT) {
        // A negative entry the kernel may cache: every creation passes through it.
        fuse_entry_param e{};
        e.entry_timeout = Filesystem::cache_timeout;
        fuse_reply_entry(req, &e);
        return;
    }
    reply_entry(req, fs, err, inode);
}

void sp_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
    if (nlookup) fs_of(req).tree.forget(ino, nlookup);
    fuse_reply_none(req);
}

void sp_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
    Filesystem& fs = fs_of(req);
    for (size_t i = 0; i < count; ++i)
        if (forgets[i].nlookup) fs.tree.forget(forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

void sp_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    InodePtr inode = find_or_reply(req, ino);
    if (!inode) return;
    struct stat st = stat_of(*inode);
    fuse_reply_attr(req, &st, Filesystem::cache_timeout);
}

void sp_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
    Filesystem& fs = fs_of(req);
    InodePtr inode = fi ? handle_of(fi).inode : fs.tree.find(ino);
    if (!inode) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    // ftruncate(2) comes with the handle and sets the times whatever the size was, as on
    // tmpfs; truncate(2) comes without, and changes them only where it cuts (attributes.cpp).
    if (fi && (to_set & FUSE_SET_ATTR_SIZE)) to_set |= FUSE_SET_ATTR_MTIME_NOW;
    int err = to_set == 0 ? clear_privileges_on_request(fs, *inode, requester_of(req))
                          : set_attributes(fs, *inode, *attr, to_set);
    if (err) {
        fuse_reply_err(req, err);
        return;
    }
    struct stat st = stat_of(*inode);
    fuse_reply_attr(req, &st, Filesystem::cache_timeout);
}

void sp_readlink(fuse_req_t req, fuse_ino_t ino) {
    InodePtr inode = find_or_reply(req, ino);
    if (!inode) return;
    if (!S_ISLNK(inode->type)) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    std::string target;
    {
        std::lock_guard lock(inode->mutex);
        target = inode->symlink_target;
    }
    fuse_reply_readlink(req, target.c_str());
}

void make(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev,
          std::string_view target = {}) {
    Filesystem& fs = fs_of(req);
    // As tmpfs: a symlink target that does not fit in the inode takes a page of size=.
    constexpr std::size_t inline_target = 128;
    const std::uint64_t charge = target.size() >= inline_target ? 4096 : 0;
    if (int err = fs.storage.charge_metadata(charge)) {
        fuse_reply_err(req, err);
        return;
    }
    InodePtr inode;
    fs.quota.prepare_create(caller_of(req).uid, caller_of(req).gid);
    int err = fs.tree.create(parent, name, mode, rdev, caller_of(req), target, inode);
    if (err) {
        fs.storage.release_metadata(charge);
    } else {
        inode->symlink_bytes = charge;  // given back with the inode (filesystem.cpp)
        // Unchecked: at most a page per inode, which the inode limit bounds.
        fs.quota.charge(inode->quota, charge, false);
    }
    reply_entry(req, fs, err, inode);
}

void sp_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
    switch (mode & S_IFMT) {
        case S_IFREG:
        case S_IFCHR:
        case S_IFBLK:
        case S_IFIFO:
        case S_IFSOCK:
            make(req, parent, name, mode, rdev);
            return;
        default:
            fuse_reply_err(req, EINVAL);
    }
}

void sp_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    make(req, parent, name, S_IFDIR | (mode & 07777), 0);
}

void sp_symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
    if (std::strlen(link) >= PATH_MAX) {
        fuse_reply_err(req, ENAMETOOLONG);
        return;
    }
    make(req, parent, name, S_IFLNK | 0777, 0, link);
}

void sp_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
    fuse_reply_err(req, fs_of(req).tree.unlink(parent, name));
}

void sp_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
    fuse_reply_err(req, fs_of(req).tree.rmdir(parent, name));
}

void sp_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned int flags) {
    fuse_reply_err(req,
                   fs_of(req).tree.rename(parent, name, newparent, newname, flags, caller_of(req)));
}

void sp_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
    Filesystem& fs = fs_of(req);
    InodePtr inode;
    int err = fs.tree.link(ino, newparent, newname, inode);
    reply_entry(req, fs, err, inode);
}

// Opens a handle on a regular file; the file handle owns a Handle. `backing` is the
// backing id when the kernel is to serve the handle itself (passthrough.hpp), else 0.
int open_handle(Filesystem& fs, const InodePtr& inode, fuse_file_info* fi, bool writing,
                const Requester& opener, std::int32_t& backing) {
    if (int err = fs.tree.open(*inode)) return err;
    fi->fh = reinterpret_cast<uint64_t>(&fs.handles.add(Handle{inode, opener.uid, writing}));
    // FLUSH would do nothing here: spare close() the round trip.
    fi->noflush = 1;
    std::lock_guard lock(inode->mutex);
    if (writing) ++inode->writers[opener.uid];
    backing = begin_handle(fs, *inode, writing, opener);
    // The page cache stays valid across opens, since all writes pass through this
    // kernel, unless it wrote a spill file directly since: then it is dropped once.
    fi->keep_cache = !inode->cached_pages_stale;
    if (!backing) inode->cached_pages_stale = false;
    return 0;
}

// The reply of an open failed (the request was interrupted): the handle goes.
void undo_open(Filesystem& fs, fuse_file_info* fi) {
    const HandleEnd end{fs, handle_of(fi)};
    release_handle(fs, end.handle);
}

void sp_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
               fuse_file_info* fi) {
    Filesystem& fs = fs_of(req);
    InodePtr inode;
    fs.quota.prepare_create(caller_of(req).uid, caller_of(req).gid);
    int err = fs.tree.create(parent, name, S_IFREG | (mode & 07777), 0, caller_of(req), {}, inode);
    if (err) {
        fuse_reply_err(req, err);
        return;
    }
    std::int32_t backing = 0;
    // A new inode is never lingering, so its open cannot fail.
    open_handle(fs, inode, fi, true, requester_of(req), backing);
    fuse_entry_param e = entry_of(fs, *inode);
    if (reply_create(req, &e, fi, backing) != 0) undo_open(fs, fi);
}

void sp_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Filesystem& fs = fs_of(req);
    InodePtr inode = find_or_reply(req, ino);
    if (!inode) return;
    if (!inode->is_reg()) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    std::int32_t backing = 0;
    const bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
    if (int err = open_handle(fs, inode, fi, writing, requester_of(req), backing)) {
        fuse_reply_err(req, err);
        return;
    }
    if (fi->flags & O_TRUNC) {
        struct stat attr {};
        // open(O_TRUNC) sets the times even when nothing is cut, as ftruncate(2) does.
        int err = set_attributes(fs, *inode, attr, FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME_NOW);
        if (err) {
            undo_open(fs, fi);
            fuse_reply_err(req, err);
            return;
        }
    }
    if (reply_open(req, fi, backing) != 0) undo_open(fs, fi);
}

// Replies straight from the file's storage: iovecs into the RAM chunks, or a splice
// from the spill file. The inode stays locked until the reply is in the kernel.
void sp_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    Filesystem& fs = fs_of(req);
    Inode& inode = *handle_of(fi).inode;
    std::lock_guard lock(inode.mutex);
    fs.storage.note_use(inode);
    if (!(fi->flags & O_NOATIME)) note_access(inode);
    if (inode.data.packed()) {
        // Packed data has no file of its own to splice from: the pieces are copied.
        thread_local std::vector<std::byte> buffer;
        buffer.resize(size);
        const std::size_t got = inode.data.pread(buffer, static_cast<std::uint64_t>(off));
        fuse_reply_buf(req, reinterpret_cast<const char*>(buffer.data()), got);
        return;
    }
    if (inode.data.rolled()) {
        fuse_bufvec data{};
        data.count = 1;
        data.buf[0].size = size;
        data.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
        data.buf[0].fd = inode.data.fd();
        data.buf[0].pos = off;
        fuse_reply_data(req, &data, FUSE_BUF_SPLICE_MOVE);
        return;
    }
    thread_local std::vector<iovec> pieces;
    pieces.clear();
    inode.data.read_pieces(off, size, [](std::span<const std::byte> piece) {
        pieces.push_back({const_cast<std::byte*>(piece.data()), piece.size()});
    });
    fuse_reply_iov(req, pieces.data(), static_cast<int>(pieces.size()));
}

void write_span(fuse_req_t req, Filesystem& fs, Inode& inode, std::span<const std::byte> data,
                off_t off) {
    size_t done = 0;
    int err;
    {
        std::lock_guard lock(inode.mutex);
        err = fs.storage.write(inode, data, off, done);
        if (done) note_modification(inode);
    }
    if (err)
        fuse_reply_err(req, err);
    else
        fuse_reply_write(req, done);
}

void sp_write_buf(fuse_req_t req, fuse_ino_t, fuse_bufvec* in, off_t off, fuse_file_info* fi) {
    Filesystem& fs = fs_of(req);
    Inode& inode = *handle_of(fi).inode;
    size_t size = fuse_buf_size(in);
    const fuse_buf& first = in->buf[in->idx];
    if (in->count - in->idx == 1 && !(first.flags & FUSE_BUF_IS_FD)) {
        // The data is already in memory: write it straight from the request buffer.
        auto* data = static_cast<const std::byte*>(first.mem) + in->off;
        write_span(req, fs, inode, {data, size}, off);
        return;
    }
    auto copy = std::make_unique_for_overwrite<std::byte[]>(size);
    fuse_bufvec out{};
    out.count = 1;
    out.buf[0].size = size;
    out.buf[0].mem = copy.get();
    ssize_t got = fuse_buf_copy(&out, in, static_cast<fuse_buf_copy_flags>(0));
    if (got < 0) {
        fuse_reply_err(req, static_cast<int>(-got));
        return;
    }
    write_span(req, fs, inode, {copy.get(), static_cast<size_t>(got)}, off);
}

void sp_flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
    fuse_reply_err(req, 0);
}

void sp_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    Filesystem& fs = fs_of(req);
    const HandleEnd end{fs, handle_of(fi)};
    Handle& handle = end.handle;
    if (!handle.released) release_handle(fs, handle);
    fuse_reply_err(req, 0);
    // Here, not in the in-order release: it may wait a little for the kernel.
    if (handle.ended_passthrough) after_passthrough(fs, *handle.inode);
}

void sp_fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
    fuse_reply_err(req, 0);
}

// READDIR and READDIRPLUS: as many entries after `off` as fit in `size` bytes. With
// `plus`, each entry but "." and ".." carries its attributes and counts a lookup. The
// entries are chosen under the namespace lock; their attributes are read after it, since
// a file's mutex may be held for long by a write.
void read_directory(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
    Filesystem& fs = fs_of(req);
    struct Chosen {
        std::string name;
        InodePtr inode;
        Lifetime lifetime;
        uint64_t next;
    };
    std::vector<Chosen> chosen;
    size_t used = 0;
    int err = fs.tree.readdir(
        ino, static_cast<uint64_t>(off), [&](std::string_view entry, Inode& inode, uint64_t next) {
            std::string name(entry);
            // With no buffer, each returns the room the entry needs.
            size_t len = plus ? fuse_add_direntry_plus(req, nullptr, 0, name.c_str(), nullptr, 0)
                              : fuse_add_direntry(req, nullptr, 0, name.c_str(), nullptr, 0);
            if (len > size - used) return false;
            used += len;
            if (plus && name != "." && name != "..")
                inode.lookups.fetch_add(1, std::memory_order_relaxed);
            chosen.push_back({std::move(name), inode.shared_from_this(), inode.lifetime, next});
            return true;
        });
    if (err) {
        fuse_reply_err(req, err);
        return;
    }
    auto buffer = std::make_unique_for_overwrite<char[]>(used);
    size_t at = 0;
    for (const Chosen& c : chosen) {
        const auto next = static_cast<off_t>(c.next);
        if (plus) {
            fuse_entry_param e{};
            if (c.name != "." && c.name != "..") {
                e = entry_of(*c.inode, c.lifetime);
            } else {  // "." and "..": no entry, only what readdir gives
                e.attr.st_ino = c.inode->ino;
                e.attr.st_mode = c.inode->type;
            }
            at += fuse_add_direntry_plus(req, buffer.get() + at, used - at, c.name.c_str(), &e, next);
        } else {
            struct stat st {};
            st.st_ino = c.inode->ino;
            st.st_mode = c.inode->type;
            at += fuse_add_direntry(req, buffer.get() + at, used - at, c.name.c_str(), &st, next);
        }
    }
    fuse_reply_buf(req, buffer.get(), at);
}

void sp_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    read_directory(req, ino, size, off, false);
}

void sp_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    read_directory(req, ino, size, off, true);
}

void sp_opendir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    if (fs_of(req).opendir_unneeded) {
        fuse_reply_err(req, ENOSYS);
        return;
    }
    fuse_reply_open(req, fi);
}

void sp_fsyncdir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
    fuse_reply_err(req, 0);
}

void sp_statfs(fuse_req_t req, fuse_ino_t) {
    Filesystem& fs = fs_of(req);
    struct statvfs st = fs.storage.statfs(fs.tree.inode_count(), fs.tree.max_inodes());
    fuse_reply_statfs(req, &st);
}

void sp_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                 int flags) {
    Filesystem& fs = fs_of(req);
    InodePtr inode = fs.tree.find(ino);
    fuse_reply_err(req,
                   inode ? set_xattr(fs, *inode, name, {value, size}, flags, requester_of(req))
                         : ENOENT);
}

void sp_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    Filesystem& fs = fs_of(req);
    InodePtr inode = fs.tree.find(ino);
    std::string value;
    int err = inode ? get_xattr(fs, *inode, name, value, requester_of(req)) : ENOENT;
    if (err)
        fuse_reply_err(req, err);
    else if (size == 0)
        fuse_reply_xattr(req, value.size());
    else if (value.size() > size)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, value.data(), value.size());
}

void sp_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    InodePtr inode = find_or_reply(req, ino);
    if (!inode) return;
    std::string names = list_xattrs(*inode, requester_of(req));
    if (size == 0)
        fuse_reply_xattr(req, names.size());
    else if (names.size() > size)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, names.data(), names.size());
}

void sp_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
    Filesystem& fs = fs_of(req);
    InodePtr inode = fs.tree.find(ino);
    fuse_reply_err(req, inode ? remove_xattr(fs, *inode, name, requester_of(req)) : ENOENT);
}

void sp_fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length,
                  fuse_file_info* fi) {
    Filesystem& fs = fs_of(req);
    Inode& inode = *handle_of(fi).inode;
    if (offset < 0 || length <= 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    int err;
    {
        std::lock_guard lock(inode.mutex);
        err = fs.storage.fallocate(inode, mode, offset, length);
        if (!err) note_modification(inode);
    }
    fuse_reply_err(req, err);
}

void sp_lseek(fuse_req_t req, fuse_ino_t, off_t off, int whence, fuse_file_info* fi) {
    Filesystem& fs = fs_of(req);
    Inode& inode = *handle_of(fi).inode;
    if (whence != SEEK_DATA && whence != SEEK_HOLE) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    if (off < 0) {
        fuse_reply_err(req, ENXIO);
        return;
    }
    uint64_t result = 0;
    int err;
    {
        std::lock_guard lock(inode.mutex);
        err = fs.storage.seek(inode, off, whence, result);
    }
    if (err)
        fuse_reply_err(req, err);
    else
        fuse_reply_lseek(req, static_cast<off_t>(result));
}

void sp_copy_file_range(fuse_req_t req, fuse_ino_t, off_t off_in, fuse_file_info* fi_in, fuse_ino_t,
                        off_t off_out, fuse_file_info* fi_out, size_t len, int) {
    Filesystem& fs = fs_of(req);
    size_t done = 0;
    int err = copy_range(fs, *handle_of(fi_in).inode, off_in, *handle_of(fi_out).inode, off_out,
                         len, done);
    if (err)
        fuse_reply_err(req, err);
    else
        fuse_reply_write(req, done);
}

// No exception (std::bad_alloc from a map insert, say) may unwind into libfuse: the
// request gets an errno instead, and the daemon keeps serving. Handlers throw only
// before they reply.
template <auto Op>
struct Guarded;

template <typename... Args, void (*Op)(fuse_req_t, Args...)>
struct Guarded<Op> {
    static void call(fuse_req_t req, Args... args) noexcept {
        try {
            const Quota::RequestScope scope(requester_of(req));
            Op(req, args...);
        } catch (const std::bad_alloc&) {
            fuse_reply_err(req, ENOMEM);
        } catch (const std::system_error& e) {
            fuse_reply_err(req, e.code().value() ? e.code().value() : EIO);
        } catch (...) {
            fuse_reply_err(req, EIO);
        }
    }
};

template <auto Op>
constexpr auto guarded = &Guarded<Op>::call;

fuse_lowlevel_ops make_operations() {
    fuse_lowlevel_ops ops{};
    ops.init = sp_init;
    ops.lookup = guarded<sp_lookup>;
    // FORGET has no reply to carry an error; Tree::forget allocates nothing. The session
    // loop applies them in order (device_io.hpp): these then see nlookup 0, and skip it.
    ops.forget = sp_forget;
    ops.forget_multi = sp_forget_multi;
    ops.getattr = guarded<sp_getattr>;
    ops.setattr = guarded<sp_setattr>;
    ops.readlink = guarded<sp_readlink>;
    ops.mknod = guarded<sp_mknod>;
    ops.mkdir = guarded<sp_mkdir>;
    ops.symlink = guarded<sp_symlink>;
    ops.unlink = guarded<sp_unlink>;
    ops.rmdir = guarded<sp_rmdir>;
    ops.rename = guarded<sp_rename>;
    ops.link = guarded<sp_link>;
    ops.create = guarded<sp_create>;
    ops.open = guarded<sp_open>;
    ops.read = guarded<sp_read>;
    ops.write_buf = guarded<sp_write_buf>;
    ops.flush = guarded<sp_flush>;
    ops.release = guarded<sp_release>;
    ops.fsync = guarded<sp_fsync>;
    ops.readdir = guarded<sp_readdir>;
    ops.readdirplus = guarded<sp_readdirplus>;
    ops.opendir = guarded<sp_opendir>;
    ops.fsyncdir = guarded<sp_fsyncdir>;
    ops.statfs = guarded<sp_statfs>;
    ops.setxattr = guarded<sp_setxattr>;
    ops.getxattr = guarded<sp_getxattr>;
    ops.listxattr = guarded<sp_listxattr>;
    ops.removexattr = guarded<sp_removexattr>;
    ops.fallocate = guarded<sp_fallocate>;
    ops.lseek = guarded<sp_lseek>;
    ops.copy_file_range = guarded<sp_copy_file_range>;
    return ops;
}

}  // namespace

const fuse_lowlevel_ops& operations() {
    static const fuse_lowlevel_ops ops = make_operations();
    return ops;
}

}  // namespace spoolfs
