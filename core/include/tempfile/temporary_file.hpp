// TemporaryFile(): a file with no name at all, gone once closed (Python's TemporaryFile).
//
// Made with O_TMPFILE in `dir` where that directory's filesystem supports it; otherwise
// created like mkstemp() and unlinked at once (then prefix and suffix name it for that
// instant). As in Python, EISDIR (a kernel that ignores O_TMPFILE) turns O_TMPFILE off
// for the rest of the process; other failures just fall back for this call.
// Errors: std::system_error with the errno (ENOENT: no such dir, EACCES, ...).
//
// # Security
// Mode 0600, O_EXCL (an O_TMPFILE file can never be linked into the tree), O_CLOEXEC.
// With O_TMPFILE no other process can ever open it by name; with the fallback the name
// exists for the moment between creation and unlink, with 0600 protecting it.
//
// # Resource leaking
// None with O_TMPFILE: when the process dies, even by SIGKILL, the kernel frees the file.
// With the fallback, a kill between creation and unlink leaves one empty file.
#pragma once

#include "tempfile/file.hpp"
#include "tempfile/mkstemp.hpp"

namespace tempfile {

File TemporaryFile(const NameOptions& options = {});

}  // namespace tempfile
