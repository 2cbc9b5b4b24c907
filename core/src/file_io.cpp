#include "file_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <system_error>

#include "create_unique.hpp"
#include "sys.hpp"

namespace tempfile::detail {
namespace {

constexpr std::uint64_t max_offset = std::numeric_limits<off_t>::max();

[[noreturn]] void throw_errno(int err, const char* what) {
    throw std::system_error(err, std::generic_category(), what);
}

}  // namespace

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

}  // namespace tempfile::detail
