// The system-call layer: one thin wrapper per call, no policy.
//
// Each wrapper retries EINTR where the call can be interrupted and reports failure as
// std::system_error carrying the errno, with the call and path in what(). Descriptors
// come back owned (FileDescriptor). Internal to libtempfile.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "tempfile/fd.hpp"

namespace tempfile::sys {

// Throws std::system_error for the current errno.
[[noreturn]] void throw_errno(const std::string& what);

FileDescriptor open(const std::filesystem::path& path, int flags, mode_t mode = 0);
FileDescriptor open_at(int dirfd, const char* name, int flags, mode_t mode = 0);
void make_directory(const std::filesystem::path& path, mode_t mode);
void unlink(const std::filesystem::path& path);
// lstat(2): does not follow a final symlink.
struct stat link_status(const std::filesystem::path& path);
struct stat status(int fd);

// Returns the number of bytes read: 0 at end of file, short only at end of file or when
// the descriptor delivers less (a pipe, say).
std::size_t read(int fd, std::span<std::byte> buffer);
// Writes every byte or throws.
void write_all(int fd, std::span<const std::byte> data);
std::uint64_t seek(int fd, std::int64_t offset, int whence);
void truncate(int fd, std::uint64_t size);

// Fills `buffer` from the kernel's random source (getrandom(2)).
void fill_random(std::span<std::byte> buffer);

}  // namespace tempfile::sys
