// Passthrough: the kernel's FUSE passthrough (protocol 7.40 and later), for which
// libfuse 3.14 has no API. The kernel then reads, writes and maps a file through its
// backing file itself: the daemon sees no READ or WRITE for it.
//
// The protocol: fs/device_io accepts FUSE_PASSTHROUGH in the INIT reply; a backing file
// is registered with ioctl(FUSE_DEV_IOC_BACKING_OPEN) on /dev/fuse, which returns an id;
// an OPEN or CREATE reply carrying FOPEN_PASSTHROUGH and that id makes the kernel serve
// the handle from the backing file. The ioctl needs CAP_SYS_ADMIN; without it, or on a
// kernel without passthrough, every file stays on the plain path.
//
// Which files (docs/performance.md has the measurements behind it):
// - A new or empty file opened for writing gets a backing file in the Storage's RAM
//   store (a private tmpfs within ram=, which the kernel enforces) while it has room to
//   spare, else in the spill directory (Storage::place_for_passthrough); past half the
//   descriptor allowance, none. A file already spilled uses its spill file.
// - A file the kernel writes cannot roll over while open: past the store's room its
//   writes get ENOSPC. At its last close a small file on disk comes back to the heap
//   (Storage::wants_back), so that ext4's anonymous files stay few.
// - The kernel wants all handles of an inode passthrough or none: the choice is made
//   when a file has no open handle, and holds until its last handle is released.
// - Not served so: files with a set-id bit or a security.capability xattr (their removal
//   on write is the daemon's job under FUSE_HANDLE_KILLPRIV_V2), and every file when
//   `size=` is set, since the daemon must see each write to enforce it; for the same
//   reason, files whose owner or group has a byte limit (quota.hpp).
//
// Locking: open_backing/close_backing are thread-safe; the per-file functions are
// called with the inode's mutex held.
#pragma once

#include <linux/fuse.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "credentials.hpp"
#include "inode.hpp"

namespace spoolfs {

class Filesystem;

class Passthrough {
  public:
    explicit Passthrough(bool wanted) : wanted_(wanted) {}

    // Whether to ask the kernel for passthrough in the INIT reply.
    bool wanted() const { return wanted_; }
    // The connection's /dev/fuse descriptor, known once mounted.
    void set_device(int device_fd) { device_fd_.store(device_fd, std::memory_order_relaxed); }
    // The INIT reply that asked for it is sent: finds out whether the kernel lets this
    // process register backing files.
    void enable();
    bool available() const { return available_.load(std::memory_order_relaxed); }

    // Registers the open file `fd` as a backing file: its id, or 0 if the kernel refuses
    // (EPERM turns passthrough off for good: no capability).
    std::int32_t open_backing(int fd);
    void close_backing(std::int32_t id);

    // Backing files registered now.
    std::uint64_t active() const { return active_.load(std::memory_order_relaxed); }

  private:
    const bool wanted_;
    std::atomic<int> device_fd_ = -1;
    std::atomic<bool> available_ = false;
    std::atomic<std::uint64_t> active_ = 0;
};

// A handle is opened on `inode` by `opener`: its backing id if the kernel is to serve it
// directly, else 0. `writing`: opened for writing (or created). The kernel's direct
// writes never reach the daemon, which under FUSE_HANDLE_KILLPRIV_V2 drops set-id bits
// on another user's write: a file served directly loses them at such an open instead.
std::int32_t begin_handle(Filesystem& fs, Inode& inode, bool writing, const Requester& opener);

// A handle of `inode` is released. The last one ends passthrough: the kernel's writes
// are taken into the inode's size, times and the storage accounts, and true is returned.
bool end_handle(Filesystem& fs, Inode& inode);

// After end_handle() returned true and the namespace let the file live on: a small file
// on disk goes back to the heap (Storage::wants_back).
void after_passthrough(Filesystem& fs, Inode& inode);

// While the kernel serves the file directly: takes the size the kernel's writes gave the
// spill file into the Spool, and, when the spill file's mtime or atime moved since last
// seen, those into the inode (a write or read happened). Without `adopt_times` the times
// are only noted as seen (after the daemon's own changes). No-op otherwise.
void follow_backing(Inode& inode, bool adopt_times = true);

// Whether the kernel's INIT request offers passthrough.
bool kernel_offers_passthrough(const fuse_init_in& in);

// The kernel's INIT reply body `out` (`length` bytes): asks for passthrough. false if
// the body is too short to carry it.
bool request_passthrough(void* out, std::size_t length);

// An OPEN or CREATE reply body ending in fuse_open_out: serves it by passthrough.
void mark_open_reply(void* body, std::size_t length, std::int32_t backing_id);

}  // namespace spoolfs
