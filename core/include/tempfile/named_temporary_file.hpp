// NamedTemporaryFile: a temporary file with a visible name, removed according to
// Python 3.12's `delete` and `delete_on_close`:
//
//   delete_  delete_on_close   removed when
//   true     true              close(), or destruction if never closed (the default)
//   true     false             destruction only; the file survives close(), so it can be
//                              reopened by name (by another program, say) until then
//   false    (ignored)         never: the caller removes name()
//
// Ownership: move-only; the object owns the descriptor and, per the table, the name.
// A moved-from object is closed and owns nothing. Thread safety: none.
// Errors: creation as mkstemp(); I/O as File; close() throws if removing fails with
// anything but ENOENT. The destructor never throws: a failed removal is ignored there.
//
// # Security
// Created as mkstemp() creates (O_EXCL|O_NOFOLLOW|O_CLOEXEC, mode 0600). Removal is by
// name: whoever can write to the directory can replace the name in between, so keep
// named temporary files in a directory only you can write to, or in a sticky one.
//
// # Resource leaking
// Removal runs in close() and the destructor: if the process is killed, or exits without
// unwinding (std::exit, std::abort, an uncaught exception), the file stays on disk.
#pragma once

#include <filesystem>
#include <string>

#include "tempfile/file.hpp"
#include "tempfile/tempdir.hpp"

namespace tempfile {

struct NamedTemporaryFileOptions {
    std::string suffix{};
    std::string prefix{gettempprefix()};
    std::filesystem::path dir{};  // empty: gettempdir()
    bool delete_ = true;          // Python's `delete` (a keyword in C++)
    bool delete_on_close = true;
};

class NamedTemporaryFile {
  public:
    using Options = NamedTemporaryFileOptions;

    // Creates the file (a default-constructed object is a real file, as in Python).
    NamedTemporaryFile();
    explicit NamedTemporaryFile(const Options& options);
    NamedTemporaryFile(NamedTemporaryFile&& other) noexcept;
    NamedTemporaryFile& operator=(NamedTemporaryFile&& other) noexcept;
    NamedTemporaryFile(const NamedTemporaryFile&) = delete;
    NamedTemporaryFile& operator=(const NamedTemporaryFile&) = delete;
    ~NamedTemporaryFile();

    // The absolute path; stays readable after close() and removal.
    const std::filesystem::path& name() const noexcept { return name_; }

    std::size_t read(std::span<std::byte> buffer) { return file_.read(buffer); }
    std::string read(std::size_t size = File::all) { return file_.read(size); }
    std::size_t write(std::span<const std::byte> data) { return file_.write(data); }
    std::size_t write(std::string_view data) { return file_.write(data); }
    std::uint64_t seek(std::int64_t offset, int whence = SEEK_SET) {
        return file_.seek(offset, whence);
    }
    std::uint64_t tell() { return file_.tell(); }
    std::uint64_t truncate(std::optional<std::uint64_t> size = std::nullopt) {
        return file_.truncate(size);
    }
    int fileno() const noexcept { return file_.fileno(); }
    File& file() noexcept { return file_; }

    // Closes the descriptor, and removes the file if delete_ and delete_on_close.
    // Closing again does nothing.
    void close();
    bool closed() const noexcept { return file_.closed(); }

  private:
    // Python's _TemporaryFileCloser.cleanup: close, then remove if delete_.
    void cleanup() noexcept;
    void remove_name();

    File file_;
    std::filesystem::path name_;
    bool delete_ = false;
    bool delete_on_close_ = false;
    bool removed_ = false;
};

}  // namespace tempfile
