// Storage: the data of regular files, the RAM budget, rollover to disk, and the
// accounting that `size=` limits.
//
// Each regular file's data is a tempfile::Spool (core's engine) held in its Inode. It
// starts in RAM; the bytes all files hold in RAM never exceed `ram=`. Before a write or
// an allocation would pass it, other files roll over to anonymous files in the spill
// directory until it fits. Victims are chosen cold and large first, by the score
// RAM bytes x time since last use: one large cold file frees much RAM with one copy and
// is unlikely to be wanted back soon, while small hot files stay in RAM. A file that
// rolled over stays on disk (the engine never brings data back), so no file rolls twice.
// A file that grows past `spool=` rolls over by itself.
//
// On disk, a file holding more than `pack_limit` bytes of data gets an anonymous file of
// its own while descriptors allow (`max_spilled`); every other one goes into the pack
// (tempfile::Pack: one anonymous file in the spill directory, 64 KiB slots, holes where
// nothing was written), which costs no descriptor per file. So what can be spilled is
// bounded by the spill filesystem's space, not by the descriptor limit.
//
// Work per call is bounded by data that exists, never by the offsets and lengths passed
// (the engine's contract, spool.hpp), and limits are checked before work: the cost of a
// write or allocation is computed in O(chunks present in the range + 1); one that could
// never fit the heap budget rolls no other file over (the file goes to disk if the spill
// filesystem could take it, else ENOSPC); an allocation larger than both the heap budget
// and the spill filesystem's free space is ENOSPC at once, as on tmpfs. Making RAM room
// moves at most the data the budget holds. Measured worst cases: README, Spooling.
//
// Locking: every method is called with the inode's mutex held and returns 0 or an errno
// value. Usage counters are atomics; a write first reserves the most it may allocate, so
// concurrent writers cannot overshoot `size=` or `ram=`. The candidate set has its own
// mutex, taken after an inode's and never held while waiting for one: victims are only
// try_locked, so two writers evicting each other cannot deadlock.
#pragma once

#include <sys/statvfs.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_set>

#include "inode.hpp"
#include "quota.hpp"
#include "tempfile/fd.hpp"
#include "tempfile/pack.hpp"

namespace spoolfs {

class Storage {
  public:
    struct Config {
        std::optional<std::uint64_t> size_limit;  // size=: RAM + spill; nullopt: none
        std::uint64_t ram_budget = 0;             // ram=
        std::uint64_t spool_threshold = 0;        // spool=: 0 = none
        tempfile::FileDescriptor spill_dir;       // where rolled-over data goes
        // Most files on disk with a file of their own at once: each lives only through its
        // descriptor. Past it, files go into the pack.
        std::uint64_t max_spilled = 16384;
        // The RAM store: three quarters of ram= as a private tmpfs (never attached to a
        // directory, gone with the process), where files the kernel writes directly keep
        // their data. The kernel holds them within its size, the heap within the rest.
        // Made at the first file that asks for it, if this is true.
        bool ram_store = false;
        // Per-user and per-group usage and limits (quota.hpp), charged to each file's owner
        // and group as its footprint changes; nullptr: none.
        Quota* quota = nullptr;
    };

    explicit Storage(Config config);

    // The file was used (reads served elsewhere): it is hot for the rollover policy.
    void note_use(Inode& inode);

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

    // Moves the file's data to disk now (no-op if it is there already).
    int rollover(Inode& inode);

    // Gives an empty file, or a packed one (the kernel needs a file of its own; its data is
    // copied), a backing file for the kernel to serve it directly
    // (passthrough.hpp): in the RAM store while it has room to spare, else on disk while
    // fewer than `eager_spill_limit` files are spilled and the spill filesystem has
    // `spill_headroom` free; never past half the descriptor allowance (the rest is
    // rollover's). ENOSPC when neither applies: the file stays in the heap.
    int place_for_passthrough(Inode& inode);
    // The kernel's writes to a file on disk bypass the RAM budget: once the spill
    // filesystem has less than this free, new files stay in the heap, so that every byte
    // of ram= serves before ENOSPC (ram= under 342 MiB has no RAM store).
    static constexpr std::uint64_t spill_headroom = 64 << 20;
    // Files with more data than this roll over to a file of their own, smaller ones into
    // the pack (no descriptor each, and ext4 stays fast with few anonymous files).
    static constexpr std::uint64_t pack_limit = 1 << 20;
    // ext4 keeps anonymous files in a small orphan file: past about 500 of them, each new
    // one costs some 800 us instead of 20 (measured on this machine's /var/tmp).
    static constexpr std::uint64_t eager_spill_limit = 256;
    // The RAM store takes a new file while this much of it is free (and a quarter).
    static constexpr std::uint64_t store_headroom = 64 << 20;

    // Whether a closed file the kernel served directly should come back to the heap:
    // small ones on disk (anonymous files on ext4 get slow when many). Those in the RAM
    // store stay: the kernel reads them itself, where a file back in the heap would cost
    // a READ request per read, its pages never having been in the mount's cache.
    bool wants_back(const Inode& inode) const;
    // Brings a small spilled file (own file or packed) back into RAM, giving its
    // descriptor or slots back: when it is no larger than `unspill_limit` and RAM has
    // room without rolling anything over.
    // EINVAL if it is not on disk, too large or served by passthrough; EBUSY while a
    // mapping writes it; ENOSPC without room.
    int unspill(Inode& inode);
    static constexpr std::uint64_t unspill_limit = 1 << 20;
    // Freed file data kept in the heap for reuse, at most (see given_back()).
    static constexpr std::uint64_t kept_freed_max = 32 << 20;

    // The kernel wrote to the file's spill file directly: its size and blocks go into
    // the accounts.
    void absorb(Inode& inode);

    // The file is gone: its usage is given back and its data freed. Takes the mutex.
    void drop(Inode& inode);

    // Bytes held outside file data (extended attributes: names, values, per-entry
    // overhead), charged against size= and ram= like file data: they count in usage().used
    // and usage().ram. ENOSPC when size= would be passed, or when metadata alone would take
    // more than half the heap's RAM budget. Within that they may push the heap past its
    // budget for a moment: file data cannot roll over here (the caller holds an inode's
    // mutex, and which one is not known), so the next write that needs RAM rolls files
    // over until data and metadata fit again. Thread-safe, lock-free.
    int charge_metadata(std::uint64_t bytes);
    void release_metadata(std::uint64_t bytes);

    // Regular files whose data is on disk (a file of its own in spill_dir, or the pack),
    // for the statistics: counted as files change place, never by a scan.
    std::uint64_t files_on_disk() const { return on_disk_.load(std::memory_order_relaxed); }

    struct Usage {
        std::uint64_t used = 0;  // bytes charged, RAM + spill
        std::uint64_t ram = 0;   // of which in RAM
    };
    Usage usage() const;

    // Memory pressure (pressure.hpp): the RAM budget in force, at most ram=. The heap and
    // the RAM store each keep their share of ram= of it; writes past it roll files over
    // as ever, and files come back from disk only within it.
    void set_ram_limit(std::uint64_t bytes) { ram_limit_.store(bytes, std::memory_order_relaxed); }
    // Moves files to disk, cold and large first, until RAM holds no more than the limit:
    // from the heap any file (open ones too: as a write's rollover moves them, the data
    // only changes place under the inode's mutex), from the RAM store files no handle
    // holds (an open one's backing file is the kernel's). Never waits for a busy inode
    // (try_lock), never takes the namespace lock; then gives the freed heap back to the
    // kernel. Call from a thread of its own.
    struct Relief {
        std::uint64_t bytes = 0;
        std::uint64_t files = 0;
    };
    Relief relieve();

    // statfs(2) for the mount: capacity from size= (or RAM budget + spill filesystem).
    struct statvfs statfs(std::uint64_t inodes_used, std::optional<std::uint64_t> max_inodes) const;

  private:
    static std::uint64_t footprint(const tempfile::Spool& spool);
    // What writing the range adds to the file's footprint.
    static std::uint64_t cost(const Inode& inode, std::uint64_t offset, std::uint64_t length);
    void settle(Inode& inode);
    bool reserve(std::uint64_t bytes);
    void unreserve(std::uint64_t bytes);
    // reserve() for `inode`: its owner's and group's quota first; ENOSPC or EDQUOT.
    int reserve_for(Inode& inode, std::uint64_t bytes);
    bool quota_enforced() const { return config_.quota && config_.quota->enforced(); }
    void unreserve_for(Inode& inode, std::uint64_t bytes);
    bool reserve_ram(std::uint64_t bytes);
    // Makes `bytes` of RAM available to `self` (whose mutex the caller holds), rolling
    // other files (or `self`) over; `reserved` says whether RAM was reserved (else
    // `self` went to disk). More than the heap budget: `self` goes to disk, or ENOSPC if
    // the spill filesystem has not that much free.
    int make_room(Inode& self, std::uint64_t bytes, bool& reserved);
    // Moves a file from the heap to disk: a file of its own when it holds (or is about to
    // grow by) more than pack_limit and a descriptor is free, else the pack.
    int spill(Inode& inode, std::uint64_t growing_by);
    int pack_into(Inode& inode);
    // A file of its own that cannot grow as far as asked (ext4 ends at 16 TiB) moves into
    // the pack, which can. EFBIG when the kernel or a mapping holds the file.
    int repack(Inode& inode);
    // The pack, made at first use; throws std::system_error if it cannot be.
    std::shared_ptr<tempfile::Pack> pack();
    std::uint64_t spill_free() const;
    // The best victim not busy, locked: from the heap's files, or (`from_store`) from the
    // RAM store's files that no handle holds.
    // `self` (nullptr: none) is the caller's file, whose mutex it holds.
    Inode* lock_victim(const Inode* self, std::unique_lock<HandlerMutex>& lock, bool from_store);
    // Runs `op`, which allocates `worst` bytes of RAM at most, within the RAM budget.
    template <typename Op>
    int allocating(Inode& inode, std::uint64_t worst, Op&& op);
    void given_back(std::uint64_t bytes);
    // Freed heap goes back to the kernel now.
    void trim();
    void taken(std::uint64_t bytes);

    // rollover() into `dirfd`, the spill directory or (`store`) the RAM store, from RAM
    // or from the pack.
    int rollover_into(Inode& inode, int dirfd, bool store);
    // The RAM store's directory, made on first use; -1 if it cannot be had.
    int ram_store();
    // A file no longer holds a backing file: its descriptor goes back to the counts.
    void backing_gone(Inode& inode);
    std::uint64_t store_free(int store) const;
    // Whether the store takes a new file: store_headroom and a quarter of it free.
    bool store_has_room(int store) const;
    // Moves closed files from the store to disk until half of it is free.
    void make_store_room(Inode& self, int store);
    // Moves a store file whose mutex the caller holds to disk; EBUSY while mapped.
    int store_to_disk(Inode& inode);
    // The shares of the RAM budget in force (set_ram_limit) of the heap and the store.
    std::uint64_t heap_limit() const;
    std::uint64_t store_limit() const;
    // `share` of ram= scaled as the budget in force is.
    std::uint64_t scaled_to_limit(std::uint64_t share) const;

    Config config_;
    std::atomic<std::uint64_t> heap_budget_;  // ram= less the RAM store
    std::atomic<std::uint64_t> ram_limit_ = UINT64_MAX;  // set_ram_limit(); ram= until set
    std::mutex store_mutex_;                  // making the store
    tempfile::FileDescriptor store_;          // its directory, once made
    std::atomic<int> store_fd_ = -1;          // store_.get(), readable without the mutex
    bool store_tried_ = false;
    std::uint64_t store_size_ = 0;
    std::atomic<std::uint64_t> stored_ = 0;            // bytes charged in the store
    std::atomic<std::uint64_t> store_files_ = 0;       // files in the store
    std::atomic<std::uint64_t> used_ = 0;              // charged + reserved
    std::atomic<std::uint64_t> ram_ = 0;               // charged in RAM + reserved
    std::atomic<std::uint64_t> freed_since_trim_ = 0;  // freed, kept by malloc for reuse
    std::atomic<std::uint64_t> spilled_ = 0;           // files rolled over and not yet dropped
    std::atomic<std::uint64_t> metadata_ = 0;          // charge_metadata()'s bytes
    std::atomic<std::uint64_t> on_disk_ = 0;           // files_on_disk()

    std::mutex pack_mutex_;  // making the pack
    std::shared_ptr<tempfile::Pack> pack_;

    std::mutex candidates_mutex_;
    std::unordered_set<Inode*> candidates_;    // files with data in the heap
    std::unordered_set<Inode*> stored_files_;  // files with data in the RAM store
};

}  // namespace spoolfs
