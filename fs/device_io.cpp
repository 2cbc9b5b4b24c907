#include "device_io.hpp"

#include <linux/fuse.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <exception>
#include <mutex>

#include "attributes.hpp"
#include "filesystem.hpp"

namespace spoolfs {
namespace {

template <typename Body>
const Body* body_of(const fuse_in_header* header, ssize_t n) {
    if (n < static_cast<ssize_t>(sizeof(fuse_in_header) + sizeof(Body))) return nullptr;
    return reinterpret_cast<const Body*>(header + 1);
}

void kill_privileges_of(Filesystem& fs, fuse_ino_t ino) {
    if (InodePtr inode = fs.tree.find(ino)) kill_privileges(*inode);
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
        case FUSE_INIT:
            if (auto* in = body_of<fuse_init_in>(header, n);
                in && (in->flags & FUSE_HANDLE_KILLPRIV_V2))
                fs.init_to_patch = header->unique;
            break;
        case FUSE_WRITE:
            if (auto* in = body_of<fuse_write_in>(header, n);
                in && (in->write_flags & FUSE_WRITE_KILL_SUIDGID))
                kill_privileges(*reinterpret_cast<Handle*>(in->fh)->inode);
            break;
        case FUSE_SETATTR:
            if (auto* in = body_of<fuse_setattr_in>(header, n);
                in && (in->valid & FATTR_KILL_SUIDGID))
                kill_privileges_of(fs, header->nodeid);
            break;
        case FUSE_OPEN:
            if (auto* in = body_of<fuse_open_in>(header, n);
                in && (in->open_flags & FUSE_OPEN_KILL_SUIDGID))
                kill_privileges_of(fs, header->nodeid);
            break;
        default:
            break;
    }
}

ssize_t receive(int fd, void* buf, size_t len, void* userdata) {
    Filesystem& fs = *static_cast<Filesystem*>(userdata);
    std::lock_guard lock(fs.receive_order);
    ssize_t n = ::read(fd, buf, len);
    if (n >= static_cast<ssize_t>(sizeof(fuse_in_header))) {
        try {
            apply_in_order(fs, static_cast<fuse_in_header*>(buf), n);
        } catch (const std::exception&) {
            // Out of memory: the request's own handler applies it (release) or fails it.
        }
    }
    return n;
}

ssize_t send(int fd, iovec* iov, int count, void* userdata) {
    Filesystem& fs = *static_cast<Filesystem*>(userdata);
    std::uint64_t init = fs.init_to_patch.load(std::memory_order_relaxed);
    if (init != Filesystem::no_request && count >= 2 && iov[0].iov_len >= sizeof(fuse_out_header)) {
        auto* header = static_cast<fuse_out_header*>(iov[0].iov_base);
        if (header->unique == init && header->error == 0 &&
            iov[1].iov_len >= sizeof(std::uint32_t) * 3) {
            auto* out = static_cast<fuse_init_out*>(iov[1].iov_base);
            out->flags |= FUSE_HANDLE_KILLPRIV_V2;
            fs.init_to_patch = Filesystem::no_request;
        }
    }
    return ::writev(fd, iov, count);
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

}  // namespace spoolfs
