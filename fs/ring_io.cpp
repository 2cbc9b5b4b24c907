#include "ring_io.hpp"

#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "device_io.hpp"
#include "filesystem.hpp"
#include "loop_signals.hpp"
#include "read_turn.hpp"
#include "ring_protocol.hpp"

namespace spoolfs {
namespace {

using namespace ring_protocol;

constexpr std::uint64_t stop_tag = ~std::uint64_t{0};  // the NOP that ends a queue
constexpr std::chrono::milliseconds release_wait{20};
// How long a request spins for a missing earlier one before it steps aside and sleeps:
// on this 2-CPU VM 1% of the two-client stats waited, 16 us each when they slept.
constexpr std::chrono::microseconds release_spin{20};

// Whether the answer shows what an earlier RELEASE (of a lifetime-close file) changes: its
// names, or the counts the statistics xattrs and statfs report (a stats read right after
// close() found files_close still counting the file 1 run in 10 on the ring).
bool depends_on_releases(std::uint32_t opcode) {
    switch (opcode) {
        case FUSE_LOOKUP:
        case FUSE_READDIR:
        case FUSE_READDIRPLUS:
        case FUSE_GETXATTR:
        case FUSE_LISTXATTR:
        case FUSE_STATFS:
            return true;
        default:
            return false;
    }
}

struct Mapping {
    void* address = MAP_FAILED;
    std::size_t length = 0;
    Mapping() = default;
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() {
        if (address != MAP_FAILED) ::munmap(address, length);
    }
    bool map(std::size_t bytes) {
        address =
            ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        length = bytes;
        return address != MAP_FAILED;
    }
};

struct Entry {
    RingQueue* queue = nullptr;
    std::byte* base = nullptr;  // the header; the payload at base + head_room
    iovec buffers[2]{};
    std::uint64_t unique = 0;  // of the request it holds

    RequestHeader& header() const { return *reinterpret_cast<RequestHeader*>(base); }
    std::byte* payload() const { return base + head_room; }
};

// The ring request the calling thread serves, until its reply is sent.
thread_local Entry* current = nullptr;

// "0-3,5,7-8" -> 7
unsigned count_cpu_list(const std::string& list) {
    unsigned count = 0;
    std::size_t at = 0;
    while (at < list.size()) {
        std::size_t end = list.find(',', at);
        if (end == std::string::npos) end = list.size();
        const std::string range = list.substr(at, end - at);
        const std::size_t dash = range.find('-');
        const unsigned first = static_cast<unsigned>(std::strtoul(range.c_str(), nullptr, 10));
        const unsigned last =
            dash == std::string::npos
                ? first
                : static_cast<unsigned>(std::strtoul(range.c_str() + dash + 1, nullptr, 10));
        if (last >= first) count += last - first + 1;
        at = end + 1;
    }
    return count;
}

std::string read_line(const char* path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

}  // namespace

std::vector<int> open_sockets() {
    std::vector<int> sockets;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", error)) {
        std::error_code ignored;
        const std::string target = std::filesystem::read_symlink(entry.path(), ignored).string();
        if (target.starts_with("socket:"))
            sockets.push_back(std::atoi(entry.path().filename().c_str()));
    }
    return sockets;
}

unsigned possible_cpus() {
    const unsigned n = count_cpu_list(read_line("/sys/devices/system/cpu/possible"));
    return n ? n : static_cast<unsigned>(std::max(1L, ::sysconf(_SC_NPROCESSORS_CONF)));
}

// One CPU's queue: its ring, its entries, and the threads that take turns serving it.
struct RingQueue {
    RingQueue(Ring& owner, unsigned id) : ring(owner), qid(id) {}

    Ring& ring;
    const unsigned qid;
    io_uring uring{};
    Mapping memory;
    std::vector<Entry> entries;
    unsigned live = 0;  // entries the kernel still holds; only the turn's holder counts

    std::mutex turn;            // held by the thread that waits for completions
    std::mutex submit_mutex;    // the submission queue
    std::atomic<int> spares = 0;  // threads waiting for the turn
    std::atomic<bool> done = false;

    std::mutex threads_mutex;  // guards the rest
    std::vector<std::thread> threads;
    bool closing = false, uring_made = false;

    void spawn() {
        std::lock_guard lock(threads_mutex);
        if (closing) return;
        const LoopSignalsBlocked blocked;
        try {
            threads.emplace_back([this] { run(); });
        } catch (const std::system_error&) {
            // No thread to spare: the queue still serves, only a blocked handler stalls it.
        }
    }

    // The first thread makes the ring and registers the entries, then leads.
    void run_first() {
        hold_turn(turn);
        pin();
        if (!setup()) {
            done = true;
            step_aside();
            return;
        }
        serve();
    }

    void run() {
        pin();
        serve();
    }

    void pin() const {
        cpu_set_t cpus;
        CPU_ZERO(&cpus);
        CPU_SET(qid, &cpus);
        // A CPU this process may not use: the queue serves from elsewhere, just slower.
        pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
    }

    bool setup() {
        if (const char* fail = std::getenv("SPOOLFS_RING_FAIL_QUEUE");
            fail && std::to_string(qid) == fail) {
            // For the tests of the escape hatch only.
            ring.fail(qid, "SPOOLFS_RING_FAIL_QUEUE", EINVAL);
            return false;
        }
        const unsigned ring_size = std::bit_ceil(ring.depth_ * 2 + 2);
        if (int err = io_uring_queue_init(ring_size, &uring, IORING_SETUP_SQE128); err < 0) {
            ring.fail(qid, "io_uring_setup", -err);
            return false;
        }
        {
            std::lock_guard lock(threads_mutex);
            uring_made = true;
            if (closing) return false;
        }
        if (!ring.held_.empty())  // without them, auto_unmount may miss a SIGKILL
            io_uring_register_files(&uring, ring.held_.data(),
                                    static_cast<unsigned>(ring.held_.size()));
        const std::size_t stride = head_room + ring.payload_size_;
        if (!memory.map(stride * ring.depth_)) {
            ring.fail(qid, "mmap", errno);
            return false;
        }
        entries.resize(ring.depth_);
        std::unique_lock lock(submit_mutex);
        for (unsigned i = 0; i < ring.depth_; ++i) {
            Entry& e = entries[i];
            e.queue = this;
            e.base = static_cast<std::byte*>(memory.address) + i * stride;
            e.buffers[0] = {e.base, sizeof(RequestHeader)};
            e.buffers[1] = {e.payload(), ring.payload_size_};
            io_uring_sqe* sqe = io_uring_get_sqe(&uring);
            if (!sqe) {  // the ring was made with room for them all
                ring.fail(qid, "io_uring_get_sqe", EBUSY);
                return false;
            }
            prepare(sqe, command_register, e);
        }
        live = ring.depth_;
        const int err = io_uring_submit(&uring);
        lock.unlock();
        if (err < 0) {
            ring.fail(qid, "io_uring_enter", -err);
            return false;
        }
        return true;
    }

    void prepare(io_uring_sqe* sqe, Command command, Entry& e) const {
        std::memset(static_cast<void*>(sqe), 0, 2 * sizeof(io_uring_sqe));  // SQE128
        sqe->opcode = IORING_OP_URING_CMD;
        sqe->fd = ring.device_fd_;
        sqe->cmd_op = command;
        sqe->addr = reinterpret_cast<std::uintptr_t>(e.buffers);
        sqe->len = 2;
        sqe->user_data = reinterpret_cast<std::uintptr_t>(&e);
        CommandRequest request{};
        request.commit_id = e.unique;
        request.qid = static_cast<std::uint16_t>(qid);
        std::memcpy(sqe->cmd, &request, sizeof(request));
    }

    // Sends the reply in `e` and fetches the entry's next request. Any thread may.
    void commit(Entry& e) {
        std::lock_guard lock(submit_mutex);
        io_uring_sqe* sqe = io_uring_get_sqe(&uring);
        if (!sqe) {
            io_uring_submit(&uring);
            sqe = io_uring_get_sqe(&uring);
        }
        if (!sqe) return;  // cannot happen: at most depth + 1 submissions are in flight
        prepare(sqe, command_commit_and_fetch, e);
        io_uring_submit(&uring);
    }

    // Wakes the thread that waits for completions so that the queue's threads end.
    void stop() {
        std::lock_guard lock(submit_mutex);
        if (io_uring_sqe* sqe = io_uring_get_sqe(&uring)) {
            io_uring_prep_nop(sqe);
            sqe->user_data = stop_tag;
            io_uring_submit(&uring);
        }
    }

    // Takes turns: waits for the turn, serves until it steps aside, again; until done.
    void serve() {
        for (;;) {
            if (!holds_turn(turn)) {
                ++spares;
                hold_turn(turn);
                --spares;
            }
            if (done) {
                step_aside();
                return;
            }
            // Someone must be ready to take over should the request block.
            if (spares.load() == 0) spawn();
            lead();
        }
    }

    // Serves completions while this thread holds the turn and the queue lives.
    void lead() {
        while (holds_turn(turn)) {
            io_uring_cqe* cqe = nullptr;
            const int err = io_uring_wait_cqe(&uring, &cqe);
            if (err == -EINTR) continue;
            if (err < 0) {
                std::fprintf(stderr, "spoolfs: io_uring queue %u: %s\n", qid, std::strerror(-err));
                done = true;
                return;
            }
            const std::uint64_t tag = cqe->user_data;
            const int res = cqe->res;
            io_uring_cqe_seen(&uring, cqe);
            if (tag == stop_tag) {
                done = true;
                return;
            }
            Entry& e = *reinterpret_cast<Entry*>(tag);
            if (res < 0) {
                // -ENOTCONN: unmounted. Anything else before serving: the kernel refused
                // the REGISTER.
                if (res != -ENOTCONN && ring.requests() == 0) ring.fail(qid, "REGISTER", -res);
                if (--live == 0) {
                    done = true;
                    return;
                }
                continue;
            }
            handle(e);
        }
    }

    void handle(Entry& e) {
        RequestHeader& header = e.header();
        fuse_in_header in;
        std::memcpy(&in, header.in_out, sizeof(in));
        const std::uint32_t payload_size = header.ring_ent_in_out.payload_sz;
        e.unique = header.ring_ent_in_out.commit_id;
        if (in.len < sizeof(in) + payload_size || payload_size > ring.payload_size_ ||
            in.len - sizeof(in) - payload_size > op_in_size) {
            reply_error(e, EIO);
            return;
        }
        const std::size_t op_size = in.len - sizeof(in) - payload_size;
        std::byte* start = e.payload() - sizeof(in) - op_size;
        std::memcpy(start, &in, sizeof(in));
        std::memcpy(start + sizeof(in), header.op_in, op_size);
        auto* request = reinterpret_cast<fuse_in_header*>(start);

        if (ring.requests_.fetch_add(1, std::memory_order_relaxed) == 0)
            ring.fs_->read_turn.ring_serves();
        apply_before_dispatch(*ring.fs_, request, in.len);
        if (may_take_long(request, in.len)) {
            step_aside();
        } else if (depends_on_releases(in.opcode)) {
            // A RELEASE made earlier on another CPU's queue must be applied first.
            ring.fs_->arrivals.wait_for_earlier(in.unique, release_wait, release_spin);
        }
        current = &e;
        fuse_buf buf{};
        buf.size = in.len;
        buf.mem = start;
        buf.fd = -1;
        fuse_session_process_buf(ring.session_, &buf);
        // libfuse answers every request the ring carries; should one go unanswered, the
        // entry still must go back to the kernel.
        if (current == &e) reply_error(e, EIO);
    }

    void reply_error(Entry& e, int error) {
        current = nullptr;
        fuse_out_header out{};
        out.len = sizeof(out);
        out.error = -error;
        out.unique = e.unique;
        std::memcpy(e.header().in_out, &out, sizeof(out));
        e.header().ring_ent_in_out.payload_sz = 0;
        commit(e);
    }
};

void Ring::QueueDeleter::operator()(RingQueue* queue) const {
    std::default_delete<RingQueue>()(queue);
}

Ring::~Ring() {
    stop();
}

std::string Ring::check() {
    usable_ = false;
    if (mode_ == Options::Uring::off) return {};
    const std::string enabled = read_line("/sys/module/fuse/parameters/enable_uring");
    std::string reason;
    if (enabled.empty()) {
        reason = "this kernel has no FUSE over io_uring (Linux 6.14+ with CONFIG_FUSE_IO_URING)";
    } else if (enabled != "Y") {
        reason = "FUSE over io_uring is off: /sys/module/fuse/parameters/enable_uring is " +
                 enabled + " (root: echo Y > it)";
    } else {
        io_uring probe{};
        const int err = io_uring_queue_init(1, &probe, IORING_SETUP_SQE128);
        if (err < 0) {
            const std::string disabled = read_line("/proc/sys/kernel/io_uring_disabled");
            reason = std::string("io_uring is forbidden here (") + std::strerror(-err) +
                     "; kernel.io_uring_disabled=" + (disabled.empty() ? "?" : disabled) +
                     ", or a seccomp filter)";
        } else {
            io_uring_queue_exit(&probe);
            usable_ = true;
        }
    }
    return usable_ || mode_ != Options::Uring::on ? std::string() : reason;
}

std::uint64_t Ring::buffer_bytes() const {
    return serving() ? ring_protocol::buffer_bytes(queue_count_, payload_size_) : 0;
}

void Ring::watch(Filesystem& fs, fuse_session* session, int device_fd) {
    fs_ = &fs;
    session_ = session;
    device_fd_ = device_fd;
}

void Ring::start(std::uint32_t max_write, std::uint16_t max_pages) {
    if (!queues_.empty()) return;
    payload_size_ = ring_protocol::payload_size(max_write, max_pages);
    queue_count_ = possible_cpus();
    depth_ = queue_depth(queue_count_, payload_size_);
    serving_ = true;
    const LoopSignalsBlocked blocked;
    try {
        for (unsigned qid = 0; qid < queue_count_; ++qid) {
            std::unique_ptr<RingQueue, QueueDeleter> queue(new RingQueue(*this, qid));
            queues_.push_back(std::move(queue));
        }
        for (auto& queue : queues_) {
            std::lock_guard lock(queue->threads_mutex);
            RingQueue* q = queue.get();
            q->threads.emplace_back([q] { q->run_first(); });
        }
    } catch (const std::exception&) {
        // Called from libfuse's writev: nothing may escape. A queue without its thread
        // registers nothing, so the ring must go.
        fail(static_cast<unsigned>(queues_.size()), "starting the queues", EAGAIN);
    }
}

void Ring::stop() {
    for (auto& queue : queues_) {
        bool made;
        {
            std::lock_guard lock(queue->threads_mutex);
            queue->closing = true;
            made = queue->uring_made;
        }
        if (made) queue->stop();
    }
    for (auto& queue : queues_) {
        // No thread is added once closing is set.
        for (std::thread& thread : queue->threads) thread.join();
        if (queue->uring_made) io_uring_queue_exit(&queue->uring);
    }
    queues_.clear();
    serving_ = false;
}

void Ring::fail(unsigned qid, const char* what, int error) {
    if (failed_.exchange(true)) return;
    serving_ = false;
    std::fprintf(stderr, "spoolfs: io_uring queue %u failed (%s: %s): serving over /dev/fuse\n",
                 qid, what, std::strerror(error));
    escape();
}

void Ring::escape() {
    io_uring temporary{};
    if (io_uring_queue_init(2, &temporary, IORING_SETUP_SQE128) < 0) return;
    RingQueue nowhere(*this, invalid_qid);
    Entry none;
    io_uring_sqe* sqe = io_uring_get_sqe(&temporary);
    if (!sqe) {
        io_uring_queue_exit(&temporary);
        return;
    }
    nowhere.prepare(sqe, command_register, none);
    io_uring_submit(&temporary);
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec wait{.tv_sec = 5, .tv_nsec = 0};
    if (io_uring_wait_cqe_timeout(&temporary, &cqe, &wait) == 0) io_uring_cqe_seen(&temporary, cqe);
    io_uring_queue_exit(&temporary);
}

std::optional<ssize_t> Ring::send_reply(const iovec* iov, int count) {
    Entry* e = current;
    if (!e || count < 1 || iov[0].iov_len < sizeof(fuse_out_header)) return std::nullopt;
    fuse_out_header out;
    std::memcpy(&out, iov[0].iov_base, sizeof(out));
    if (out.unique != e->unique) return std::nullopt;
    current = nullptr;

    RingQueue& queue = *e->queue;
    const std::size_t room = queue.ring.payload_size_;
    std::size_t total = iov[0].iov_len - sizeof(out);
    for (int i = 1; i < count; ++i) total += iov[i].iov_len;
    if (total > room) {
        queue.reply_error(*e, EIO);
        return -1;
    }
    std::byte* at = e->payload();
    std::memcpy(at, static_cast<const std::byte*>(iov[0].iov_base) + sizeof(out),
                iov[0].iov_len - sizeof(out));
    at += iov[0].iov_len - sizeof(out);
    for (int i = 1; i < count; ++i) {
        std::memcpy(at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
    }
    out.len = static_cast<std::uint32_t>(sizeof(out) + total);
    std::memcpy(e->header().in_out, &out, sizeof(out));
    e->header().ring_ent_in_out.payload_sz = static_cast<std::uint32_t>(total);
    queue.commit(*e);
    return static_cast<ssize_t>(out.len);
}

}  // namespace spoolfs
