#include "read_turn.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

namespace spoolfs {
namespace {

using Clock = std::chrono::steady_clock;

// The turn this thread holds, if any. Released at thread exit too (libfuse's workers
// may leave their loop, or be cancelled, while holding it).
thread_local std::unique_lock<std::mutex> held;

// The descriptor this thread made non-blocking (libfuse's clone_fd gives each its own),
// and for which ReadTurn: a later session may get the same descriptor number.
struct Nonblocking {
    std::uint64_t turn = 0;
    int fd = -1;
};
thread_local Nonblocking nonblocking;

void make_nonblocking(std::uint64_t turn, int fd) {
    if (fd == nonblocking.fd && turn == nonblocking.turn) return;
    int flags = ::fcntl(fd, F_GETFL);
    // Should it fail, reads block: no polling, but nothing wrong either.
    if (flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0) nonblocking = {turn, fd};
}

std::atomic<std::uint64_t> turns_made = 0;

}  // namespace

ReadTurn::ReadTurn(std::chrono::microseconds busy_poll, bool idle_poll)
    : id_(++turns_made), busy_poll_(busy_poll), idle_poll_(idle_poll && busy_poll.count() > 0) {}

ReadTurn::~ReadTurn() {
    if (held.owns_lock() && held.mutex() == &mutex_) held.unlock();
}

ssize_t ReadTurn::read(int fd, void* buf, std::size_t len) {
    if (!held.owns_lock() || held.mutex() != &mutex_) held = std::unique_lock(mutex_);
    if (read_forget_ && gathers_.load(std::memory_order_relaxed)) {
        read_forget_ = false;
        std::this_thread::sleep_for(forget_gather);  // a signal ends it early: fine
    }
    ssize_t n = polls() ? wait_and_read(fd, buf, len) : read_blocking(fd, buf, len);
    // Interrupted: libfuse calls again (or leaves its loop; then the exit releases it).
    if (n < 0 && errno != EINTR) {
        const int error = errno;
        step_aside();  // unmounted: every thread must see it
        errno = error;
    }
    return n;
}

void ReadTurn::read_done(bool may_take_long, bool forget) {
    read_forget_ = forget;
    if (may_take_long || !polls()) step_aside();
}

// The descriptor may have been made non-blocking while polling was on.
ssize_t ReadTurn::read_blocking(int fd, void* buf, std::size_t len) {
    for (;;) {
        ssize_t n = ::read(fd, buf, len);
        if (n >= 0 || errno != EAGAIN) return n;
        pollfd device{.fd = fd, .events = POLLIN, .revents = 0};
        if (::poll(&device, 1, -1) < 0 && errno == EINTR) return -1;
    }
}

ssize_t ReadTurn::wait_and_read(int fd, void* buf, std::size_t len) {
    make_nonblocking(id_, fd);
    const Clock::time_point start = Clock::now();
    if (polling_) {
        const Clock::time_point end = start + busy_poll_;
        do {
            ssize_t n = ::read(fd, buf, len);
            if (n >= 0) arrived(true);
            if (n >= 0 || errno != EAGAIN) return n;
            // A signal that lands here interrupts no system call: look for its effect.
            if (exiting()) {
                errno = EINTR;
                return -1;
            }
        } while (Clock::now() < end);
        polling_ = false;  // a whole window went by without a request
    }
    for (;;) {
        ssize_t n = ::read(fd, buf, len);
        if (n >= 0 || errno != EAGAIN) {
            if (n >= 0) {
                polling_ = Clock::now() - start < busy_poll_;
                arrived(polling_);
            }
            return n;
        }
        pollfd device{.fd = fd, .events = POLLIN, .revents = 0};
        const int timeout = idle_poll_.held() ? static_cast<int>(idle_linger.count()) : -1;
        const int ready = ::poll(&device, 1, timeout);
        if (ready < 0 && errno == EINTR) return -1;
        if (ready == 0) idle_poll_.release();  // the stream has ended
    }
}

void ReadTurn::arrived(bool soon) {
    if (!soon) {
        in_a_row_ = 0;
        return;
    }
    if (in_a_row_ < stream_length) ++in_a_row_;
    if (in_a_row_ == stream_length) idle_poll_.hold();
}

void step_aside() {
    if (held.owns_lock()) held.unlock();
}

void hold_turn(std::mutex& turn) {
    held = std::unique_lock(turn);
}

bool holds_turn(const std::mutex& turn) {
    return held.owns_lock() && held.mutex() == &turn;
}

}  // namespace spoolfs
