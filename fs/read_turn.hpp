// ReadTurn: which request thread reads /dev/fuse next (leader and followers).
//
// One thread at a time holds the turn and reads. A thread that read a quick request
// keeps the turn while it serves it, and reads the next one itself: that request finds
// it awake on the CPU it just ran on, with no handoff to another thread. A thread about
// to be slow (much data to move, a wait for the kernel) steps aside first, and a
// follower reads on meanwhile.
//
// With busy_poll, the holder polls the device for up to `busy_poll` before it sleeps in poll(2). On
// a VM whose idle CPUs halt, waking a sleeping thread costs 10-30 us, several times a request's own
// work, and a client issuing one system call after another sends its next request within a few
// microseconds of our reply. A poll window that sees no request turns polling off until requests
// again follow each other within the window, so an idle mount costs no CPU.
//
// With idle_poll, the holder also keeps idle CPUs polling (cpu_latency.hpp) once
// `stream_length` requests in a row each came within the window of the one before, until
// `idle_linger` passes without a request: the other half of each round trip, the reply
// waking its caller, then needs no IPI either. A program that touches a file now and then
// (a few requests, then a pause of a millisecond or more) does not keep the machine's
// CPUs spinning.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "cpu_latency.hpp"

namespace spoolfs {

class ReadTurn {
  public:
    // Requests in a row, each within the polling window of the one before, that make a
    // stream worth keeping idle CPUs polling for; and how long they poll after it.
    static constexpr int stream_length = 4;
    static constexpr std::chrono::milliseconds idle_linger{1};

    explicit ReadTurn(std::chrono::microseconds busy_poll, bool idle_poll = false);
    // Gives up the turn if the calling thread holds it.
    ~ReadTurn();
    ReadTurn(const ReadTurn&) = delete;
    ReadTurn& operator=(const ReadTurn&) = delete;

    // The session whose exit (fuse_session_exit(), from a signal) ends a wait early.
    void watch(fuse_session* session) { session_ = session; }

    // Waits for the turn unless this thread holds it, then reads one request from `fd`
    // (a /dev/fuse descriptor, made non-blocking when polling) as read(2) does. The
    // thread holds the turn afterwards, until read_done().
    ssize_t read(int fd, void* buf, std::size_t len);

    // The request read is applied where it must be in order. The thread keeps the turn
    // only if it polls and the request is quick. Without polling (busy_poll=0) the next
    // thread reads at once, as libfuse's own loop does.
    // `forget`: it was a FORGET or BATCH_FORGET (see ring_serves()).
    void read_done(bool may_take_long, bool forget = false);

    // The ring serves the requests (ring_io.hpp): /dev/fuse brings only FORGET, INTERRUPT
    // and INIT, not worth polling for. FORGETs then wait to be read together: after one,
    // the reader sleeps `forget_gather` before it reads again, so that the kernel queues
    // the next ones without waking it and sends them as one BATCH_FORGET. Short: what a
    // FORGET frees (a file's pages, its inode) is what the next new file reuses while it
    // is still in the CPU's caches; at 2 ms the tempfile pattern ran 13-25% slower.
    void ring_serves() {
        polls_.store(false, std::memory_order_relaxed);
        gathers_.store(true, std::memory_order_relaxed);
    }
    static constexpr std::chrono::microseconds forget_gather{250};

    // Whether idle CPUs are kept polling now. For tests; only the holder of the turn may ask.
    bool keeps_cpus_polling() const { return idle_poll_.held(); }

  private:
    ssize_t wait_and_read(int fd, void* buf, std::size_t len);
    ssize_t read_blocking(int fd, void* buf, std::size_t len);
    // A request came, within the polling window of the one before (`soon`) or after a sleep.
    void arrived(bool soon);

    bool exiting() const { return session_ && fuse_session_exited(session_); }
    bool polls() const {
        return busy_poll_.count() > 0 && polls_.load(std::memory_order_relaxed);
    }

    const std::uint64_t id_;  // unique in the process
    std::mutex mutex_;
    const std::chrono::nanoseconds busy_poll_;
    std::atomic<bool> polls_ = true;
    std::atomic<bool> gathers_ = false;
    fuse_session* session_ = nullptr;
    // Only the holder of the turn touches these.
    bool polling_ = true;
    CpuLatencyRequest idle_poll_;
    int in_a_row_ = 0;  // requests in a row that came within the window, up to stream_length
    bool read_forget_ = false;  // the last request read was a FORGET or BATCH_FORGET
};

// Gives up the calling thread's turn, if it holds one. Call before work that may take
// long or wait for the kernel; harmless anywhere else.
void step_aside();

// Takes `turn` (a ring queue's, ring_io.hpp) as the calling thread's turn, which
// step_aside() gives up; and whether the thread still holds it.
void hold_turn(std::mutex& turn);
bool holds_turn(const std::mutex& turn);

// A mutex for what request handlers lock: a thread that finds it taken steps aside
// before it waits (a slow request on the same file may hold it for long), so requests
// for other files are read and served meanwhile.
class HandlerMutex {
  public:
    void lock() {
        if (mutex_.try_lock()) return;
        step_aside();
        mutex_.lock();
    }
    bool try_lock() { return mutex_.try_lock(); }
    void unlock() { mutex_.unlock(); }

  private:
    std::mutex mutex_;
};

}  // namespace spoolfs
