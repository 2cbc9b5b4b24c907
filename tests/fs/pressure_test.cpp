// Tests of the memory pressure policy without a system under pressure: the budget drops
// when headroom runs short or stalls appear, holds between the marks, and grows back
// gradually; and the sampler reads this machine's files.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>

#include "pressure.hpp"

using spoolfs::MemorySample;
using spoolfs::MemorySampler;
using spoolfs::PressureLevel;
using spoolfs::PressurePolicy;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t MiB = 1 << 20;
constexpr std::uint64_t GiB = 1024 * MiB;
constexpr std::uint64_t ceiling = 1 * GiB;

// A 1 GiB cgroup (low mark 128 MiB, high 256 MiB) on a machine with memory to spare.
MemorySample in_cgroup(std::uint64_t headroom, std::uint64_t cgroup_stall_us = 0) {
    MemorySample s;
    s.available = 20 * GiB;
    s.cgroup_headroom = headroom;
    s.limit = GiB;
    s.cgroup_stall_us = cgroup_stall_us;
    s.elapsed = 100ms;
    return s;
}

}  // namespace

TEST_CASE("the low mark is an eighth of the limit, within 64 MiB and 1 GiB") {
    CHECK(PressurePolicy::low_mark(GiB) == 128 * MiB);
    CHECK(PressurePolicy::low_mark(100 * MiB) == 64 * MiB);
    CHECK(PressurePolicy::low_mark(24 * GiB) == GiB);
}

TEST_CASE("with headroom to spare the budget is ram=") {
    PressurePolicy policy(ceiling);
    auto t = std::chrono::steady_clock::now();
    CHECK(policy.next(in_cgroup(600 * MiB), 300 * MiB, t) == ceiling);
    CHECK(policy.level() == PressureLevel::none);
    MemorySample no_cgroup;
    no_cgroup.available = 20 * GiB;
    no_cgroup.limit = 24 * GiB;
    no_cgroup.elapsed = 100ms;
    CHECK(policy.next(no_cgroup, 900 * MiB, t + 100ms) == ceiling);
    CHECK_FALSE(policy.watchful());
}

TEST_CASE("short headroom drops the budget by what lifts it to the high mark") {
    PressurePolicy policy(ceiling);
    auto t = std::chrono::steady_clock::now();
    // 700 MiB in RAM, 100 MiB headroom: 156 MiB must go.
    CHECK(policy.next(in_cgroup(100 * MiB), 700 * MiB, t) == 544 * MiB);
    CHECK(policy.level() == PressureLevel::short_of_memory);
    CHECK(policy.watchful());
    // Before the files have moved the same sample asks for no more.
    CHECK(policy.next(in_cgroup(100 * MiB), 700 * MiB, t + 100ms) == 544 * MiB);
    // The machine short instead of the cgroup: the same rule.
    MemorySample machine = in_cgroup(GiB);
    machine.available = 60 * MiB;
    CHECK(policy.next(machine, 544 * MiB, t + 200ms) == 544 * MiB - 196 * MiB);
    // Nothing left to give: zero, never below.
    CHECK(policy.next(in_cgroup(0), 100 * MiB, t + 300ms) == 0);
}

TEST_CASE("between the marks the budget holds; past the high mark it grows back slowly") {
    PressurePolicy policy(ceiling);
    auto t = std::chrono::steady_clock::now();
    REQUIRE(policy.next(in_cgroup(56 * MiB), 456 * MiB, t) == 256 * MiB);
    // Headroom between 128 and 256 MiB, however long: no change (no oscillation).
    for (int i = 1; i <= 50; ++i) {
        CHECK(policy.next(in_cgroup(i % 2 ? 130 * MiB : 250 * MiB), 256 * MiB, t + i * 100ms) ==
              256 * MiB);
        CHECK(policy.level() == PressureLevel::easing);
    }
    // Over the high mark: not before grow_delay since the last change...
    auto later = t + PressurePolicy::grow_delay - 100ms;
    PressurePolicy fresh(ceiling);
    REQUIRE(fresh.next(in_cgroup(56 * MiB), 456 * MiB, t) == 256 * MiB);
    CHECK(fresh.next(in_cgroup(900 * MiB), 256 * MiB, later) == 256 * MiB);
    // ...then by an eighth of ram= per grow_delay...
    later = t + PressurePolicy::grow_delay;
    CHECK(fresh.next(in_cgroup(900 * MiB), 256 * MiB, later) == 384 * MiB);
    CHECK(fresh.next(in_cgroup(900 * MiB), 256 * MiB, later + 1s) == 384 * MiB);
    // ...never into the high mark's margin...
    later += PressurePolicy::grow_delay;
    CHECK(fresh.next(in_cgroup(300 * MiB), 256 * MiB, later) == 428 * MiB);
    // ...and up to ram= at most.
    for (int i = 1; i <= 10; ++i) fresh.next(in_cgroup(900 * MiB), 256 * MiB, later + i * 2s);
    CHECK(fresh.budget() == ceiling);
    CHECK(fresh.level() == PressureLevel::none);
}

TEST_CASE("stalls drop the budget to three quarters of what RAM holds, once a second") {
    PressurePolicy policy(ceiling);
    auto t = std::chrono::steady_clock::now();
    // 20 ms of stalls in 100 ms: 20%.
    CHECK(policy.next(in_cgroup(600 * MiB, 20000), 400 * MiB, t) == 300 * MiB);
    CHECK(policy.level() == PressureLevel::stalling);
    CHECK(policy.next(in_cgroup(600 * MiB, 20000), 300 * MiB, t + 500ms) == 300 * MiB);
    CHECK(policy.next(in_cgroup(600 * MiB, 20000), 300 * MiB, t + 1s) == 225 * MiB);
    // 5%: no stall.
    CHECK(policy.next(in_cgroup(600 * MiB, 5000), 225 * MiB, t + 1100ms) == 225 * MiB);
    CHECK(policy.level() == PressureLevel::easing);
}

TEST_CASE("the machine's stalls count only when the machine is short too") {
    PressurePolicy policy(ceiling);
    auto t = std::chrono::steady_clock::now();
    MemorySample s;
    s.available = 20 * GiB;
    s.limit = 24 * GiB;  // low mark 1 GiB, high 2 GiB
    s.system_stall_us = 50000;
    s.elapsed = 100ms;
    CHECK(policy.next(s, 800 * MiB, t) == ceiling);  // another cgroup's thrashing
    s.available = 3 * GiB;                           // under twice the high mark
    CHECK(policy.next(s, 800 * MiB, t + 100ms) == 600 * MiB);
}

TEST_CASE("the sampler reads this machine's memory") {
    MemorySampler sampler;
    MemorySample s = sampler.sample();
    REQUIRE(s.available.has_value());
    CHECK(*s.available > 0);
    CHECK(s.limit > 0);
    if (s.cgroup_headroom) CHECK(*s.cgroup_headroom <= s.limit);
    CHECK(s.elapsed.count() >= 0);
}
