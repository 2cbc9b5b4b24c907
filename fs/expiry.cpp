#include "expiry.hpp"

#include <algorithm>

#include "clock.hpp"

namespace spoolfs {

Expiry::Expiry(Tree& tree, Notifier& notifier, std::chrono::seconds expire)
    : tree_(tree), notifier_(notifier), shortest_(std::max(expire, std::chrono::seconds(0))) {}

void Expiry::start() {
    thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void Expiry::stop() {
    if (!thread_.joinable()) return;
    thread_.request_stop();
    thread_.join();
}

void Expiry::consider(std::chrono::seconds expire) {
    if (expire.count() <= 0) return;
    {
        std::lock_guard lock(mutex_);
        if (shortest_.count() > 0 && shortest_ <= expire) return;
        shortest_ = expire;
    }
    wake_.notify_all();
}

std::chrono::milliseconds Expiry::interval_for(std::chrono::seconds shortest) {
    using namespace std::chrono_literals;
    return std::clamp<std::chrono::milliseconds>(std::chrono::milliseconds(shortest) / 4, 100ms,
                                                 10s);
}

std::size_t Expiry::pass(const timespec& at) {
    std::size_t cursor = 0, removed = 0;
    while (true) {
        Tree::ExpiryBatch done = tree_.expire_batch(cursor, at, batch);
        removed += done.removed.size();
        for (Removal& removal : done.removed) notifier_.push(std::move(removal));
        if (done.pass_done) return removed;
    }
}

void Expiry::run(std::stop_token stop) {
    while (!stop.stop_requested()) {
        std::chrono::seconds shortest;
        {
            std::unique_lock lock(mutex_);
            if (!wake_.wait(lock, stop, [&] { return shortest_.count() > 0; })) return;
            shortest = shortest_;
        }
        // Batch after batch, each with the time it starts at; the lock is free between.
        while (!stop.stop_requested()) {
            Tree::ExpiryBatch done = tree_.expire_batch(cursor_, now(), batch);
            for (Removal& removal : done.removed) notifier_.push(std::move(removal));
            if (done.pass_done) break;
        }
        std::unique_lock lock(mutex_);
        // A shorter duration set meanwhile wakes the wait: the next pass comes sooner.
        wake_.wait_for(lock, stop, interval_for(shortest), [&] { return shortest_ < shortest; });
    }
}

}  // namespace spoolfs
