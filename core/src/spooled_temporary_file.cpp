#include "tempfile/spooled_temporary_file.hpp"

#include <cerrno>
#include <limits>
#include <system_error>

#include "read_all.hpp"
#include "sys.hpp"
#include "tempfile/temporary_file.hpp"

namespace tempfile {

void SpooledTemporaryFile::check_open() const {
    if (closed_) throw std::system_error(EBADF, std::generic_category(), "closed file");
}

std::size_t SpooledTemporaryFile::read(std::span<std::byte> buffer) {
    check_open();
    if (rolled()) return sys::read(spool_.fd(), buffer);
    std::size_t count = spool_.pread(buffer, position_);
    position_ += count;
    return count;
}

std::string SpooledTemporaryFile::read(std::size_t size) {
    return detail::read_up_to(size, [this](std::span<std::byte> buffer) { return read(buffer); });
}

std::size_t SpooledTemporaryFile::write(std::span<const std::byte> data) {
    check_open();
    // Rolling over before the write ends where Python's write-then-roll ends, without
    // first holding the whole write in RAM.
    if (!rolled() && exceeds_max_size(position_ + data.size())) rollover();
    if (rolled()) {
        sys::write_all(spool_.fd(), data);
    } else {
        spool_.pwrite(data, position_);
        position_ += data.size();
    }
    return data.size();
}

std::uint64_t SpooledTemporaryFile::seek(std::int64_t offset, int whence) {
    check_open();
    if (rolled()) return sys::seek(spool_.fd(), offset, whence);
    std::uint64_t base = 0;
    switch (whence) {
        case SEEK_SET:
            base = 0;
            break;
        case SEEK_CUR:
            base = position_;
            break;
        case SEEK_END:
            base = spool_.size();
            break;
        default:
            throw std::system_error(EINVAL, std::generic_category(), "seek: whence");
    }
    bool before_start = offset < 0 && static_cast<std::uint64_t>(-(offset + 1)) >= base;
    bool past_limit = offset > 0 && static_cast<std::uint64_t>(offset) >
                                        std::numeric_limits<std::int64_t>::max() - base;
    if (before_start || past_limit)
        throw std::system_error(EINVAL, std::generic_category(), "seek: offset");
    position_ = base + static_cast<std::uint64_t>(offset);
    return position_;
}

std::uint64_t SpooledTemporaryFile::tell() {
    check_open();
    return rolled() ? sys::seek(spool_.fd(), 0, SEEK_CUR) : position_;
}

std::uint64_t SpooledTemporaryFile::truncate(std::optional<std::uint64_t> size) {
    check_open();
    std::uint64_t new_size = size ? *size : tell();
    if (exceeds_max_size(new_size)) rollover();
    if (rolled())
        sys::truncate(spool_.fd(), new_size);
    else
        spool_.truncate(new_size);
    return new_size;
}

void SpooledTemporaryFile::rollover() {
    check_open();
    if (rolled()) return;
    File file = TemporaryFile({options_.suffix, options_.prefix, options_.dir});
    spool_.rollover(file.release());
    sys::seek(spool_.fd(), static_cast<std::int64_t>(position_), SEEK_SET);
}

int SpooledTemporaryFile::fileno() {
    rollover();
    return spool_.fd();
}

void SpooledTemporaryFile::close() noexcept {
    spool_ = Spool();
    closed_ = true;
}

}  // namespace tempfile
