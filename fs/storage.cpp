#include "storage.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <system_error>

namespace spoolfs {
namespace {

// Runs a Spool operation, turning its exceptions into errno values.
template <typename F>
int guarded(F&& f) {
    try {
        f();
        return 0;
    } catch (const std::system_error& e) {
        return e.code().value() ? e.code().value() : EIO;
    } catch (const std::bad_alloc&) {
        return ENOMEM;
    }
}

constexpr std::uint64_t max_file_size = static_cast<std::uint64_t>(INT64_MAX);

}  // namespace

Storage::Storage(Config config) : config_(std::move(config)) {}

std::uint64_t Storage::footprint(const tempfile::Spool& spool) {
    return spool.rolled() ? spool.size() : spool.ram_bytes();
}

bool Storage::reserve(std::uint64_t bytes) {
    if (!config_.size_limit) {
        used_.fetch_add(bytes, std::memory_order_relaxed);
        return true;
    }
    std::uint64_t used = used_.load(std::memory_order_relaxed);
    do {
        if (used + bytes > *config_.size_limit) return false;
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
}

void Storage::unreserve(std::uint64_t bytes) {
    used_.fetch_sub(bytes, std::memory_order_relaxed);
}

// Brings the usage counters in line with what the file now really holds.
void Storage::settle(Inode& inode) {
    std::uint64_t now = footprint(inode.data);
    used_.fetch_add(now - inode.charged, std::memory_order_relaxed);  // wraps to a subtraction
    if (!inode.data.rolled()) ram_.fetch_add(now - inode.charged, std::memory_order_relaxed);
    inode.charged = now;
}

int Storage::read(Inode& inode, std::span<std::byte> buf, std::uint64_t offset, std::size_t& done) {
    done = 0;
    return guarded([&] { done = inode.data.pread(buf, offset); });
}

int Storage::write(Inode& inode, std::span<const std::byte> data, std::uint64_t offset,
                   std::size_t& done) {
    done = 0;
    if (offset > max_file_size || data.size() > max_file_size - offset) return EFBIG;
    // Fast path: room for the worst case (every byte newly allocated, plus the chunk
    // rounding of both ends).
    std::uint64_t worst = data.size() + 2 * tempfile::Spool::chunk_size;
    if (reserve(worst)) {
        int err = guarded([&] { done = inode.data.pwrite(data, offset); });
        unreserve(worst);
        settle(inode);
        return err;
    }
    // Near the limit: go chunk by chunk and stop where nothing more fits, as tmpfs
    // stops at the page that does not fit. Overwriting data already held costs nothing.
    constexpr std::uint64_t step = tempfile::Spool::chunk_size;
    while (done < data.size()) {
        std::uint64_t at = offset + done;
        std::size_t n = std::min<std::uint64_t>(data.size() - done, step - at % step);
        bool overwrite = at + n <= inode.data.size() && !inode.data.rolled() &&
                         inode.data.seek_hole(at).value_or(at) >= at + n;
        std::uint64_t need = overwrite ? 0 : step;
        if (!reserve(need)) break;
        int err = guarded([&] { inode.data.pwrite(data.subspan(done, n), at); });
        unreserve(need);
        settle(inode);
        if (err) return done ? 0 : err;
        done += n;
    }
    return done ? 0 : ENOSPC;
}

int Storage::truncate(Inode& inode, std::uint64_t size) {
    if (size > max_file_size) return EFBIG;
    int err = guarded([&] { inode.data.truncate(size); });
    settle(inode);
    return err;
}

int Storage::fallocate(Inode& inode, int mode, std::uint64_t offset, std::uint64_t length) {
    if (length == 0) return EINVAL;
    if (offset > max_file_size || length > max_file_size - offset) return EFBIG;
    bool keep_size = mode & FALLOC_FL_KEEP_SIZE;
    int err = 0;
    if (mode & FALLOC_FL_PUNCH_HOLE) {
        if (!keep_size || (mode & ~(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))) return EOPNOTSUPP;
        err = guarded([&] { inode.data.punch_hole(offset, length); });
    } else if (mode & FALLOC_FL_ZERO_RANGE) {
        if (mode & ~(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)) return EOPNOTSUPP;
        err = guarded([&] { inode.data.zero_range(offset, length, keep_size); });
    } else {
        if (mode & ~FALLOC_FL_KEEP_SIZE) return EOPNOTSUPP;
        std::uint64_t worst = length + 2 * tempfile::Spool::chunk_size;
        if (!reserve(worst)) return ENOSPC;
        err = guarded([&] { inode.data.allocate(offset, length, keep_size); });
        unreserve(worst);
    }
    settle(inode);
    return err;
}

int Storage::seek(Inode& inode, std::uint64_t offset, int whence, std::uint64_t& result) {
    std::optional<std::uint64_t> found;
    int err = guarded([&] {
        found = whence == SEEK_DATA ? inode.data.seek_data(offset) : inode.data.seek_hole(offset);
    });
    if (err) return err;
    if (!found) return ENXIO;
    result = *found;
    return 0;
}

void Storage::drop(Inode& inode) {
    std::lock_guard lock(inode.mutex);
    inode.data = tempfile::Spool();
    settle(inode);
}

Storage::Usage Storage::usage() const {
    return {used_.load(std::memory_order_relaxed), ram_.load(std::memory_order_relaxed)};
}

struct statvfs Storage::statfs(std::uint64_t inodes_used,
                               std::optional<std::uint64_t> max_inodes) const {
    struct statvfs st {};
    const std::uint64_t bs = block_size();
    std::uint64_t used = used_.load(std::memory_order_relaxed);
    std::uint64_t capacity;
    if (config_.size_limit) {
        capacity = *config_.size_limit;
    } else {
        // No size=: what RAM may hold plus what the spill filesystem has room for.
        struct statvfs spill {};
        std::uint64_t spill_free = 0;
        if (fstatvfs(config_.spill_dir.get(), &spill) == 0)
            spill_free = static_cast<std::uint64_t>(spill.f_bavail) * spill.f_frsize;
        capacity = used + config_.ram_budget + spill_free;
    }
    std::uint64_t free = capacity > used ? capacity - used : 0;
    st.f_bsize = bs;
    st.f_frsize = bs;
    st.f_blocks = capacity / bs;
    st.f_bfree = free / bs;
    st.f_bavail = free / bs;
    std::uint64_t files = max_inodes.value_or(UINT32_MAX);
    st.f_files = files;
    st.f_ffree = files > inodes_used ? files - inodes_used : 0;
    st.f_favail = st.f_ffree;
    st.f_namemax = 255;
    return st;
}

}  // namespace spoolfs
