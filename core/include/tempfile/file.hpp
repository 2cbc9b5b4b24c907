// File: an open file with a position, for reading and writing bytes. What
// TemporaryFile() returns and what NamedTemporaryFile holds: the C++ counterpart of
// the Python file object in mode "w+b", without buffering (every call is a system call,
// so the descriptor and the object never disagree).
//
// Ownership: the File owns its descriptor; move-only; the destructor closes it.
// Thread safety: none beyond the kernel's; calls on one File from several threads race
// on the shared position.
// Errors: std::system_error with the errno; EBADF once closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "tempfile/fd.hpp"

namespace tempfile {

class File {
  public:
    // Every byte to the end of file, for read(std::size_t).
    static constexpr std::size_t all = static_cast<std::size_t>(-1);

    File() noexcept = default;
    explicit File(FileDescriptor fd) noexcept : fd_(std::move(fd)) {}

    // Reads up to buffer.size() bytes at the position; 0 at end of file.
    std::size_t read(std::span<std::byte> buffer);
    // Reads until `size` bytes or end of file, like Python's read(size).
    std::string read(std::size_t size = all);
    // Writes all of `data` at the position; returns data.size().
    std::size_t write(std::span<const std::byte> data);
    std::size_t write(std::string_view data) { return write(std::as_bytes(std::span(data))); }

    // whence is SEEK_SET, SEEK_CUR or SEEK_END; returns the new position.
    std::uint64_t seek(std::int64_t offset, int whence = SEEK_SET);
    std::uint64_t tell();
    // Resizes to `size` (default: the position); the position is unchanged. Returns the
    // new size.
    std::uint64_t truncate(std::optional<std::uint64_t> size = std::nullopt);

    // The descriptor, still owned by the File; -1 once closed.
    int fileno() const noexcept { return fd_.get(); }
    // Gives the descriptor away; the File is closed afterwards.
    FileDescriptor release() noexcept { return std::move(fd_); }

    void close() noexcept { fd_.reset(); }
    bool closed() const noexcept { return !fd_; }

  private:
    FileDescriptor fd_;
};

}  // namespace tempfile
