// Notifier: tells the kernel about names the server removed by itself (a lifetime-close
// file's last release), so that no process keeps seeing them in the dentry cache.
//
// fuse_lowlevel_notify_delete() may block until the kernel can lock the directory, and
// the process holding that lock may be waiting for a request of ours: so it is never
// called from a request handler, only from this object's own thread. push() is
// thread-safe and never blocks on the kernel.
#pragma once

#include <fuse_lowlevel.h>

#include <condition_variable>
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

    void start(fuse_session* session);
    void push(Removal removal);

    // Stops sending. Call before the session's device is closed: once it returns, the
    // thread writes nothing more to the device.
    void stop();

  private:
    void run(std::stop_token stop);

    fuse_session* session_ = nullptr;
    std::mutex mutex_;
    std::condition_variable_any wake_;
    std::deque<Removal> queue_;
    std::timed_mutex sending_;  // held while a notification is in the kernel
    std::jthread thread_;
};

}  // namespace spoolfs
