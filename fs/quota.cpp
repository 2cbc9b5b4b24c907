#include "quota.hpp"

#include <linux/capability.h>

#include <algorithm>
#include <cerrno>

namespace spoolfs {
namespace {

// The request this thread serves (Quota::RequestScope), and whether it is exempt from the
// limits once that was read (-1: not yet).
thread_local std::optional<Requester> current_requester;
thread_local int current_exempt = -1;

// As the kernel's ignore_hardlimit(): CAP_SYS_RESOURCE (in our namespace) passes limits.
bool caller_exempt() {
    if (!current_requester) return false;
    if (current_exempt < 0)
        current_exempt =
            has_capability(current_requester->pid, current_requester->uid, CAP_SYS_RESOURCE);
    return current_exempt == 1;
}

void subtract(IdUsage* usage, std::uint64_t bytes, std::uint64_t inodes) {
    if (!usage) return;
    usage->bytes.fetch_sub(bytes, std::memory_order_relaxed);
    usage->inodes.fetch_sub(inodes, std::memory_order_relaxed);
}

void move_held(IdUsage* usage, Holding holding, std::uint64_t bytes, std::uint64_t inodes,
               bool add) {
    if (!usage) return;
    const auto i = static_cast<std::size_t>(holding);
    const std::uint64_t sign = add ? 1 : std::uint64_t(-1);  // unsigned wrap subtracts
    usage->held_bytes[i].fetch_add(bytes * sign, std::memory_order_relaxed);
    usage->held_inodes[i].fetch_add(inodes * sign, std::memory_order_relaxed);
}

QuotaLimits limits_of(const IdUsage& usage) {
    return {usage.byte_limit.load(std::memory_order_relaxed),
            usage.inode_limit.load(std::memory_order_relaxed)};
}

}  // namespace

Quota::RequestScope::RequestScope(const Requester& requester) {
    current_requester = requester;
    current_exempt = -1;
}

Quota::RequestScope::~RequestScope() {
    current_requester.reset();
    current_exempt = -1;
}

Quota::Quota(Config config) : config_(config) {}

IdUsage& Quota::entry(bool group, std::uint32_t id) {
    Map& map = group ? groups_ : users_;
    {
        std::shared_lock lock(mutex_);
        if (auto it = map.find(id); it != map.end()) return *it->second;
    }
    std::unique_lock lock(mutex_);
    auto [it, inserted] = map.try_emplace(id);
    if (inserted) {
        it->second = std::make_unique<IdUsage>();
        // tmpfs: the default limits hold every id but root's.
        const QuotaLimits defaults = id == 0 ? QuotaLimits{}
                                     : group ? config_.group_default
                                             : config_.user_default;
        it->second->byte_limit = defaults.bytes;
        it->second->inode_limit = defaults.inodes;
    }
    return *it->second;
}

bool Quota::add_within(std::atomic<std::uint64_t>& used, std::uint64_t amount,
                       std::uint64_t limit) {
    if (amount == 0) return true;
    if (limit == 0) {
        used.fetch_add(amount, std::memory_order_relaxed);
        return true;
    }
    std::uint64_t now = used.load(std::memory_order_relaxed);
    do {
        if (now + amount > limit || now + amount < now) return false;
    } while (!used.compare_exchange_weak(now, now + amount, std::memory_order_relaxed));
    return true;
}

int Quota::add_checked(IdUsage* user, IdUsage* group, std::uint64_t bytes, std::uint64_t inodes,
                       bool checked) {
    bool forced = !checked;
    const auto add = [&](IdUsage* usage, bool enforced) {
        if (!usage) return true;
        const bool check = enforced && !forced;
        const QuotaLimits limits = check ? limits_of(*usage) : QuotaLimits{};
        if (!add_within(usage->bytes, bytes, limits.bytes)) return false;
        if (add_within(usage->inodes, inodes, limits.inodes)) return true;
        usage->bytes.fetch_sub(bytes, std::memory_order_relaxed);
        return false;
    };
    while (true) {
        if (add(user, config_.users)) {
            if (add(group, config_.groups)) return 0;
            subtract(user, bytes, inodes);
        }
        // Read /proc only now that a limit is in the way.
        if (forced || !caller_exempt()) return EDQUOT;
        forced = true;
    }
}

void Quota::prepare_create(uid_t uid, gid_t gid) {
    const auto full = [](const IdUsage& usage) {
        const std::uint64_t limit = usage.inode_limit.load(std::memory_order_relaxed);
        return limit > 0 && usage.inodes.load(std::memory_order_relaxed) >= limit;
    };
    if ((config_.users && full(entry(false, uid))) || (config_.groups && full(entry(true, gid))))
        caller_exempt();
}

int Quota::admit(QuotaAccount& account, uid_t uid, gid_t gid, Holding holding, bool checked) {
    IdUsage* user = &entry(false, uid);
    IdUsage* group = config_.groups ? &entry(true, gid) : nullptr;
    if (int err = add_checked(user, group, 0, 1, checked)) return err;
    std::lock_guard lock(account.mutex);
    account.user = user;
    account.group = group;
    account.holding = holding;
    account.bytes = 0;
    move_held(user, holding, 0, 1, true);
    move_held(group, holding, 0, 1, true);
    return 0;
}

void Quota::release(QuotaAccount& account) {
    std::lock_guard lock(account.mutex);
    if (!account.user) return;
    for (IdUsage* usage : {account.user, account.group}) {
        subtract(usage, account.bytes, 1);
        move_held(usage, account.holding, account.bytes, 1, false);
    }
    account.user = account.group = nullptr;
    account.bytes = 0;
}

void Quota::set_holding(QuotaAccount& account, Holding holding) {
    std::lock_guard lock(account.mutex);
    if (!account.user || account.holding == holding) return;
    for (IdUsage* usage : {account.user, account.group}) {
        move_held(usage, account.holding, account.bytes, 1, false);
        move_held(usage, holding, account.bytes, 1, true);
    }
    account.holding = holding;
}

int Quota::reserve(QuotaAccount& account, std::uint64_t bytes) {
    IdUsage *user, *group;
    {
        std::lock_guard lock(account.mutex);
        user = account.user;
        group = account.group;
    }
    return add_checked(user, group, bytes, 0, true);
}

void Quota::unreserve(QuotaAccount& account, std::uint64_t bytes) {
    std::lock_guard lock(account.mutex);
    subtract(account.user, bytes, 0);
    subtract(account.group, bytes, 0);
}

void Quota::settle(QuotaAccount& account, std::uint64_t from, std::uint64_t to) {
    if (from == to) return;
    std::lock_guard lock(account.mutex);
    if (!account.user) return;
    const std::uint64_t delta = to - from;  // unsigned wrap subtracts
    for (IdUsage* usage : {account.user, account.group}) {
        if (!usage) continue;
        usage->bytes.fetch_add(delta, std::memory_order_relaxed);
        usage->held_bytes[static_cast<std::size_t>(account.holding)].fetch_add(
            delta, std::memory_order_relaxed);
    }
    account.bytes += delta;
}

int Quota::charge(QuotaAccount& account, std::uint64_t bytes, bool checked) {
    if (bytes == 0) return 0;
    IdUsage *user, *group;
    {
        std::lock_guard lock(account.mutex);
        user = account.user;
        group = account.group;
    }
    if (int err = add_checked(user, group, bytes, 0, checked)) return err;
    std::lock_guard lock(account.mutex);
    if (!user) return 0;
    move_held(user, account.holding, bytes, 0, true);
    move_held(group, account.holding, bytes, 0, true);
    account.bytes += bytes;
    return 0;
}

void Quota::uncharge(QuotaAccount& account, std::uint64_t bytes) {
    std::lock_guard lock(account.mutex);
    if (!account.user || bytes == 0) return;
    for (IdUsage* usage : {account.user, account.group}) {
        subtract(usage, bytes, 0);
        move_held(usage, account.holding, bytes, 0, false);
    }
    account.bytes -= bytes;
}

int Quota::transfer(QuotaAccount& account, uid_t uid, gid_t gid, bool checked) {
    IdUsage *old_user, *old_group;
    std::uint64_t bytes;
    {
        std::lock_guard lock(account.mutex);
        if (!account.user) return 0;
        old_user = account.user;
        old_group = account.group;
        bytes = account.bytes;
    }
    IdUsage* user = &entry(false, uid);
    IdUsage* group = config_.groups ? &entry(true, gid) : nullptr;
    IdUsage* gains_user = user != old_user ? user : nullptr;
    IdUsage* gains_group = group != old_group ? group : nullptr;
    if (int err = add_checked(gains_user, gains_group, bytes, 1, checked)) return err;
    std::lock_guard lock(account.mutex);
    subtract(gains_user ? old_user : nullptr, bytes, 1);
    subtract(gains_group ? old_group : nullptr, bytes, 1);
    for (auto [from, to] : {std::pair{old_user, user}, std::pair{old_group, group}}) {
        if (from == to) continue;
        move_held(from, account.holding, bytes, 1, false);
        move_held(to, account.holding, bytes, 1, true);
    }
    account.user = user;
    account.group = group;
    return 0;
}

bool Quota::limits_bytes(QuotaAccount& account) {
    std::lock_guard lock(account.mutex);
    const auto limited = [](const IdUsage* usage) {
        return usage && usage->byte_limit.load(std::memory_order_relaxed) > 0;
    };
    return (config_.users && limited(account.user)) || (config_.groups && limited(account.group));
}

int Quota::set_limit(bool group, std::optional<std::uint32_t> id,
                     std::optional<std::uint64_t> bytes, std::optional<std::uint64_t> inodes) {
    if (!(group ? config_.groups : config_.users)) return ESRCH;
    const auto apply = [&](IdUsage& usage) {
        if (bytes) usage.byte_limit = *bytes;
        if (inodes) usage.inode_limit = *inodes;
    };
    if (id) {
        IdUsage& usage = entry(group, *id);
        std::unique_lock lock(mutex_);
        apply(usage);
        usage.own_limit = true;
        return 0;
    }
    std::unique_lock lock(mutex_);
    QuotaLimits& defaults = group ? config_.group_default : config_.user_default;
    if (bytes) defaults.bytes = *bytes;
    if (inodes) defaults.inodes = *inodes;
    for (auto& [key, usage] : group ? groups_ : users_)
        if (key != 0 && !usage->own_limit) apply(*usage);
    return 0;
}

QuotaLimits Quota::limits(bool group, std::optional<std::uint32_t> id) {
    // Looked up, never added: anyone may ask about any of 2^32 ids.
    std::shared_lock lock(mutex_);
    if (id) {
        const Map& map = group ? groups_ : users_;
        if (auto it = map.find(*id); it != map.end()) return limits_of(*it->second);
        if (*id == 0) return {};  // as entry(): the defaults hold every id but root's
    }
    return group ? config_.group_default : config_.user_default;
}

std::vector<uid_t> Quota::users() const {
    std::vector<uid_t> uids;
    {
        std::shared_lock lock(mutex_);
        uids.reserve(users_.size());
        for (const auto& [uid, usage] : users_)
            if (usage->inodes.load(std::memory_order_relaxed) > 0) uids.push_back(uid);
    }
    std::sort(uids.begin(), uids.end());
    return uids;
}

std::optional<Quota::UserUsage> Quota::user(uid_t uid) const {
    std::shared_lock lock(mutex_);
    auto it = users_.find(uid);
    if (it == users_.end()) return std::nullopt;
    const IdUsage& usage = *it->second;
    UserUsage out;
    out.uid = uid;
    for (std::size_t i = 0; i < holding_kinds; ++i) {
        out.bytes[i] = usage.held_bytes[i].load(std::memory_order_relaxed);
        out.inodes[i] = usage.held_inodes[i].load(std::memory_order_relaxed);
    }
    out.limits = limits_of(usage);
    return out;
}

}  // namespace spoolfs
