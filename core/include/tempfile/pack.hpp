// Pack: one anonymous file on disk shared by many Spools, divided into fixed-size slots,
// each holding one chunk of one spool's data.
//
// Why: a spool rolled over to a file of its own holds a descriptor for as long as it
// lives, so the process's descriptor limit would cap how many spools can be on disk. A
// packed spool (Spool::pack) holds slots instead: every packed spool together costs one
// descriptor. A slot's unwritten bytes are a hole, so disk use follows the data written
// (a 4 KiB file takes 4 KiB of its 64 KiB slot), and a freed slot's blocks are punched
// out at once, so the space goes back to the filesystem, not only to the free list.
//
// Ownership: the Pack owns its file. Spools share it through std::shared_ptr, so it
// lives until the last packed spool is gone. A slot belongs to whoever acquired it until
// it is released; the Pack does not know which spool holds which slot.
// Locking: thread-safe. acquire() and release() take a short internal mutex (no system
// call under it); read, write, zero and allocate are
// positional system calls on the shared descriptor without a lock, safe as long as
// callers touch only slots they hold.
// Errors: std::system_error with the errno (ENOSPC, EIO, ...); the constructor throws
// what opening the file gives. Work: every call is O(1) system calls and at most one
// slot of bytes; the free list is a stack.
//
// # Security
// The file is created 0600 with O_TMPFILE (else created and unlinked at once): it has no
// name, and only this process holds a descriptor to it. A slot reads as zeros when
// acquired, so no spool ever sees another's old data.
//
// # Resource leaking
// When the process dies, even by SIGKILL, the kernel frees the anonymous file and its
// blocks: nothing stays on disk. A slot that cannot be punched or zeroed on release (an
// I/O error) is never handed out again: it leaks its blocks until the Pack goes, rather
// than leaking its old bytes into another spool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "tempfile/fd.hpp"

namespace tempfile {

class Pack {
  public:
    static constexpr std::size_t slot_size = 64 * 1024;
    using Slot = std::uint64_t;

    // A new empty pack file in the directory `dirfd`.
    explicit Pack(int dirfd);
    Pack(const Pack&) = delete;
    Pack& operator=(const Pack&) = delete;

    // A slot that reads as zeros: the most recently freed, else a new one past the rest.
    // ENOSPC once new slots would pass the largest file offset.
    Slot acquire();
    // The slot's blocks go back to the filesystem and the slot to the free list.
    void release(Slot slot) noexcept;

    // Positional I/O within a slot: [at, at + size) lies within slot_size.
    void write(Slot slot, std::size_t at, std::span<const std::byte> data);
    // Fills all of `buf`; what was never written reads as zeros.
    void read(Slot slot, std::size_t at, std::span<std::byte> buf) const;
    // [from, to) of the slot becomes a hole (reads as zeros, holds no blocks).
    void zero(Slot slot, std::size_t from, std::size_t to);
    // [from, to) of the slot gets disk blocks (fallocate), so writing it cannot ENOSPC.
    void allocate(Slot slot, std::size_t from, std::size_t to);

    // Slots held (acquired, not released).
    std::uint64_t slots_in_use() const;
    // Disk bytes the pack file holds (st_blocks).
    std::uint64_t allocated_bytes() const;

    int fd() const noexcept { return file_.get(); }

  private:
    static std::uint64_t offset_of(Slot slot, std::size_t at) { return slot * slot_size + at; }

    FileDescriptor file_;
    mutable std::mutex mutex_;
    std::vector<Slot> free_;  // released slots, reused last-in first-out
    Slot high_water_ = 0;     // slots ever handed out: [0, high_water_)
};

}  // namespace tempfile
