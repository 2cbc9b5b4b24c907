// ArrivalOrder without a mount: request ids as the kernel numbers them (steps of 2). A
// request waits only for lower ids, a gap filled by another thread ends the wait early
// (within the spin or after it), and a gap never filled is given up after the limit.
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "arrival_order.hpp"

using namespace std::chrono_literals;
using spoolfs::ArrivalOrder;
using Clock = std::chrono::steady_clock;

namespace {

// How long wait_for_earlier(id) took, in milliseconds.
double waited_ms(ArrivalOrder& order, std::uint64_t id, std::chrono::milliseconds limit,
                 std::chrono::microseconds spin = 0us) {
    const auto start = Clock::now();
    order.wait_for_earlier(id, limit, spin);
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

TEST_CASE("requests in order never wait") {
    ArrivalOrder order;
    order.wait_for_earlier(10, 5000ms);  // nothing arrived yet (before INIT): no wait
    for (std::uint64_t id = 2; id <= 20; id += 2) order.arrived(id);
    CHECK(waited_ms(order, 22, 5000ms) < 1000);
    CHECK(waited_ms(order, 12, 5000ms) < 1000);  // long since arrived
}

TEST_CASE("interrupts and notification replies do not count as arrivals") {
    ArrivalOrder order;
    order.arrived(2);
    order.arrived(5);  // an INTERRUPT borrows id 4 with the low bit set
    order.arrived(0);
    // 4 is still missing: 6 waits the whole limit.
    CHECK(waited_ms(order, 6, 50ms) >= 45);
}

TEST_CASE("a gap filled by another thread ends the wait") {
    for (auto spin : {0us, 20000us}) {
        ArrivalOrder order;
        order.arrived(2);
        order.arrived(6);  // 4 is late, as from another CPU's queue
        std::thread late([&] {
            std::this_thread::sleep_for(5ms);
            order.arrived(4);
        });
        const double ms = waited_ms(order, 8, 5000ms, spin);
        late.join();
        INFO("spin " << spin.count() << " us");
        CHECK(ms >= 4);
        CHECK(ms < 1000);
        // 4 filled the gap: 6 was kept, so 8 no longer waits.
        CHECK(waited_ms(order, 8, 5000ms) < 1000);
    }
}

TEST_CASE("a gap never filled is given up after the limit, once") {
    ArrivalOrder order;
    order.arrived(2);
    order.arrived(6);  // 4 was dropped by the kernel (its caller was killed)
    const double first = waited_ms(order, 8, 50ms, 100us);
    CHECK(first >= 45);
    CHECK(first < 2000);
    // Given up: the next request does not wait for 4 again.
    CHECK(waited_ms(order, 8, 5000ms) < 1000);
    CHECK(waited_ms(order, 10, 50ms) >= 45);  // 8 itself never arrived
}

TEST_CASE("a gap far behind is given up without waiting") {
    ArrivalOrder order;
    order.arrived(2);
    // 4 never comes; thousands of later requests arrive meanwhile.
    for (std::uint64_t id = 6; id < 6 + 2 * 5000; id += 2) order.arrived(id);
    CHECK(waited_ms(order, 6 + 2 * 5000, 5000ms) < 1000);
}
