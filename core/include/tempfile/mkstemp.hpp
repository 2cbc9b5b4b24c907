// The low-level creators: Python's mkstemp(), mkdtemp() and the deprecated mktemp().
//
// Each makes the name dir / (prefix + 8 random characters + suffix) (see names.hpp) and
// retries with a fresh name while the name is taken, up to `max_tries` times, then fails
// with EEXIST. `dir` empty means gettempdir(); returned paths are absolute.
// Errors: std::system_error with the errno of the failing call (ENOENT: no such dir,
// EACCES: not writable, ENOTDIR, EEXIST: every name tried was taken, ...); a NUL byte in
// dir, prefix or suffix throws std::invalid_argument naming it, and creates nothing.
//
// # Security
// mkstemp: the file is created with O_EXCL|O_NOFOLLOW|O_CLOEXEC and mode 0600 (less
// whatever the umask removes), so it is new, readable and writable only by its creator,
// and its descriptor does not leak into exec'd programs. mkdtemp: the directory is
// created with mode 0700, searchable only by its creator. mktemp only returns a name that
// was free a moment ago: anyone can take it before you use it. Do not use it.
//
// # Resource leaking
// Nothing here deletes anything: the caller owns what is created. Use NamedTemporaryFile
// or TemporaryDirectory to have it removed; a killed process leaves it on disk either way.
#pragma once

#include <filesystem>
#include <string>

#include "tempfile/fd.hpp"
#include "tempfile/tempdir.hpp"

namespace tempfile {

// Python's suffix=, prefix=, dir= (in that order, for designated initializers).
struct NameOptions {
    std::string suffix{};
    std::string prefix{gettempprefix()};
    std::filesystem::path dir{};  // empty: gettempdir()
};

struct MkstempResult {
    FileDescriptor fd;           // open O_RDWR; closing it does not delete the file
    std::filesystem::path path;  // absolute
};

// Creates a new file and opens it for reading and writing. The caller removes it.
MkstempResult mkstemp(const NameOptions& options = {});

// Creates a new directory and returns its absolute path. The caller removes it.
std::filesystem::path mkdtemp(const NameOptions& options = {});

// Returns the absolute path of a name that does not exist right now, without creating it.
[[deprecated(
    "racy: another process can take the name first; use mkstemp, mkdtemp or "
    "NamedTemporaryFile")]] std::filesystem::path
mktemp(const NameOptions& options = {});

}  // namespace tempfile
