// The fuse_lowlevel_ops table: each operation decodes its request, calls the Tree or
// the Storage of the Filesystem (the session's userdata) and replies. No policy here.
#pragma once

#include <fuse_lowlevel.h>

namespace spoolfs {

const fuse_lowlevel_ops& operations();

}  // namespace spoolfs
