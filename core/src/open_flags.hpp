// The open(2) flags every temporary file is created with (Python's _bin_openflags):
// new (O_EXCL), never through a symlink (O_NOFOLLOW), not inherited by exec (O_CLOEXEC).
// Internal.
#pragma once

#include <fcntl.h>

namespace tempfile::detail {

inline constexpr int create_flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;

}  // namespace tempfile::detail
