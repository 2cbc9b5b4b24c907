// SpooledTemporaryFile: a temporary file whose data stays in RAM (a Spool, see
// spool.hpp) until it grows past `max_size`, then moves to a TemporaryFile in `dir`.
//
// Rolls over, as Python's does, when a write leaves the position past max_size (writing
// exactly max_size bytes stays in RAM; max_size 0 never rolls over on write), when a
// truncate makes the size exceed max_size (Python rolls over there even when max_size is
// 0; here 0 means "no limit" everywhere), on rollover(), and on fileno(): a descriptor
// needs a real file. read, write, seek, tell and truncate behave the same before and
// after; the position carries over. Once rolled over, the object is a thin layer on the
// descriptor, as Python's is: the descriptor's offset is the position.
//
// Ownership: move-only; owns the data and, once rolled over, the file. A moved-from
// object owns nothing and must not be used but for destruction or assignment.
// Thread safety: none. Errors: std::system_error with the errno; EBADF once closed;
// EINVAL for a seek before the start or an unknown whence.
//
// # Security
// In RAM, the data is this process's memory. Rolled over, it is in a TemporaryFile:
// no name (O_TMPFILE where supported), mode 0600, O_CLOEXEC.
//
// # Resource leaking
// None: RAM and the nameless file are freed by the kernel when the process dies, even
// by SIGKILL (see temporary_file.hpp for the fallback's one-instant exception).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tempfile/file.hpp"
#include "tempfile/spool.hpp"
#include "tempfile/tempdir.hpp"

namespace tempfile {

struct SpooledTemporaryFileOptions {
    std::size_t max_size = 0;  // 0: stay in RAM until rollover() or fileno()
    // For the TemporaryFile made at rollover (a name exists only in the fallback).
    std::string suffix{};
    std::string prefix{gettempprefix()};
    std::filesystem::path dir{};  // empty: gettempdir() at rollover time
};

class SpooledTemporaryFile {
  public:
    using Options = SpooledTemporaryFileOptions;

    SpooledTemporaryFile() = default;
    explicit SpooledTemporaryFile(Options options) : options_(std::move(options)) {}
    SpooledTemporaryFile(SpooledTemporaryFile&&) noexcept = default;
    SpooledTemporaryFile& operator=(SpooledTemporaryFile&&) noexcept = default;
    SpooledTemporaryFile(const SpooledTemporaryFile&) = delete;
    SpooledTemporaryFile& operator=(const SpooledTemporaryFile&) = delete;
    ~SpooledTemporaryFile() = default;

    std::size_t read(std::span<std::byte> buffer);
    std::string read(std::size_t size = File::all);
    std::size_t write(std::span<const std::byte> data);
    std::size_t write(std::string_view data) { return write(std::as_bytes(std::span(data))); }
    std::uint64_t seek(std::int64_t offset, int whence = SEEK_SET);
    std::uint64_t tell();
    std::uint64_t truncate(std::optional<std::uint64_t> size = std::nullopt);

    // Moves the data to a TemporaryFile now. Does nothing if already rolled over.
    void rollover();
    // Python's `_rolled`.
    bool rolled() const noexcept { return spool_.rolled(); }
    // Rolls over and returns the file's descriptor, still owned by this object.
    int fileno();

    std::size_t max_size() const noexcept { return options_.max_size; }

    // Frees the data (RAM or file). Closing again does nothing.
    void close() noexcept;
    bool closed() const noexcept { return closed_; }

  private:
    void check_open() const;
    bool exceeds_max_size(std::uint64_t size) const noexcept {
        return options_.max_size != 0 && size > options_.max_size;
    }

    Options options_;
    Spool spool_;
    std::uint64_t position_ = 0;  // while in RAM; afterwards the descriptor's offset
    bool closed_ = false;
};

}  // namespace tempfile
