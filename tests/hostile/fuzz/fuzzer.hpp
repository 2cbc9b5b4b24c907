// A differential fuzzer of spoolfs's operation layer: random sequences of file-system
// operations, run step by step on a spoolfs mount and on a kernel tmpfs (the oracle),
// each step's result and the objects it touched compared on both sides.
//
// A sequence is generated from its seed alone (never from results), so it replays
// exactly and can be shrunk by dropping operations. Each sequence runs in a fresh
// directory a few levels below each mount's root, with the same descriptor slots on
// both sides.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fuzz {

enum class Kind {
    Open, Close, Pread, Pwrite, Read, Write, Ftruncate, Truncate, Fallocate, Lseek,
    CopyRange, Fsync, Fstat, Mkdir, MkdirP, Rmdir, Unlink, Rename, Link, LinkTmpfile,
    Symlink, Readlink, Mknod, Chmod, Fchmod, Chown, Utimens, Futimens, Setxattr,
    Getxattr, Listxattr, Removexattr, Statfs, Readdir, Stat, Access,
};

// Where an xattr operation points: a path without following a final symlink (l*xattr),
// a path following it (*xattr), or a descriptor slot (f*xattr).
enum class Target { Nofollow, Follow, Slot };

struct Op {
    Kind kind = Kind::Stat;
    std::string path, path2;  // relative to the sequence's directory; path2: rename/link target
    int slot = 0, slot2 = 0;  // descriptor slots
    std::int64_t off = 0, off2 = 0;
    std::uint64_t len = 0;    // byte counts, buffer sizes, xattr value sizes
    int flags = 0;            // open flags, fallocate mode, whence, rename/at/xattr flags
    unsigned mode = 0;        // file modes, access() mode, fsync variant
    std::uint64_t seed = 0;   // data pattern
    std::string name;         // xattr name
    Target target = Target::Nofollow;
    bool null_offsets = false;  // copy_file_range with the descriptors' positions
    bool null_times = false;    // utimensat(..., NULL, ...)
    timespec times[2] = {{0, 0}, {0, 0}};
    long long uid = -1, gid = -1;
    std::string note;  // what the runner changed before running it (a clamped length)
};

std::string describe(const Op& op);

struct GenConfig {
    // Writes and fallocates of up to a few MiB (for a variant whose RAM budget must
    // overflow); otherwise data stays under 1 MiB per operation.
    bool big_data = false;
};

// The sequence of `count` operations for `seed`.
std::vector<Op> generate(std::uint64_t seed, int count, const GenConfig& config);

// The seed of sequence `index` of a run with base seed `base` on variant `variant`.
std::uint64_t sequence_seed(std::uint64_t base, unsigned variant, std::uint64_t index);

struct Failure {
    std::size_t step = 0;  // index of the failing operation; ops.size(): the final check
    std::string what;      // the differences, one per line
    std::string kind;      // a short signature (operation and first differing field)
};

struct RunResult {
    std::optional<Failure> failure;
    std::vector<std::string> log;  // one line per operation run, with both results
    bool connection_lost = false;  // spoolfs answered ENOTCONN: the mount is gone
};

class Runner {
  public:
    // `spool` and `oracle` are the two mount points (spoolfs, tmpfs).
    Runner(std::string spool, std::string oracle);
    ~Runner();
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;

    // Runs `ops` from an empty sequence directory and removes it afterwards. `verbose`
    // prints each step as it runs (to stderr), for replays.
    RunResult run(const std::vector<Op>& ops, bool verbose = false);

    // Called at the end of each sequence, before its tree is removed (to sample the
    // mount's statistics).
    void before_teardown(std::function<void()> hook);
    // Called with true as each step (and the setup, and the teardown) begins, with false
    // when the sequence is over: a watchdog's heartbeat.
    void on_step(std::function<void(bool busy)> hook);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Drops operations from a failing `ops` while the shorter list still fails the same way
// (same signature); at most `budget` trial runs.
std::vector<Op> minimize(std::vector<Op> ops, Runner& runner, const Failure& original,
                         int budget);

}  // namespace fuzz
