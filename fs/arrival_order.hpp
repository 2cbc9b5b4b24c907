// ArrivalOrder: which requests the daemon has taken in, by the kernel's request id.
//
// The kernel numbers every request of a connection from one counter, in steps of 2
// (INTERRUPT borrows its request's id with the low bit set): a request with a lower id
// was made earlier. Over /dev/fuse one reader takes them in order; over the ring
// (ring_io.hpp) each CPU's queue takes its own, so a RELEASE made on one CPU may be taken
// after a LOOKUP made later on another. A request whose answer depends on earlier
// releases (a name's lookup, a listing) waits, bounded, until every lower id arrived and
// was applied (device_io's apply_before_dispatch).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>

namespace spoolfs {

class ArrivalOrder {
  public:
    // Request `id` was taken in and its in-order part applied.
    void arrived(std::uint64_t id);

    // Returns once every request below `id` arrived, or after `limit` (an id the kernel
    // dropped before sending it, say for a killed caller, is given up then). Spins for
    // up to `spin` first: the missing request is usually a few microseconds from being
    // taken in by another CPU's queue, and sleeping costs two context switches more.
    void wait_for_earlier(std::uint64_t id, std::chrono::milliseconds limit,
                          std::chrono::microseconds spin = std::chrono::microseconds{0});

  private:
    void advance();

    // A gap this many requests behind is given up without waiting: its id was dropped.
    static constexpr std::size_t max_ahead = 4096;

    std::mutex mutex_;
    std::condition_variable arrived_;
    // The lowest id not yet arrived; 0 until the first (INIT). Changed only under mutex_;
    // atomic so that a request that need not wait, or one spinning, reads it without.
    std::atomic<std::uint64_t> next_ = 0;
    std::set<std::uint64_t> ahead_;  // arrived ids above next_
};

}  // namespace spoolfs
