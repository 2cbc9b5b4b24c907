// Quota: per-user and per-group usage of a mount, and the hard limits tmpfs calls
// usrquota and grpquota (Linux 6.6), with tmpfs's names and rules.
//
// What counts: an id's bytes are the blocks its files hold wherever their data lives (heap,
// RAM store, spill file or pack: Storage's footprint) plus their extended attributes and
// long symlink targets; its inodes are the inodes it owns, from creation until freed (an
// unlinked file still open counts, as on tmpfs; extra hard links do not). Each inode is
// charged to its owner and its group; chown/chgrp moves the charge (transfer()).
//
// Limits: the mount options give the default hard limits of every id but 0 (root), as
// tmpfs's *_hardlimit= do; set_limit() gives one id its own, or changes the default, at
// run time. A charge that would take an id past a limit is EDQUOT before any work, and
// nothing is changed, unless the caller has CAP_SYS_RESOURCE in the daemon's user
// namespace: the kernel's quota ignores hard limits for such callers
// (ignore_hardlimit()), also when they chown. Who calls is the request being served on
// this thread (RequestScope); its capability is read from /proc only when a limit would
// be crossed.
//
// Usage is kept whether limits are on or not (the per-user report needs it): per uid, bytes
// and inodes split by how they are held (named, lifetime=close, unlinked but open),
// moved as state changes, never counted by a scan. Groups are counted with grpquota only.
//
// Locking: lock-free on the paths of reads and writes: an inode's QuotaAccount points at
// its owner's and group's entries, which live as long as the Quota (never removed), and
// every counter is an atomic. The account's own fields are guarded by its mutex, a leaf
// lock held for a few atomic operations, so that the namespace lock (holding changes) and
// an inode's mutex (byte changes) may both take it. Entries are found in a map under a
// shared_mutex only when an inode is made or changes owner.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "credentials.hpp"

namespace spoolfs {

// How an inode is held, for the per-user report.
enum class Holding : std::uint8_t {
    named = 0,     // has a name and lives until unlinked (lifetime=mount), or is no file
    close = 1,     // a named regular file that vanishes at its last close
    unlinked = 2,  // no name, still open or looked up: the space du cannot see
};
inline constexpr std::size_t holding_kinds = 3;
// Their names in the report, by Holding's value.
inline constexpr std::array<const char*, holding_kinds> holding_names = {"named", "close",
                                                                         "unlinked"};

// Hard limits of one id; 0: none.
struct QuotaLimits {
    std::uint64_t bytes = 0;
    std::uint64_t inodes = 0;
};

// One uid's or gid's usage and limits.
struct IdUsage {
    std::atomic<std::uint64_t> bytes = 0;  // settled + reserved: what limits check
    std::atomic<std::uint64_t> inodes = 0;
    std::array<std::atomic<std::uint64_t>, holding_kinds> held_bytes{};  // settled, by holding
    std::array<std::atomic<std::uint64_t>, holding_kinds> held_inodes{};
    std::atomic<std::uint64_t> byte_limit = 0;
    std::atomic<std::uint64_t> inode_limit = 0;
    std::atomic<bool> own_limit = false;  // set by set_limit() for this id: defaults pass it by
};

// What one inode has charged, and to whom. Guarded by `mutex` (see above).
struct QuotaAccount {
    std::mutex mutex;
    IdUsage* user = nullptr;   // nullptr until admitted
    IdUsage* group = nullptr;  // nullptr without grpquota
    Holding holding = Holding::unlinked;
    std::uint64_t bytes = 0;  // settled bytes charged
};

class Quota {
  public:
    struct Config {
        bool users = false;   // usrquota: user limits enforced
        bool groups = false;  // grpquota: group usage kept and limits enforced
        QuotaLimits user_default;
        QuotaLimits group_default;
    };
    explicit Quota(Config config);

    // Whether any limit is enforced (usrquota or grpquota): else writes need no reservation.
    bool enforced() const { return config_.users || config_.groups; }

    // The request served on this thread while the scope lives: whose capability exempts a
    // charge from the limits. Without one, nobody is exempt.
    class RequestScope {
      public:
        explicit RequestScope(const Requester& requester);
        ~RequestScope();
        RequestScope(const RequestScope&) = delete;
        RequestScope& operator=(const RequestScope&) = delete;
    };

    // Before the namespace lock is taken for a create by uid/gid: if either is at its inode
    // limit, whether the caller is exempt is read from /proc now, so that admit() need not
    // read it under the lock.
    void prepare_create(uid_t uid, gid_t gid);
    // A new inode owned by uid/gid: one inode charged, EDQUOT past an inode limit.
    // `checked` false charges without a check (what only privileged callers can make).
    int admit(QuotaAccount& account, uid_t uid, gid_t gid, Holding holding, bool checked = true);
    // The inode is freed: everything it holds goes back.
    void release(QuotaAccount& account);
    // Its holding changed (named, lifetime, unlinked).
    void set_holding(QuotaAccount& account, Holding holding);

    // Before work that may add up to `bytes`: held against the limits (EDQUOT) until
    // unreserve(). settle() then moves the account from `from` to `to` settled bytes.
    int reserve(QuotaAccount& account, std::uint64_t bytes);
    void unreserve(QuotaAccount& account, std::uint64_t bytes);
    void settle(QuotaAccount& account, std::uint64_t from, std::uint64_t to);
    // reserve() and settle() at once, for bytes outside file data (xattrs, symlinks).
    int charge(QuotaAccount& account, std::uint64_t bytes, bool checked = true);
    void uncharge(QuotaAccount& account, std::uint64_t bytes);

    // chown/chgrp: the inode's bytes and inode move to uid/gid; EDQUOT if that takes a new
    // id past a limit (nothing moved). The caller holds the inode's mutex, so no
    // reservation of the inode is under way.
    int transfer(QuotaAccount& account, uid_t uid, gid_t gid, bool checked = true);

    // Whether a byte limit holds the inode's owner or group: its writes must all be seen.
    bool limits_bytes(QuotaAccount& account);

    // Runtime limits: of `id`, or (nullopt) the default of every id but 0 without limits
    // of its own. Unset fields stay. ESRCH when that kind of quota is off, as quotactl(2)
    // says on a mount without it.
    int set_limit(bool group, std::optional<std::uint32_t> id, std::optional<std::uint64_t> bytes,
                  std::optional<std::uint64_t> inodes);
    // The limits of `id` (nullopt: the default).
    QuotaLimits limits(bool group, std::optional<std::uint32_t> id);

    // The per-user report.
    struct UserUsage {
        uid_t uid = 0;
        std::array<std::uint64_t, holding_kinds> bytes{};
        std::array<std::uint64_t, holding_kinds> inodes{};
        QuotaLimits limits;  // enforced only with usrquota
    };
    std::vector<uid_t> users() const;  // uids owning an inode now, ascending
    std::optional<UserUsage> user(uid_t uid) const;

  private:
    using Map = std::unordered_map<std::uint32_t, std::unique_ptr<IdUsage>>;
    IdUsage& entry(bool group, std::uint32_t id);
    // Adds `bytes` (reserve) or one inode to `usage` unless a limit is passed.
    static bool add_within(std::atomic<std::uint64_t>& used, std::uint64_t amount,
                           std::uint64_t limit);
    // Adds to both of the account's ids, or neither; EDQUOT unless exempt.
    int add_checked(IdUsage* user, IdUsage* group, std::uint64_t bytes, std::uint64_t inodes,
                    bool checked);

    Config config_;
    mutable std::shared_mutex mutex_;  // the maps' shapes, the defaults
    Map users_;
    Map groups_;
};

}  // namespace spoolfs
