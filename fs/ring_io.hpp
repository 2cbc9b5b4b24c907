// Ring: FUSE over io_uring (Linux 6.14+), the transport that serves requests when the
// kernel offers it in INIT (fuse.enable_uring=Y) and uring= allows.
//
// One queue per possible CPU, each with its own io_uring (SQE128) and a thread pinned to
// that CPU: a request is served on the CPU that issued it, with no wakeup of another
// CPU, so a round trip costs ~7 us instead of ~48 us on a VM, and no CPU has to poll.
// INIT, FORGET, INTERRUPT and notifications stay on /dev/fuse (device_io.hpp), whose
// classic reader keeps running.
//
// A request arrives in an entry's buffers: fuse_in_header and the first argument in a
// header buffer, the rest in a payload buffer. The classic layout is rebuilt in front of
// the payload (at most 168 bytes copied), DeviceIo's in-order patches are applied
// (apply_in_order: O_TMPFILE, kill-suid flags, releases), and libfuse dispatches it as
// usual; the reply comes back through DeviceIo's writev hook on the same thread, which
// hands it to send_reply(): written into the entry, committed with the next fetch.
//
// A handler about to block calls step_aside() (read_turn.hpp), as on /dev/fuse: each
// queue has a turn, like ReadTurn's, and a spare thread pinned to the same CPU waits for
// it, so the queue goes on serving the CPU's other callers while the blocked thread
// finishes; it then commits its reply itself (the submission queue is locked) and becomes
// a spare. Requests that may take long (device_io's may_take_long) step aside before they
// start. Hence no SINGLE_ISSUER/DEFER_TASKRUN (measured ~0.4 us better, but one thread
// per ring).
//
// Ordering: each queue takes its own requests, so a RELEASE made on one CPU may be taken
// after a LOOKUP made later on another (or in another entry of its own queue, whose
// committing thread is asleep): a LOOKUP, a listing, an xattr read or a statfs waits
// until every earlier request has arrived (arrival_order.hpp), so a stat() after the
// last close() of a lifetime-close file finds its name gone, and the statistics no
// longer count it, as over /dev/fuse.
//
// Payload memory: queues x depth x (payload + 4 KiB), payload = max(max_write,
// max_pages x 4 KiB) as negotiated (1 MiB), depth = clamp(16 MiB / (queues x (payload +
// 4 KiB)), 2, 8): 14 MiB on 2 CPUs, 128.5 MiB on 64. The kernel only writes what a
// request carries, so most of it is never touched.
//
// Escape hatch: a queue that cannot start after INIT (no ring, no memory, a REGISTER the
// kernel refuses) sends a REGISTER with an invalid queue id, which turns the ring off for
// the connection; the mount goes on over /dev/fuse. At unmount every entry completes
// with -ENOTCONN and the queue threads end.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "options.hpp"

namespace spoolfs {

class Filesystem;
struct RingQueue;

class Ring {
  public:
    explicit Ring(Options::Uring mode) : mode_(mode) {}
    ~Ring();
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    // Before mounting: finds out whether the ring can be used (the kernel has it, an
    // SQE128 ring can be created). Returns why it cannot when uring=on asks for it, in
    // one line; empty otherwise.
    std::string check();
    // Whether to accept the kernel's offer in the INIT reply.
    bool wanted() const { return usable_; }
    bool required() const { return mode_ == Options::Uring::on; }

    // fusermount3's auto_unmount socket(s): the daemon's death closes them, and
    // fusermount3 then unmounts only if the connection is already aborted. Every ring
    // holds them as registered files, which the kernel puts only after the ring's
    // requests on /dev/fuse are gone: the abort comes first, also after SIGKILL.
    void hold_until_freed(std::vector<int> descriptors) { held_ = std::move(descriptors); }

    // What the queues serve; set once mounted.
    void watch(Filesystem& fs, fuse_session* session, int device_fd);
    // The INIT reply that accepted the ring was taken by the kernel, with this max_write
    // and max_pages: starts the queues.
    void start(std::uint32_t max_write, std::uint16_t max_pages);
    // After the unmount: ends the queue threads and frees the rings.
    void stop();

    bool serving() const { return serving_.load(std::memory_order_relaxed); }
    unsigned queue_count() const { return serving() ? queue_count_ : 0; }
    std::uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
    // The memory the queues' request buffers take (ring_protocol::buffer_bytes).
    std::uint64_t buffer_bytes() const;

    // DeviceIo's writev hook: if the reply answers the ring request this thread serves,
    // writes it into the request's entry and commits it; returns the bytes sent then.
    static std::optional<ssize_t> send_reply(const iovec* iov, int count);

  private:
    friend struct RingQueue;
    // A queue cannot serve: turns the ring off for the connection (once).
    void fail(unsigned qid, const char* what, int error);
    void escape();

    const Options::Uring mode_;
    bool usable_ = false;
    Filesystem* fs_ = nullptr;
    fuse_session* session_ = nullptr;
    int device_fd_ = -1;
    std::size_t payload_size_ = 0;
    unsigned depth_ = 0;
    unsigned queue_count_ = 0;
    struct QueueDeleter {
        void operator()(RingQueue* queue) const;
    };
    std::vector<std::unique_ptr<RingQueue, QueueDeleter>> queues_;
    std::vector<int> held_;
    std::atomic<bool> serving_ = false, failed_ = false;
    std::atomic<std::uint64_t> requests_ = 0;
};

// The sockets this process has open now.
std::vector<int> open_sockets();

// The number of possible CPUs (/sys/devices/system/cpu/possible): the kernel's queue count.
unsigned possible_cpus();

}  // namespace spoolfs
