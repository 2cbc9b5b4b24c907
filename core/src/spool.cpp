#include "tempfile/spool.hpp"

#include "create_unique.hpp"
#include "sys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
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

std::size_t read_file(int fd, std::span<std::byte> buf, std::uint64_t offset) {
    if (offset > max_offset) return 0;
    const auto want =
        static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), max_offset - offset));
    std::size_t done = 0;
    while (done < want) {
        const ssize_t n =
            ::pread(fd, buf.data() + done, want - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno(errno, "spool pread");
        }
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    return done;
}

void write_file(int fd, const std::byte* data, std::size_t length, std::uint64_t offset) {
    std::size_t done = 0;
    while (done < length) {
        const ssize_t n =
            ::pwrite(fd, data + done, length - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno(errno, "spool pwrite");
        }
        // No progress and no error: the loop would spin forever.
        if (n == 0) throw_errno(EIO, "spool pwrite");
        done += static_cast<std::size_t>(n);
    }
}

int try_fallocate(int fd, int mode, std::uint64_t offset, std::uint64_t length) {
    while (::fallocate(fd, mode, static_cast<off_t>(offset), static_cast<off_t>(length)) != 0) {
        if (errno != EINTR) return errno;
    }
    return 0;
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

// An unnamed file in `dirfd`: O_TMPFILE, else a fresh random name unlinked at once.
FileDescriptor open_anonymous(int dirfd) {
    int fd;
    do {
        fd = ::openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    } while (fd < 0 && errno == EINTR);
    if (fd >= 0) return FileDescriptor(fd);
    // The file system or kernel lacks O_TMPFILE; anything else is a real failure.
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
        throw_errno(errno, "spool rollover: open O_TMPFILE");
    }
    FileDescriptor file;
    // An empty directory path leaves the candidate a bare name, taken relative to dirfd.
    const auto name = detail::create_unique({}, "tmp", "", [&](const std::filesystem::path& path) {
        file = sys::open_at(dirfd, path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                            0600);
    });
    if (::unlinkat(dirfd, name.c_str(), 0) != 0) throw_errno(errno, "spool rollover: unlink");
    return file;
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
      ram_bytes_(std::exchange(other.ram_bytes_, 0)),
      file_(std::move(other.file_)) {
    other.chunks_.clear();
}

Spool& Spool::operator=(Spool&& other) noexcept {
    if (this != &other) {
        chunks_ = std::move(other.chunks_);
        other.chunks_.clear();
        size_ = std::exchange(other.size_, 0);
        ram_bytes_ = std::exchange(other.ram_bytes_, 0);
        file_ = std::move(other.file_);
    }
    return *this;
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
    auto data = allocate_bytes(capacity);
    if (old != 0) std::memcpy(data.get(), pos->second.data.get(), old);
    zero_outside(data.get(), old, capacity, write_begin, write_end);
    if (!exists) {
        try {
            pos = chunks_.emplace_hint(pos, index, Chunk{});
        } catch (const std::bad_alloc&) {
            throw_errno(ENOMEM, "spool");
        }
    }
    pos->second = Chunk{std::move(data), capacity};
    ram_bytes_ += capacity - old;
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
    // neither data nor memory behind.
    std::vector<std::uint64_t> created;
    auto result = chunks_.end();
    try {
        created.reserve(last - first + 1);
        for (std::uint64_t index = first; index <= last; ++index, ++pos) {
            const auto [b, e] = in_chunk(index);
            if (pos == chunks_.end() || pos->first != index) created.push_back(index);
            pos = reserve_chunk(pos, index, e, writing ? b : e, e);
            if (index == first) result = pos;
        }
    } catch (const std::bad_alloc&) {
        throw_errno(ENOMEM, "spool");
    } catch (...) {
        for (const std::uint64_t index : created) {
            if (const auto it = chunks_.find(index); it != chunks_.end()) {
                ram_bytes_ -= it->second.capacity;
                chunks_.erase(it);
            }
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
            ram_bytes_ -= chunk.capacity;
            it = chunks_.erase(it);
            continue;
        }
        if (e > b) std::memset(chunk.data.get() + b, 0, e - b);
        ++it;
    }
}

// Frees what lies at or past `size` and zeroes the rest of the chunk it ends in, moving
// that chunk to a smaller allocation when it would hold less than half of it.
void Spool::shrink_ram(std::uint64_t size) {
    auto it = chunks_.lower_bound((size + chunk_size - 1) / chunk_size);
    while (it != chunks_.end()) {
        ram_bytes_ -= it->second.capacity;
        it = chunks_.erase(it);
    }
    const std::size_t keep = size % chunk_size;
    if (keep == 0) return;
    it = chunks_.find(size / chunk_size);
    if (it == chunks_.end()) return;
    Chunk& chunk = it->second;
    if (keep >= chunk.capacity) return;
    const std::size_t capacity = std::max(std::bit_ceil(keep), min_capacity);
    if (capacity < chunk.capacity) {
        try {
            auto data = std::make_unique_for_overwrite<std::byte[]>(capacity);
            std::memcpy(data.get(), chunk.data.get(), keep);
            std::memset(data.get() + keep, 0, capacity - keep);
            ram_bytes_ -= chunk.capacity - capacity;
            chunk = Chunk{std::move(data), capacity};
            return;
        } catch (const std::bad_alloc&) {
            // Keeping the larger allocation is correct, only less lean.
        }
    }
    std::memset(chunk.data.get() + keep, 0, chunk.capacity - keep);
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
    for (std::size_t done = 0;;) {
        const std::size_t in = (offset + done) % chunk_size;
        const std::size_t piece = std::min(data.size() - done, chunk_size - in);
        std::memcpy(it->second.data.get() + in, data.data() + done, piece);
        done += piece;
        if (done == data.size()) break;
        ++it;
    }
    size_ = std::max(size_, end);
    return data.size();
}

void Spool::truncate(std::uint64_t size) {
    check_range(size, 0, "spool truncate");
    if (file_) {
        sys::truncate(file_.get(), size);
    } else if (size < size_) {
        shrink_ram(size);
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
        check_memory(length, ram_bytes_);
        reserve_range(offset, end, false);
    }
    if (!keep_size) size_ = std::max(size_, end);
}

void Spool::punch_hole(std::uint64_t offset, std::uint64_t length) {
    check_fallocate(offset, length, "spool punch_hole");
    if (file_) {
        fallocate_file(file_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
    } else {
        clear_range(offset, offset + length);
    }
}

void Spool::zero_range(std::uint64_t offset, std::uint64_t length, bool keep_size) {
    check_fallocate(offset, length, "spool zero_range");
    const std::uint64_t end = offset + length;
    if (file_) {
        const int keep = keep_size ? FALLOC_FL_KEEP_SIZE : 0;
        const int err = try_fallocate(file_.get(), FALLOC_FL_ZERO_RANGE | keep, offset, length);
        // tmpfs, a common spill directory, has no ZERO_RANGE: a punched hole that is then
        // allocated reads as zeros just the same.
        if (err == EOPNOTSUPP) {
            fallocate_file(file_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
            fallocate_file(file_.get(), keep, offset, length);
        } else if (err != 0) {
            throw_errno(err, "spool fallocate");
        }
    } else {
        // In RAM a hole already reads as zeros and costs nothing, so zeroing never
        // allocates (and cannot fail with ENOMEM).
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

std::uint64_t Spool::ram_growth(std::uint64_t offset, std::uint64_t length) const {
    if (rolled() || length == 0) return 0;
    const std::uint64_t end = offset + length;
    const std::uint64_t first = offset / chunk_size;
    const std::uint64_t last = (end - 1) / chunk_size;
    std::uint64_t growth = 0;
    // Mirrors reserve_range(): every chunk but the last is filled to chunk_size; a chunk
    // right after a full one is taken whole.
    bool previous_full = false;
    auto pos = chunks_.lower_bound(first);
    if (pos != chunks_.begin()) {
        const auto prev = std::prev(pos);
        previous_full = prev->first + 1 == first && prev->second.capacity == chunk_size;
    }
    for (std::uint64_t index = first; index <= last; ++index) {
        const std::size_t e = index == last ? end - index * chunk_size : chunk_size;
        while (pos != chunks_.end() && pos->first < index) ++pos;
        const std::size_t old =
            pos != chunks_.end() && pos->first == index ? pos->second.capacity : 0;
        std::size_t capacity = old;
        if (old < e) {
            capacity =
                previous_full ? chunk_size : std::clamp(std::bit_ceil(e), min_capacity, chunk_size);
            growth += capacity - old;
        }
        previous_full = capacity == chunk_size;
    }
    return growth;
}

void Spool::unroll() {
    if (!file_) return;
    Spool ram;
    for_each_data(file_.get(), size_, [&](std::span<const std::byte> bytes, std::uint64_t at) {
        ram.pwrite(bytes, at);
    });
    ram.truncate(size_);
    *this = std::move(ram);
}

void Spool::move_to(int dirfd) {
    if (!file_) {
        rollover(dirfd);
        return;
    }
    FileDescriptor target = open_anonymous(dirfd);
    if (size_ > 0) sys::truncate(target.get(), size_);
    for_each_data(file_.get(), size_, [&](std::span<const std::byte> bytes, std::uint64_t at) {
        write_file(target.get(), bytes.data(), bytes.size(), at);
    });
    file_ = std::move(target);
}

void Spool::sync_size() {
    if (file_) size_ = static_cast<std::uint64_t>(sys::status(file_.get()).st_size);
}

std::uint64_t Spool::allocated_bytes() const {
    if (!file_) return ram_bytes_;
    return static_cast<std::uint64_t>(sys::status(file_.get()).st_blocks) * 512;
}

// Writes only the chunks that exist, so holes stay holes in the file.
void Spool::copy_to(int fd) const {
    // Not for an empty spool: ext4 takes a truncate to 0 for "file rewritten" and then
    // flushes the file to disk at every close (auto_da_alloc).
    if (size_ == 0) return;
    sys::truncate(fd, size_);
    for (const auto& [index, chunk] : chunks_) {
        const std::uint64_t start = index * chunk_size;
        if (start >= size_) break;
        const auto n =
            static_cast<std::size_t>(std::min<std::uint64_t>(chunk.capacity, size_ - start));
        write_file(fd, chunk.data.get(), n, start);
    }
}

void Spool::rollover(int dirfd) {
    if (file_) return;
    rollover(open_anonymous(dirfd));
}

void Spool::rollover(FileDescriptor file) {
    if (file_) return;
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
    ram_bytes_ = 0;
}

}  // namespace tempfile
