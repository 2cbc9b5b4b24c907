#include "tree.hpp"

#include <linux/fs.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <mutex>

#include "clock.hpp"
#include "read_turn.hpp"

namespace spoolfs {
namespace {

int check_name(std::string_view name) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos)
        return EINVAL;
    if (name.size() > name_max) return ENAMETOOLONG;
    return 0;
}

void touch_dir(Inode& dir, const timespec& t) {
    std::lock_guard lock(dir.mutex);
    dir.mtime = dir.ctime = t;
}

void touch_ctime(Inode& inode, const timespec& t) {
    std::lock_guard lock(inode.mutex);
    inode.ctime = t;
}

void erase_name(Inode& inode, Ino parent, std::string_view name) {
    inode.names.erase({parent, std::string(name)});
}

// Since the epoch, saturated: utimensat(2) may set any 64-bit time, and expiry subtracts.
std::int64_t nanoseconds(const timespec& t) {
    constexpr std::int64_t most = std::numeric_limits<std::int64_t>::max() / 1'000'000'000 - 1;
    if (t.tv_sec < 0) return 0;
    if (t.tv_sec > most) return std::numeric_limits<std::int64_t>::max();
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

}  // namespace

Tree::Tree(Config config) : config_(std::move(config)) {
    auto root = std::make_shared<Inode>(FUSE_ROOT_ID, S_IFDIR | (config_.root_mode & 07777));
    root->uid = config_.uid;
    root->gid = config_.gid;
    root->nlink = 2;
    root->lifetime = config_.lifetime;
    root->expire = config_.expire;
    root->dir.parent = FUSE_ROOT_ID;
    root->atime = root->mtime = root->ctime = now();
    if (config_.quota) config_.quota->admit(root->quota, root->uid, root->gid, Holding::named, false);
    inodes_.emplace(FUSE_ROOT_ID, std::move(root));
}

InodePtr Tree::find(Ino ino) const {
    std::shared_lock lock(mutex_);
    auto it = inodes_.find(ino);
    return it == inodes_.end() ? nullptr : it->second;
}

Inode* Tree::find_locked(Ino ino) const {
    auto it = inodes_.find(ino);
    return it == inodes_.end() ? nullptr : it->second.get();
}

Inode* Tree::dir_locked(Ino ino, int& err) const {
    Inode* dir = find_locked(ino);
    err = !dir ? ENOENT : !dir->is_dir() ? ENOTDIR : dir->nlink == 0 ? ENOENT : 0;
    return err ? nullptr : dir;
}

int Tree::lookup(Ino parent, std::string_view name, InodePtr& out) {
    if (name.size() > name_max) return ENAMETOOLONG;
    std::shared_lock lock(mutex_);
    int err;
    Inode* dir = dir_locked(parent, err);
    if (!dir) return err;
    Ino ino;
    if (name == ".") {
        ino = parent;
    } else if (name == "..") {
        ino = dir->dir.parent;
    } else {
        auto it = dir->dir.by_name.find(name);
        if (it == dir->dir.by_name.end()) return ENOENT;
        ino = it->second.ino;
    }
    out = inodes_.at(ino);
    out->lookups.fetch_add(1, std::memory_order_relaxed);
    return 0;
}

void Tree::forget(Ino ino, std::uint64_t n) {
    Deferred deferred{*this, {}, {}, now()};
    std::unique_lock lock(mutex_);
    Inode* inode = find_locked(ino);
    if (!inode) return;
    std::uint64_t held = inode->lookups.load(std::memory_order_relaxed);
    inode->lookups.store(held > n ? held - n : 0, std::memory_order_relaxed);
    maybe_free(*inode, deferred);
}

InodePtr Tree::new_inode(mode_t mode) {
    auto inode = std::make_shared<Inode>(next_ino_++, mode);
    if (inode->is_reg()) ++regular_;
    inode->atime = inode->mtime = inode->ctime = now();
    inodes_.emplace(inode->ino, inode);
    return inode;
}

void Tree::add_entry(Inode& dir, std::string_view name, Inode& child) {
    std::uint64_t cookie = dir.dir.next_cookie++;
    auto [it, inserted] =
        dir.dir.by_name.emplace(std::string(name), Directory::Child{child.ino, cookie});
    dir.dir.by_cookie.emplace(cookie, it->first);
    dir.dir.count.store(dir.dir.by_name.size(), std::memory_order_relaxed);
    if (child.is_dir()) {
        child.dir.parent = dir.ino;
        child.dir.name = name;
        ++dir.nlink;  // the child's ".."
    } else {
        child.names.emplace(dir.ino, std::string(name));
        const nlink_t links = ++child.nlink;
        if (links == 1 && child.is_reg()) ++named_[static_cast<int>(child.lifetime)];
        if (links == 1) note_holding(child);
        if (links >= 2) ++extra_links_;
    }
}

void Tree::remove_entry(Inode& dir, std::string_view name, Inode& child) {
    auto it = dir.dir.by_name.find(name);
    dir.dir.by_cookie.erase(it->second.cookie);
    dir.dir.by_name.erase(it);
    dir.dir.count.store(dir.dir.by_name.size(), std::memory_order_relaxed);
    if (child.is_dir()) {
        --dir.nlink;
    } else {
        erase_name(child, dir.ino, name);
        const nlink_t links = --child.nlink;
        if (links == 0 && child.is_reg()) --named_[static_cast<int>(child.lifetime)];
        if (links == 0) note_holding(child);
        if (links >= 1) --extra_links_;
    }
}

void Tree::note_holding(Inode& inode) {
    if (!config_.quota) return;
    const Holding holding = inode.nlink == 0 ? Holding::unlinked
                            : inode.is_reg() && inode.lifetime == Lifetime::close ? Holding::close
                                                                                 : Holding::named;
    config_.quota->set_holding(inode.quota, holding);
}

void Tree::update_lingering(Inode& inode) {
    bool lingering = inode.ino != FUSE_ROOT_ID && inode.nlink == 0 && inode.opens == 0;
    if (lingering == inode.lingering) return;
    inode.lingering = lingering;
    lingering ? ++lingering_ : --lingering_;
}

Tree::Deferred::~Deferred() {
    for (const InodePtr& inode : changed) touch_ctime(*inode, ctime);
    if (!tree.config_.on_free) return;
    for (const InodePtr& inode : freed) tree.config_.on_free(*inode);
}

void Tree::touch_later(Inode& inode, Deferred& deferred) {
    if (auto it = inodes_.find(inode.ino); it != inodes_.end())
        deferred.changed.push_back(it->second);
}

void Tree::maybe_free(Inode& inode, Deferred& deferred) {
    update_lingering(inode);
    if (inode.ino == FUSE_ROOT_ID || inode.nlink > 0 || inode.opens > 0 ||
        inode.lookups.load(std::memory_order_relaxed) > 0)
        return;
    if (inode.lingering) --lingering_;
    inode.lingering = false;
    if (inode.is_reg()) --regular_;
    auto it = inodes_.find(inode.ino);
    deferred.freed.push_back(std::move(it->second));
    inodes_.erase(it);
}

int Tree::create(Ino parent, std::string_view name, mode_t mode, dev_t rdev, const Caller& caller,
                 std::string_view target, InodePtr& out) {
    bool anonymous = name == anonymous_name;
    if (anonymous && !S_ISREG(mode)) return EINVAL;
    if (!anonymous) {
        if (int err = check_name(name)) return err;
    }
    std::unique_lock lock(mutex_);
    int err;
    Inode* dir = dir_locked(parent, err);
    if (!dir) return err;
    if (!anonymous && dir->dir.by_name.count(name)) return EEXIST;
    if (full()) return ENOSPC;

    mode_t dir_mode;
    gid_t dir_gid;
    {
        std::lock_guard dir_lock(dir->mutex);
        dir_mode = dir->mode;
        dir_gid = dir->gid;
    }
    auto inode = new_inode(mode);
    inode->uid = caller.uid;
    inode->gid = caller.gid;
    if (dir_mode & S_ISGID) {
        inode->gid = dir_gid;
        if (S_ISDIR(mode)) inode->mode |= S_ISGID;
    }
    inode->rdev = rdev;
    inode->symlink_target = target;
    inode->lifetime = dir->lifetime;
    inode->expire = dir->expire;
    if (inode->is_dir()) inode->nlink = 2;  // its entry in the parent, and its "."
    // Lock-free; whether the caller passes a full limit was read before the lock
    // (Quota::prepare_create), except for a setgid directory's group.
    if (config_.quota) {
        const Holding holding = inode->is_dir() ? Holding::named : Holding::unlinked;
        if (int err = config_.quota->admit(inode->quota, inode->uid, inode->gid, holding)) {
            if (inode->is_reg()) --regular_;
            inodes_.erase(inode->ino);
            return err;
        }
    }
    inode->lookups = 1;
    if (!anonymous) {
        add_entry(*dir, name, *inode);
        touch_dir(*dir, inode->ctime);
    }
    out = std::move(inode);
    return 0;
}

int Tree::link(Ino ino, Ino new_parent, std::string_view new_name, InodePtr& out) {
    if (int err = check_name(new_name)) return err;
    Deferred deferred{*this, {}, {}, now()};
    std::unique_lock lock(mutex_);
    int err;
    Inode* dir = dir_locked(new_parent, err);
    if (!dir) return err;
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) return ENOENT;
    Inode& inode = *it->second;
    if (inode.is_dir()) return EPERM;
    if (dir->dir.by_name.count(new_name)) return EEXIST;
    // Every name counts as an inode, as on tmpfs: a user cannot hold more names than
    // nr_inodes allows, whatever they point at.
    if (full()) return ENOSPC;
    add_entry(*dir, new_name, inode);
    update_lingering(inode);  // linkat(2) of an O_TMPFILE file through /proc/self/fd
    touch_dir(*dir, deferred.ctime);
    touch_later(inode, deferred);
    inode.lookups.fetch_add(1, std::memory_order_relaxed);
    out = it->second;
    return 0;
}

int Tree::unlink(Ino parent, std::string_view name) {
    return remove(parent, name, false);
}

int Tree::rmdir(Ino parent, std::string_view name) {
    if (name == ".") return EINVAL;
    if (name == "..") return ENOTEMPTY;
    return remove(parent, name, true);
}

int Tree::remove(Ino parent, std::string_view name, bool directory) {
    Deferred deferred{*this, {}, {}, now()};
    std::unique_lock lock(mutex_);
    int err;
    Inode* dir = dir_locked(parent, err);
    if (!dir) return err;
    auto it = dir->dir.by_name.find(name);
    if (it == dir->dir.by_name.end()) return ENOENT;
    Inode& child = *inodes_.at(it->second.ino);
    if (child.is_dir() != directory) return directory ? ENOTDIR : EISDIR;
    if (directory && !child.dir.by_name.empty()) return ENOTEMPTY;
    remove_entry(*dir, name, child);
    if (directory) {
        child.nlink = 0;
        note_holding(child);
    }
    touch_dir(*dir, deferred.ctime);
    touch_later(child, deferred);
    maybe_free(child, deferred);
    return 0;
}

bool Tree::is_ancestor(Ino ancestor, Ino ino) const {
    while (true) {
        if (ino == ancestor) return true;
        if (ino == FUSE_ROOT_ID) return false;
        Inode* inode = find_locked(ino);
        if (!inode) return false;
        ino = inode->dir.parent;
    }
}

int Tree::rename(Ino parent, std::string_view name, Ino new_parent, std::string_view new_name,
                 unsigned flags, const Caller& caller) {
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) return EINVAL;
    if ((flags & RENAME_EXCHANGE) && (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT))) return EINVAL;
    const bool whiteout = flags & RENAME_WHITEOUT;
    if (int err = check_name(new_name)) return err;
    Deferred deferred{*this, {}, {}, now()};
    std::unique_lock lock(mutex_);
    int err;
    Inode* from_dir = dir_locked(parent, err);
    if (!from_dir) return err;
    Inode* to_dir = dir_locked(new_parent, err);
    if (!to_dir) return err;

    auto from_it = from_dir->dir.by_name.find(name);
    if (from_it == from_dir->dir.by_name.end()) return ENOENT;
    Inode& source = *inodes_.at(from_it->second.ino);
    auto to_it = to_dir->dir.by_name.find(new_name);
    Inode* target =
        to_it == to_dir->dir.by_name.end() ? nullptr : inodes_.at(to_it->second.ino).get();

    if (flags & RENAME_EXCHANGE) {
        if (!target) return ENOENT;
    } else if (target && (flags & RENAME_NOREPLACE)) {
        return EEXIST;
    }
    // A directory may not move below itself (nor, in an exchange, the target below it).
    if (source.is_dir() && is_ancestor(source.ino, to_dir->ino)) return EINVAL;
    if ((flags & RENAME_EXCHANGE) && target->is_dir() && is_ancestor(target->ino, from_dir->ino))
        return EINVAL;
    if (target == &source) return 0;  // same inode: POSIX says do nothing
    // The whiteout is one more inode, checked before anything changes.
    if (whiteout && full()) return ENOSPC;

    const timespec& t = deferred.ctime;
    if (flags & RENAME_EXCHANGE) {
        remove_entry(*from_dir, name, source);
        remove_entry(*to_dir, new_name, *target);
        add_entry(*to_dir, new_name, source);
        add_entry(*from_dir, name, *target);
        touch_later(*target, deferred);
    } else {
        if (target) {
            if (source.is_dir() && !target->is_dir()) return ENOTDIR;
            if (!source.is_dir() && target->is_dir()) return EISDIR;
            if (target->is_dir() && !target->dir.by_name.empty()) return ENOTEMPTY;
            remove_entry(*to_dir, new_name, *target);
            if (target->is_dir()) {
                target->nlink = 0;
                note_holding(*target);
            }
            touch_later(*target, deferred);
        }
        remove_entry(*from_dir, name, source);
        add_entry(*to_dir, new_name, source);
        if (target) maybe_free(*target, deferred);
        if (whiteout) {
            auto mark = new_inode(S_IFCHR);  // mode 0, device 0/0: WHITEOUT_MODE, WHITEOUT_DEV
            mark->uid = caller.uid;
            mark->gid = caller.gid;
            // RENAME_WHITEOUT needs CAP_MKNOD: charged without a check.
            if (config_.quota)
                config_.quota->admit(mark->quota, mark->uid, mark->gid, Holding::unlinked, false);
            add_entry(*from_dir, name, *mark);
        }
    }
    touch_later(source, deferred);
    touch_dir(*from_dir, t);
    if (to_dir != from_dir) touch_dir(*to_dir, t);
    return 0;
}

int Tree::open(Inode& inode) {
    std::unique_lock lock(mutex_);
    // Reopened through an O_PATH descriptor: it counts again.
    if (inode.lingering && full()) return ENOSPC;
    ++inode.opens;
    update_lingering(inode);
    return 0;
}

std::vector<Removal> Tree::release(Inode& inode, bool may_remove_names) {
    std::vector<Removal> removed;
    {
        Deferred deferred{*this, {}, {}, now()};
        std::unique_lock lock(mutex_);
        if (inode.opens > 0) --inode.opens;
        inode.last_close = deferred.ctime;
        bool vanishes = may_remove_names && inode.opens == 0 && inode.is_reg() &&
                        inode.lifetime == Lifetime::close && !inode.names.empty();
        if (!vanishes) {
            maybe_free(inode, deferred);
            return removed;
        }
    }
    // The names go in batches, the lock released between them: a file may have as many
    // names as nr_inodes allows, and the mount must not wait for all of them at once.
    constexpr std::size_t batch = 1024;
    while (true) {
        Deferred deferred{*this, {}, {}, now()};
        std::unique_lock lock(mutex_);
        // Opened again meanwhile, or made lifetime-mount: the names left stay.
        const bool vanishes = inode.opens == 0 && inode.lifetime == Lifetime::close;
        for (std::size_t i = 0; vanishes && i < batch && !inode.names.empty(); ++i) {
            auto [parent, name] = *inode.names.begin();
            Inode& dir = *inodes_.at(parent);
            remove_entry(dir, name, inode);
            touch_dir(dir, deferred.ctime);
            removed.push_back({parent, inode.ino, std::move(name)});
        }
        if (!removed.empty()) touch_later(inode, deferred);
        if (!vanishes || inode.names.empty()) {
            maybe_free(inode, deferred);
            return removed;
        }
        lock.unlock();
        step_aside();  // another thread reads requests meanwhile
    }
}

Lifetime Tree::lifetime(const Inode& inode) const {
    std::shared_lock lock(mutex_);
    return inode.lifetime;
}

std::vector<std::pair<Ino, std::string>> Tree::names_of(const Inode& inode) const {
    std::shared_lock lock(mutex_);
    return {inode.names.begin(), inode.names.end()};
}

int Tree::set_lifetime(Inode& inode, Lifetime lifetime) {
    if (!inode.is_reg() && !inode.is_dir()) return EINVAL;
    std::unique_lock lock(mutex_);
    if (inode.is_reg() && inode.nlink > 0 && inode.lifetime != lifetime) {
        --named_[static_cast<int>(inode.lifetime)];
        ++named_[static_cast<int>(lifetime)];
    }
    inode.lifetime = lifetime;
    note_holding(inode);
    return 0;
}

std::chrono::seconds Tree::expire(const Inode& inode) const {
    std::shared_lock lock(mutex_);
    return inode.expire;
}

int Tree::set_expire(Inode& inode, std::chrono::seconds expire) {
    if (!inode.is_reg() && !inode.is_dir()) return EINVAL;
    std::unique_lock lock(mutex_);
    inode.expire = expire;
    return 0;
}

bool Tree::expired_locked(Inode& inode, const timespec& t) const {
    if (inode.ino == FUSE_ROOT_ID || inode.expire.count() <= 0 || inode.nlink == 0) return false;
    if (inode.is_reg()) {
        if (inode.opens > 0) return false;
    } else if (inode.is_dir()) {
        if (!inode.dir.by_name.empty()) return false;
    } else if (!S_ISLNK(inode.type)) {
        return false;  // FIFOs and sockets: whether a process uses one, the daemon never sees
    }
    // Never wait for an inode under the namespace lock: one that is locked is in use.
    std::unique_lock lock(inode.mutex, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    const std::int64_t at = nanoseconds(t);
    // utimensat(2) may set atime and mtime ahead: such a time would keep the file forever.
    std::int64_t latest =
        std::min(std::max(nanoseconds(inode.ctime), nanoseconds(inode.last_close)), at);
    for (const timespec& set : {inode.atime, inode.mtime}) {
        if (nanoseconds(set) <= at) latest = std::max(latest, nanoseconds(set));
    }
    return at - latest >= std::chrono::nanoseconds(inode.expire).count();
}

Tree::ExpiryBatch Tree::expire_batch(std::size_t& cursor, const timespec& t, std::size_t budget) {
    ExpiryBatch batch;
    std::vector<InodePtr> candidates;
    {
        std::shared_lock lock(mutex_);
        // By hash bucket, so that the scan can resume after the lock was released; a rehash
        // meanwhile may make it miss an inode until the next pass. Empty buckets are bounded
        // too: the table never shrinks.
        const std::size_t buckets = inodes_.bucket_count();
        std::size_t seen = 0;
        for (std::size_t visited = 0; cursor < buckets && seen < budget && visited < 4 * budget;
             ++cursor, ++visited) {
            for (auto it = inodes_.begin(cursor); it != inodes_.end(cursor); ++it, ++seen) {
                if (expired_locked(*it->second, t)) candidates.push_back(it->second);
            }
        }
        if (cursor >= buckets) {
            cursor = 0;
            batch.pass_done = true;
        }
    }
    std::size_t next = 0;
    bool started = false;  // the current candidate lost names already
    while (next < candidates.size()) {
        Deferred deferred{*this, {}, {}, now()};
        std::unique_lock lock(mutex_);
        std::size_t names = 0;
        while (next < candidates.size() && names < budget) {
            Inode& inode = *candidates[next];
            // Opened, written, touched or filled meanwhile: it stays. A file that lost some
            // names keeps the rest only if it was opened again (as at a last close).
            const bool go =
                started ? inode.nlink > 0 && inode.opens == 0 : expired_locked(inode, t);
            if (go && inode.is_dir()) {
                Inode* parent = find_locked(inode.dir.parent);
                auto it = parent ? parent->dir.by_name.find(inode.dir.name)
                                 : std::map<std::string, Directory::Child, std::less<>>::iterator{};
                if (parent && it != parent->dir.by_name.end() && it->second.ino == inode.ino) {
                    remove_entry(*parent, inode.dir.name, inode);
                    inode.nlink = 0;
                    note_holding(inode);
                    touch_dir(*parent, deferred.ctime);
                    batch.removed.push_back({parent->ino, inode.ino, inode.dir.name});
                    ++names;
                }
            } else if (go) {
                started = true;
                while (!inode.names.empty() && names < budget) {
                    auto [parent, name] = *inode.names.begin();
                    Inode& dir = *inodes_.at(parent);
                    remove_entry(dir, name, inode);
                    touch_dir(dir, deferred.ctime);
                    batch.removed.push_back({parent, inode.ino, std::move(name)});
                    ++names;
                }
                touch_later(inode, deferred);
                if (!inode.names.empty()) break;  // the rest after the lock was released
            }
            if (go && inode.nlink == 0) ++expired_;
            if (go) maybe_free(inode, deferred);
            started = false;
            ++next;
        }
    }
    return batch;
}

int Tree::readdir(Ino ino, std::uint64_t cookie, const DirentFn& fn) const {
    std::shared_lock lock(mutex_);
    Inode* dir = find_locked(ino);
    if (!dir) return ENOENT;
    if (!dir->is_dir()) return ENOTDIR;
    if (cookie == 0 && !fn(".", *dir, 1)) return 0;
    // A removed directory's parent may be gone already: its ".." is then itself.
    Inode* parent = find_locked(dir->dir.parent);
    if (cookie <= 1 && !fn("..", parent ? *parent : *dir, 2)) return 0;
    for (auto it = dir->dir.by_cookie.upper_bound(std::max<std::uint64_t>(cookie, 2));
         it != dir->dir.by_cookie.end(); ++it) {
        const auto& child = dir->dir.by_name.find(it->second)->second;
        if (!fn(it->second, *inodes_.at(child.ino), it->first)) break;
    }
    return 0;
}

bool Tree::full() const {
    return config_.max_inodes && in_use() >= *config_.max_inodes;
}

std::uint64_t Tree::inode_count() const {
    std::shared_lock lock(mutex_);
    return in_use();
}

Tree::Census Tree::census() const {
    std::shared_lock lock(mutex_);
    return {named_[static_cast<int>(Lifetime::close)], named_[static_cast<int>(Lifetime::mount)],
            regular_, expired_};
}

}  // namespace spoolfs
