#include "notifier.hpp"

#include <chrono>

namespace spoolfs {

void Notifier::start(fuse_session* session) {
    session_ = session;
    thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void Notifier::push(Removal removal) {
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(removal));
    }
    wake_.notify_one();
}

void Notifier::run(std::stop_token stop) {
    while (true) {
        Removal next;
        {
            std::unique_lock lock(mutex_);
            if (!wake_.wait(lock, stop, [&] { return !queue_.empty(); })) return;
            next = std::move(queue_.front());
            queue_.pop_front();
        }
        std::lock_guard sending(sending_);
        if (stop.stop_requested()) return;
        // ENOENT (the kernel had no such dentry) and ENOTCONN (unmounting) are fine.
        fuse_lowlevel_notify_delete(session_, next.parent, next.child, next.name.data(),
                                    next.name.size());
    }
}

void Notifier::stop() {
    if (!thread_.joinable() || thread_.get_stop_token().stop_requested()) return;
    thread_.request_stop();
    // A notification stuck in the kernel is left to fail on the unmount; the thread
    // sends nothing more, and the destructor joins it.
    if (sending_.try_lock_for(std::chrono::seconds(1))) {
        sending_.unlock();
        thread_.join();
    }
}

}  // namespace spoolfs
