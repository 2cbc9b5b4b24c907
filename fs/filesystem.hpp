// Filesystem: the state one mount serves, handed to every FUSE operation as userdata.
//
// Owns the namespace (Tree), the file data (Storage), the PressureMonitor, the Notifier and
// the Expiry. The Tree frees
// an inode's data through Storage when the inode dies.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "arrival_order.hpp"
#include "expiry.hpp"
#include "notifier.hpp"
#include "options.hpp"
#include "passthrough.hpp"
#include "pressure.hpp"
#include "quota.hpp"
#include "read_turn.hpp"
#include "ring_io.hpp"
#include "storage.hpp"
#include "tree.hpp"

namespace spoolfs {

// The handle behind a FUSE file handle (fi->fh) of a regular file.
struct Handle {
    InodePtr inode;
    uid_t opener = 0;                // who opened it (the request's uid)
    bool writing = false;            // opened for writing: the opener counts in inode.writers
    bool ended = false;              // the inode's side of the release is done
    bool released = false;           // the session loop already applied this release in order
    bool ended_passthrough = false;  // that release ended passthrough (after_passthrough)
};

// Every open Handle, owned here. The kernel releases each one, unless the loop ends first
// (a signal stops it with RELEASEs still queued): those go with the Filesystem.
class OpenHandles {
  public:
    Handle& add(Handle handle);
    void remove(Handle& handle);

  private:
    std::mutex mutex_;
    std::unordered_map<Handle*, std::unique_ptr<Handle>> handles_;
};

class Filesystem {
  public:
    Filesystem(const Options& options, tempfile::FileDescriptor spill_dir);

    Quota quota;  // before the tree and the storage, which charge it
    Tree tree;
    Storage storage;
    PressureMonitor pressure;  // after the storage, which it shrinks
    Notifier notifier;
    Passthrough passthrough;
    const Lifetime default_lifetime;
    const std::chrono::seconds default_expire;
    Expiry expiry;  // after the tree and the notifier, which it uses
    OpenHandles handles;  // after the tree and the storage, which its inodes use

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


}  // namespace spoolfs
