// Positional I/O on the files the spool engine keeps data in (a spool's own file, a
// pack), and the unnamed files themselves. Internal to libtempfile.
//
// Errors: std::system_error with the errno; EINTR is retried. Thread-safe as pread(2)
// and pwrite(2) are: calls on one descriptor at distinct offsets do not interfere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "tempfile/fd.hpp"

namespace tempfile::detail {

// Reads up to buf.size() bytes at `offset`; short only at end of file.
std::size_t read_file(int fd, std::span<std::byte> buf, std::uint64_t offset);

// Writes all `length` bytes at `offset` or throws (a short write before the error may
// have landed).
void write_file(int fd, const std::byte* data, std::size_t length, std::uint64_t offset);

// fallocate(2): 0 or the errno.
int try_fallocate(int fd, int mode, std::uint64_t offset, std::uint64_t length);

// A new unnamed file (mode 0600) in `dirfd`: O_TMPFILE, else a fresh random name
// unlinked at once. Security: only this process holds it; nothing names it.
FileDescriptor open_anonymous(int dirfd);

}  // namespace tempfile::detail
