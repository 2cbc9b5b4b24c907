// Expiry: removes what nobody used for a while, and never a file that is open.
//
// With expire=DURATION (or a directory's xattr user.spoolfs.expire, inherited by what is
// created in it later), a regular file or symlink whose latest atime, mtime, ctime and
// last close is DURATION old and which has no open handle loses all of its names; an
// empty directory as old loses its entry; the root never goes. FIFOs and sockets stay:
// the daemon cannot see whether a process uses one. An open file never expires, and its
// age starts again at its last close.
//
// One thread scans the Tree in batches (Tree::expire_batch: at most `batch` inodes per
// hold of the namespace lock, released between), a pass every interval_for() of the
// shortest duration ever in force, and hands each removed name to the Notifier so that
// the kernel forgets it. With no duration in force it sleeps. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <thread>

#include "notifier.hpp"
#include "tree.hpp"

namespace spoolfs {

class Expiry {
  public:
    static constexpr std::size_t batch = 4096;

    Expiry(Tree& tree, Notifier& notifier, std::chrono::seconds expire);
    Expiry(const Expiry&) = delete;
    Expiry& operator=(const Expiry&) = delete;
    ~Expiry() = default;  // joins the thread

    // Starts the thread; stop() ends it (before the notifier stops).
    void start();
    void stop();

    // `expire` is now in force somewhere (the xattr): passes come often enough for it.
    void consider(std::chrono::seconds expire);

    // One whole pass at `now`, on the calling thread. Returns the names removed.
    std::size_t pass(const timespec& now);

    // The time between passes for the shortest duration: a quarter of it, between
    // 100 ms and 10 s, so that a file goes at most that late.
    static std::chrono::milliseconds interval_for(std::chrono::seconds shortest);

  private:
    void run(std::stop_token stop);

    Tree& tree_;
    Notifier& notifier_;
    std::mutex mutex_;
    std::condition_variable_any wake_;
    std::chrono::seconds shortest_{0};  // 0: nothing expires, no pass
    std::size_t cursor_ = 0;            // the scan's position, for the scanning thread
    std::jthread thread_;
};

}  // namespace spoolfs
