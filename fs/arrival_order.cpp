#include "arrival_order.hpp"

#include "read_turn.hpp"

namespace spoolfs {
namespace {

constexpr std::uint64_t id_step = 2;

// Tells the CPU it spins (x86 PAUSE): kinder to a sibling hyperthread and to a VM's host.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

}  // namespace

void ArrivalOrder::arrived(std::uint64_t id) {
    if (id == 0 || id % id_step != 0) return;  // notifications' replies, interrupts
    std::lock_guard lock(mutex_);
    if (next_ == 0) next_ = id;
    if (id < next_) return;
    if (id == next_) {  // the usual case: in order, nothing to keep
        next_ += id_step;
        if (!ahead_.empty()) advance();
        arrived_.notify_all();
        return;
    }
    ahead_.insert(id);
    if (ahead_.size() > max_ahead) next_ = *ahead_.begin();
    advance();
}

void ArrivalOrder::advance() {
    const std::uint64_t before = next_;
    while (!ahead_.empty() && *ahead_.begin() <= next_) {
        if (*ahead_.begin() == next_) next_ += id_step;
        ahead_.erase(ahead_.begin());
    }
    if (next_ != before) arrived_.notify_all();
}

void ArrivalOrder::wait_for_earlier(std::uint64_t id, std::chrono::milliseconds limit,
                                    std::chrono::microseconds spin) {
    const std::uint64_t next = next_.load();
    if (next == 0 || next >= id) return;
    if (spin.count() > 0) {
        const auto until = std::chrono::steady_clock::now() + spin;
        do {
            for (int i = 0; i < 64; ++i) {
                if (next_.load() >= id) return;
                cpu_relax();
            }
        } while (std::chrono::steady_clock::now() < until);
    }
    step_aside();  // the queue serves on meanwhile
    std::unique_lock lock(mutex_);
    if (!arrived_.wait_for(lock, limit, [&] { return next_ >= id; })) {
        next_ = id;  // given up: dropped by the kernel, or too late to matter
        advance();
    }
}

}  // namespace spoolfs
