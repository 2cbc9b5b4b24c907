#include "filesystem.hpp"

namespace spoolfs {

Filesystem::Filesystem(const Options& options, tempfile::FileDescriptor spill_dir)
    : tree(Tree::Config{
          .root_mode = options.root_mode,
          .uid = options.uid,
          .gid = options.gid,
          .lifetime = options.lifetime,
          .max_inodes = options.nr_inodes,
          .on_free =
              [this](Inode& inode) {
                  if (inode.is_reg()) storage.drop(inode);
              },
      }),
      storage(Storage::Config{
          .size_limit = options.size,
          .ram_budget = options.ram,
          .spool_threshold = options.spool,
          .spill_dir = std::move(spill_dir),
      }),
      default_lifetime(options.lifetime) {}

}  // namespace spoolfs
