// Issue 10, item 10: the smaller differences from tmpfs. setxattr("user.") is EINVAL; the
// statistics xattrs of the root cannot be set (EPERM) nor show up in listxattr;
// RENAME_WHITEOUT leaves a whiteout (an overlayfs upper layer needs it); size=1 takes a
// 1-byte write (tmpfs rounds size= up to a page).
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <catch2/catch.hpp>

#include "hostile_fixture.hpp"

using namespace hostile;

TEST_CASE("hostile: setxattr of the bare name user. is EINVAL, as on tmpfs", "[misc][xattr]") {
    Both b("lifetime=mount");
    Record r[2];
    int i = 0;
    for (const Target& t : b.both()) {
        make_file(t / "f", kUserA, 0644);
        r[i].result(::setxattr((t / "f").c_str(), "user.", "v", 1, 0), "root's setxattr(user.)");
        Shared<Record> rec;
        r[i].add(run_bounded(t, kUserA, [&] {
            rec->result(::setxattr((t / "f").c_str(), "user.", "v", 1, 0));
            rec->result(::getxattr((t / "f").c_str(), "user.", nullptr, 0));
            rec->result(::removexattr((t / "f").c_str(), "user."));
            return 0;
        }), "A's exit");
        r[i].add(rec->v[0], "A's setxattr(user.)");
        r[i].add(rec->v[1], "A's getxattr(user.)");
        r[i].add(rec->v[2], "A's removexattr(user.)");
        r[i].result(::listxattr((t / "f").c_str(), nullptr, 0), "listxattr size");
        ++i;
    }
    INFO("tmpfs:   " << r[0].str() << "\nspoolfs: " << r[1].str() << "\ndifferences:\n"
                     << r[0].differences(r[1]));
    CHECK(r[0].v[0] == -EINVAL);
    CHECK(r[1] == r[0]);
}

TEST_CASE("hostile: user.spoolfs.stats.* of the root cannot be set and are never listed",
          "[misc][xattr]") {
    Both b("lifetime=mount");
    const Target sp = b.spoolfs();
    const std::string root = sp.path;
    for (const char* name : {"user.spoolfs.stats.ram_bytes", "user.spoolfs.stats.files_in_ram",
                             "user.spoolfs.stats.made_up", "user.spoolfs.stats."}) {
        INFO(name);
        CHECK(errno_of(::setxattr(root.c_str(), name, "12345", 5, 0)) == EPERM);
        CHECK(errno_of(::setxattr(root.c_str(), name, "12345", 5, XATTR_CREATE)) == EPERM);
        CHECK(errno_of(::removexattr(root.c_str(), name)) != 0);
    }
    // The listing holds none of them, and the statistic is still the computed one.
    std::string list(65536, '\0');
    const ssize_t n = ::listxattr(root.c_str(), list.data(), list.size());
    REQUIRE(n >= 0);
    list.resize(static_cast<size_t>(n));
    INFO("listed: " << list);
    CHECK(list.find("user.spoolfs.stats.") == std::string::npos);
    write_file(sp / "data", pattern(100 * KiB, 1));
    CHECK(stat_of(b.mount(), "ram_bytes") != 12345);
    CHECK(stat_of(b.mount(), "ram_bytes") >= 100 * KiB);
    // Another user is refused as well (the sticky root is not theirs).
    CHECK(run_bounded(sp, kUserA, [&] {
        return errno_of(::setxattr(root.c_str(), "user.spoolfs.stats.ram_bytes", "1", 1, 0));
    }) == EPERM);
}

TEST_CASE("hostile: renameat2(RENAME_WHITEOUT) leaves a whiteout, as on tmpfs", "[misc][rename]") {
    Both b("lifetime=mount");
    Record r[2];
    int i = 0;
    for (const Target& t : b.both()) {
        write_file(t / "old", "contents");
        r[i].result(::renameat2(AT_FDCWD, (t / "old").c_str(), AT_FDCWD, (t / "new").c_str(),
                                RENAME_WHITEOUT),
                    "renameat2(WHITEOUT)");
        struct stat st {};
        r[i].result(::lstat((t / "old").c_str(), &st), "lstat old");
        r[i].add(S_ISCHR(st.st_mode), "old is a char device");
        r[i].add(static_cast<long long>(st.st_rdev), "its rdev");
        r[i].add(lstat_errno(t / "new"), "lstat new");
        r[i].add(lstat_errno(t / "new") == 0 && read_file(t / "new") == "contents", "new has the data");
        // Over an existing name, and into a directory.
        write_file(t / "third", "3");
        REQUIRE(::mkdir((t / "dir").c_str(), 0755) == 0);
        r[i].result(::renameat2(AT_FDCWD, (t / "third").c_str(), AT_FDCWD, (t / "new").c_str(),
                                RENAME_WHITEOUT),
                    "WHITEOUT over a name");
        r[i].add(lstat_errno(t / "third") == 0 && S_ISCHR(stat_or_throw(t / "third").st_mode),
                 "whiteout left");
        r[i].result(::renameat2(AT_FDCWD, (t / "new").c_str(), AT_FDCWD, (t / "dir/x").c_str(),
                                RENAME_WHITEOUT),
                    "WHITEOUT into a directory");
        r[i].add(list_dir(t / "dir").size(), "entries in dir");
        // An unprivileged user may too (Linux 5.8 and later allow unprivileged whiteouts).
        make_file(t / "users", kUserA, 0644);
        r[i].add(run_bounded(t, kUserA, [&] {
            return errno_of(::renameat2(AT_FDCWD, (t / "users").c_str(), AT_FDCWD,
                                        (t / "users2").c_str(), RENAME_WHITEOUT));
        }), "A's renameat2(WHITEOUT)");
        ++i;
    }
    INFO("tmpfs:   " << r[0].str() << "\nspoolfs: " << r[1].str() << "\ndifferences:\n"
                     << r[0].differences(r[1]));
    CHECK(r[0].v[0] == 0);
    CHECK(r[1] == r[0]);
}

TEST_CASE("hostile: a size=1 mount accepts a 1-byte write (tmpfs rounds up to a page)",
          "[misc][limits]") {
    Both b("lifetime=mount,size=1", "size=1");
    Record r[2];
    int i = 0;
    for (const Target& t : b.both()) {
        Fd fd(::open((t / "one").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        REQUIRE(fd);
        r[i].result(::pwrite(fd.get(), "x", 1, 0), "1-byte write");
        r[i].add(fd.close(), "close");
        r[i].add(lstat_errno(t / "one") == 0 && read_file(t / "one") == "x", "read back");
        ++i;
    }
    INFO("tmpfs:   " << r[0].str() << "\nspoolfs: " << r[1].str());
    CHECK(r[0].v[0] == 1);
    CHECK(r[1] == r[0]);
}
