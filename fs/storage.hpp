// Storage: the data of regular files, and the accounting that `size=` limits.
//
// Each regular file's data is a tempfile::Spool (core's engine) held in its Inode. Every
// method here is called with that inode's mutex held and returns 0 or an errno value.
// The usage counters are atomics, so files are written in parallel; a write first
// reserves what it may allocate, so concurrent writers cannot overshoot `size=`.
#pragma once

#include <sys/statvfs.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "inode.hpp"
#include "tempfile/fd.hpp"

namespace spoolfs {

class Storage {
  public:
    struct Config {
        std::optional<std::uint64_t> size_limit;  // size=: RAM + spill; nullopt: none
        std::uint64_t ram_budget = 0;             // ram=
        std::uint64_t spool_threshold = 0;        // spool=: 0 = none
        tempfile::FileDescriptor spill_dir;       // where rolled-over data goes
    };

    explicit Storage(Config config);

    // Reads into `buf` at `offset`; `done` is what was read (short at end of file).
    int read(Inode& inode, std::span<std::byte> buf, std::uint64_t offset, std::size_t& done);

    // Writes `data` at `offset`; `done` may be short of data.size() only when `size=` runs
    // out part way (ENOSPC if nothing fits).
    int write(Inode& inode, std::span<const std::byte> data, std::uint64_t offset,
              std::size_t& done);

    int truncate(Inode& inode, std::uint64_t size);

    // fallocate(2) modes: 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE[|KEEP_SIZE].
    int fallocate(Inode& inode, int mode, std::uint64_t offset, std::uint64_t length);

    // lseek(2) with SEEK_DATA or SEEK_HOLE.
    int seek(Inode& inode, std::uint64_t offset, int whence, std::uint64_t& result);

    // The file is gone: its usage is given back and its data freed.
    void drop(Inode& inode);

    struct Usage {
        std::uint64_t used = 0;  // bytes charged, RAM + spill
        std::uint64_t ram = 0;   // of which in RAM
    };
    Usage usage() const;

    // statfs(2) for the mount: capacity from size= (or RAM budget + spill filesystem).
    struct statvfs statfs(std::uint64_t inodes_used, std::optional<std::uint64_t> max_inodes) const;

    std::uint64_t block_size() const { return 4096; }

  private:
    static std::uint64_t footprint(const tempfile::Spool& spool);
    void settle(Inode& inode);
    bool reserve(std::uint64_t bytes);
    void unreserve(std::uint64_t bytes);

    Config config_;
    std::atomic<std::uint64_t> used_ = 0;  // charged + reserved
    std::atomic<std::uint64_t> ram_ = 0;
};

}  // namespace spoolfs
