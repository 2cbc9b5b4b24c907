// Tests of the quota's accounting without a mount: limits, EDQUOT before anything is
// charged, holdings, chown's transfer, runtime limits. No request is being served on the
// test's thread, so nobody is exempt from the limits here (Quota::RequestScope).
#include <catch2/catch.hpp>
#include <cerrno>

#include "quota.hpp"

using spoolfs::Holding;
using spoolfs::Quota;
using spoolfs::QuotaAccount;

namespace {

constexpr std::uint64_t MiB = 1 << 20;

Quota limited(std::uint64_t bytes, std::uint64_t inodes, bool groups = false) {
    return Quota(Quota::Config{.users = true,
                               .groups = groups,
                               .user_default = {bytes, inodes},
                               .group_default = {bytes, inodes}});
}

std::uint64_t held_bytes(const Quota& quota, uid_t uid, Holding holding) {
    auto usage = quota.user(uid);
    REQUIRE(usage);
    return usage->bytes[static_cast<std::size_t>(holding)];
}

std::uint64_t held_files(const Quota& quota, uid_t uid, Holding holding) {
    auto usage = quota.user(uid);
    REQUIRE(usage);
    return usage->inodes[static_cast<std::size_t>(holding)];
}

}  // namespace

TEST_CASE("quota: a reservation past the byte limit is EDQUOT and charges nothing") {
    Quota quota = limited(MiB, 0);
    QuotaAccount file;
    REQUIRE(quota.admit(file, 1000, 1000, Holding::named) == 0);
    REQUIRE(quota.reserve(file, MiB) == 0);
    quota.settle(file, 0, MiB);
    quota.unreserve(file, MiB);
    CHECK(held_bytes(quota, 1000, Holding::named) == MiB);
    CHECK(quota.reserve(file, 1) == EDQUOT);
    CHECK(quota.charge(file, 1) == EDQUOT);
    CHECK(held_bytes(quota, 1000, Holding::named) == MiB);
    // Another user is not affected.
    QuotaAccount other;
    REQUIRE(quota.admit(other, 1001, 1001, Holding::named) == 0);
    CHECK(quota.reserve(other, MiB) == 0);
    quota.unreserve(other, MiB);
    // Root has no default limit, as on tmpfs.
    QuotaAccount root;
    REQUIRE(quota.admit(root, 0, 0, Holding::named) == 0);
    CHECK(quota.reserve(root, 10 * MiB) == 0);
    quota.unreserve(root, 10 * MiB);
    // Freed: the bytes come back.
    quota.release(file);
    CHECK(held_bytes(quota, 1000, Holding::named) == 0);
    QuotaAccount again;
    REQUIRE(quota.admit(again, 1000, 1000, Holding::named) == 0);
    CHECK(quota.reserve(again, MiB) == 0);
    quota.unreserve(again, MiB);
}

TEST_CASE("quota: the inode limit counts inodes, and freeing gives them back") {
    Quota quota = limited(0, 2);
    QuotaAccount a, b, c;
    REQUIRE(quota.admit(a, 1000, 1000, Holding::named) == 0);
    REQUIRE(quota.admit(b, 1000, 1000, Holding::unlinked) == 0);
    CHECK(quota.admit(c, 1000, 1000, Holding::named) == EDQUOT);
    CHECK(quota.admit(c, 1000, 1000, Holding::named, false) == 0);  // unchecked: whiteouts
    quota.release(c);
    quota.release(a);
    CHECK(quota.admit(c, 1000, 1000, Holding::named) == 0);
}

TEST_CASE("quota: holdings move bytes and files between named, close and unlinked") {
    Quota quota(Quota::Config{});
    QuotaAccount file;
    REQUIRE(quota.admit(file, 7, 7, Holding::unlinked) == 0);
    quota.settle(file, 0, 4096);
    quota.set_holding(file, Holding::close);
    CHECK(held_bytes(quota, 7, Holding::close) == 4096);
    CHECK(held_files(quota, 7, Holding::close) == 1);
    CHECK(held_files(quota, 7, Holding::unlinked) == 0);
    quota.set_holding(file, Holding::unlinked);
    quota.settle(file, 4096, 1024);
    CHECK(held_bytes(quota, 7, Holding::unlinked) == 1024);
    CHECK(held_bytes(quota, 7, Holding::close) == 0);
    quota.release(file);
    CHECK(held_files(quota, 7, Holding::unlinked) == 0);
}

TEST_CASE("quota: chown moves the charge; EDQUOT for the new owner changes nothing") {
    Quota quota = limited(MiB, 0, true);
    QuotaAccount full, moving;
    REQUIRE(quota.admit(full, 2000, 2000, Holding::named) == 0);
    REQUIRE(quota.charge(full, MiB / 2) == 0);
    REQUIRE(quota.admit(moving, 1000, 1000, Holding::named) == 0);
    REQUIRE(quota.charge(moving, MiB / 2 + 1) == 0);
    CHECK(quota.transfer(moving, 2000, 1000) == EDQUOT);
    CHECK(held_bytes(quota, 1000, Holding::named) == MiB / 2 + 1);
    CHECK(quota.transfer(moving, 3000, 3000) == 0);
    CHECK(held_bytes(quota, 1000, Holding::named) == 0);
    CHECK(held_bytes(quota, 3000, Holding::named) == MiB / 2 + 1);
    CHECK(held_files(quota, 3000, Holding::named) == 1);
    // The group's limit too: group 2000 holds half a MiB.
    CHECK(quota.transfer(moving, 3000, 2000) == EDQUOT);
    // Unchecked (the caller is exempt): it moves past the limit.
    CHECK(quota.transfer(moving, 2000, 2000, false) == 0);
    CHECK(held_bytes(quota, 2000, Holding::named) == MiB + 1);
    CHECK(quota.reserve(full, 1) == EDQUOT);
}

TEST_CASE("quota: limits change at run time, per id or by default") {
    Quota quota = limited(MiB, 0);
    QuotaAccount a, b;
    REQUIRE(quota.admit(a, 1000, 1000, Holding::named) == 0);
    REQUIRE(quota.admit(b, 1001, 1001, Holding::named) == 0);
    REQUIRE(quota.set_limit(false, 1000, 2 * MiB, std::nullopt) == 0);
    CHECK(quota.reserve(a, 2 * MiB) == 0);
    quota.unreserve(a, 2 * MiB);
    CHECK(quota.reserve(b, 2 * MiB) == EDQUOT);
    // The default changes every id without limits of its own, not root, not 1000.
    REQUIRE(quota.set_limit(false, std::nullopt, MiB / 2, 5) == 0);
    CHECK(quota.reserve(b, MiB) == EDQUOT);
    CHECK(quota.limits(false, 1001).inodes == 5);
    CHECK(quota.limits(false, 1000).bytes == 2 * MiB);
    CHECK(quota.limits(false, 0).bytes == 0);
    CHECK(quota.limits(false, std::nullopt).bytes == MiB / 2);
    // 0 removes a limit.
    REQUIRE(quota.set_limit(false, 1001, 0, std::nullopt) == 0);
    CHECK(quota.reserve(b, 8 * MiB) == 0);
    quota.unreserve(b, 8 * MiB);
    // Group limits need grpquota (ESRCH, as quotactl(2) on a mount without it).
    CHECK(quota.set_limit(true, 1000, MiB, std::nullopt) == ESRCH);
    CHECK(Quota(Quota::Config{}).set_limit(false, 1000, MiB, std::nullopt) == ESRCH);
}

TEST_CASE("quota: the report lists users in order") {
    Quota quota(Quota::Config{});
    QuotaAccount a, b;
    REQUIRE(quota.admit(a, 9, 9, Holding::named) == 0);
    REQUIRE(quota.admit(b, 3, 3, Holding::named) == 0);
    CHECK(quota.users() == std::vector<uid_t>{3, 9});
    CHECK_FALSE(quota.user(4).has_value());
    // A user whose last inode went is left out of the list; its line still reads.
    quota.release(a);
    CHECK(quota.users() == std::vector<uid_t>{3});
    CHECK(quota.user(9).has_value());
}
