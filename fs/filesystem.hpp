// Filesystem: the state one mount serves, handed to every FUSE operation as userdata.
//
// Owns the namespace (Tree), the file data (Storage), the Notifier and the Expiry. The Tree frees
// an inode's data through Storage when the inode dies.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "arrival_order.hpp"
#include "expiry.hpp"
#include "notifier.hpp"
#include "options.hpp"
#include "passthrough.hpp"
#include "read_turn.hpp"
#include "ring_io.hpp"
#include "storage.hpp"
#include "tree.hpp"

namespace spoolfs {

class Filesystem {
  public:
    Filesystem(const Options& options, tempfile::FileDescriptor spill_dir);

    Tree tree;
    Storage storage;
    Notifier notifier;
    Passthrough passthrough;
    const Lifetime default_lifetime;
    const std::chrono::seconds default_expire;
    Expiry expiry;  // after the tree and the notifier, which it uses

    // DeviceIo's state (device_io.hpp): whose turn it is to read a request, and the
    // INIT request whose reply is to be patched (one per connection) with what to add.
    ReadTurn read_turn;
    static constexpr std::uint64_t no_request = 0;
    std::atomic<std::uint64_t> init_to_patch = no_request;
    std::atomic<bool> init_killpriv = false, init_passthrough = false, init_ring = false;
    Ring ring;  // FUSE over io_uring, when the kernel offers it (ring_io.hpp)
    ArrivalOrder arrivals;  // which requests were taken in, over both transports

    // The kernel may open directories without asking (FUSE_NO_OPENDIR_SUPPORT).
    std::atomic<bool> opendir_unneeded = false;

    // How long the kernel may trust what we reply. Every change but our own removals
    // passes through the kernel, so that can be long; names of lifetime-close files get
    // 0, so that a stat() right after the last close asks us (see session.cpp).
    static constexpr double cache_timeout = 86400.0;
};

// The handle behind a FUSE file handle (fi->fh) of a regular file.
struct Handle {
    InodePtr inode;
    uid_t opener = 0;                // who opened it (the request's uid)
    bool writing = false;            // opened for writing: the opener counts in inode.writers
    bool ended = false;              // the inode's side of the release is done
    bool released = false;           // the session loop already applied this release in order
    bool ended_passthrough = false;  // that release ended passthrough (after_passthrough)
};

}  // namespace spoolfs
