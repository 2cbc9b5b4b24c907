// The ring transport (fs/ring_io.hpp): which transport serves a mount follows uring= and
// the kernel's offer (/sys/module/fuse/parameters/enable_uring, read at mount time).
// scripts/test.sh runs the mount suites with enable_uring=N and again with Y; each case
// checks what its value promises.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

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

}  // namespace

TEST_CASE("uring=auto serves over io_uring exactly when the kernel offers it") {
    Mount m;
    some_requests(m);
    if (kernel_offers_ring()) {
        CHECK(stat_of(m, "ring") == 1);
        CHECK(stat_of(m, "ring_queues") >= 1);  // one per possible CPU
        CHECK(stat_of(m, "ring_requests") >= 60);
    } else {
        CHECK(stat_of(m, "ring") == 0);
        CHECK(stat_of(m, "ring_queues") == 0);
        CHECK(stat_of(m, "ring_requests") == 0);
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
