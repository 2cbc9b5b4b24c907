// The kernel's FUSE-over-io_uring ABI (Linux 6.14, protocol 7.42), which Debian 12's
// <linux/fuse.h> (7.38) does not have yet. ring_io.hpp speaks it.
#pragma once

#include <linux/fuse.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <algorithm>

namespace spoolfs::ring_protocol {

// FUSE_OVER_IO_URING: bit 41 of the INIT flags, i.e. bit 9 of flags2.
inline constexpr std::uint32_t over_io_uring_flag2 = 1u << 9;

// Header areas of an entry's first buffer (struct fuse_uring_req_header).
inline constexpr std::size_t in_out_size = 128;  // fuse_in_header in, fuse_out_header out
inline constexpr std::size_t op_in_size = 128;   // the request's first argument

struct EntryInOut {  // struct fuse_uring_ent_in_out
    std::uint64_t flags;
    std::uint64_t commit_id;  // the request's unique, to be echoed in the commit
    std::uint32_t payload_sz;
    std::uint32_t padding;
    std::uint64_t reserved;
};

struct RequestHeader {  // struct fuse_uring_req_header
    unsigned char in_out[in_out_size];
    unsigned char op_in[op_in_size];
    EntryInOut ring_ent_in_out;
};

struct CommandRequest {  // struct fuse_uring_cmd_req, in the SQE's 80-byte command area
    std::uint64_t flags;
    std::uint64_t commit_id;
    std::uint16_t qid;
    std::uint8_t padding[6];
};

enum Command : std::uint32_t { command_register = 1, command_commit_and_fetch = 2 };

// A queue id no kernel accepts: its REGISTER fails and turns the ring off for the
// connection, waking the requests that wait for all queues over /dev/fuse.
inline constexpr std::uint16_t invalid_qid = 0xffff;

// Smallest payload buffer the kernel accepts, given the INIT reply's max_write and max_pages.
inline std::size_t payload_size(std::uint32_t max_write, std::uint16_t max_pages) {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));  // the kernel's
    constexpr std::size_t minimum = 8192;
    std::size_t size = std::max<std::size_t>(minimum, max_write);
    return std::max<std::size_t>(size, std::size_t{max_pages} * page);
}

// Each entry's memory: its header and the rebuilt classic request head (at most 40 +
// 128 bytes, right before the payload) in `head_room`, then the payload buffer.
inline constexpr std::size_t head_room = 4096;
// What the entries of all queues may take together, and the depth each queue keeps
// whatever the CPU count: two, so that a request arriving while one is served waits for
// no one; eight at most, since one CPU's callers rarely have more in flight.
inline constexpr std::size_t memory_budget = std::size_t{16} << 20;
inline constexpr unsigned min_depth = 2, max_depth = 8;

// Entries per queue: the budget shared by `cpus` queues of entries of `payload` bytes.
inline unsigned queue_depth(unsigned cpus, std::size_t payload) {
    const std::size_t per_queue = memory_budget / std::max(1u, cpus) / (head_room + payload);
    return static_cast<unsigned>(std::clamp<std::size_t>(per_queue, min_depth, max_depth));
}

// The memory the entries of `cpus` queues hold.
inline std::uint64_t buffer_bytes(unsigned cpus, std::size_t payload) {
    return std::uint64_t{cpus} * queue_depth(cpus, payload) * (head_room + payload);
}

inline bool kernel_offers(const fuse_init_in& in) {
    return (in.flags & FUSE_INIT_EXT) && (in.flags2 & over_io_uring_flag2);
}

// Asks for the ring in an INIT reply body of `length` bytes; false if too short.
inline bool request(void* out, std::size_t length) {
    if (length < offsetof(fuse_init_out, flags2) + sizeof(std::uint32_t)) return false;
    auto* init = static_cast<fuse_init_out*>(out);
    init->flags |= FUSE_INIT_EXT;
    init->flags2 |= over_io_uring_flag2;
    return true;
}

}  // namespace spoolfs::ring_protocol
