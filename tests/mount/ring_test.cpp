// The ring transport (fs/ring_io.hpp): which transport serves a mount follows uring= and
// the kernel's offer (/sys/module/fuse/parameters/enable_uring, read at mount time).
// scripts/test.sh runs the mount suites with enable_uring=N and again with Y; each case
// checks what its value promises.
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "../../fs/ring_protocol.hpp"

#include "file_util.hpp"
#include "mount_fixture.hpp"
#include "mount_util.hpp"

using namespace mount_test;

namespace {

bool kernel_offers_ring() {
    std::ifstream in("/sys/module/fuse/parameters/enable_uring");
    std::string value;
    return std::getline(in, value) && value == "Y";
}

// Requests that each reach the daemon: creates and writes files, looks them up while
// open and after their last close (lifetime=close: gone).
void some_requests(const Mount& m) {
    for (int i = 0; i < 20; ++i) {
        const std::string name = m / ("f" + std::to_string(i));
        Fd fd = open_or_throw(name, O_RDWR | O_CREAT | O_EXCL, 0600);
        write_all(fd.get(), "data");
        REQUIRE(lstat_errno(name) == 0);
        REQUIRE(fd.close() == 0);
        REQUIRE(lstat_errno(name) == ENOENT);
    }
}

// The CPUs this process may use.
std::vector<int> allowed_cpus() {
    cpu_set_t allowed;
    REQUIRE(sched_getaffinity(0, sizeof(allowed), &allowed) == 0);
    std::vector<int> cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
    return cpus;
}

// Pins the calling thread to `cpu`: its requests all go to that CPU's queue.
bool pin_to(int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
}

void pin_to_first_cpu() {
    REQUIRE(pin_to(allowed_cpus().front()));
}

double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
}

}  // namespace

TEST_CASE("uring=auto serves over io_uring exactly when the kernel offers it") {
    Mount m;
    some_requests(m);
    if (kernel_offers_ring()) {
        CHECK(stat_of(m, "ring") == 1);
        CHECK(stat_of(m, "ring_queues") >= 1);  // one per possible CPU
        CHECK(stat_of(m, "ring_requests") >= 60);
        // Payload buffers as the INIT reply's 1 MiB max_write needs, 16 MiB in all on up
        // to 7 CPUs, 2 entries a queue past that.
        const auto queues = static_cast<unsigned>(stat_of(m, "ring_queues"));
        const std::size_t payload = spoolfs::ring_protocol::payload_size(1 << 20, 256);
        CHECK(stat_of(m, "ring_buffer_bytes") ==
              spoolfs::ring_protocol::buffer_bytes(queues, payload));
        if (queues <= 7) CHECK(stat_of(m, "ring_buffer_bytes") <= 16u << 20);
    } else {
        CHECK(stat_of(m, "ring") == 0);
        CHECK(stat_of(m, "ring_queues") == 0);
        CHECK(stat_of(m, "ring_requests") == 0);
        CHECK(stat_of(m, "ring_buffer_bytes") == 0);
    }
}

TEST_CASE("uring=off stays on /dev/fuse") {
    Mount m("uring=off");
    some_requests(m);
    CHECK(stat_of(m, "ring") == 0);
    CHECK(stat_of(m, "ring_requests") == 0);
}

TEST_CASE("uring=on without the kernel's offer refuses to mount, in one line saying why") {
    if (kernel_offers_ring()) {
        Mount m("uring=on");
        some_requests(m);
        CHECK(stat_of(m, "ring") == 1);
        return;
    }
    TempDir mp("spoolfs-ring-");
    const ProcessResult r = run_process({std::getenv("SPOOLFS"), "-f", "-o", "uring=on", mp.path()},
                                        10s);
    INFO(r.describe());
    CHECK(r.exited_with(1));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_THAT(r.err, Catch::StartsWith("spoolfs: uring=on: ") && Catch::Contains("enable_uring"));
    CHECK_FALSE(find_mount(mp.path()).has_value());
}

TEST_CASE("a queue that fails after INIT turns the ring off and the mount goes on over /dev/fuse") {
    if (!kernel_offers_ring()) return;  // nothing to fall back from
    ScopedEnv fail("SPOOLFS_RING_FAIL_QUEUE", "0");
    Mount m;
    some_requests(m);
    CHECK(stat_of(m, "ring") == 0);
    CHECK(stat_of(m, "ring_requests") == 0);
    CHECK_THAT(m.log(), Catch::Contains("serving over /dev/fuse"));
}

// On the ring a CPU's callers share its queue; over /dev/fuse they share the reader.
// Either way a request that takes long steps aside first: here the write that rolls a
// 512 MiB file over to disk (ram=640M, passthrough=off: the daemon holds the data),
// while another thread on the same CPU stats a file whose every stat asks the daemon
// (lifetime=close: no cached name).
TEST_CASE("a request that takes long does not stall the other callers on its CPU") {
    Mount m("passthrough=off,ram=640M");
    constexpr std::size_t chunk = 1 << 20, big_chunks = 512, more_chunks = 256;
    std::string data(chunk, 'b');
    Fd big = open_or_throw(m / "big", O_RDWR | O_CREAT | O_EXCL, 0600);
    for (std::size_t i = 0; i < big_chunks; ++i)
        write_all(big.get(), data, static_cast<off_t>(i * chunk));
    REQUIRE(stat_of(m, "files_spilled") == 0);
    Fd more = open_or_throw(m / "more", O_RDWR | O_CREAT | O_EXCL, 0600);
    Fd probe = open_or_throw(m / "probe", O_RDWR | O_CREAT | O_EXCL, 0600);

    std::atomic<bool> writing = false, written = false;
    double slowest_write = 0;
    std::thread writer([&] {
        pin_to_first_cpu();
        writing = true;
        std::string more_data(chunk, 'm');
        for (std::size_t i = 0; i < more_chunks; ++i) {
            const auto start = std::chrono::steady_clock::now();
            write_all(more.get(), more_data, static_cast<off_t>(i * chunk));
            slowest_write = std::max(slowest_write, ms_since(start));
        }
        written = true;
    });
    std::vector<double> during;  // latencies of the stats made while the writes ran
    int stat_errors = 0;
    std::thread prober([&] {
        pin_to_first_cpu();
        while (!writing) std::this_thread::yield();
        while (!written) {
            const auto start = std::chrono::steady_clock::now();
            if (lstat_errno(m / "probe") != 0) ++stat_errors;
            const double ms = ms_since(start);
            if (!written) during.push_back(ms);
        }
    });
    writer.join();
    prober.join();
    const double slowest = during.empty() ? 0 : *std::max_element(during.begin(), during.end());
    INFO("slowest write " << slowest_write << " ms, " << during.size()
                          << " stats meanwhile, the slowest " << slowest << " ms");
    CHECK(stat_of(m, "files_spilled") >= 1);  // the rollover happened
    CHECK(stat_errors == 0);
    if (slowest_write < 100) {
        WARN("the rollover took only " << slowest_write << " ms: too short to tell a stall");
    } else {
        // A stalled queue answers no stat until the rollover ends: one, as slow as it.
        CHECK(slowest < slowest_write / 2);
    }
    CHECK(read_at(big.get(), 4, static_cast<off_t>(big_chunks * chunk - 4)) == "bbbb");
    CHECK(read_at(more.get(), 4, static_cast<off_t>(more_chunks * chunk - 4)) == "mmmm");
}

// On the ring the RELEASE of a close() on one CPU goes to that CPU's queue, and a lookup
// made right after it on another CPU to another queue, which may take it first: the
// lookup waits for every earlier request (fs/arrival_order.hpp). Over /dev/fuse one
// reader takes requests in order.
TEST_CASE("a close on one CPU is seen at once by a stat on another") {
    const std::vector<int> cpus = allowed_cpus();
    if (cpus.size() < 2) {
        WARN("one CPU only: nothing to cross");
        return;
    }
    Mount m;  // lifetime=close
    constexpr int rounds = 300;
    std::atomic<int> closed = -1, checked = -1;
    std::atomic<bool> failed = false;
    int still_there = 0, counted = 0;
    // Keeps the closer's CPU busy, so that its queue's thread is not always quick to
    // take the RELEASE.
    std::atomic<bool> done = false;
    std::thread hog([&] {
        if (!pin_to(cpus[0])) failed = true;
        while (!done) {
        }
    });
    std::thread closer([&] {
        if (!pin_to(cpus[0])) failed = true;
        for (int i = 0; i < rounds && !failed; ++i) {
            const std::string name = m / ("f" + std::to_string(i));
            Fd fd = open_or_throw(name, O_RDWR | O_CREAT | O_EXCL, 0600);
            write_all(fd.get(), "data");
            if (fd.close() != 0) failed = true;
            closed = i;
            const auto deadline = std::chrono::steady_clock::now() + 10s;
            while (checked < i && !failed) {
                if (std::chrono::steady_clock::now() > deadline) failed = true;
                std::this_thread::yield();
            }
        }
    });
    std::thread checker([&] {
        if (!pin_to(cpus[1])) failed = true;
        for (int i = 0; i < rounds && !failed; ++i) {
            const auto deadline = std::chrono::steady_clock::now() + 10s;
            while (closed < i && !failed) {
                if (std::chrono::steady_clock::now() > deadline) failed = true;
                std::this_thread::yield();
            }
            if (lstat_errno(m / ("f" + std::to_string(i))) != ENOENT) ++still_there;
            if (i % 10 == 0 && stat_of(m, "files_close") != 0) ++counted;
            checked = i;
        }
    });
    closer.join();
    checker.join();
    done = true;
    hog.join();
    REQUIRE_FALSE(failed);
    CHECK(still_there == 0);
    CHECK(counted == 0);
    CHECK(list_dir(m.path()).empty());
}
