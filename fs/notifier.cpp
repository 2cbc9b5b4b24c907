#include "notifier.hpp"

#include "read_turn.hpp"

namespace spoolfs {

void Notifier::start(fuse_session* session) {
    session_ = session;
    thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

std::uint64_t Notifier::push(Removal removal, Notice notice) {
    std::uint64_t ticket;
    {
        std::lock_guard lock(mutex_);
        queue_.push_back({std::move(removal), notice});
        ticket = ++pushed_;
    }
    wake_.notify_one();
    return ticket;
}

bool Notifier::wait(std::uint64_t ticket, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!thread_.joinable()) return true;  // no session: no kernel cache to tell
    step_aside();  // the process we wait for may be waiting for a request of ours
    return done_.wait_for(lock, timeout, [&] { return sent_ >= ticket; });
}

void Notifier::run(std::stop_token stop) {
    while (true) {
        Entry next;
        {
            std::unique_lock lock(mutex_);
            if (!wake_.wait(lock, stop, [&] { return !queue_.empty(); })) return;
            next = std::move(queue_.front());
            queue_.pop_front();
        }
        {
            std::lock_guard sending(sending_);
            if (stop.stop_requested()) return;
            // ENOENT (the kernel had no such dentry) and ENOTCONN (unmounting) are fine.
            const Removal& r = next.removal;
            if (next.notice == Notice::deleted)
                fuse_lowlevel_notify_delete(session_, r.parent, r.child, r.name.data(),
                                            r.name.size());
            else
                fuse_lowlevel_notify_inval_entry(session_, r.parent, r.name.data(), r.name.size());
        }
        {
            std::lock_guard lock(mutex_);
            ++sent_;
        }
        done_.notify_all();
    }
}

void Notifier::invalidate_attributes(Ino ino) {
    if (session_) fuse_lowlevel_notify_inval_inode(session_, ino, -1, 0);
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
