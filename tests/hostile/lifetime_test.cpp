// Issue 10, item 3: only a file's owner (or root) changes its lifetime. In a sticky
// world-writable directory B, with write permission to A's file or directory but not its
// owner, can neither set nor remove user.spoolfs.lifetime (EPERM), and A's name survives
// everything B may do to it. spoolfs only: tmpfs has no lifetimes. Default lifetime=close.
#include <sys/xattr.h>

#include <catch2/catch.hpp>

#include "hostile_fixture.hpp"

using namespace hostile;

namespace {

const char* const kLifetime = "user.spoolfs.lifetime";

int set_lifetime(const std::string& path, const std::string& value) {
    return errno_of(::setxattr(path.c_str(), kLifetime, value.data(), value.size(), 0));
}

std::string lifetime_of(const std::string& path) {
    char buf[32];
    const ssize_t n = ::getxattr(path.c_str(), kLifetime, buf, sizeof buf);
    return n < 0 ? "!" + errname(errno) : std::string(buf, static_cast<size_t>(n));
}

}  // namespace

TEST_CASE("hostile: B cannot change the lifetime of A's 0666 file in a sticky directory",
          "[lifetime]") {
    Mount m("allow_other,mode=1777");
    const Target t{"spoolfs", m.path(), m.connection(), m.pid()};
    REQUIRE(::mkdir((t / "shared").c_str(), 01777) == 0);
    REQUIRE(::chmod((t / "shared").c_str(), 01777) == 0);
    const std::string a = t / "shared/a";

    // A makes a file that outlives its handle, as its owner may.
    REQUIRE(run_bounded(t, kUserA, [&] {
        Fd fd(::open(a.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
        if (!fd) return 1;
        if (::write(fd.get(), "A's data", 8) != 8) return 2;
        return set_lifetime(a, "mount") == 0 ? 0 : 3;
    }) == 0);
    REQUIRE(lstat_errno(a) == 0);
    REQUIRE(mode_of(a) == 0666);

    // B may write the file, but not decide when its name goes.
    CHECK(run_bounded(t, kUserB, [&] { return set_lifetime(a, "close"); }) == EPERM);
    CHECK(run_bounded(t, kUserB, [&] { return set_lifetime(a, "mount"); }) == EPERM);
    CHECK(run_bounded(t, kUserB, [&] { return errno_of(::removexattr(a.c_str(), kLifetime)); }) == EPERM);
    CHECK(lifetime_of(a) == "mount");
    CHECK(run_bounded(t, kUserB, [&] {
        Fd fd(::open(a.c_str(), O_RDWR | O_CLOEXEC));
        if (!fd) return errno;
        if (::pwrite(fd.get(), "B", 1, 0) != 1) return 100;
        return fd.close();
    }) == 0);
    // B's own link to it (in B's own directory: in a sticky one the link, being A's file,
    // would not be B's to unlink), made and dropped, takes nothing of A's.
    CHECK(run_bounded(t, kUserB, [&] {
        if (::mkdir((t / "b-own").c_str(), 0700) != 0) return 100;
        if (::link(a.c_str(), (t / "b-own/link").c_str()) != 0) return errno;
        Fd fd(::open((t / "b-own/link").c_str(), O_RDONLY | O_CLOEXEC));
        fd.reset();
        return errno_of(::unlink((t / "b-own/link").c_str()));
    }) == 0);
    CHECK(lstat_errno(a) == 0);
    CHECK(lifetime_of(a) == "mount");
    CHECK(read_file(a) == "B's data");
    // Nor can B unlink or rename it (the sticky bit, as everywhere).
    CHECK(run_bounded(t, kUserB, [&] { return errno_of(::unlink(a.c_str())); }) == EPERM);
    CHECK(run_bounded(t, kUserB, [&] { return errno_of(::rename(a.c_str(), (t / "shared/b").c_str())); }) == EPERM);

    // The owner and root may.
    CHECK(run_bounded(t, kUserA, [&] { return set_lifetime(a, "mount"); }) == 0);
    CHECK(set_lifetime(a, "mount") == 0);
    CHECK(lstat_errno(a) == 0);
    // Root's "close" makes the file anonymous again: it goes at its last close.
    CHECK(set_lifetime(a, "close") == 0);
    { Fd fd = open_or_throw(a, O_RDONLY); }
    CHECK(eventually([&] { return lstat_errno(a) == ENOENT; }));
}

TEST_CASE("hostile: B cannot change the lifetime A's world-writable directory passes on",
          "[lifetime]") {
    Mount m("allow_other,mode=1777");
    const Target t{"spoolfs", m.path(), m.connection(), m.pid()};
    const std::string d = t / "a-dir";
    REQUIRE(run_bounded(t, kUserA, [&] {
        if (::mkdir(d.c_str(), 0777) != 0) return 1;
        return set_lifetime(d, "mount") == 0 ? 0 : 2;
    }) == 0);
    REQUIRE(mode_of(d) == 0777);

    CHECK(run_bounded(t, kUserB, [&] { return set_lifetime(d, "close"); }) == EPERM);
    CHECK(run_bounded(t, kUserB, [&] { return errno_of(::removexattr(d.c_str(), kLifetime)); }) == EPERM);
    CHECK(lifetime_of(d) == "mount");
    // So A's files made in it later still outlive their handles.
    CHECK(run_bounded(t, kUserA, [&] {
        Fd fd(::open((d + "/later").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        return fd ? fd.close() : errno;
    }) == 0);
    CHECK(lstat_errno(d + "/later") == 0);

    CHECK(run_bounded(t, kUserA, [&] { return set_lifetime(d, "close"); }) == 0);
    CHECK(lifetime_of(d) == "close");
    CHECK(set_lifetime(d, "mount") == 0);
    CHECK(lifetime_of(d) == "mount");
}

TEST_CASE("hostile: B's own hard link to A's file cannot carry a lifetime onto A's name",
          "[lifetime]") {
    // B may link A's 0666 file (protected_hardlinks allows it: B can read and write it)
    // into a directory of B's whose lifetime is close; A's name must not vanish at B's close.
    Mount m("allow_other,mode=1777");
    const Target t{"spoolfs", m.path(), m.connection(), m.pid()};
    const std::string a = t / "a";
    REQUIRE(run_bounded(t, kUserA, [&] {
        Fd fd(::open(a.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
        if (!fd) return 1;
        return set_lifetime(a, "mount") == 0 ? 0 : 2;
    }) == 0);
    const int b_err = run_bounded(t, kUserB, [&] {
        const std::string dir = t / "b-dir";
        if (::mkdir(dir.c_str(), 0700) != 0 || set_lifetime(dir, "close") != 0) return 1;
        if (::link(a.c_str(), (dir + "/mine").c_str()) != 0) return 2;
        Fd fd(::open((dir + "/mine").c_str(), O_RDWR | O_CLOEXEC));
        if (!fd) return 3;
        return fd.close();
    });
    CHECK(b_err == 0);
    std::this_thread::sleep_for(100ms);  // the kernel's RELEASE comes after close()
    CHECK(lstat_errno(a) == 0);
    CHECK(lifetime_of(a) == "mount");
}
