// The ring's memory (ring_protocol.hpp): payload buffers as large as the INIT reply
// allows requests to be, and queue depths that keep all queues' buffers within 16 MiB
// where a CPU count allows it (2 entries a queue at least, so 256 MiB bounds 64 CPUs).
#include <unistd.h>

#include <catch2/catch.hpp>

#include "ring_protocol.hpp"

using namespace spoolfs::ring_protocol;

namespace {

constexpr std::size_t MiB = std::size_t{1} << 20;
const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));

}  // namespace

TEST_CASE("a payload buffer holds the largest request the INIT reply allows") {
    CHECK(payload_size(MiB, 256) == std::max(MiB, 256 * page));
    CHECK(payload_size(128 * 1024, 32) == std::max<std::size_t>(128 * 1024, 32 * page));
    CHECK(payload_size(4096, 1) == 8192);  // the kernel's minimum
}

TEST_CASE("queue depth and buffer memory follow the CPU count") {
    const std::size_t payload = payload_size(MiB, 256);
    SECTION("this machine's 2 CPUs: 7 entries a queue, 14 MiB in all") {
        CHECK(queue_depth(2, payload) == 7);
        CHECK(buffer_bytes(2, payload) == 2 * 7 * (MiB + head_room));
        CHECK(buffer_bytes(2, payload) <= 16 * MiB);
    }
    SECTION("one CPU: at most 8 entries") {
        CHECK(queue_depth(1, payload) == max_depth);
        CHECK(buffer_bytes(1, payload) <= 16 * MiB);
    }
    SECTION("64 CPUs: 2 entries a queue, 128.5 MiB, within the 256 MiB the issue allows") {
        CHECK(queue_depth(64, payload) == min_depth);
        CHECK(buffer_bytes(64, payload) == 64 * 2 * (MiB + head_room));
        CHECK(buffer_bytes(64, payload) <= 256 * MiB);
    }
    SECTION("up to 7 CPUs within 16 MiB; past that, 2 entries a queue") {
        for (unsigned cpus = 1; cpus <= 7; ++cpus) {
            INFO(cpus << " CPUs");
            CHECK(queue_depth(cpus, payload) >= min_depth);
            CHECK(buffer_bytes(cpus, payload) <= 16 * MiB);
        }
        // Past 7 the floor of 2 entries decides: 16 CPUs x 2 x 1028 KiB.
        CHECK(buffer_bytes(16, payload) == 16 * 2 * (MiB + head_room));
    }
}
