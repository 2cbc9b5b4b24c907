// Pressure: a RAM budget that gives way when memory runs short (pressure=on).
//
// ram= stays the ceiling. A thread samples, every `calm_interval` (every `tight_interval`
// while memory is short or the budget is below the ceiling, and at once when a PSI
// trigger fires):
//   - the machine: MemAvailable (/proc/meminfo) and PSI stalls (/proc/pressure/memory);
//   - the daemon's memory cgroup and its ancestors, found from /proc/self/cgroup: v2
//     memory.max, memory.current, memory.pressure; v1 memory.limit_in_bytes and
//     memory.usage_in_bytes. Headroom is the limit less usage, plus the inactive page
//     cache (memory.stat), which the kernel reclaims before anyone is OOM-killed.
// PressurePolicy turns a sample into the effective budget (pure, unit-tested):
//   - headroom = the least of MemAvailable and every limited cgroup's headroom;
//     low mark = an eighth of the tightest limit (the cgroup's, else MemTotal), at least
//     64 MiB and at most 1 GiB; high mark = twice the low mark;
//   - headroom under the low mark: the budget drops at once to what RAM holds less what
//     lifts the headroom back to the high mark;
//   - PSI "some" stalls over 10% of the time since the last sample (the cgroup's; the
//     machine's only while MemAvailable is under twice the high mark, since another
//     cgroup thrashing within its own limit gains nothing from our RAM): the budget drops
//     to three quarters of what RAM holds, at most once per stall_drop_interval;
//   - headroom at or over the high mark, no stall, and `grow_delay` since the last drop:
//     the budget grows back by an eighth of ram= (never into the high mark's margin)
//     every `grow_delay`, up to ram=. Between the marks it holds: no oscillation.
// Storage::relieve() then moves files to disk until RAM fits the budget (storage.hpp).
// Without /proc/pressure (a kernel booted with psi=0) the headroom alone decides; without
// a cgroup limit, MemAvailable alone. cgroups are looked for under /sys/fs/cgroup (v1:
// /sys/fs/cgroup/memory), where systemd and Docker mount them.
// Thread-safe: what the statistics read are atomics; the policy and the sampler belong to
// the monitor's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>

#include "tempfile/fd.hpp"

namespace spoolfs {

class Storage;

// What the system said at one sample.
struct MemorySample {
    std::optional<std::uint64_t> available;        // MemAvailable
    std::optional<std::uint64_t> cgroup_headroom;  // least of the limited cgroups'
    std::uint64_t limit = 0;                       // tightest cgroup limit, else MemTotal
    // PSI "some" stall time since the previous sample: the machine's, the cgroup's (v2).
    std::uint64_t system_stall_us = 0;
    std::uint64_t cgroup_stall_us = 0;
    std::chrono::microseconds elapsed{0};  // since the previous sample
};

// 0 none: the budget is ram=; 1 easing: below ram=, growing back; 2 short: headroom under
// the low mark; 3 stalling: PSI stalls.
enum class PressureLevel : std::uint8_t { none, easing, short_of_memory, stalling };

class PressurePolicy {
  public:
    static constexpr std::uint64_t min_low_mark = 64ull << 20;
    static constexpr std::uint64_t max_low_mark = 1ull << 30;
    static constexpr std::uint64_t stall_permille = 100;  // 10% of the time
    static constexpr std::chrono::seconds grow_delay{2};
    // Stalls lower the budget at most this often: PSI counts the stalls of the moves too.
    static constexpr std::chrono::seconds stall_drop_interval{1};

    explicit PressurePolicy(std::uint64_t ceiling) : ceiling_(ceiling), budget_(ceiling) {}

    static std::uint64_t low_mark(std::uint64_t limit);

    // The new budget, given the sample, what RAM holds now and the time now.
    std::uint64_t next(const MemorySample& sample, std::uint64_t resident,
                       std::chrono::steady_clock::time_point now);

    std::uint64_t budget() const { return budget_; }
    PressureLevel level() const { return level_; }
    // Whether the last sample asks for the next one soon: below ram=, or headroom under
    // twice the high mark.
    bool watchful() const { return watchful_; }

  private:
    std::uint64_t ceiling_;
    std::uint64_t budget_;
    PressureLevel level_ = PressureLevel::none;
    bool watchful_ = false;
    std::chrono::steady_clock::time_point last_change_{}, last_stall_drop_{};
};

// Reads the samples: the files above, PSI totals remembered between calls.
class MemorySampler {
  public:
    MemorySampler();
    MemorySample sample();
    // A PSI trigger on /proc/pressure/memory (POLLPRI when 100 ms of stalls gather within
    // 1 s), or an empty descriptor where the kernel refuses one.
    int trigger_fd() const { return trigger_.get(); }

  private:
    tempfile::FileDescriptor trigger_;
    static constexpr std::uint64_t none = ~std::uint64_t(0);
    std::uint64_t last_system_total_ = none, last_cgroup_total_ = none;
    std::chrono::steady_clock::time_point last_{};
};

class PressureMonitor {
  public:
    static constexpr std::chrono::milliseconds calm_interval{500};
    static constexpr std::chrono::milliseconds tight_interval{100};

    PressureMonitor(Storage& storage, bool enabled, std::uint64_t ceiling);
    PressureMonitor(const PressureMonitor&) = delete;
    PressureMonitor& operator=(const PressureMonitor&) = delete;
    ~PressureMonitor() { stop(); }

    void start();  // no thread with pressure=off
    void stop();

    std::uint64_t budget() const { return budget_.load(std::memory_order_relaxed); }
    std::uint64_t level() const { return level_.load(std::memory_order_relaxed); }
    std::uint64_t moved_bytes() const { return moved_bytes_.load(std::memory_order_relaxed); }
    std::uint64_t moved_files() const { return moved_files_.load(std::memory_order_relaxed); }

  private:
    void run(std::stop_token stop);

    Storage& storage_;
    const bool enabled_;
    const std::uint64_t ceiling_;
    std::atomic<std::uint64_t> budget_;
    std::atomic<std::uint64_t> level_ = 0;
    std::atomic<std::uint64_t> moved_bytes_ = 0;
    std::atomic<std::uint64_t> moved_files_ = 0;
    tempfile::FileDescriptor wake_;  // an eventfd: stop() wakes the thread's poll
    std::jthread thread_;
};

}  // namespace spoolfs
