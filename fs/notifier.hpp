// Notifier: tells the kernel about names the server removed by itself (a lifetime-close
// file's last release), so that no process keeps seeing them in the dentry cache.
//
// fuse_lowlevel_notify_delete() may block until the kernel can lock the directory, and
// the process holding that lock may be waiting for a request of ours: so it is never
// called from a request handler, only from this object's own thread. push() is
// thread-safe and never blocks on the kernel.
#pragma once

#include <fuse_lowlevel.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

#include "tree.hpp"

namespace spoolfs {

class Notifier {
  public:
    Notifier() = default;
    Notifier(const Notifier&) = delete;
    Notifier& operator=(const Notifier&) = delete;
    ~Notifier() = default;  // joins the thread (after stop() and the unmount)

    enum class Notice {
        deleted,  // the server removed the name
        expired,  // the name stays, but the kernel must ask again (its entry timeout changed)
    };

    void start(fuse_session* session);

    // Queues a notice; returns its ticket for wait().
    std::uint64_t push(Removal removal, Notice notice = Notice::deleted);

    // Waits until the notice with `ticket` reached the kernel; false on timeout. For a
    // request handler that must not reply before the kernel forgot an entry: the bound
    // keeps it from deadlocking on a directory lock held by a process waiting for us.
    bool wait(std::uint64_t ticket, std::chrono::milliseconds timeout);

    // Makes the kernel drop the attributes it caches for `ino` (mode, owner, times) at
    // once, before the caller replies. Safe from a request handler, unlike the notices
    // above: for attributes alone the kernel takes no lock a requester may hold (it only
    // bumps the inode's attribute version). ENOENT (not cached) is fine.
    void invalidate_attributes(Ino ino);

    // Stops sending. Call before the session's device is closed: once it returns, the
    // thread writes nothing more to the device.
    void stop();

  private:
    void run(std::stop_token stop);

    fuse_session* session_ = nullptr;
    std::mutex mutex_;
    std::condition_variable_any wake_;
    std::condition_variable done_;
    struct Entry {
        Removal removal;
        Notice notice;
    };
    std::deque<Entry> queue_;
    std::uint64_t pushed_ = 0;
    std::uint64_t sent_ = 0;
    std::timed_mutex sending_;  // held while a notification is in the kernel
    std::jthread thread_;
};

}  // namespace spoolfs
