// Spool: the storage engine behind SpooledTemporaryFile and behind every regular file
// of spoolfs.
//
// A Spool is a sparse byte array in one of three places:
// - in RAM, as fixed-size chunks allocated only where data was written: a hole (never
//   written, truncated away or punched) costs no memory and reads as zeros;
// - rolled over to a file of its own: rollover() moves the data, holes kept, into an
//   anonymous file (O_TMPFILE, else created and unlinked at once) in a directory given
//   by descriptor; from then on every operation goes to that file;
// - packed: pack() moves the chunks into slots of a Pack (pack.hpp), a large anonymous
//   file shared by many spools, so that a spool on disk needs no descriptor of its own.
//   The chunk map stays; each chunk names a slot instead of a buffer.
// unroll() brings the data back to RAM; move_to() gives it a file of its own.
//
// Ownership: the Spool owns its chunks, its slots and, once rolled over, the file
// descriptor; it shares its Pack (std::shared_ptr).
// Thread safety: none inside. The caller serialises calls on one Spool (the filesystem
// holds the inode's lock); distinct Spools share no state but a Pack, which is
// thread-safe, so they need no common lock.
// Errors: std::system_error with the errno (ENOMEM, ENOSPC, EIO, ...). A failed write or
// rollover leaves every byte that was there before intact (a failed write to a file may
// have replaced part of the range written).
//
// Work: bounded by data that exists, never by the offsets and lengths a caller passes.
// In RAM and packed, every call visits only the chunks present in its range (a std::map
// walk), plus the chunks it creates, whose number the limit checks before any work
// bound: a RAM allocation past the machine's memory is refused (ENOMEM), a packed one
// past the pack filesystem's free space (ENOSPC), and writes create at most one chunk
// per chunk_size bytes of data passed. ram_growth() and growth() take closed forms over
// absent chunks. With a file of its own, calls are O(1) system calls, except unroll() and
// move_to(), which visit the file's data extents (SEEK_DATA/SEEK_HOLE) and read the data.
//
// Security: a rolled-over file has no name; it is created 0600 and only this process
// holds a descriptor to it (a Pack likewise). Resource leaking: when the process dies,
// even by SIGKILL, the kernel frees the RAM and the anonymous files' disk blocks;
// nothing stays on disk. A packed spool's slots go back to the Pack when it is
// destroyed, truncated or moved elsewhere.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>

#include "tempfile/fd.hpp"
#include "tempfile/pack.hpp"

namespace tempfile {

class Spool {
  public:
    // RAM is allocated per chunk of this many bytes (the last chunk of a small file
    // grows in powers of two from 4 KiB, so a 1-byte file holds 4 KiB, not 64).
    static constexpr std::size_t chunk_size = 64 * 1024;

    Spool() = default;
    // A moved-from Spool is empty, in RAM.
    Spool(Spool&& other) noexcept;
    Spool& operator=(Spool&& other) noexcept;
    Spool(const Spool&) = delete;
    Spool& operator=(const Spool&) = delete;
    ~Spool() { release_slots(); }

    // Logical size: one past the last byte, holes included.
    std::uint64_t size() const noexcept { return size_; }

    // Reads up to buf.size() bytes at `offset`; returns the number read, short only at
    // end of file (0 at or past it). Holes read as zeros.
    std::size_t pread(std::span<std::byte> buf, std::uint64_t offset) const;

    // pread without the copy, for a Spool in RAM: calls fn(std::span<const std::byte>)
    // for the consecutive pieces of [offset, offset + length), clipped at end of file;
    // holes come from a shared page of zeros. The spans stay valid until the Spool next
    // changes. Returns the bytes covered. Precondition: !rolled().
    template <typename Fn>
    std::size_t read_pieces(std::uint64_t offset, std::size_t length, Fn&& fn) const;

    // Writes all of `data` at `offset`, growing the size if it ends past it (a gap
    // becomes a hole). Returns data.size().
    std::size_t pwrite(std::span<const std::byte> data, std::uint64_t offset);

    // Sets the size; growing adds a hole, shrinking frees what lies past the new end.
    void truncate(std::uint64_t size);

    // fallocate(2) without flags: the range is backed by memory or disk blocks and the
    // size grows to cover it unless keep_size.
    void allocate(std::uint64_t offset, std::uint64_t length, bool keep_size = false);

    // FALLOC_FL_PUNCH_HOLE: the range becomes a hole; the size is unchanged.
    void punch_hole(std::uint64_t offset, std::uint64_t length);

    // FALLOC_FL_ZERO_RANGE: the range reads as zeros; the size grows to cover it unless
    // keep_size.
    void zero_range(std::uint64_t offset, std::uint64_t length, bool keep_size = false);

    // lseek(SEEK_DATA) / lseek(SEEK_HOLE): the first data byte / the first hole byte at
    // or after `offset`; std::nullopt where lseek gives ENXIO (offset at or past the
    // end, or no data after it). The end of file counts as a hole.
    std::optional<std::uint64_t> seek_data(std::uint64_t offset) const;
    std::optional<std::uint64_t> seek_hole(std::uint64_t offset) const;

    // Bytes of RAM holding data (chunk allocations). 0 once rolled over or packed.
    std::uint64_t ram_bytes() const noexcept { return in_ram() ? chunk_bytes_ : 0; }

    // Bytes of storage actually allocated, RAM or disk: what st_blocks reports. Packed:
    // the slot capacities held, as in RAM (the slots' unwritten parts are holes, so the
    // disk may hold less).
    std::uint64_t allocated_bytes() const;

    // Bytes a pwrite() or allocate() of [offset, offset + length) would add to
    // allocated_bytes() in RAM or packed: exact, so that a caller can charge a budget
    // before writing. 0 with a file of its own or for a range off_t cannot hold. Work:
    // O(chunks present in the range + 1), whatever the length.
    std::uint64_t growth(std::uint64_t offset, std::uint64_t length) const;
    // growth() while in RAM, else 0: what the write adds to ram_bytes().
    std::uint64_t ram_growth(std::uint64_t offset, std::uint64_t length) const {
        return in_ram() ? growth(offset, length) : 0;
    }

    // Whether the data is off RAM: in a file of its own or packed.
    bool rolled() const noexcept { return file_ || pack_; }
    bool packed() const noexcept { return static_cast<bool>(pack_); }

    // Moves the data into a new anonymous file (mode 0600) in the directory `dirfd`.
    // No-op if already rolled over.
    void rollover(int dirfd);

    // Moves the data into `file`, an empty file opened for reading and writing, which
    // the Spool then owns. No-op (and `file` is closed) if already rolled over.
    void rollover(FileDescriptor file);

    // Moves the data from RAM, or from the spool's own file (which is then closed), into
    // slots of `pack`. No-op if already packed. On failure (ENOSPC, EIO) nothing changes.
    // Work: one write per chunk present, or per chunk of the file's data extents.
    void pack(std::shared_ptr<Pack> pack);

    // The backing file's descriptor, or -1 while the data is in RAM or packed (a packed
    // spool has no file of its own: it must not be handed out). Stays owned by the
    // Spool. A change of size made through it directly is not seen by size() until
    // sync_size().
    int fd() const noexcept { return file_.get(); }

    // Moves the data of a rolled-over or packed spool back into RAM, holes kept, and
    // closes the file or gives the slots back. On failure (ENOMEM, EIO) nothing changes.
    // No-op while in RAM. Work: the data present (RAM is not checked: the caller's
    // budget decides).
    void unroll();

    // Moves the data into a new anonymous file in the directory `dirfd`, holes kept:
    // from RAM as rollover() does, from the slots of a packed spool, which go back, or
    // from the current file, which is then closed. On failure nothing changes.
    void move_to(int dirfd);

    // Takes the backing file's size as the logical size, after others wrote to fd()
    // directly (spoolfs's kernel passthrough): as fstat gives it now, or as the caller's
    // own fstat gave it. No-op while in RAM.
    void sync_size();
    void sync_size(std::uint64_t file_size) noexcept {
        if (file_) size_ = file_size;
    }

  private:
    // chunk_size bytes of zeros, shared by every Spool (never written).
    static std::span<const std::byte, chunk_size> zeros();
    // A chunk holds the first `capacity` bytes of its chunk_size span; the rest reads as
    // zeros. Capacity is a power of two from min_capacity to chunk_size. In RAM the bytes
    // are in `data`; packed, in `slot` of the pack (whose bytes past capacity are zeros).
    struct Chunk {
        std::unique_ptr<std::byte[]> data;
        std::size_t capacity = 0;
        Pack::Slot slot = 0;
    };
    using ChunkMap = std::map<std::uint64_t, Chunk>;

    static constexpr std::size_t min_capacity = 4 * 1024;

    // Makes chunk `index` (`pos` is chunks_.lower_bound(index)) hold at least `end`
    // bytes. New bytes are zeroed except [write_begin, write_end), which the caller is
    // about to overwrite. Stored contents do not change; on ENOMEM nothing changes.
    ChunkMap::iterator reserve_chunk(ChunkMap::iterator pos, std::uint64_t index, std::size_t end,
                                     std::size_t write_begin, std::size_t write_end);
    // reserve_chunk for every chunk overlapping [offset, end), all or nothing; returns the
    // first. With `writing` the caller overwrites the whole range, else new bytes are 0.
    ChunkMap::iterator reserve_range(std::uint64_t offset, std::uint64_t end, bool writing);
    // Zeroes [offset, end) in RAM, freeing the chunks whose stored bytes all lie inside.
    void clear_range(std::uint64_t offset, std::uint64_t end);
    void shrink_chunks(std::uint64_t size);
    // Removes a chunk, its slot back to the pack; returns the next.
    ChunkMap::iterator erase_chunk(ChunkMap::iterator it) noexcept;
    // Calls fn(bytes, offset) for each chunk's stored bytes below size_, in order.
    template <typename Fn>
    void for_each_chunk(Fn&& fn) const;
    void copy_to(int fd) const;
    // Gives every slot back to the pack and forgets the chunks.
    void release_slots() noexcept;
    bool in_ram() const noexcept { return !file_ && !pack_; }

    // Invariant: every stored byte at or past size_ is zero, so growing needs no work.
    ChunkMap chunks_;  // chunk index -> chunk; absent = hole
    std::uint64_t size_ = 0;
    std::uint64_t chunk_bytes_ = 0;  // sum of chunk capacities, in RAM or packed
    FileDescriptor file_;
    std::shared_ptr<Pack> pack_;  // while packed
};

template <typename Fn>
std::size_t Spool::read_pieces(std::uint64_t offset, std::size_t length, Fn&& fn) const {
    if (offset >= size_ || length == 0) return 0;
    const std::uint64_t end = offset + std::min<std::uint64_t>(length, size_ - offset);
    auto it = chunks_.lower_bound(offset / chunk_size);
    for (std::uint64_t at = offset; at < end;) {
        const std::uint64_t index = at / chunk_size;
        const std::size_t in = at % chunk_size;
        std::size_t n = std::min<std::uint64_t>(end - at, chunk_size - in);
        while (it != chunks_.end() && it->first < index) ++it;
        if (it != chunks_.end() && it->first == index && in < it->second.capacity) {
            n = std::min(n, it->second.capacity - in);
            fn(std::span<const std::byte>(it->second.data.get() + in, n));
        } else {
            fn(zeros().first(n));
        }
        at += n;
    }
    return end - offset;
}

}  // namespace tempfile
