#include "filesystem.hpp"

#include <sys/resource.h>

#include <utility>

#include "xattrs.hpp"

namespace spoolfs {
namespace {

// Spill files are held by descriptor: allow as many as the process may open, less a
// reserve for /dev/fuse, the spill directory and libfuse's own.
std::uint64_t spill_file_limit() {
    constexpr rlim_t reserve = 256;
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur <= 2 * reserve) return reserve;
    return limit.rlim_cur - reserve;
}

}  // namespace

Handle& OpenHandles::add(Handle handle) {
    auto owned = std::make_unique<Handle>(std::move(handle));
    Handle& added = *owned;
    std::lock_guard lock(mutex_);
    handles_.emplace(&added, std::move(owned));
    return added;
}

void OpenHandles::remove(Handle& handle) {
    std::unique_ptr<Handle> gone;  // freed after the lock: its inode may die with it
    std::lock_guard lock(mutex_);
    auto it = handles_.find(&handle);
    gone = std::move(it->second);
    handles_.erase(it);
}

Filesystem::Filesystem(const Options& options, tempfile::FileDescriptor spill_dir)
    : quota(Quota::Config{
          .users = options.usrquota,
          .groups = options.grpquota,
          .user_default = {options.usrquota_block_hardlimit, options.usrquota_inode_hardlimit},
          .group_default = {options.grpquota_block_hardlimit, options.grpquota_inode_hardlimit},
      }),
      tree(Tree::Config{
          .root_mode = options.root_mode,
          .uid = options.uid,
          .gid = options.gid,
          .lifetime = options.lifetime,
          .max_inodes = options.nr_inodes,
          .on_free =
              [this](Inode& inode) {
                  if (inode.is_reg()) storage.drop(inode);
                  release_xattrs(*this, inode);
                  storage.release_metadata(std::exchange(inode.symlink_bytes, 0));
                  quota.release(inode.quota);
              },
          .expire = options.expire,
          .quota = &quota,
      }),
      storage(Storage::Config{
          .size_limit = options.size,
          .ram_budget = options.ram,
          .spool_threshold = options.spool,
          .spill_dir = std::move(spill_dir),
          .max_spilled = spill_file_limit(),
          // spool= asks for every large file on disk, which a file the kernel writes in
          // RAM could not honour.
          .ram_store = options.passthrough && !options.size && !options.spool,
          .quota = &quota,
      }),
      pressure(storage, options.pressure, options.ram),
      // size= needs every write seen by the daemon.
      passthrough(options.passthrough && !options.size),
      default_lifetime(options.lifetime),
      default_expire(options.expire),
      expiry(tree, notifier, options.expire),
      read_turn(options.busy_poll, options.idle_poll),
      ring(options.uring) {}

}  // namespace spoolfs
