#include "tempfile/spool.hpp"

#include "file_io.hpp"
#include "sys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <limits>
#include <new>
#include <system_error>
#include <utility>
#include <vector>

namespace tempfile {
namespace {

using detail::open_anonymous;
using detail::read_file;
using detail::try_fallocate;
using detail::write_file;

constexpr std::uint64_t max_offset = std::numeric_limits<off_t>::max();
constexpr std::uint64_t chunk_size = Spool::chunk_size;

[[noreturn]] void throw_errno(int err, const char* what) {
    throw std::system_error(err, std::generic_category(), what);
}

// As the kernel reports them: an offset or length off_t cannot hold is negative to it
// (EINVAL); a range ending past the largest offset is too big (EFBIG).
void check_range(std::uint64_t offset, std::uint64_t length, const char* what) {
    if (offset > max_offset || length > max_offset) throw_errno(EINVAL, what);
    if (length > max_offset - offset) throw_errno(EFBIG, what);
}

void check_fallocate(std::uint64_t offset, std::uint64_t length, const char* what) {
    if (length == 0) throw_errno(EINVAL, what);
    check_range(offset, length, what);
}

// A RAM allocation that exceeds the machine's memory can only end in the OOM killer.
void check_memory(std::uint64_t length, std::uint64_t held) {
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page_size = ::sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0) return;
    const auto ram = static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size);
    if (length > held && length - held > ram) throw_errno(ENOMEM, "spool allocate");
}

// A packed allocation past the pack filesystem's free space can only end in ENOSPC: say
// so before taking a slot per chunk.
void check_disk(int fd, std::uint64_t length, std::uint64_t held) {
    struct statvfs st {};
    if (::fstatvfs(fd, &st) != 0) return;
    const std::uint64_t free = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
    if (length > held && length - held > free) throw_errno(ENOSPC, "spool allocate");
}

void fallocate_file(int fd, int mode, std::uint64_t offset, std::uint64_t length) {
    if (const int err = try_fallocate(fd, mode, offset, length))
        throw_errno(err, "spool fallocate");
}

std::optional<std::uint64_t> seek_file(int fd, std::uint64_t offset, int whence) {
    if (offset > max_offset) return std::nullopt;
    const off_t pos = ::lseek(fd, static_cast<off_t>(offset), whence);
    if (pos >= 0) return static_cast<std::uint64_t>(pos);
    if (errno == ENXIO) return std::nullopt;
    throw_errno(errno, "spool lseek");
}

// Calls fn(bytes, offset) for the data of the file `fd` below `size`, a chunk at most at a
// time; holes are skipped.
template <typename Fn>
void for_each_data(int fd, std::uint64_t size, Fn&& fn) {
    std::vector<std::byte> buffer;
    for (std::uint64_t at = 0; auto data = seek_file(fd, at, SEEK_DATA);) {
        const std::uint64_t end = std::min(seek_file(fd, *data, SEEK_HOLE).value_or(size), size);
        for (at = *data; at < end;) {
            buffer.resize(
                static_cast<std::size_t>(std::min<std::uint64_t>(end - at, Spool::chunk_size)));
            const std::size_t n = read_file(fd, buffer, at);
            if (n == 0) break;
            fn(std::span<const std::byte>(buffer).first(n), at);
            at += n;
        }
        if (end >= size) break;
        at = end;
    }
}

std::unique_ptr<std::byte[]> allocate_bytes(std::size_t n) {
    try {
        return std::make_unique_for_overwrite<std::byte[]>(n);
    } catch (const std::bad_alloc&) {
        throw_errno(ENOMEM, "spool");
    }
}

// Zeroes [from, to) of `p` except [keep_begin, keep_end).
void zero_outside(std::byte* p, std::size_t from, std::size_t to, std::size_t keep_begin,
                  std::size_t keep_end) {
    const std::size_t a = std::clamp(keep_begin, from, to);
    const std::size_t b = std::clamp(std::max(keep_end, keep_begin), from, to);
    std::memset(p + from, 0, a - from);
    std::memset(p + b, 0, to - b);
}

}  // namespace

Spool::Spool(Spool&& other) noexcept
    : chunks_(std::move(other.chunks_)),
      size_(std::exchange(other.size_, 0)),
      chunk_bytes_(std::exchange(other.chunk_bytes_, 0)),
      file_(std::move(other.file_)),
      pack_(std::move(other.pack_)) {
    other.chunks_.clear();
}

Spool& Spool::operator=(Spool&& other) noexcept {
    if (this != &other) {
        release_slots();
        chunks_ = std::move(other.chunks_);
        other.chunks_.clear();
        size_ = std::exchange(other.size_, 0);
        chunk_bytes_ = std::exchange(other.chunk_bytes_, 0);
        file_ = std::move(other.file_);
        pack_ = std::move(other.pack_);
    }
    return *this;
}

void Spool::release_slots() noexcept {
    if (!pack_) return;
    for (const auto& [index, chunk] : chunks_) pack_->release(chunk.slot);
    chunks_.clear();
    chunk_bytes_ = 0;
    pack_.reset();
}

Spool::ChunkMap::iterator Spool::erase_chunk(ChunkMap::iterator it) noexcept {
    chunk_bytes_ -= it->second.capacity;
    if (pack_) pack_->release(it->second.slot);
    return chunks_.erase(it);
}

Spool::ChunkMap::iterator Spool::reserve_chunk(ChunkMap::iterator pos, std::uint64_t index,
                                               std::size_t end, std::size_t write_begin,
                                               std::size_t write_end) {
    const bool exists = pos != chunks_.end() && pos->first == index;
    const std::size_t old = exists ? pos->second.capacity : 0;
    if (old >= end) return pos;
    std::size_t capacity = std::clamp(std::bit_ceil(end), min_capacity, chunk_size);
    // Right after a full chunk the file is streaming in: take the whole chunk now instead
    // of copying it through every power of two.
    if (pos != chunks_.begin()) {
        const auto prev = std::prev(pos);
        if (prev->first + 1 == index && prev->second.capacity == chunk_size) capacity = chunk_size;
    }
    Chunk grown;
    grown.capacity = capacity;
    if (pack_) {
        // The slot past the old capacity reads as zeros already; only an allocation (no
        // write to follow) asks the disk for blocks now.
        grown.slot = exists ? pos->second.slot : pack_->acquire();
        if (write_begin == write_end) {
            try {
                pack_->allocate(grown.slot, old, capacity);
            } catch (...) {
                if (!exists) pack_->release(grown.slot);
                throw;
            }
        }
    } else {
        grown.data = allocate_bytes(capacity);
        if (old != 0) std::memcpy(grown.data.get(), pos->second.data.get(), old);
        zero_outside(grown.data.get(), old, capacity, write_begin, write_end);
    }
    if (!exists) {
        try {
            pos = chunks_.emplace_hint(pos, index, Chunk{});
        } catch (const std::bad_alloc&) {
            if (pack_) pack_->release(grown.slot);
            throw_errno(ENOMEM, "spool");
        }
    }
    pos->second = std::move(grown);
    chunk_bytes_ += capacity - old;
    return pos;
}

Spool::ChunkMap::iterator Spool::reserve_range(std::uint64_t offset, std::uint64_t end,
                                               bool writing) {
    const std::uint64_t first = offset / chunk_size;
    const std::uint64_t last = (end - 1) / chunk_size;
    auto pos = chunks_.lower_bound(first);
    const auto in_chunk = [&](std::uint64_t index) {
        const std::uint64_t start = index * chunk_size;
        const std::size_t b = index == first ? offset - start : 0;
        const std::size_t e = index == last ? end - start : chunk_size;
        return std::pair{b, e};
    };
    if (first == last) {
        const auto [b, e] = in_chunk(first);
        return reserve_chunk(pos, first, e, writing ? b : e, e);
    }
    // Chunks created here are removed again if a later one fails: a failed call leaves
    // neither data nor memory behind. The list is sized before the first chunk so that
    // growing it cannot fail half way; callers checked the range against their limits
    // (the machine's memory, the disk, the data passed) before.
    std::vector<std::uint64_t> created;
    try {
        created.reserve(last - first + 1);
    } catch (const std::bad_alloc&) {
        throw_errno(ENOMEM, "spool");
    }
    auto result = chunks_.end();
    try {
        for (std::uint64_t index = first; index <= last; ++index, ++pos) {
            const auto [b, e] = in_chunk(index);
            if (pos == chunks_.end() || pos->first != index) created.push_back(index);
            pos = reserve_chunk(pos, index, e, writing ? b : e, e);
            if (index == first) result = pos;
        }
    } catch (...) {
        for (const std::uint64_t index : created) {
            if (const auto it = chunks_.find(index); it != chunks_.end()) erase_chunk(it);
        }
        throw;
    }
    return result;
}

void Spool::clear_range(std::uint64_t offset, std::uint64_t end) {
    auto it = chunks_.lower_bound(offset / chunk_size);
    while (it != chunks_.end() && it->first * chunk_size < end) {
        const std::uint64_t start = it->first * chunk_size;
        Chunk& chunk = it->second;
        const std::size_t b = std::max(offset, start) - start;
        const std::size_t e = std::min<std::uint64_t>(end - start, chunk.capacity);
        // Stored bytes past the end of file are zeros already: a range reaching the end
        // frees the last chunk too.
        const std::size_t stored =
            size_ > start ? std::min<std::uint64_t>(size_ - start, chunk.capacity) : 0;
        if (b == 0 && e >= stored) {
            it = erase_chunk(it);
            continue;
        }
        if (e > b) {
            if (pack_)
                pack_->zero(chunk.slot, b, e);
            else
                std::memset(chunk.data.get() + b, 0, e - b);
        }
        ++it;
    }
}

// Frees what lies at or past `size` and zeroes the rest of the chunk it ends in, moving
// that chunk to a smaller allocation when it would hold less than half of it. The one
// step that can fail (a packed chunk's hole punch) comes first, so failing changes
// nothing.
void Spool::shrink_chunks(std::uint64_t size) {
    const std::size_t keep = size % chunk_size;
    const auto partial = keep == 0 ? chunks_.end() : chunks_.find(size / chunk_size);
    if (partial != chunks_.end() && keep < partial->second.capacity) {
        Chunk& chunk = partial->second;
        const std::size_t capacity = std::max(std::bit_ceil(keep), min_capacity);
        if (pack_) {
            pack_->zero(chunk.slot, keep, chunk.capacity);
            chunk_bytes_ -= chunk.capacity - capacity;
            chunk.capacity = capacity;
        } else {
            std::unique_ptr<std::byte[]> data;
            if (capacity < chunk.capacity) {
                try {
                    data = std::make_unique_for_overwrite<std::byte[]>(capacity);
                } catch (const std::bad_alloc&) {
                    // Keeping the larger allocation is correct, only less lean.
                }
            }
            if (data) {
                std::memcpy(data.get(), chunk.data.get(), keep);
                std::memset(data.get() + keep, 0, capacity - keep);
                chunk_bytes_ -= chunk.capacity - capacity;
                chunk = Chunk{std::move(data), capacity};
            } else {
                std::memset(chunk.data.get() + keep, 0, chunk.capacity - keep);
            }
        }
    }
    for (auto it = chunks_.lower_bound((size + chunk_size - 1) / chunk_size); it != chunks_.end();)
        it = erase_chunk(it);
}

std::size_t Spool::pread(std::span<std::byte> buf, std::uint64_t offset) const {
    if (file_) return read_file(file_.get(), buf, offset);
    if (offset >= size_) return 0;
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size_ - offset));
    auto it = chunks_.lower_bound(offset / chunk_size);
    for (std::size_t done = 0; done < n;) {
        const std::uint64_t pos = offset + done;
        const std::size_t in = pos % chunk_size;
        const std::size_t piece = std::min(n - done, chunk_size - in);
        std::byte* out = buf.data() + done;
        std::size_t copied = 0;
        if (it != chunks_.end() && it->first == pos / chunk_size) {
            const Chunk& chunk = it->second;
            if (in < chunk.capacity) {
                copied = std::min(piece, chunk.capacity - in);
                if (pack_)
                    pack_->read(chunk.slot, in, {out, copied});
                else
                    std::memcpy(out, chunk.data.get() + in, copied);
            }
            // Stepping the tree costs a walk; the last piece needs no next chunk.
            if (done + piece < n) ++it;
        }
        std::memset(out + copied, 0, piece - copied);
        done += piece;
    }
    return n;
}

std::size_t Spool::pwrite(std::span<const std::byte> data, std::uint64_t offset) {
    check_range(offset, data.size(), "spool pwrite");
    if (data.empty()) return 0;
    const std::uint64_t end = offset + data.size();
    if (file_) {
        try {
            write_file(file_.get(), data.data(), data.size(), offset);
        } catch (const std::system_error&) {
            // A short write before the error may have grown the file; give the size back.
            struct stat st {};
            if (::fstat(file_.get(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) > size_) {
                while (::ftruncate(file_.get(), static_cast<off_t>(size_)) != 0 && errno == EINTR) {
                }
            }
            throw;
        }
        size_ = std::max(size_, end);
        return data.size();
    }
    auto it = reserve_range(offset, end, true);
    try {
        for (std::size_t done = 0;;) {
            const std::size_t in = (offset + done) % chunk_size;
            const std::size_t piece = std::min(data.size() - done, chunk_size - in);
            if (pack_)
                pack_->write(it->second.slot, in, data.subspan(done, piece));
            else
                std::memcpy(it->second.data.get() + in, data.data() + done, piece);
            done += piece;
            if (done == data.size()) break;
            ++it;
        }
    } catch (...) {
        // Only a packed write fails here: what it left past the end of file goes, so
        // that stored bytes past size_ stay zeros.
        try {
            if (end > size_) clear_range(std::max(offset, size_), end);
        } catch (const std::system_error&) {
        }
        throw;
    }
    size_ = std::max(size_, end);
    return data.size();
}

void Spool::truncate(std::uint64_t size) {
    check_range(size, 0, "spool truncate");
    if (file_) {
        sys::truncate(file_.get(), size);
    } else if (size < size_) {
        shrink_chunks(size);
    }
    // Growing in RAM needs no work: stored bytes past the old end are zeros.
    size_ = size;
}

void Spool::allocate(std::uint64_t offset, std::uint64_t length, bool keep_size) {
    check_fallocate(offset, length, "spool allocate");
    const std::uint64_t end = offset + length;
    if (file_) {
        fallocate_file(file_.get(), keep_size ? FALLOC_FL_KEEP_SIZE : 0, offset, length);
    } else {
        // Limits first: the chunks made below are real memory or disk blocks.
        if (pack_)
            check_disk(pack_->fd(), length, chunk_bytes_);
        else
            check_memory(length, chunk_bytes_);
        reserve_range(offset, end, false);
    }
    if (!keep_size) size_ = std::max(size_, end);
}

void Spool::punch_hole(std::uint64_t offset, std::uint64_t length) {
    check_fallocate(offset, length, "spool punch_hole");
    if (file_) {
        // Past the end is a hole already; ext4 would refuse a range past its 16 TiB.
        if (offset >= size_) return;
        fallocate_file(file_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset,
                       std::min(length, size_ - offset));
    } else {
        clear_range(offset, offset + length);
    }
}

void Spool::zero_range(std::uint64_t offset, std::uint64_t length, bool keep_size) {
    check_fallocate(offset, length, "spool zero_range");
    const std::uint64_t end = offset + length;
    if (file_) {
        // A hole, as in RAM: zeroing allocates nothing. (FALLOC_FL_ZERO_RANGE would
        // allocate the whole range, as much disk as the length passed says.)
        // Past the end is a hole already.
        const std::uint64_t inside = offset < size_ ? std::min(length, size_ - offset) : 0;
        int err = inside ? try_fallocate(file_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                         offset, inside)
                         : 0;
        if (err == EOPNOTSUPP)
            err = try_fallocate(file_.get(), FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset,
                                inside);
        if (err != 0) throw_errno(err, "spool fallocate");
        if (!keep_size && end > size_) sys::truncate(file_.get(), end);
    } else {
        // In RAM (and packed) a hole already reads as zeros and costs nothing, so zeroing
        // never allocates (and cannot fail with ENOMEM).
        clear_range(offset, end);
    }
    if (!keep_size) size_ = std::max(size_, end);
}

std::optional<std::uint64_t> Spool::seek_data(std::uint64_t offset) const {
    if (file_) return seek_file(file_.get(), offset, SEEK_DATA);
    if (offset >= size_) return std::nullopt;
    const auto it = chunks_.lower_bound(offset / chunk_size);
    if (it == chunks_.end()) return std::nullopt;
    const std::uint64_t start = std::max(offset, it->first * chunk_size);
    if (start >= size_) return std::nullopt;
    return start;
}

std::optional<std::uint64_t> Spool::seek_hole(std::uint64_t offset) const {
    if (file_) return seek_file(file_.get(), offset, SEEK_HOLE);
    if (offset >= size_) return std::nullopt;
    std::uint64_t index = offset / chunk_size;
    for (auto it = chunks_.lower_bound(index); it != chunks_.end() && it->first == index; ++it) {
        ++index;
    }
    return std::min(size_, std::max(offset, index * chunk_size));
}

std::span<const std::byte, Spool::chunk_size> Spool::zeros() {
    static const std::byte page[chunk_size] = {};
    return std::span<const std::byte, chunk_size>(page);
}

std::uint64_t Spool::growth(std::uint64_t offset, std::uint64_t length) const {
    if (file_ || length == 0) return 0;
    if (offset > max_offset || length > max_offset - offset) return 0;  // refused anyway
    const std::uint64_t end = offset + length;
    const std::uint64_t first = offset / chunk_size;
    const std::uint64_t last = (end - 1) / chunk_size;
    const auto last_end = static_cast<std::size_t>(end - last * chunk_size);
    // Mirrors reserve_range(): every chunk but the last is filled to chunk_size; a chunk
    // right after a full one is taken whole. Runs of absent chunks are counted, not
    // walked: only the chunks present cost a step each.
    std::uint64_t growth = 0;
    bool previous_full = false;
    auto pos = chunks_.lower_bound(first);
    if (pos != chunks_.begin()) {
        const auto prev = std::prev(pos);
        previous_full = prev->first + 1 == first && prev->second.capacity == chunk_size;
    }
    const auto grown = [&](std::size_t old, std::size_t e) {
        std::size_t capacity = old;
        if (old < e) {
            capacity =
                previous_full ? chunk_size : std::clamp(std::bit_ceil(e), min_capacity, chunk_size);
            growth += capacity - old;
        }
        previous_full = capacity == chunk_size;
    };
    for (std::uint64_t index = first; index <= last;) {
        if (pos != chunks_.end() && pos->first == index) {
            grown(pos->second.capacity, index == last ? last_end : chunk_size);
            ++pos;
            ++index;
            continue;
        }
        // Absent chunks up to the next present one (or past the last): all but the last
        // chunk of the range become full.
        const std::uint64_t next =
            pos != chunks_.end() && pos->first <= last ? pos->first : last + 1;
        const std::uint64_t whole = next - index - (next > last ? 1 : 0);
        if (whole > 0) {
            growth += whole * chunk_size;
            previous_full = true;
            index += whole;
        }
        if (index == last && next > last) {
            grown(0, last_end);
            ++index;
        }
    }
    return growth;
}

template <typename Fn>
void Spool::for_each_chunk(Fn&& fn) const {
    std::unique_ptr<std::byte[]> buffer;
    for (const auto& [index, chunk] : chunks_) {
        const std::uint64_t start = index * chunk_size;
        if (start >= size_) break;
        const auto n =
            static_cast<std::size_t>(std::min<std::uint64_t>(chunk.capacity, size_ - start));
        if (!pack_) {
            fn(std::span<const std::byte>(chunk.data.get(), n), start);
            continue;
        }
        if (!buffer) buffer = allocate_bytes(chunk_size);
        pack_->read(chunk.slot, 0, {buffer.get(), n});
        fn(std::span<const std::byte>(buffer.get(), n), start);
    }
}

void Spool::unroll() {
    if (in_ram()) return;
    Spool ram;
    if (pack_) {
        // Chunk by chunk, capacities kept: the RAM footprint is what the slots held.
        for (const auto& [index, chunk] : chunks_) {
            Chunk copy{allocate_bytes(chunk.capacity), chunk.capacity, 0};
            pack_->read(chunk.slot, 0, {copy.data.get(), chunk.capacity});
            try {
                ram.chunks_.emplace_hint(ram.chunks_.end(), index, std::move(copy));
            } catch (const std::bad_alloc&) {
                throw_errno(ENOMEM, "spool unroll");
            }
            ram.chunk_bytes_ += chunk.capacity;
        }
        ram.size_ = size_;
    } else {
        for_each_data(file_.get(), size_, [&](std::span<const std::byte> bytes, std::uint64_t at) {
            ram.pwrite(bytes, at);
        });
        ram.truncate(size_);
    }
    *this = std::move(ram);
}

void Spool::pack(std::shared_ptr<Pack> pack) {
    if (pack_) return;
    if (file_) {
        // Extent by extent into a packed spool of its own, which takes this one's place
        // only once complete.
        Spool packed;
        packed.pack_ = std::move(pack);
        for_each_data(file_.get(), size_, [&](std::span<const std::byte> bytes, std::uint64_t at) {
            packed.pwrite(bytes, at);
        });
        packed.truncate(size_);
        *this = std::move(packed);
        return;
    }
    // Slots are taken and written first; the chunks change only once all are on disk.
    std::vector<Pack::Slot> slots;
    try {
        slots.reserve(chunks_.size());
    } catch (const std::bad_alloc&) {
        throw_errno(ENOMEM, "spool pack");
    }
    try {
        for (const auto& [index, chunk] : chunks_) {
            slots.push_back(pack->acquire());
            const std::uint64_t start = index * chunk_size;
            if (start < size_) {
                const auto n = static_cast<std::size_t>(
                    std::min<std::uint64_t>(chunk.capacity, size_ - start));
                pack->write(slots.back(), 0, {chunk.data.get(), n});
            }
        }
    } catch (...) {
        for (const Pack::Slot slot : slots) pack->release(slot);
        throw;
    }
    auto slot = slots.begin();
    for (auto& [index, chunk] : chunks_) {
        chunk.data.reset();
        chunk.slot = *slot++;
    }
    pack_ = std::move(pack);
}

void Spool::move_to(int dirfd) {
    if (in_ram()) {
        rollover(dirfd);
        return;
    }
    FileDescriptor target = open_anonymous(dirfd);
    if (size_ > 0) sys::truncate(target.get(), size_);
    if (pack_) {
        for_each_chunk([&](std::span<const std::byte> bytes, std::uint64_t at) {
            write_file(target.get(), bytes.data(), bytes.size(), at);
        });
        release_slots();
    } else {
        for_each_data(file_.get(), size_, [&](std::span<const std::byte> bytes, std::uint64_t at) {
            write_file(target.get(), bytes.data(), bytes.size(), at);
        });
    }
    file_ = std::move(target);
}

void Spool::sync_size() {
    if (file_) size_ = static_cast<std::uint64_t>(sys::status(file_.get()).st_size);
}

std::uint64_t Spool::allocated_bytes() const {
    if (!file_) return chunk_bytes_;
    return static_cast<std::uint64_t>(sys::status(file_.get()).st_blocks) * 512;
}

// Writes only the chunks that exist, so holes stay holes in the file.
void Spool::copy_to(int fd) const {
    // Not for an empty spool: ext4 takes a truncate to 0 for "file rewritten" and then
    // flushes the file to disk at every close (auto_da_alloc).
    if (size_ == 0) return;
    sys::truncate(fd, size_);
    for_each_chunk([&](std::span<const std::byte> bytes, std::uint64_t at) {
        write_file(fd, bytes.data(), bytes.size(), at);
    });
}

void Spool::rollover(int dirfd) {
    if (rolled()) return;
    rollover(open_anonymous(dirfd));
}

void Spool::rollover(FileDescriptor file) {
    if (rolled()) return;
    try {
        copy_to(file.get());
    } catch (const std::system_error&) {
        // Give the caller's file back empty; the data stays in RAM.
        while (::ftruncate(file.get(), 0) != 0 && errno == EINTR) {
        }
        throw;
    }
    file_ = std::move(file);
    chunks_.clear();
    chunk_bytes_ = 0;
}

}  // namespace tempfile
