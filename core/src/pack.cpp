#include "tempfile/pack.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <new>
#include <system_error>

#include "file_io.hpp"
#include "sys.hpp"

namespace tempfile {
namespace {

constexpr std::uint64_t max_offset = std::numeric_limits<off_t>::max();

[[noreturn]] void throw_errno(int err, const char* what) {
    throw std::system_error(err, std::generic_category(), what);
}

}  // namespace

Pack::Pack(int dirfd) : file_(detail::open_anonymous(dirfd)) {}

Pack::Slot Pack::acquire() {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
        const Slot slot = free_.back();
        free_.pop_back();
        return slot;
    }
    if (high_water_ >= max_offset / slot_size) throw_errno(ENOSPC, "pack acquire");
    return high_water_++;
}

void Pack::release(Slot slot) noexcept {
    // Its old bytes must never reach the next holder: a hole, else zeros written.
    if (detail::try_fallocate(file_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                              offset_of(slot, 0), slot_size) != 0) {
        static const std::byte zeros[slot_size] = {};
        try {
            detail::write_file(file_.get(), zeros, slot_size, offset_of(slot, 0));
        } catch (const std::system_error&) {
            return;  // never handed out again
        }
    }
    std::lock_guard lock(mutex_);
    try {
        free_.push_back(slot);
    } catch (const std::bad_alloc&) {
        // Lost to reuse, not to the filesystem: its blocks are punched out.
    }
}

void Pack::write(Slot slot, std::size_t at, std::span<const std::byte> data) {
    detail::write_file(file_.get(), data.data(), data.size(), offset_of(slot, at));
}

void Pack::read(Slot slot, std::size_t at, std::span<std::byte> buf) const {
    const std::size_t n = detail::read_file(file_.get(), buf, offset_of(slot, at));
    // Past the end of the pack file: never written, zeros.
    std::memset(buf.data() + n, 0, buf.size() - n);
}

void Pack::zero(Slot slot, std::size_t from, std::size_t to) {
    if (to <= from) return;
    if (const int err = detail::try_fallocate(file_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                              offset_of(slot, from), to - from)) {
        if (err != EOPNOTSUPP) throw_errno(err, "pack zero");
        static const std::byte zeros[slot_size] = {};
        detail::write_file(file_.get(), zeros, to - from, offset_of(slot, from));
    }
}

void Pack::allocate(Slot slot, std::size_t from, std::size_t to) {
    if (to <= from) return;
    if (const int err = detail::try_fallocate(file_.get(), FALLOC_FL_KEEP_SIZE,
                                              offset_of(slot, from), to - from)) {
        // Without fallocate the blocks come at the first write, as on such a filesystem
        // for any file.
        if (err != EOPNOTSUPP) throw_errno(err, "pack allocate");
    }
}

std::uint64_t Pack::slots_in_use() const {
    std::lock_guard lock(mutex_);
    return high_water_ - free_.size();
}

std::uint64_t Pack::allocated_bytes() const {
    return static_cast<std::uint64_t>(sys::status(file_.get()).st_blocks) * 512;
}

}  // namespace tempfile
