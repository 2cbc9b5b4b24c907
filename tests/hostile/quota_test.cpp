// Issue 13: per-user limits and per-user usage. Two unprivileged users (kUserA, kUserB)
// against each other on a shared spoolfs with tmpfs's quota options, root beside them.
// (This kernel's tmpfs has no quota support, so there is no oracle here: the expectations
// are tmpfs's documented behaviour.)
#include <linux/capability.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <fstream>

#include <catch2/catch.hpp>

#include "hostile_fixture.hpp"

using namespace hostile;

namespace {

constexpr size_t kPiece = 64 * KiB;

Target target_of(const Mount& m) {
    return {"spoolfs", m.path(), m.connection(), m.pid()};
}

// What a user's writing achieved: bytes written before the first error, and that error.
struct Written {
    long long bytes = 0;
    int error = 0;
};

// As `uid`: writes up to `total` bytes to `name` (created, or appended to) in kPiece
// writes, stopping at the first error or short write.
Written write_as(const Target& t, uid_t uid, const std::string& name, size_t total) {
    Shared<Written> w;
    const int code = run_bounded(
        t, uid,
        [&] {
            Fd fd(::open((t / name).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
            if (!fd) {
                w->error = errno;
                return 0;
            }
            const std::string piece(kPiece, 'q');
            while (static_cast<size_t>(w->bytes) < total) {
                const size_t n = std::min(kPiece, total - static_cast<size_t>(w->bytes));
                const ssize_t put = ::write(fd.get(), piece.data(), n);
                if (put < 0) {
                    w->error = errno;
                    return 0;
                }
                w->bytes += put;
                if (static_cast<size_t>(put) < n) return 0;
            }
            return 0;
        },
        30s);
    REQUIRE(code == 0);
    return *w;
}

// user.spoolfs.stats.user.UID of the mount, as root: "named_bytes=..." pairs.
std::string usage_of(const Target& t, uid_t uid) {
    const std::string name = "user.spoolfs.stats.user." + std::to_string(uid);
    char value[512];
    const ssize_t n = ::getxattr(t.path.c_str(), name.c_str(), value, sizeof value);
    if (n < 0) return "-" + errname(errno);
    return std::string(value, static_cast<size_t>(n));
}

// One field of usage_of().
long long field(const std::string& usage, const std::string& key) {
    const auto at = usage.find(key + "=");
    if (at == std::string::npos) return -1;
    return std::stoll(usage.substr(at + key.size() + 1));
}

// Whether this process has `capability` in its effective set (root may lack some in a
// sandbox).
bool has_capability_now(int capability) {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.starts_with("CapEff:"))
            return std::stoull(line.substr(7), nullptr, 16) >> capability & 1;
    return false;
}

std::string stat_xattr(const Target& t, const std::string& name) {
    char value[64];
    const ssize_t n =
        ::getxattr(t.path.c_str(), ("user.spoolfs.stats." + name).c_str(), value, sizeof value);
    return n < 0 ? "-" + errname(errno) : std::string(value, static_cast<size_t>(n));
}

}  // namespace

TEST_CASE(
    "usrquota_block_hardlimit=1M: EDQUOT past 1 MiB for each user, the other unaffected, "
    "root not limited, with passthrough on and off",
    "[quota]") {
    const std::string passthrough = GENERATE("on", "off");
    INFO("passthrough=" << passthrough);
    Mount m(
        "allow_other,mode=1777,lifetime=mount,usrquota,usrquota_block_hardlimit=1M,"
        "passthrough=" +
        passthrough);
    const Target t = target_of(m);

    // Root writes first, past any user's limit, and keeps the file open: where the kernel
    // can serve files directly, root's file is served so (its owner has no limit).
    Fd root_file(::open((t / "root").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    REQUIRE(root_file);
    const std::string big(3 * MiB, 'r');
    REQUIRE(::write(root_file.get(), big.data(), big.size()) == static_cast<ssize_t>(big.size()));
    if (passthrough == "on" && stat_xattr(t, "passthrough") == "1")
        CHECK(stat_xattr(t, "files_passthrough") == "1");

    for (uid_t user : {kUserA, kUserB}) {
        INFO("uid " << user);
        // Exactly 1 MiB fits; not one byte more, in that file or another.
        const Written first = write_as(t, user, "f" + std::to_string(user), MiB);
        CHECK(first.bytes == static_cast<long long>(MiB));
        CHECK(first.error == 0);
        const Written more = write_as(t, user, "f" + std::to_string(user), 4 * KiB);
        CHECK(more.bytes == 0);
        CHECK(errname(more.error) == "EDQUOT");
        const Written other = write_as(t, user, "g" + std::to_string(user), 1);
        CHECK(other.bytes == 0);
        CHECK(errname(other.error) == "EDQUOT");
        CHECK(field(usage_of(t, user), "named_bytes") == static_cast<long long>(MiB));
        // Files the kernel served directly would show here only for root's.
        if (passthrough == "on" && stat_xattr(t, "passthrough") == "1")
            CHECK(stat_xattr(t, "files_passthrough") == "1");
    }
    // A write that only partly fits is short, as on tmpfs: what fits is kept.
    REQUIRE(::unlink((t / ("g" + std::to_string(kUserA))).c_str()) == 0);
    REQUIRE(::truncate((t / ("f" + std::to_string(kUserA))).c_str(), MiB - 2 * kPiece) == 0);
    const Written partial = write_as(t, kUserA, "f" + std::to_string(kUserA), 3 * kPiece);
    CHECK(partial.bytes == static_cast<long long>(2 * kPiece));
    CHECK(stat_or_throw(t / ("f" + std::to_string(kUserA))).st_size == static_cast<off_t>(MiB));

    // Root is not held, in a new file either.
    REQUIRE(::write(root_file.get(), big.data(), big.size()) == static_cast<ssize_t>(big.size()));
    write_file(t / "root2", big);
    CHECK(field(usage_of(t, 0), "block_limit") == 0);

    // Freed space is the user's again.
    REQUIRE(::unlink((t / ("f" + std::to_string(kUserB))).c_str()) == 0);
    CHECK(write_as(t, kUserB, "h", MiB).bytes == static_cast<long long>(MiB));
}

TEST_CASE("usrquota_inode_hardlimit: EDQUOT past the limit for files, directories and symlinks",
          "[quota]") {
    Mount m("allow_other,mode=1777,lifetime=mount,usrquota,usrquota_inode_hardlimit=3");
    const Target t = target_of(m);
    Shared<Record> r;
    const auto make_four = [&](uid_t uid) {
        return run_bounded(t, uid, [&] {
            const std::string me = std::to_string(::getuid());
            for (int i = 0; i < 3; ++i) {
                Fd fd(::open((t / (me + "-" + std::to_string(i))).c_str(),
                             O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
                r->result(fd ? 0 : -1, "create");
            }
            Fd fd(::open((t / (me + "-x")).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
            r->result(fd ? 0 : -1, "4th create");
            r->result(::mkdir((t / (me + "-d")).c_str(), 0700), "mkdir");
            r->result(::symlink("x", (t / (me + "-l")).c_str()), "symlink");
            // A hard link is no new inode: tmpfs's quota does not count it.
            r->result(::link((t / (me + "-0")).c_str(), (t / (me + "-0b")).c_str()), "link");
            // An unlinked file still open still counts.
            Fd open_one(::open((t / (me + "-1")).c_str(), O_RDONLY | O_CLOEXEC));
            r->result(::unlink((t / (me + "-1")).c_str()), "unlink open");
            Fd again(::open((t / (me + "-y")).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
            r->result(again ? 0 : -1, "create while open");
            // Freed once the kernel forgets it too, a moment after the close.
            open_one = Fd();
            int created = -EDQUOT;
            for (int i = 0; i < 500 && created == -EDQUOT; ++i) {
                Fd after(::open((t / (me + "-y")).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
                created = after ? 0 : -errno;
                if (!after) ::usleep(10000);
            }
            r->add(created, "create after close");
            return 0;
        });
    };
    for (uid_t user : {kUserA, kUserB}) {
        *r = Record{};
        REQUIRE(make_four(user) == 0);
        INFO("uid " << user << ": " << r->str());
        const Record expected = [] {
            Record e;
            for (int i = 0; i < 3; ++i) e.add(0);
            for (int i = 0; i < 3; ++i) e.add(-EDQUOT);
            e.add(0);        // link
            e.add(0);        // unlink
            e.add(-EDQUOT);  // the unlinked file still holds its inode
            e.add(0);        // freed at its close
            return e;
        }();
        CHECK(*r == expected);
    }
    // Root is not limited.
    for (int i = 0; i < 10; ++i) write_file(t / ("root-" + std::to_string(i)), "");
}

TEST_CASE("chown moves the charge to the new owner; root's chown passes the limit", "[quota]") {
    Mount m("allow_other,mode=1777,lifetime=mount,usrquota,usrquota_block_hardlimit=1M");
    const Target t = target_of(m);
    REQUIRE(write_as(t, kUserA, "a", 768 * KiB).bytes == static_cast<long long>(768 * KiB));
    CHECK(field(usage_of(t, kUserA), "named_bytes") == static_cast<long long>(768 * KiB));
    REQUIRE(::chown((t / "a").c_str(), kUserB, kUserB) == 0);
    CHECK(field(usage_of(t, kUserA), "named_bytes") == 0);
    CHECK(field(usage_of(t, kUserA), "named_files") == 0);
    CHECK(field(usage_of(t, kUserB), "named_bytes") == static_cast<long long>(768 * KiB));
    CHECK(field(usage_of(t, kUserB), "named_files") == 1);
    // B has a quarter MiB left.
    const Written b = write_as(t, kUserB, "b", MiB);
    CHECK(b.bytes == static_cast<long long>(256 * KiB));
    CHECK(errname(b.error) == "EDQUOT");
    // A has all of its MiB again.
    CHECK(write_as(t, kUserA, "a2", MiB).bytes == static_cast<long long>(MiB));
    // Root gives B more than its limit: as dquot_transfer(), allowed only to a caller with
    // CAP_SYS_RESOURCE (which some sandboxes take from root); B is then over and can add
    // nothing. Without it, EDQUOT and nothing moves.
    write_file(t / "gift", std::string(512 * KiB, 'g'));
    const int moved = ::chown((t / "gift").c_str(), kUserB, kUserB) == 0 ? 0 : errno;
    if (has_capability_now(CAP_SYS_RESOURCE)) {
        CHECK(moved == 0);
        CHECK(field(usage_of(t, kUserB), "named_bytes") == static_cast<long long>(MiB + 512 * KiB));
    } else {
        CHECK(errname(moved) == "EDQUOT");
        CHECK(field(usage_of(t, kUserB), "named_bytes") == static_cast<long long>(MiB));
        CHECK(stat_or_throw(t / "gift").st_uid == 0);
        CHECK(field(usage_of(t, 0), "named_bytes") >= static_cast<long long>(512 * KiB));
    }
    CHECK(errname(write_as(t, kUserB, "b", 1).error) == "EDQUOT");
}

TEST_CASE("xattrs count in the block limit", "[quota]") {
    Mount m("allow_other,mode=1777,lifetime=mount,usrquota,usrquota_block_hardlimit=1M");
    const Target t = target_of(m);
    REQUIRE(write_as(t, kUserA, "a", MiB - kPiece).bytes == static_cast<long long>(MiB - kPiece));
    Shared<Record> r;
    REQUIRE(run_bounded(t, kUserA, [&] {
                const std::string path = t / "a";
                const std::string whole(kPiece, 'v'), half(kPiece / 2, 'h');
                r->result(::setxattr(path.c_str(), "user.whole", whole.data(), whole.size(), 0),
                          "64K value");
                r->result(::setxattr(path.c_str(), "user.half", half.data(), half.size(), 0),
                          "32K value");
                // Growing a value is charged too.
                r->result(::setxattr(path.c_str(), "user.half", whole.data(), whole.size(), 0),
                          "grow to 64K");
                return 0;
            }) == 0);
    INFO(r->str());
    Record expected;
    expected.add(-EDQUOT);
    expected.add(0);
    expected.add(-EDQUOT);
    CHECK(*r == expected);
    // Name, value and the fixed overhead per attribute (xattrs.hpp).
    CHECK(field(usage_of(t, kUserA), "named_bytes") ==
          static_cast<long long>(MiB - kPiece + kPiece / 2 + std::strlen("user.half") + 128));
    // The attribute goes with its value: the data may grow again.
    REQUIRE(::removexattr((t / "a").c_str(), "user.half") == 0);
    CHECK(write_as(t, kUserA, "a", kPiece).bytes == static_cast<long long>(kPiece));
}

TEST_CASE("df inside the mount means the whole mount, not a user's share", "[quota]") {
    Mount m("allow_other,mode=1777,lifetime=mount,size=64M,usrquota,usrquota_block_hardlimit=1M");
    const Target t = target_of(m);
    REQUIRE(write_as(t, kUserA, "a", MiB).bytes == static_cast<long long>(MiB));
    REQUIRE(write_as(t, kUserB, "b", MiB).bytes == static_cast<long long>(MiB));
    write_file(t / "root", std::string(4 * MiB, 'r'));
    Shared<struct statvfs> seen;
    REQUIRE(run_bounded(t, kUserA,
                        [&] { return ::statvfs(t.path.c_str(), &*seen) == 0 ? 0 : 1; }) == 0);
    CHECK(seen->f_blocks * seen->f_frsize == 64 * MiB);
    CHECK((seen->f_blocks - seen->f_bfree) * seen->f_frsize >= 6 * MiB);
    CHECK(seen->f_bavail * seen->f_frsize <= 58 * MiB);
}

TEST_CASE("the per-user report matches what each user holds, unlinked-but-open included",
          "[quota]") {
    Mount m("allow_other,mode=1777,lifetime=mount,usrquota,usrquota_block_hardlimit=4M");
    const Target t = target_of(m);
    REQUIRE(write_as(t, kUserB, "b", 32 * KiB).bytes == static_cast<long long>(32 * KiB));
    struct Sync {
        int ready = 0;  // A holds its files open
        int done = 0;   // the parent has looked
        int failed = 0;
        char own_list[64] = {};
    };
    Shared<Sync> sync;
    Child a(
        kUserA,
        [&] {
            const std::string piece(kPiece, 'a');
            const auto fill = [&](int fd, size_t bytes) {
                for (size_t at = 0; at < bytes; at += kPiece)
                    if (::write(fd, piece.data(), kPiece) != static_cast<ssize_t>(kPiece))
                        return false;
                return true;
            };
            Fd named(::open((t / "named").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
            Fd close_file(::open((t / "close").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
            Fd gone(::open((t / "gone").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
            if (!named || !close_file || !gone) return 1;
            if (!fill(named.get(), 256 * KiB) || !fill(close_file.get(), 128 * KiB) ||
                !fill(gone.get(), 64 * KiB))
                return 2;
            if (::fsetxattr(close_file.get(), "user.spoolfs.lifetime", "close", 5, 0) != 0)
                return 3;
            if (::unlink((t / "gone").c_str()) != 0) return 4;
            named = Fd();
            // A user sees its own line only.
            ::getxattr(t.path.c_str(), "user.spoolfs.stats.by_user", sync->own_list,
                       sizeof sync->own_list - 1);
            const std::string others = "user.spoolfs.stats.user." + std::to_string(kUserB);
            char value[256];
            if (::getxattr(t.path.c_str(), others.c_str(), value, sizeof value) >= 0 ||
                errno != EACCES)
                sync->failed = 5;
            sync->ready = 1;
            for (int i = 0; i < 3000 && !sync->done; ++i) ::usleep(10000);
            return sync->done ? 0 : 6;
        },
        &t);
    REQUIRE(eventually([&] { return sync->ready == 1; }, 20s));
    CHECK(sync->failed == 0);
    CHECK(std::string(sync->own_list) == std::to_string(kUserA));

    const std::string usage = usage_of(t, kUserA);
    INFO(usage);
    CHECK(field(usage, "named_bytes") == static_cast<long long>(256 * KiB));
    CHECK(field(usage, "named_files") == 1);
    CHECK(field(usage, "close_bytes") == static_cast<long long>(128 * KiB));
    CHECK(field(usage, "close_files") == 1);
    CHECK(field(usage, "unlinked_bytes") == static_cast<long long>(64 * KiB));
    CHECK(field(usage, "unlinked_files") == 1);
    CHECK(field(usage, "block_limit") == static_cast<long long>(4 * MiB));
    CHECK(field(usage_of(t, kUserB), "named_bytes") == static_cast<long long>(32 * KiB));

    // The command prints the same, root seeing every user.
    const ProcessResult json =
        run_process({std::getenv("SPOOLFS"), "--stats", "--by-user", "--json", t.path}, 10s);
    INFO(json.describe() << json.out);
    CHECK(json.exited_with(0));
    CHECK(json.out.find("{\"uid\": " + std::to_string(kUserA) + ", \"bytes\": " +
                        std::to_string(448 * KiB) + ", \"files\": 3,") != std::string::npos);
    CHECK(json.out.find("{\"uid\": " + std::to_string(kUserB) +
                        ", \"bytes\": " + std::to_string(32 * KiB) + ",") != std::string::npos);
    const ProcessResult prom =
        run_process({std::getenv("SPOOLFS"), "--stats", "--by-user", "--prometheus", t.path}, 10s);
    CHECK(prom.out.find("spoolfs_user_bytes{mountpoint=\"" + t.path + "\",uid=\"" +
                        std::to_string(kUserA) + "\",holding=\"unlinked\"} 65536") !=
          std::string::npos);
    const ProcessResult table =
        run_process({std::getenv("SPOOLFS"), "--stats", "--by-user", t.path}, 10s);
    CHECK(table.out.find("unlinked_bytes") != std::string::npos);
    CHECK(table.out.find(std::to_string(kUserB)) != std::string::npos);

    // At A's exit its last closes: the close file vanishes, the unlinked one is freed.
    sync->done = 1;
    REQUIRE(a.wait(20s) == 0);
    REQUIRE(eventually([&] {
        const std::string now = usage_of(t, kUserA);
        return field(now, "close_files") == 0 && field(now, "unlinked_files") == 0;
    }));
    const std::string after = usage_of(t, kUserA);
    INFO(after);
    CHECK(field(after, "named_bytes") == static_cast<long long>(256 * KiB));
    CHECK(field(after, "unlinked_bytes") == 0);
    CHECK(field(after, "unlinked_files") == 0);
}

TEST_CASE("limits change at run time: spoolfs --set-limit by root, refused to a user", "[quota]") {
    Mount m("allow_other,mode=1777,lifetime=mount,usrquota,usrquota_block_hardlimit=1M");
    const Target t = target_of(m);
    const std::string exe = std::getenv("SPOOLFS");
    REQUIRE(write_as(t, kUserA, "a", 2 * MiB).bytes == static_cast<long long>(MiB));

    const ProcessResult raise = run_process(
        {exe, "--set-limit", t.path, "user", std::to_string(kUserA), "block=2M", "inodes=10"}, 10s);
    INFO(raise.describe());
    REQUIRE(raise.exited_with(0));
    CHECK(write_as(t, kUserA, "a", 2 * MiB).bytes == static_cast<long long>(MiB));
    CHECK(field(usage_of(t, kUserA), "block_limit") == static_cast<long long>(2 * MiB));
    CHECK(field(usage_of(t, kUserA), "inode_limit") == 10);

    // The default moves every user without limits of their own.
    REQUIRE(run_process({exe, "--set-limit", t.path, "user", "default", "block=256K"}, 10s)
                .exited_with(0));
    CHECK(write_as(t, kUserB, "b", MiB).bytes == static_cast<long long>(256 * KiB));
    CHECK(errname(write_as(t, kUserA, "a", kPiece).error) == "EDQUOT");  // own limit: full
    char value[64] = {};
    REQUIRE(::getxattr(t.path.c_str(), "user.spoolfs.quota.user.default", value, sizeof value - 1) >
            0);
    CHECK(std::string(value) == "block=262144 inodes=0");

    // A user cannot raise its own limit.
    const std::string as_a = std::to_string(kUserA);
    const ProcessResult user =
        run_process({"setpriv", "--reuid", as_a, "--regid", as_a, "--clear-groups", exe,
                     "--set-limit", t.path, "user", as_a, "block=100M"},
                    10s);
    CHECK(user.exited_with(1));
    CHECK(user.err.find("needs CAP_SYS_ADMIN") != std::string::npos);
    CHECK(field(usage_of(t, kUserA), "block_limit") == static_cast<long long>(2 * MiB));
    // Group limits need grpquota.
    const ProcessResult group =
        run_process({exe, "--set-limit", t.path, "group", "default", "block=1M"}, 10s);
    CHECK(group.exited_with(1));
    CHECK(group.err.find("grpquota") != std::string::npos);
    // Bad arguments: exit 2 naming them.
    for (const std::vector<std::string>& bad :
         {std::vector<std::string>{exe, "--set-limit", t.path, "users", "1", "block=1M"},
          {exe, "--set-limit", t.path, "user", "bob", "block=1M"},
          {exe, "--set-limit", t.path, "user", "1", "block=lots"},
          {exe, "--set-limit", t.path, "user", "1"}}) {
        const ProcessResult r = run_process(bad, 10s);
        INFO(r.describe());
        CHECK(r.exited_with(2));
        CHECK(r.err.starts_with("spoolfs: --set-limit: "));
    }
}

TEST_CASE("grpquota: a group's limit holds its members' files; chgrp moves the charge", "[quota]") {
    Mount m("allow_other,mode=1777,lifetime=mount,grpquota,grpquota_block_hardlimit=1M");
    const Target t = target_of(m);
    // Each user runs with its own uid as its only group (hostile::Child).
    const Written a = write_as(t, kUserA, "a", 2 * MiB);
    CHECK(a.bytes == static_cast<long long>(MiB));
    CHECK(errname(a.error) == "EDQUOT");
    // No user limit here: B's group is another, with room.
    CHECK(write_as(t, kUserB, "b", 512 * KiB).bytes == static_cast<long long>(512 * KiB));
    // A's file goes to B's group: A's group has room again, B's is now full.
    const int moved = ::chown((t / "a").c_str(), static_cast<uid_t>(-1), kUserB) == 0 ? 0 : errno;
    if (has_capability_now(CAP_SYS_RESOURCE)) {
        REQUIRE(moved == 0);
        CHECK(write_as(t, kUserA, "a2", MiB).bytes == static_cast<long long>(MiB));
        CHECK(errname(write_as(t, kUserB, "b", kPiece).error) == "EDQUOT");
    } else {
        // 1.5 MiB would pass group B's limit: refused, nothing moved.
        CHECK(errname(moved) == "EDQUOT");
        CHECK(stat_or_throw(t / "a").st_gid == kUserA);
        CHECK(errname(write_as(t, kUserA, "a2", kPiece).error) == "EDQUOT");
    }
    REQUIRE(::getxattr(t.path.c_str(), "user.spoolfs.quota.group.default", nullptr, 0) > 0);
}
