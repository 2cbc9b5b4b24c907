#include "sys.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace tempfile::sys {

void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

FileDescriptor open(const std::filesystem::path& path, int flags, mode_t mode) {
    int fd;
    do fd = ::open(path.c_str(), flags, mode);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) throw_errno("open " + path.string());
    return FileDescriptor(fd);
}

FileDescriptor open_at(int dirfd, const char* name, int flags, mode_t mode) {
    int fd;
    do fd = ::openat(dirfd, name, flags, mode);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) throw_errno(std::string("openat ") + name);
    return FileDescriptor(fd);
}

void make_directory(const std::filesystem::path& path, mode_t mode) {
    if (::mkdir(path.c_str(), mode) != 0) throw_errno("mkdir " + path.string());
}

void unlink(const std::filesystem::path& path) {
    if (::unlink(path.c_str()) != 0) throw_errno("unlink " + path.string());
}

struct stat link_status(const std::filesystem::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) throw_errno("lstat " + path.string());
    return st;
}

struct stat status(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_errno("fstat");
    return st;
}

std::size_t read(int fd, std::span<std::byte> buffer) {
    ssize_t n;
    do n = ::read(fd, buffer.data(), buffer.size());
    while (n < 0 && errno == EINTR);
    if (n < 0) throw_errno("read");
    return static_cast<std::size_t>(n);
}

void write_all(int fd, std::span<const std::byte> data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_errno("write");
        data = data.subspan(static_cast<std::size_t>(n));
    }
}

std::uint64_t seek(int fd, std::int64_t offset, int whence) {
    off_t position = ::lseek(fd, offset, whence);
    if (position < 0) throw_errno("lseek");
    return static_cast<std::uint64_t>(position);
}

void truncate(int fd, std::uint64_t size) {
    int rc;
    do rc = ::ftruncate(fd, static_cast<off_t>(size));
    while (rc != 0 && errno == EINTR);
    if (rc != 0) throw_errno("ftruncate");
}

void fill_random(std::span<std::byte> buffer) {
    while (!buffer.empty()) {
        ssize_t n = ::getrandom(buffer.data(), buffer.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_errno("getrandom");
        buffer = buffer.subspan(static_cast<std::size_t>(n));
    }
}

}  // namespace tempfile::sys
