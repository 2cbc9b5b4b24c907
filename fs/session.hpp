// Session: mounts a Filesystem, serves it until unmount or a signal, and unmounts.
//
// Requests are read from /dev/fuse through libfuse's custom I/O hooks, for two things
// libfuse 3.14 cannot do itself:
// - FUSE_TMPFILE (open with O_TMPFILE) is turned into a CREATE of the name "/", which
//   the Tree takes as "no name at all";
// - reads are taken one at a time, and a RELEASE is applied to the namespace before the
//   next request is read: a stat() that follows close() in any process then finds the
//   name of a lifetime-close file already gone, however the threads are scheduled.
#pragma once

#include "options.hpp"

namespace spoolfs {

// Returns the exit status: 0 after a clean unmount, 1 when mounting failed.
int serve(Options& options);

}  // namespace spoolfs
