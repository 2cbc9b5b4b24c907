// ReadTurn without a mount, a pipe standing in for /dev/fuse (a byte is a request): one
// thread reads at a time, a thread that read a quick request keeps the turn only while
// polling, and one that must wait for a HandlerMutex gives its turn up first, so other
// requests are read meanwhile; idle CPUs are kept polling only while requests stream.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "read_turn.hpp"

using namespace std::chrono_literals;
using spoolfs::HandlerMutex;
using spoolfs::ReadTurn;

namespace {

struct Device {
    int fds[2] = {-1, -1};
    Device() { REQUIRE(pipe(fds) == 0); }
    ~Device() {
        close(fds[0]);
        close(fds[1]);
    }
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;
    bool send() { return write(fds[1], "r", 1) == 1; }
};

// Reads one request as a request thread does, and says whether it was read.
bool read_one(ReadTurn& turn, Device& device, bool may_take_long) {
    char request;
    const ssize_t n = turn.read(device.fds[0], &request, 1);
    if (n >= 0) turn.read_done(may_take_long);
    return n == 1;
}

}  // namespace

TEST_CASE("a thread waiting for a handler mutex lets another thread read the next request") {
    const auto busy_poll = GENERATE(0us, 50us, 10000us);
    INFO("busy_poll " << busy_poll.count() << " us");
    ReadTurn turn(busy_poll);
    Device device;
    HandlerMutex file;
    file.lock();  // a slow request on the same file holds it

    REQUIRE(device.send());
    std::atomic<bool> first_read = false;
    std::thread first([&] {
        first_read = read_one(turn, device, false);  // quick: kept while polling
        file.lock();
        file.unlock();
    });
    for (int i = 0; i < 500 && !first_read; ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(first_read);
    std::this_thread::sleep_for(50ms);  // `first` now waits for the file

    REQUIRE(device.send());
    auto second = std::async(std::launch::async, [&] { return read_one(turn, device, false); });
    const bool read_meanwhile = second.wait_for(5s) == std::future_status::ready;
    file.unlock();
    first.join();
    CHECK(read_meanwhile);
    CHECK(second.get());
}

TEST_CASE("a thread keeps the turn after a quick request only while polling") {
    const auto busy_poll = GENERATE(0us, 50us);
    INFO("busy_poll " << busy_poll.count() << " us");
    ReadTurn turn(busy_poll);
    Device device;

    REQUIRE(device.send());
    REQUIRE(read_one(turn, device, false));
    // Another thread wants the next request: it gets it at once unless this thread
    // kept the turn (it holds it until it reads again, steps aside or exits).
    REQUIRE(device.send());
    auto other = std::async(std::launch::async, [&] { return read_one(turn, device, false); });
    const bool other_read = other.wait_for(200ms) == std::future_status::ready;
    CHECK(other_read == (busy_poll.count() == 0));
    spoolfs::step_aside();
    CHECK(other.get());

    // After a request that may take long the turn is always passed on.
    REQUIRE(device.send());
    REQUIRE(read_one(turn, device, true));
    REQUIRE(device.send());
    auto after_long = std::async(std::launch::async, [&] { return read_one(turn, device, false); });
    CHECK(after_long.wait_for(5s) == std::future_status::ready);
    CHECK(after_long.get());
}

TEST_CASE("idle CPUs are kept polling while requests stream, and only then") {
    // Only root may ask for it, and only where idle CPUs can poll; otherwise it is never
    // held, and the checks below say so.
    const bool may_hold =
        access("/dev/cpu_dma_latency", W_OK) == 0 && spoolfs::idle_cpus_can_poll();
    INFO("idle CPUs can be kept polling here: " << may_hold);
    Device device;
    // `count` requests back to back: each is waiting when the one before is done.
    auto stream = [&](ReadTurn& turn, int count) {
        for (int i = 0; i < count; ++i) REQUIRE(device.send());
        for (int i = 0; i < count; ++i) REQUIRE(read_one(turn, device, false));
    };

    SECTION("from the stream_length-th request in a row") {
        ReadTurn turn(50us, true);
        stream(turn, ReadTurn::stream_length - 1);
        CHECK_FALSE(turn.keeps_cpus_polling());
        stream(turn, 1);
        CHECK(turn.keeps_cpus_polling() == may_hold);
    }
    SECTION("until a pause longer than idle_linger") {
        ReadTurn turn(50us, true);
        stream(turn, ReadTurn::stream_length);
        CHECK(turn.keeps_cpus_polling() == may_hold);
        auto late = std::async(std::launch::async, [&] {
            std::this_thread::sleep_for(200ms);
            return device.send();
        });
        CHECK(read_one(turn, device, false));
        CHECK(late.get());
        CHECK_FALSE(turn.keeps_cpus_polling());
        // It came after a sleep: a stream starts again only after stream_length more.
        stream(turn, ReadTurn::stream_length - 1);
        CHECK_FALSE(turn.keeps_cpus_polling());
        // Polling is off now, so each of those must come within busy_poll of the read
        // that waits for it; a preempted reader may see one as late, hence the retries.
        for (int i = 0; i < 20 && turn.keeps_cpus_polling() != may_hold; ++i) stream(turn, 1);
        CHECK(turn.keeps_cpus_polling() == may_hold);
    }
    SECTION("never without busy_poll, nor with idle_poll off") {
        ReadTurn no_busy_poll(0us, true);
        stream(no_busy_poll, 2 * ReadTurn::stream_length);
        CHECK_FALSE(no_busy_poll.keeps_cpus_polling());
        ReadTurn off(50us, false);
        stream(off, 2 * ReadTurn::stream_length);
        CHECK_FALSE(off.keeps_cpus_polling());
    }
}
