// Session: mounts a Filesystem, serves it until unmount or a signal, and unmounts.
// Requests pass through DeviceIo (device_io.hpp), which serves what libfuse 3.14
// cannot: O_TMPFILE, releases applied in arrival order, and FUSE_HANDLE_KILLPRIV_V2.
#pragma once

#include "options.hpp"

namespace spoolfs {

// Returns the exit status: 0 after a clean unmount, 1 when mounting failed.
int serve(Options& options);

}  // namespace spoolfs
