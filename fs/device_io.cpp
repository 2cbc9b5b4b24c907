#include "device_io.hpp"

#include <fcntl.h>
#include <linux/fuse.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <optional>
#include <exception>
#include <utility>

#include "attributes.hpp"
#include "filesystem.hpp"
#include "passthrough.hpp"
#include "read_turn.hpp"
#include "ring_io.hpp"
#include "ring_protocol.hpp"

namespace spoolfs {
namespace {

// The backing id of the OPEN or CREATE reply this thread is sending (reply_open()).
thread_local std::int32_t reply_backing = 0;

template <typename Body>
Body* body_of(fuse_in_header* header, ssize_t n) {
    if (n < static_cast<ssize_t>(sizeof(fuse_in_header) + sizeof(Body))) return nullptr;
    return reinterpret_cast<Body*>(header + 1);
}

template <typename Body>
const Body* body_of(const fuse_in_header* header, ssize_t n) {
    return body_of<Body>(const_cast<fuse_in_header*>(header), n);
}

// Applies the lookups a FORGET gives back, and leaves libfuse's handler nothing to do.
void forget(Filesystem& fs, fuse_ino_t ino, std::uint64_t& nlookup) {
    std::uint64_t n = std::exchange(nlookup, 0);
    fs.tree.forget(ino, n);
}

Requester requester_of(const fuse_in_header& header) {
    return {header.uid, header.gid, static_cast<pid_t>(header.pid)};
}

void kill_privileges_of(Filesystem& fs, const fuse_in_header& header) {
    Requester requester = requester_of(header);
    if (InodePtr inode = fs.tree.find(header.nodeid)) kill_privileges(fs, *inode, &requester);
}

void apply_in_order(Filesystem& fs, fuse_in_header* header, ssize_t n) {
    switch (header->opcode) {
        case FUSE_TMPFILE:
            header->opcode = FUSE_CREATE;
            break;
        case FUSE_RELEASE:
            if (auto* in = body_of<fuse_release_in>(header, n))
                release_handle(fs, *reinterpret_cast<Handle*>(in->fh));
            break;
        case FUSE_FORGET:
            if (auto* in = body_of<fuse_forget_in>(header, n))
                forget(fs, header->nodeid, in->nlookup);
            break;
        case FUSE_BATCH_FORGET:
            if (auto* in = body_of<fuse_batch_forget_in>(header, n)) {
                auto* one = reinterpret_cast<fuse_forget_one*>(in + 1);
                std::size_t room = (static_cast<std::size_t>(n) - sizeof(*header) - sizeof(*in)) /
                                   sizeof(fuse_forget_one);
                for (std::size_t i = 0; i < std::min<std::size_t>(in->count, room); ++i)
                    forget(fs, one[i].nodeid, one[i].nlookup);
            }
            break;
        case FUSE_INIT:
            if (auto* in = body_of<fuse_init_in>(header, n)) {
                fs.init_killpriv = in->flags & FUSE_HANDLE_KILLPRIV_V2;
                fs.init_passthrough = fs.passthrough.wanted() && kernel_offers_passthrough(*in);
                fs.init_ring = fs.ring.wanted() && ring_protocol::kernel_offers(*in);
                if (fs.ring.required() && !ring_protocol::kernel_offers(*in))
                    std::fprintf(stderr, "spoolfs: uring=on: the kernel did not offer FUSE over "
                                         "io_uring at INIT; serving over /dev/fuse\n");
                fs.init_to_patch = header->unique;
            }
            break;
        case FUSE_WRITE:
            if (auto* in = body_of<fuse_write_in>(header, n);
                in && (in->write_flags & FUSE_WRITE_KILL_SUIDGID)) {
                Requester requester = requester_of(*header);
                kill_privileges(fs, *reinterpret_cast<Handle*>(in->fh)->inode, &requester);
            }
            break;
        case FUSE_SETATTR:
            if (auto* in = body_of<fuse_setattr_in>(header, n);
                in && (in->valid & FATTR_KILL_SUIDGID))
                kill_privileges_of(fs, *header);
            break;
        case FUSE_READDIR:
        case FUSE_READDIRPLUS:
            // A listing begins: the directory's atime follows relatime, unless the
            // directory was opened O_NOATIME (libfuse does not pass readdir the flags).
            if (auto* in = body_of<fuse_read_in>(header, n);
                in && in->offset == 0 && !(in->flags & O_NOATIME)) {
                if (InodePtr dir = fs.tree.find(header->nodeid)) {
                    std::lock_guard lock(dir->mutex);
                    note_access(*dir);
                }
            }
            break;
        case FUSE_OPEN:
            if (auto* in = body_of<fuse_open_in>(header, n);
                in && (in->open_flags & FUSE_OPEN_KILL_SUIDGID))
                kill_privileges_of(fs, *header);
            break;
        default:
            break;
    }
}

}  // namespace

// Moving much data, or freeing or allocating a file's worth of it. Everything else is
// served from memory.
bool may_take_long(const fuse_in_header* header, std::size_t size) {
    const auto n = static_cast<ssize_t>(size);
    constexpr std::uint32_t much_data = 128 * 1024;
    switch (header->opcode) {
        case FUSE_READ: {
            auto* in = body_of<fuse_read_in>(header, n);
            return in && in->size > much_data;
        }
        case FUSE_WRITE: {
            auto* in = body_of<fuse_write_in>(header, n);
            return in && in->size > much_data;
        }
        case FUSE_SETATTR: {
            auto* in = body_of<fuse_setattr_in>(header, n);
            return in && (in->valid & FATTR_SIZE);
        }
        case FUSE_FALLOCATE:
        case FUSE_COPY_FILE_RANGE:
            return true;
        default:
            return false;
    }
}

void apply_before_dispatch(Filesystem& fs, fuse_in_header* header, std::size_t n) {
    try {
        apply_in_order(fs, header, static_cast<ssize_t>(n));
        // Only the ring takes requests out of order (arrival_order.hpp); /dev/fuse alone
        // reads them one at a time, so nothing there waits for an arrival.
        if (fs.init_ring.load(std::memory_order_relaxed)) fs.arrivals.arrived(header->unique);
    } catch (const std::exception&) {
        // Out of memory: the request's own handler applies it (release) or fails it.
    }
}

namespace {

ssize_t receive(int fd, void* buf, size_t len, void* userdata) {
    Filesystem& fs = *static_cast<Filesystem*>(userdata);
    ssize_t n = fs.read_turn.read(fd, buf, len);
    if (n >= static_cast<ssize_t>(sizeof(fuse_in_header))) {
        auto* header = static_cast<fuse_in_header*>(buf);
        apply_before_dispatch(fs, header, static_cast<std::size_t>(n));
        fs.read_turn.read_done(may_take_long(header, static_cast<std::size_t>(n)),
                               header->opcode == FUSE_FORGET ||
                                   header->opcode == FUSE_BATCH_FORGET);
    } else if (n >= 0) {
        fs.read_turn.read_done(true);
    }
    return n;
}

// What the INIT reply asked for, to be started once the kernel has it.
struct InitAsked {
    bool passthrough = false;
    bool ring = false;
    std::uint32_t max_write = 0;
    std::uint16_t max_pages = 0;
};

InitAsked patch_init(Filesystem& fs, void* body, std::size_t length) {
    InitAsked asked;
    if (length < sizeof(std::uint32_t) * 4) return asked;
    auto* out = static_cast<fuse_init_out*>(body);
    if (fs.init_killpriv) out->flags |= FUSE_HANDLE_KILLPRIV_V2;
    asked.passthrough = fs.init_passthrough && request_passthrough(body, length);
    if (fs.init_ring && length >= sizeof(fuse_init_out) && ring_protocol::request(body, length)) {
        asked.ring = true;
        asked.max_write = out->max_write;
        asked.max_pages = out->max_pages;
    }
    return asked;
}

ssize_t send(int fd, iovec* iov, int count, void* userdata) {
    Filesystem& fs = *static_cast<Filesystem*>(userdata);
    InitAsked asked;
    if (count >= 2 && iov[0].iov_len >= sizeof(fuse_out_header)) {
        const auto* header = static_cast<const fuse_out_header*>(iov[0].iov_base);
        iovec& body = iov[count - 1];
        if (reply_backing && header->error == 0) {
            mark_open_reply(body.iov_base, body.iov_len, reply_backing);
        } else if (std::uint64_t init = fs.init_to_patch.load(std::memory_order_relaxed);
                   init != Filesystem::no_request && header->unique == init) {
            if (header->error == 0) asked = patch_init(fs, body.iov_base, body.iov_len);
            fs.init_to_patch = Filesystem::no_request;
        }
    }
    if (std::optional<ssize_t> sent = Ring::send_reply(iov, count)) return *sent;
    ssize_t sent = ::writev(fd, iov, count);
    // The kernel has taken the INIT reply: it now knows whether passthrough is on, and
    // waits for the ring's queues.
    if (asked.passthrough && sent >= 0) fs.passthrough.enable();
    if (asked.ring && sent >= 0) fs.ring.start(asked.max_write, asked.max_pages);
    return sent;
}

const fuse_custom_io hooks = {
    .writev = send,
    .read = receive,
    .splice_receive = nullptr,
    .splice_send = nullptr,
};

}  // namespace

const fuse_custom_io& device_io() {
    return hooks;
}

int reply_open(fuse_req_t req, const fuse_file_info* fi, std::int32_t backing_id) {
    reply_backing = backing_id;
    int err = fuse_reply_open(req, fi);
    reply_backing = 0;
    return err;
}

int reply_create(fuse_req_t req, const fuse_entry_param* e, const fuse_file_info* fi,
                 std::int32_t backing_id) {
    reply_backing = backing_id;
    int err = fuse_reply_create(req, e, fi);
    reply_backing = 0;
    return err;
}

}  // namespace spoolfs
