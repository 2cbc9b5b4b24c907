// TemporaryDirectory: a directory made by mkdtemp() and removed, with everything in it,
// on destruction or cleanup() (Python's TemporaryDirectory, 3.12).
//
// Removal walks the tree by descriptor and never follows a symlink: a link is removed,
// what it points to is left alone. Entries that block removal (read-only files in a
// directory without write permission, directories without read, write or search
// permission) are fixed as Python fixes them: the directory is chmod'ed to 0700 and the
// removal retried. `ignore_cleanup_errors` makes removal best-effort and silent;
// `delete_ = false` keeps the directory at destruction (cleanup() still removes it).
//
// Ownership: move-only; a moved-from object owns nothing. Thread safety: none.
// Errors: creation as mkdtemp(); cleanup() throws std::system_error with the errno of
// the first failure (after removing all it can) unless ignore_cleanup_errors. The
// destructor never throws: call cleanup() to see errors.
//
// # Security
// Created 0700 (mkdtemp). Removal works below a descriptor of the directory, so a
// symlink planted inside, or a directory swapped for one, never leads it outside the tree.
//
// # Resource leaking
// Removal runs in cleanup() and the destructor: if the process is killed, or exits
// without unwinding, the directory and its contents stay on disk.
#pragma once

#include <filesystem>
#include <string>

#include "tempfile/tempdir.hpp"

namespace tempfile {

struct TemporaryDirectoryOptions {
    std::string suffix{};
    std::string prefix{gettempprefix()};
    std::filesystem::path dir{};  // empty: gettempdir()
    bool ignore_cleanup_errors = false;
    bool delete_ = true;  // Python's `delete` (a keyword in C++)
};

class TemporaryDirectory {
  public:
    using Options = TemporaryDirectoryOptions;

    // Creates the directory (a default-constructed object is a real directory).
    TemporaryDirectory();
    explicit TemporaryDirectory(const Options& options);
    TemporaryDirectory(TemporaryDirectory&& other) noexcept;
    TemporaryDirectory& operator=(TemporaryDirectory&& other) noexcept;
    TemporaryDirectory(const TemporaryDirectory&) = delete;
    TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
    ~TemporaryDirectory();

    // The absolute path; empty once moved from.
    const std::filesystem::path& name() const noexcept { return name_; }

    // Removes the tree. Calling it again removes the directory only if it exists again.
    void cleanup();

  private:
    // The destructor's work: remove the tree if delete_, ignoring errors.
    void remove_if_owned() noexcept;

    std::filesystem::path name_;
    bool ignore_cleanup_errors_ = false;
    bool delete_ = true;
    bool cleaned_ = false;
};

}  // namespace tempfile
