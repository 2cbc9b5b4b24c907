#include "storage.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <malloc.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <functional>
#include <new>
#include <string>
#include <system_error>
#include <vector>

#include "passthrough.hpp"
#include "read_turn.hpp"

namespace spoolfs {
namespace {

// Runs a Spool operation, turning its exceptions into errno values.
template <typename F>
int guarded(F&& f) {
    try {
        f();
        return 0;
    } catch (const std::system_error& e) {
        return e.code().value() ? e.code().value() : EIO;
    } catch (const std::bad_alloc&) {
        return ENOMEM;
    }
}

constexpr std::uint64_t max_file_size = static_cast<std::uint64_t>(INT64_MAX);

// Whether something besides our descriptor has the spill file open for writing: a
// shared mapping the kernel made through passthrough holds the backing file, not the
// mount's file, and outlives the last RELEASE. Moving the data away then would lose what
// the mapping writes. A write lease is refused exactly then (and where leases are off:
// no move either).
bool written_elsewhere(int fd) {
    if (::fcntl(fd, F_SETLEASE, F_WRLCK) != 0) return true;
    ::fcntl(fd, F_SETLEASE, F_UNLCK);
    return false;
}

std::int64_t steady_now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// A tmpfs of `size` bytes that no directory shows: only its root's descriptor reaches it,
// and it goes when that closes (at the latest when the process dies, however).
tempfile::FileDescriptor private_tmpfs(std::uint64_t size) {
    tempfile::FileDescriptor context(::fsopen("tmpfs", FSOPEN_CLOEXEC));
    if (!context) return {};
    const std::string bytes = std::to_string(size);
    if (::fsconfig(context.get(), FSCONFIG_SET_STRING, "size", bytes.c_str(), 0) != 0 ||
        ::fsconfig(context.get(), FSCONFIG_SET_STRING, "mode", "0700", 0) != 0 ||
        ::fsconfig(context.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
        return {};
    return tempfile::FileDescriptor(::fsmount(context.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV));
}

}  // namespace

Storage::Storage(Config config) : config_(std::move(config)), heap_budget_(config_.ram_budget) {}

// Blocks really held: RAM chunks, or the spill file's allocated blocks (holes are free).
std::uint64_t Storage::footprint(const tempfile::Spool& spool) {
    return spool.rolled() ? spool.allocated_bytes() : spool.ram_bytes();
}

bool Storage::reserve(std::uint64_t bytes) {
    if (!config_.size_limit) {
        used_.fetch_add(bytes, std::memory_order_relaxed);
        return true;
    }
    std::uint64_t used = used_.load(std::memory_order_relaxed);
    do {
        if (used + bytes > *config_.size_limit) return false;
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
}

void Storage::unreserve(std::uint64_t bytes) {
    used_.fetch_sub(bytes, std::memory_order_relaxed);
}

int Storage::reserve_for(Inode& inode, std::uint64_t bytes) {
    if (quota_enforced()) {
        if (int err = config_.quota->reserve(inode.quota, bytes)) return err;
    }
    if (reserve(bytes)) return 0;
    if (quota_enforced()) config_.quota->unreserve(inode.quota, bytes);
    return ENOSPC;
}

void Storage::unreserve_for(Inode& inode, std::uint64_t bytes) {
    unreserve(bytes);
    if (quota_enforced()) config_.quota->unreserve(inode.quota, bytes);
}

bool Storage::reserve_ram(std::uint64_t bytes) {
    const std::uint64_t limit = heap_limit();
    std::uint64_t ram = ram_.load(std::memory_order_relaxed);
    do {
        if (ram + bytes > limit) return false;
    } while (!ram_.compare_exchange_weak(ram, ram + bytes, std::memory_order_relaxed));
    return true;
}

// Freed heap memory stays in glibc's arenas, where new file data reuses it without page
// faults (a fault costs about 2.6 us per 4 KiB page here, most of a 1 MiB write). It still
// counts against ram=: once live data plus what is kept would pass the budget, or more
// than kept_freed_max (or a quarter of the budget) lies idle, it goes back to the kernel,
// as tmpfs gives pages back at unlink.
void Storage::given_back(std::uint64_t bytes) {
    std::uint64_t kept = freed_since_trim_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    std::uint64_t live = ram_.load(std::memory_order_relaxed);
    std::uint64_t budget = heap_limit();
    if (live + kept <= budget && kept <= std::min(budget / 4, kept_freed_max)) return;
    trim();
}

void Storage::trim() {
    freed_since_trim_.store(0, std::memory_order_relaxed);
    malloc_trim(0);
}

// New file data took `bytes`, from what was kept first.
void Storage::taken(std::uint64_t bytes) {
    std::uint64_t kept = freed_since_trim_.load(std::memory_order_relaxed);
    while (kept > 0 && !freed_since_trim_.compare_exchange_weak(
                           kept, kept > bytes ? kept - bytes : 0, std::memory_order_relaxed)) {
    }
}

// Brings the usage counters and the candidate set in line with what the file holds.
void Storage::settle(Inode& inode) {
    bool on_disk = inode.data.rolled() && !inode.in_store;
    if (on_disk != inode.counted_on_disk) {
        on_disk_.fetch_add(on_disk ? 1 : std::uint64_t(-1), std::memory_order_relaxed);
        inode.counted_on_disk = on_disk;
    }
    std::uint64_t total = footprint(inode.data);
    std::uint64_t ram = inode.data.ram_bytes();
    std::uint64_t stored = inode.in_store ? total : 0;
    // Unsigned differences wrap to subtractions.
    used_.fetch_add(total - inode.charged, std::memory_order_relaxed);
    if (config_.quota) config_.quota->settle(inode.quota, inode.charged, total);
    stored_.fetch_add(stored - inode.charged_store, std::memory_order_relaxed);
    // A file in the store may move to disk exactly while it holds some of it.
    if ((stored > 0) != (inode.charged_store > 0)) {
        std::lock_guard lock(candidates_mutex_);
        if (stored > 0)
            stored_files_.insert(&inode);
        else
            stored_files_.erase(&inode);
    }
    inode.charged_store = stored;
    ram_.fetch_add(ram - inode.charged_ram, std::memory_order_relaxed);
    if (ram < inode.charged_ram) given_back(inode.charged_ram - ram);
    if (ram > inode.charged_ram) taken(ram - inode.charged_ram);
    // A file is a rollover candidate exactly while it holds RAM.
    bool was_listed = inode.charged_ram > 0, listed = ram > 0;
    inode.charged = total;
    inode.charged_ram = ram;
    inode.resident.store(ram + stored, std::memory_order_relaxed);
    if (listed != was_listed) {
        std::lock_guard lock(candidates_mutex_);
        if (listed)
            candidates_.insert(&inode);
        else
            candidates_.erase(&inode);
    }
}

Inode* Storage::lock_victim(const Inode* self, std::unique_lock<HandlerMutex>& lock,
                           bool from_store) {
    std::int64_t now = steady_now();
    auto score = [now](const Inode& inode) {
        double age = static_cast<double>(now - inode.last_use.load(std::memory_order_relaxed));
        return static_cast<double>(inode.resident.load(std::memory_order_relaxed)) *
               (std::max(age, 0.0) + 1e6);
    };
    constexpr std::size_t tries = 8;
    std::vector<std::pair<double, Inode*>> best;
    best.reserve(tries + 1);
    std::lock_guard candidates(candidates_mutex_);
    for (Inode* inode : from_store ? stored_files_ : candidates_) {
        best.emplace_back(score(*inode), inode);
        std::push_heap(best.begin(), best.end(), std::greater<>());
        if (best.size() > tries) {
            std::pop_heap(best.begin(), best.end(), std::greater<>());
            best.pop_back();
        }
    }
    std::sort(best.begin(), best.end(), std::greater<>());
    for (auto [s, inode] : best) {
        if (inode == self) {
            if (from_store) continue;
            return inode;  // its mutex is the caller's
        }
        std::unique_lock victim(inode->mutex, std::try_to_lock);
        // The kernel's backing file cannot change under an open handle.
        if (victim && !(from_store && inode->backing_id)) {
            lock = std::move(victim);
            return inode;
        }
    }
    return nullptr;
}

int Storage::make_room(Inode& self, std::uint64_t bytes, bool& reserved) {
    // What can never fit the heap would roll every other file over for nothing: this
    // file goes to disk instead, if the disk could take it.
    if (bytes > heap_budget_.load(std::memory_order_relaxed)) {
        if (bytes > spill_free()) return ENOSPC;
        return spill(self, bytes);
    }
    while (!reserve_ram(bytes)) {
        std::unique_lock<HandlerMutex> victim_lock;
        Inode* victim = lock_victim(&self, victim_lock, false);
        if (!victim) victim = &self;  // everything else is busy: this file goes to disk
        if (int err = spill(*victim, victim == &self ? bytes : 0)) {
            // A victim that cannot move (its disk refuses) leaves this file's turn.
            if (victim == &self) return err;
            victim_lock = {};
            return spill(self, bytes);
        }
        if (victim == &self) return 0;  // on disk now: it needs no RAM
    }
    reserved = true;
    return 0;
}

template <typename Op>
int Storage::allocating(Inode& inode, std::uint64_t worst, Op&& op) {
    bool reserved = false;
    if (!inode.data.rolled() && worst > 0) {
        if (int err = make_room(inode, worst, reserved)) return err;
    }
    int err = guarded(op);
    if (reserved) ram_.fetch_sub(worst, std::memory_order_relaxed);
    settle(inode);
    // Python's max_size: a file that outgrew spool= goes to disk. Should the spill
    // filesystem refuse, it stays in RAM, where its data is safe.
    if (!err && config_.spool_threshold && !inode.data.rolled() &&
        inode.data.size() > config_.spool_threshold)
        rollover(inode);
    return err;
}

int Storage::rollover(Inode& inode) {
    return spill(inode, 0);
}

int Storage::spill(Inode& inode, std::uint64_t growing_by) {
    if (inode.data.rolled()) return 0;
    // By data, not size: a sparse file of 2^62 bytes is small (and a file of its own on
    // ext4 could not even be that large).
    if (inode.data.ram_bytes() > pack_limit || growing_by > pack_limit) {
        int err = rollover_into(inode, config_.spill_dir.get(), false);
        if (err == 0) return 0;
        // Out of descriptors, a size the filesystem cannot hold, ...: the pack then.
    }
    return pack_into(inode);
}

std::shared_ptr<tempfile::Pack> Storage::pack() {
    std::lock_guard lock(pack_mutex_);
    if (!pack_) pack_ = std::make_shared<tempfile::Pack>(config_.spill_dir.get());
    return pack_;
}

int Storage::pack_into(Inode& inode) {
    if (inode.data.rolled()) return 0;
    if (inode.data.size() > 0) step_aside();  // data to copy to disk
    int err = guarded([&] { inode.data.pack(pack()); });
    settle(inode);
    return err == EMFILE || err == ENFILE ? ENOSPC : err;
}

int Storage::repack(Inode& inode) {
    if (inode.data.fd() < 0 || inode.backing_id || inode.in_store ||
        written_elsewhere(inode.data.fd()))
        return EFBIG;
    step_aside();
    int err = guarded([&] { inode.data.pack(pack()); });
    if (!err) backing_gone(inode);
    settle(inode);
    return err;
}

std::uint64_t Storage::spill_free() const {
    struct statvfs st {};
    if (fstatvfs(config_.spill_dir.get(), &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

int Storage::rollover_into(Inode& inode, int dirfd, bool store) {
    if (inode.data.fd() >= 0) return 0;
    if (!store || inode.data.size() > 0) step_aside();  // a disk, or data to copy
    // Out of descriptors is out of room: the file stays in RAM, its data intact.
    if (spilled_.fetch_add(1, std::memory_order_relaxed) >= config_.max_spilled) {
        spilled_.fetch_sub(1, std::memory_order_relaxed);
        return ENOSPC;
    }
    // From RAM, or from the pack (whose slots go back).
    int err = guarded([&] { inode.data.move_to(dirfd); });
    if (err) {
        spilled_.fetch_sub(1, std::memory_order_relaxed);
    } else if (store) {
        inode.in_store = true;
        store_files_.fetch_add(1, std::memory_order_relaxed);
    }
    settle(inode);
    return err == EMFILE || err == ENFILE ? ENOSPC : err;
}

int Storage::ram_store() {
    int fd = store_fd_.load(std::memory_order_acquire);
    if (fd >= 0 || !config_.ram_store) return fd;
    std::lock_guard lock(store_mutex_);
    if (store_tried_) return store_fd_.load(std::memory_order_relaxed);
    store_tried_ = true;
    // Three quarters of ram=, taken from the heap's budget; only while the heap uses less
    // than the rest, so that the two never hold more than ram= together. The heap keeps
    // what passthrough does not serve: small files back from the store, set-id files.
    std::uint64_t size = config_.ram_budget / 4 * 3;
    if (size < 4 * store_headroom ||
        ram_.load(std::memory_order_relaxed) > config_.ram_budget - size)
        return -1;
    store_ = private_tmpfs(size);
    if (!store_) return -1;
    heap_budget_.store(config_.ram_budget - size, std::memory_order_relaxed);
    store_size_ = size;
    store_fd_.store(store_.get(), std::memory_order_release);
    return store_.get();
}

int Storage::place_for_passthrough(Inode& inode) {
    if (!inode.data.packed() && (inode.data.rolled() || inode.data.size() != 0)) return EINVAL;
    if (spilled_.load(std::memory_order_relaxed) >= config_.max_spilled / 2) return ENOSPC;
    if (int store = ram_store(); store >= 0) {
        if (!store_has_room(store)) make_store_room(inode, store);
        if (store_has_room(store) && rollover_into(inode, store, true) == 0) return 0;
    }
    std::uint64_t on_disk =
        spilled_.load(std::memory_order_relaxed) - store_files_.load(std::memory_order_relaxed);
    if (on_disk >= eager_spill_limit) return ENOSPC;
    // A nearly full spill filesystem would refuse the kernel's writes while ram= sits
    // unused: the file stays in the heap, where the budget (and rollover) serve it.
    if (spill_free() < spill_headroom) return ENOSPC;
    return rollover_into(inode, config_.spill_dir.get(), false);
}

std::uint64_t Storage::store_free(int store) const {
    struct statvfs st {};
    if (fstatvfs(store, &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

bool Storage::store_has_room(int store) const {
    std::uint64_t free = store_free(store);
    std::uint64_t limit = store_limit();
    if (limit < store_size_ && stored_.load(std::memory_order_relaxed) + store_headroom > limit)
        return false;  // under memory pressure
    return free >= store_headroom && free >= store_size_ / 4;
}

// Cold and large first, as rollover from the heap: one copy frees much, and what was
// not used for long is the least likely to be wanted back.
void Storage::make_store_room(Inode& self, int store) {
    step_aside();  // files to copy to disk
    while (store_free(store) < store_size_ / 2) {
        std::unique_lock<HandlerMutex> victim_lock;
        Inode* victim = lock_victim(&self, victim_lock, true);
        if (!victim || store_to_disk(*victim) != 0) return;
    }
}

int Storage::store_to_disk(Inode& inode) {
    if (written_elsewhere(inode.data.fd())) return EBUSY;  // mapped: it stays
    if (int err = guarded([&] { inode.data.move_to(config_.spill_dir.get()); })) return err;
    store_files_.fetch_sub(1, std::memory_order_relaxed);
    inode.in_store = false;
    settle(inode);
    return 0;
}

// The budget in force split as ram= is, between the heap and the store.
std::uint64_t Storage::scaled_to_limit(std::uint64_t share) const {
    std::uint64_t limit = ram_limit_.load(std::memory_order_relaxed);
    if (limit >= config_.ram_budget) return share;
    return static_cast<std::uint64_t>(static_cast<long double>(share) * limit /
                                      config_.ram_budget);
}

std::uint64_t Storage::heap_limit() const {
    return scaled_to_limit(heap_budget_.load(std::memory_order_relaxed));
}

std::uint64_t Storage::store_limit() const {
    return scaled_to_limit(store_size_);
}

Storage::Relief Storage::relieve() {
    Relief relief;
    bool heap_moved = false;
    while (ram_.load(std::memory_order_relaxed) > heap_limit()) {
        std::unique_lock<HandlerMutex> lock;
        Inode* victim = lock_victim(nullptr, lock, false);
        if (!victim) break;
        std::uint64_t bytes = victim->charged_ram;
        if (spill(*victim, 0) != 0) break;
        relief.bytes += bytes;
        ++relief.files;
        heap_moved = true;
    }
    while (store_fd_.load(std::memory_order_acquire) >= 0 &&
           stored_.load(std::memory_order_relaxed) > store_limit()) {
        std::unique_lock<HandlerMutex> lock;
        Inode* victim = lock_victim(nullptr, lock, true);
        if (!victim) break;
        std::uint64_t bytes = victim->charged_store;
        if (store_to_disk(*victim) != 0) break;
        relief.bytes += bytes;
        ++relief.files;
    }
    if (heap_moved) trim();  // the store's files were never in the heap
    return relief;
}

void Storage::backing_gone(Inode& inode) {
    spilled_.fetch_sub(1, std::memory_order_relaxed);
    if (inode.in_store) store_files_.fetch_sub(1, std::memory_order_relaxed);
    inode.in_store = false;
}

bool Storage::wants_back(const Inode& inode) const {
    return inode.data.fd() >= 0 && !inode.in_store && inode.data.size() <= unspill_limit;
}

int Storage::unspill(Inode& inode) {
    if (!inode.data.rolled() || inode.backing_id || inode.data.size() > unspill_limit)
        return EINVAL;
    bool own_file = inode.data.fd() >= 0;
    if (own_file && written_elsewhere(inode.data.fd())) return EBUSY;
    // What the data takes in RAM at most: all of it written densely.
    std::uint64_t worst = tempfile::Spool().ram_growth(0, inode.data.size());
    if (!reserve_ram(worst)) return ENOSPC;
    int err = guarded([&] { inode.data.unroll(); });
    ram_.fetch_sub(worst, std::memory_order_relaxed);
    if (!err && own_file) backing_gone(inode);
    settle(inode);
    return err;
}

void Storage::absorb(Inode& inode) {
    follow_backing(inode);
    settle(inode);
}

void Storage::note_use(Inode& inode) {
    inode.last_use.store(steady_now(), std::memory_order_relaxed);
}

int Storage::read(Inode& inode, std::span<std::byte> buf, std::uint64_t offset, std::size_t& done) {
    done = 0;
    note_use(inode);
    follow_backing(inode);
    return guarded([&] { done = inode.data.pread(buf, offset); });
}

std::uint64_t Storage::cost(const Inode& inode, std::uint64_t offset, std::uint64_t length) {
    // In RAM or packed: exact, in O(chunks present in the range + 1).
    if (inode.data.fd() < 0) return inode.data.growth(offset, length);
    // On disk: nothing for a range that is all data already, else at most its length.
    std::uint64_t end = offset + length;
    bool all_data =
        end <= inode.data.size() && inode.data.seek_hole(offset).value_or(offset) >= end;
    return all_data ? 0 : length;
}

int Storage::write(Inode& inode, std::span<const std::byte> data, std::uint64_t offset,
                   std::size_t& done) {
    done = 0;
    if (offset > max_file_size || data.size() > max_file_size - offset) return EFBIG;
    note_use(inode);
    follow_backing(inode);
    // On disk the exact cost takes an lseek: reserve the length, which is never less,
    // and leave exactness to the page-by-page path near the limit.
    std::uint64_t need =
        inode.data.fd() >= 0 ? data.size() : cost(inode, offset, data.size());
    int refused = reserve_for(inode, need);
    if (!refused) {
        int err = allocating(inode, need, [&] { done = inode.data.pwrite(data, offset); });
        // A file of its own on ext4 ends at 16 TiB; the pack holds any offset (tmpfs does).
        if (err == EFBIG && repack(inode) == 0)
            err = allocating(inode, need, [&] { done = inode.data.pwrite(data, offset); });
        unreserve_for(inode, need);
        return err;
    }
    // Near the size= limit or a quota: write what fits, page by page, as tmpfs does.
    constexpr std::uint64_t page = 4096;
    while (done < data.size()) {
        std::uint64_t at = offset + done;
        std::size_t n = std::min<std::uint64_t>(data.size() - done, page - at % page);
        need = cost(inode, at, n);
        if ((refused = reserve_for(inode, need))) break;
        int err = allocating(inode, need, [&] { inode.data.pwrite(data.subspan(done, n), at); });
        unreserve_for(inode, need);
        if (err) return done ? 0 : err;
        done += n;
    }
    return done ? 0 : refused;
}

int Storage::truncate(Inode& inode, std::uint64_t size) {
    if (size > max_file_size) return EFBIG;
    follow_backing(inode);
    bool own_file = inode.data.fd() >= 0;
    if (size == 0 && inode.data.rolled() && !inode.backing_id &&
        (!own_file || !written_elsewhere(inode.data.fd()))) {
        // Emptied while no handle has the kernel write its spill file: back to an empty
        // spool in RAM, giving up the descriptor or the slots. (A truncate to 0 would also
        // make ext4 flush the file to disk at each later close: auto_da_alloc.)
        if (own_file) backing_gone(inode);
        inode.data = tempfile::Spool();
        settle(inode);
        return 0;
    }
    int err = guarded([&] { inode.data.truncate(size); });
    if (err == EFBIG && repack(inode) == 0) err = guarded([&] { inode.data.truncate(size); });
    settle(inode);
    return err;
}

int Storage::fallocate(Inode& inode, int mode, std::uint64_t offset, std::uint64_t length) {
    if (length == 0) return EINVAL;
    if (offset > max_file_size || length > max_file_size - offset) return EFBIG;
    bool keep_size = mode & FALLOC_FL_KEEP_SIZE;
    follow_backing(inode);
    int err = 0;
    if (mode & FALLOC_FL_PUNCH_HOLE) {
        if (!keep_size || (mode & ~(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))) return EOPNOTSUPP;
        err = guarded([&] { inode.data.punch_hole(offset, length); });
        if (err == EFBIG && repack(inode) == 0)
            err = guarded([&] { inode.data.punch_hole(offset, length); });
    } else if (mode & FALLOC_FL_ZERO_RANGE) {
        // As on tmpfs, which has no ZERO_RANGE: callers fall back to writing zeros. It
        // promises the range's space, which 8 EiB of zeros could not keep.
        return EOPNOTSUPP;
    } else {
        if (mode & ~FALLOC_FL_KEEP_SIZE) return EOPNOTSUPP;
        std::uint64_t need = cost(inode, offset, length);
        // More than the heap and the disk could ever hold: no work, as tmpfs answers. (The
        // RAM store's tmpfs answers for its files itself.)
        if (!inode.in_store && need > heap_budget_.load(std::memory_order_relaxed) &&
            need > spill_free())
            return ENOSPC;
        if (int refused = reserve_for(inode, need)) return refused;
        // The pack allocates slot by slot (a system call and a map node per 64 KiB): a
        // large allocation goes to a file of its own first, where it is one fallocate.
        if (inode.data.packed() && length > pack_limit)
            rollover_into(inode, config_.spill_dir.get(), false);
        const auto allocate = [&] { inode.data.allocate(offset, length, keep_size); };
        err = allocating(inode, need, allocate);
        // A file of its own on ext4 ends at 16 TiB; the pack holds any offset (tmpfs does).
        if (err == EFBIG && repack(inode) == 0) err = allocating(inode, need, allocate);
        unreserve_for(inode, need);
        return err;
    }
    settle(inode);
    return err;
}

int Storage::seek(Inode& inode, std::uint64_t offset, int whence, std::uint64_t& result) {
    std::optional<std::uint64_t> found;
    follow_backing(inode);
    int err = guarded([&] {
        found = whence == SEEK_DATA ? inode.data.seek_data(offset) : inode.data.seek_hole(offset);
    });
    if (err) return err;
    if (!found) return ENXIO;
    result = *found;
    return 0;
}

void Storage::drop(Inode& inode) {
    std::lock_guard lock(inode.mutex);
    // Freeing much data takes a while: let another thread read requests meanwhile.
    if (inode.charged > (1u << 20)) step_aside();
    if (inode.data.fd() >= 0) backing_gone(inode);
    inode.data = tempfile::Spool();
    settle(inode);
}

int Storage::charge_metadata(std::uint64_t bytes) {
    if (bytes == 0) return 0;
    std::uint64_t held = metadata_.load(std::memory_order_relaxed);
    do {
        if (held + bytes > heap_budget_.load(std::memory_order_relaxed) / 2) return ENOSPC;
    } while (!metadata_.compare_exchange_weak(held, held + bytes, std::memory_order_relaxed));
    if (!reserve(bytes)) {
        metadata_.fetch_sub(bytes, std::memory_order_relaxed);
        return ENOSPC;
    }
    ram_.fetch_add(bytes, std::memory_order_relaxed);
    return 0;
}

void Storage::release_metadata(std::uint64_t bytes) {
    if (bytes == 0) return;
    metadata_.fetch_sub(bytes, std::memory_order_relaxed);
    unreserve(bytes);
    ram_.fetch_sub(bytes, std::memory_order_relaxed);
}

Storage::Usage Storage::usage() const {
    // The RAM store's files are RAM too.
    return {used_.load(std::memory_order_relaxed),
            ram_.load(std::memory_order_relaxed) + stored_.load(std::memory_order_relaxed)};
}

struct statvfs Storage::statfs(std::uint64_t inodes_used,
                               std::optional<std::uint64_t> max_inodes) const {
    struct statvfs st {};
    constexpr std::uint64_t bs = 4096;
    std::uint64_t used = used_.load(std::memory_order_relaxed);
    std::uint64_t capacity;
    if (config_.size_limit) {
        capacity = *config_.size_limit;
    } else {
        // No size=: what RAM may hold plus what the spill filesystem has room for.
        struct statvfs spill {};
        std::uint64_t spill_free = 0;
        if (fstatvfs(config_.spill_dir.get(), &spill) == 0)
            spill_free = static_cast<std::uint64_t>(spill.f_bavail) * spill.f_frsize;
        capacity = used + config_.ram_budget + spill_free;
    }
    std::uint64_t free = capacity > used ? capacity - used : 0;
    st.f_bsize = bs;
    st.f_frsize = bs;
    st.f_blocks = capacity / bs;
    st.f_bfree = free / bs;
    st.f_bavail = free / bs;
    std::uint64_t files = max_inodes.value_or(UINT32_MAX);
    st.f_files = files;
    st.f_ffree = files > inodes_used ? files - inodes_used : 0;
    st.f_favail = st.f_ffree;
    st.f_namemax = 255;
    return st;
}

}  // namespace spoolfs
