#include "passthrough.hpp"

#include <linux/fuse.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <linux/capability.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "attributes.hpp"
#include "filesystem.hpp"
#include "read_turn.hpp"

namespace spoolfs {
namespace {

// Protocol 7.40, newer than the <linux/fuse.h> of Debian 12 (6.1).
constexpr std::uint32_t passthrough_flag2 = 1u << 5;  // FUSE_PASSTHROUGH: bit 37 of the flags
constexpr std::uint32_t fopen_passthrough = 1u << 7;  // FOPEN_PASSTHROUGH
constexpr std::uint32_t max_stack_depth = 1;          // backing files on non-stacked filesystems

struct BackingMap {  // struct fuse_backing_map
    std::int32_t fd;
    std::uint32_t flags;
    std::uint64_t padding;
};
constexpr unsigned long backing_open = _IOW(229, 1, BackingMap);      // FUSE_DEV_IOC_BACKING_OPEN
constexpr unsigned long backing_close = _IOW(229, 2, std::uint32_t);  // FUSE_DEV_IOC_BACKING_CLOSE

// fuse_init_out: flags2, then max_stack_depth where 6.1's header has unused[0].
constexpr std::size_t init_flags2_at = offsetof(fuse_init_out, flags2);
constexpr std::size_t init_stack_depth_at = init_flags2_at + sizeof(std::uint32_t);
// fuse_open_out: backing_id where 6.1's header has padding.
constexpr std::size_t open_backing_id_at = offsetof(fuse_open_out, padding);

bool operator!=(const timespec& a, const timespec& b) {
    return a.tv_sec != b.tv_sec || a.tv_nsec != b.tv_nsec;
}

// Nothing but the daemon could strip these if the kernel wrote past it.
bool has_privileges(const Inode& inode) {
    return (inode.mode & (S_ISUID | S_ISGID)) || inode.xattrs.contains("security.capability");
}

}  // namespace

void Passthrough::enable() {
    int device = device_fd_.load(std::memory_order_relaxed);
    if (device < 0) return;
    // /dev/fuse itself cannot back a file: EINVAL says we may register backing files,
    // EPERM that we lack CAP_SYS_ADMIN or the kernel declined passthrough.
    BackingMap map{device, 0, 0};
    int id = ::ioctl(device, backing_open, &map);
    bool allowed = id > 0 || errno == EINVAL;
    if (id > 0) {
        auto raw = static_cast<std::uint32_t>(id);
        ::ioctl(device, backing_close, &raw);
    }
    available_.store(allowed, std::memory_order_relaxed);
}

std::int32_t Passthrough::open_backing(int fd) {
    if (!available()) return 0;
    BackingMap map{fd, 0, 0};
    int id = ::ioctl(device_fd_.load(std::memory_order_relaxed), backing_open, &map);
    if (id <= 0) {
        if (errno == EPERM) available_.store(false, std::memory_order_relaxed);
        return 0;
    }
    active_.fetch_add(1, std::memory_order_relaxed);
    return id;
}

void Passthrough::close_backing(std::int32_t id) {
    auto raw = static_cast<std::uint32_t>(id);
    ::ioctl(device_fd_.load(std::memory_order_relaxed), backing_close, &raw);
    active_.fetch_sub(1, std::memory_order_relaxed);
}

std::int32_t begin_handle(Filesystem& fs, Inode& inode, bool writing, const Requester& opener) {
    ++inode.handles;
    if (inode.backing_id) {
        // The kernel's own writes will not ask: a writer without CAP_FSETID, the owner
        // too, takes the privileges away now, as its first write would.
        if (writing && has_privileges(inode) &&
            !has_capability(opener.pid, opener.uid, CAP_FSETID))
            kill_privileges_locked(fs, inode, &opener);
        return inode.backing_id;
    }
    if (inode.handles > 1 || !fs.passthrough.available() || has_privileges(inode)) return 0;
    // A byte limit on its owner or group: the daemon must see every write to hold it.
    if (fs.quota.limits_bytes(inode.quota)) return 0;
    if (inode.data.packed()) {
        // The kernel needs a file of its own: a writer gets one (the little data a packed
        // file holds is copied); a reader reads the pack through the daemon.
        if (!writing || fs.storage.place_for_passthrough(inode) != 0) return 0;
    }
    if (!inode.data.rolled()) {
        // Data in RAM stays there; an empty file costs nothing to move.
        if (!writing || inode.data.size() != 0) return 0;
        if (fs.storage.place_for_passthrough(inode) != 0) return 0;
    }
    inode.backing_id = fs.passthrough.open_backing(inode.data.fd());
    if (inode.backing_id) follow_backing(inode, false);
    return inode.backing_id;
}

bool end_handle(Filesystem& fs, Inode& inode) {
    if (inode.handles > 0) --inode.handles;
    if (inode.handles > 0 || !inode.backing_id) return false;
    fs.storage.absorb(inode);
    fs.passthrough.close_backing(inode.backing_id);
    inode.backing_id = 0;
    // Pages the kernel cached for an earlier plain handle missed the direct writes.
    inode.cached_pages_stale = true;
    return true;
}

void after_passthrough(Filesystem& fs, Inode& inode) {
    // The kernel sends RELEASE before it has quite let go of its own handle on the
    // backing file, which makes unspill() see a writer: a few short retries.
    for (int attempt = 0; attempt < 10; ++attempt) {
        {
            std::lock_guard lock(inode.mutex);
            if (inode.handles > 0 || inode.nlink.load(std::memory_order_relaxed) == 0 ||
                !fs.storage.wants_back(inode) || fs.storage.unspill(inode) != EBUSY)
                return;
        }
        step_aside();  // another thread reads on while this one sleeps
        std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
}

void follow_backing(Inode& inode, bool adopt_times) {
    if (!inode.backing_id) return;
    struct stat st {};
    if (::fstat(inode.data.fd(), &st) != 0) return;
    inode.data.sync_size(static_cast<std::uint64_t>(st.st_size));
    if (adopt_times && st.st_mtim != inode.backing_mtime) inode.mtime = inode.ctime = st.st_mtim;
    // The backing file's atime moved: the kernel read it. Whether that moves the file's
    // own atime is relatime's rule on the file's own times, as for a READ.
    if (adopt_times && st.st_atim != inode.backing_atime) note_access(inode);
    inode.backing_mtime = st.st_mtim;
    inode.backing_atime = st.st_atim;
}

bool kernel_offers_passthrough(const fuse_init_in& in) {
    return (in.flags & FUSE_INIT_EXT) && (in.flags2 & passthrough_flag2);
}

bool request_passthrough(void* out, std::size_t length) {
    if (length < init_stack_depth_at + sizeof(std::uint32_t)) return false;
    auto* bytes = static_cast<std::byte*>(out);
    auto* init = static_cast<fuse_init_out*>(out);
    init->flags |= FUSE_INIT_EXT;
    std::uint32_t flags2, depth = max_stack_depth;
    std::memcpy(&flags2, bytes + init_flags2_at, sizeof(flags2));
    flags2 |= passthrough_flag2;
    std::memcpy(bytes + init_flags2_at, &flags2, sizeof(flags2));
    std::memcpy(bytes + init_stack_depth_at, &depth, sizeof(depth));
    return true;
}

void mark_open_reply(void* body, std::size_t length, std::int32_t backing_id) {
    if (length < sizeof(fuse_open_out)) return;
    auto* open = reinterpret_cast<fuse_open_out*>(static_cast<std::byte*>(body) + length -
                                                  sizeof(fuse_open_out));
    open->open_flags |= fopen_passthrough;
    open->open_flags &= ~static_cast<std::uint32_t>(FOPEN_KEEP_CACHE);
    std::memcpy(reinterpret_cast<std::byte*>(open) + open_backing_id_at, &backing_id,
                sizeof(backing_id));
}

}  // namespace spoolfs
