// Lifetimes on a real mount. Under lifetime=close (the default) a regular file, with all
// of its names, is gone the moment its last open handle is released: for every process,
// right after close() returns, with no waiting. lifetime=mount behaves as tmpfs. The xattr
// user.spoolfs.lifetime overrides either for one file, or for what a directory gets later.
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "file_util.hpp"
#include "mount_fixture.hpp"

using namespace mount_test;

namespace {

const char* const kXattr = "user.spoolfs.lifetime";

// lstat's errno seen from a different process.
int lstat_errno_elsewhere(const std::string& path) {
    return run_child([&] { return lstat_errno(path); });
}

Fd create(const std::string& path, std::string_view data = "some data") {
    Fd fd = open_or_throw(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    write_all(fd.get(), data);
    return fd;
}

std::string lifetime_of(const std::string& path) {
    char buf[32];
    const ssize_t n = getxattr(path.c_str(), kXattr, buf, sizeof buf);
    if (n < 0) throw_errno(std::string("getxattr ") + kXattr + " " + path);
    return std::string(buf, static_cast<size_t>(n));
}

int set_lifetime(const std::string& path, std::string_view value) {
    return errno_of(setxattr(path.c_str(), kXattr, value.data(), value.size(), 0));
}

}  // namespace

TEST_CASE("lifetime=close: a file is gone for every process right after its last close") {
    Mount m;
    Fd fd = create(m / "f");
    // Looked up while open, so the kernel has the name cached when it goes.
    REQUIRE(lstat_errno(m / "f") == 0);
    REQUIRE(lstat_errno_elsewhere(m / "f") == 0);
    REQUIRE(list_dir(m.path()) == std::vector<std::string>{"f"});
    REQUIRE(fd.close() == 0);
    CHECK(lstat_errno(m / "f") == ENOENT);
    CHECK(lstat_errno_elsewhere(m / "f") == ENOENT);
    CHECK(errno_of(open((m / "f").c_str(), O_RDONLY)) == ENOENT);
    CHECK(list_dir(m.path()).empty());
}

TEST_CASE("lifetime=close: every hard link of the file goes with the last close") {
    Mount m;
    REQUIRE(mkdir((m / "d1").c_str(), 0755) == 0);
    REQUIRE(mkdir((m / "d2").c_str(), 0755) == 0);
    Fd fd = create(m / "f");
    REQUIRE(link((m / "f").c_str(), (m / "d1/a").c_str()) == 0);
    REQUIRE(link((m / "f").c_str(), (m / "d2/b").c_str()) == 0);
    REQUIRE(stat_or_throw(m / "d2/b").st_nlink == 3);
    REQUIRE(fd.close() == 0);
    for (const char* name : {"f", "d1/a", "d2/b"}) {
        INFO(name);
        CHECK(lstat_errno(m / name) == ENOENT);
        CHECK(lstat_errno_elsewhere(m / name) == ENOENT);
    }
    CHECK(list_dir(m / "d1").empty());
    CHECK(list_dir(m / "d2").empty());
}

TEST_CASE("lifetime=close: a dup of the descriptor keeps the file") {
    Mount m;
    Fd fd = create(m / "f");
    Fd copy(dup(fd.get()));
    REQUIRE(copy);
    REQUIRE(fd.close() == 0);
    CHECK(lstat_errno(m / "f") == 0);
    CHECK(read_file(m / "f") == "some data");
    REQUIRE(copy.close() == 0);
    CHECK(lstat_errno(m / "f") == ENOENT);
    CHECK(lstat_errno_elsewhere(m / "f") == ENOENT);
}

TEST_CASE("lifetime=close: a forked child's copy keeps the file until the child exits") {
    Mount m;
    Fd fd = create(m / "f");
    int wake[2];
    REQUIRE(pipe2(wake, O_CLOEXEC) == 0);
    Fd wake_read(wake[0]), wake_write(wake[1]);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // Holds the inherited descriptor until told to exit.
        wake_write.reset();
        char c;
        [[maybe_unused]] auto n = read(wake_read.get(), &c, 1);
        _exit(0);
    }
    wake_read.reset();
    REQUIRE(fd.close() == 0);
    CHECK(lstat_errno(m / "f") == 0);
    CHECK(read_file(m / "f") == "some data");
    wake_write.reset();  // EOF wakes the child
    const auto status = wait_child(child, 10s);
    REQUIRE(status);
    CHECK(lstat_errno(m / "f") == ENOENT);
    CHECK(lstat_errno_elsewhere(m / "f") == ENOENT);
}

TEST_CASE("lifetime=close: a file opened twice lives until both opens are closed") {
    Mount m;
    Fd first = create(m / "f");
    Fd second = open_or_throw(m / "f", O_RDONLY);
    REQUIRE(first.close() == 0);
    CHECK(lstat_errno(m / "f") == 0);
    CHECK(read_at(second.get(), 100) == "some data");
    REQUIRE(second.close() == 0);
    CHECK(lstat_errno(m / "f") == ENOENT);
}

// On the plain path the mapping holds the kernel's file open; a file the kernel serves
// by passthrough maps its spill file instead (passthrough_test.cpp).
TEST_CASE("lifetime=close: a mapping outlives the descriptor and keeps the file") {
    Mount m("passthrough=off");
    Fd fd = create(m / "f", pattern(8192, 1));
    void* map = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    REQUIRE(map != MAP_FAILED);
    REQUIRE(fd.close() == 0);
    CHECK(lstat_errno(m / "f") == 0);
    static_cast<char*>(map)[0] = 'M';
    REQUIRE(msync(map, 8192, MS_SYNC) == 0);
    CHECK(read_file(m / "f").substr(0, 1) == "M");
    REQUIRE(munmap(map, 8192) == 0);
    CHECK(lstat_errno(m / "f") == ENOENT);
    CHECK(lstat_errno_elsewhere(m / "f") == ENOENT);
}

TEST_CASE("lifetime=close: directories, symlinks, FIFOs and sockets are not affected") {
    Mount m;
    REQUIRE(mkdir((m / "dir").c_str(), 0755) == 0);
    open_or_throw(m / "dir", O_RDONLY | O_DIRECTORY).close();
    REQUIRE(symlink("dir", (m / "link").c_str()) == 0);
    open_or_throw(m / "link", O_RDONLY | O_DIRECTORY).close();
    REQUIRE(mkfifo((m / "fifo").c_str(), 0600) == 0);
    open_or_throw(m / "fifo", O_RDWR).close();
    REQUIRE(mknod((m / "sock").c_str(), S_IFSOCK | 0600, 0) == 0);
    for (const char* name : {"dir", "link", "fifo", "sock"}) {
        INFO(name);
        CHECK(lstat_errno(m / name) == 0);
    }
    CHECK(list_dir(m.path()).size() == 4);
}

TEST_CASE("lifetime=mount: a closed file lives until it is unlinked") {
    Mount m("lifetime=mount");
    create(m / "f").close();
    CHECK(lstat_errno(m / "f") == 0);
    CHECK(lstat_errno_elsewhere(m / "f") == 0);
    CHECK(read_file(m / "f") == "some data");
    REQUIRE(unlink((m / "f").c_str()) == 0);
    CHECK(lstat_errno(m / "f") == ENOENT);
}

TEST_CASE("user.spoolfs.lifetime reads as the lifetime in force") {
    SECTION("close by default") {
        Mount m;
        Fd fd = create(m / "f");
        CHECK(lifetime_of(m / "f") == "close");
    }
    SECTION("mount under lifetime=mount") {
        Mount m("lifetime=mount");
        Fd fd = create(m / "f");
        CHECK(lifetime_of(m / "f") == "mount");
    }
}

TEST_CASE("user.spoolfs.lifetime=mount set on an open file keeps it after close") {
    Mount m;
    Fd fd = create(m / "f");
    const std::string value = "mount";
    REQUIRE(fsetxattr(fd.get(), kXattr, value.data(), value.size(), 0) == 0);
    CHECK(lifetime_of(m / "f") == "mount");
    REQUIRE(fd.close() == 0);
    CHECK(lstat_errno(m / "f") == 0);
    CHECK(read_file(m / "f") == "some data");
    CHECK(lifetime_of(m / "f") == "mount");
}

TEST_CASE("user.spoolfs.lifetime=close set on an open file under lifetime=mount ends it at close") {
    Mount m("lifetime=mount");
    Fd fd = create(m / "f");
    REQUIRE(set_lifetime(m / "f", "close") == 0);
    CHECK(lifetime_of(m / "f") == "close");
    REQUIRE(fd.close() == 0);
    CHECK(lstat_errno(m / "f") == ENOENT);
    CHECK(lstat_errno_elsewhere(m / "f") == ENOENT);
}

TEST_CASE("a directory's user.spoolfs.lifetime=mount is inherited by what is created in it") {
    Mount m;
    REQUIRE(mkdir((m / "keep").c_str(), 0755) == 0);
    REQUIRE(set_lifetime(m / "keep", "mount") == 0);
    CHECK(lifetime_of(m / "keep") == "mount");
    create(m / "keep/f").close();
    CHECK(lstat_errno(m / "keep/f") == 0);
    REQUIRE(mkdir((m / "keep/sub").c_str(), 0755) == 0);
    CHECK(lifetime_of(m / "keep/sub") == "mount");
    create(m / "keep/sub/g").close();
    CHECK(read_file(m / "keep/sub/g") == "some data");
    // Outside it, the mount's lifetime still rules.
    create(m / "outside").close();
    CHECK(lstat_errno(m / "outside") == ENOENT);
}

TEST_CASE("a directory's user.spoolfs.lifetime=close makes new files in it anonymous") {
    Mount m("lifetime=mount");
    REQUIRE(mkdir((m / "scratch").c_str(), 0755) == 0);
    REQUIRE(set_lifetime(m / "scratch", "close") == 0);
    create(m / "scratch/f").close();
    CHECK(lstat_errno(m / "scratch/f") == ENOENT);
    REQUIRE(mkdir((m / "scratch/sub").c_str(), 0755) == 0);
    CHECK(lifetime_of(m / "scratch/sub") == "close");
    create(m / "scratch/sub/g").close();
    CHECK(lstat_errno(m / "scratch/sub/g") == ENOENT);
    CHECK(lstat_errno(m / "scratch/sub") == 0);  // directories are not affected
}

TEST_CASE("a directory's user.spoolfs.lifetime does not change files already in it") {
    Mount m("lifetime=mount");
    REQUIRE(mkdir((m / "d").c_str(), 0755) == 0);
    create(m / "d/old").close();
    REQUIRE(set_lifetime(m / "d", "close") == 0);
    CHECK(lifetime_of(m / "d/old") == "mount");
    open_or_throw(m / "d/old", O_RDONLY).close();
    CHECK(lstat_errno(m / "d/old") == 0);
}

TEST_CASE("an invalid user.spoolfs.lifetime value fails with EINVAL and changes nothing") {
    Mount m("lifetime=mount");
    create(m / "f").close();
    REQUIRE(mkdir((m / "d").c_str(), 0755) == 0);
    for (const std::string& path : {m / "f", m / "d"}) {
        INFO(path);
        CHECK(set_lifetime(path, "forever") == EINVAL);
        CHECK(set_lifetime(path, "") == EINVAL);
        CHECK(set_lifetime(path, "mount2") == EINVAL);
        CHECK(lifetime_of(path) == "mount");
    }
}

// The line is printed just after the mount appears: wait for it, within a bound.
bool log_says(const Mount& m, const std::string& text) {
    for (int i = 0; i < 500; ++i) {
        if (m.log().find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

TEST_CASE("the startup line says where it mounted and, in words, the lifetime in force") {
    {
        Mount m;
        CHECK(log_says(m, "mounted on " + m.path()));
        CHECK(log_says(m, "files vanish when their last handle closes"));
    }
    Mount m("lifetime=mount");
    CHECK(log_says(m, "files live until unlinked or unmounted"));
}

// In a sticky directory B may not unlink A's file; closing it last must not do that
// either. The names stay until A's own last close.
TEST_CASE("a stranger's last close leaves the names of a lifetime-close file") {
    Mount m("allow_other");
    constexpr uid_t a = 60011, b = 60012;
    const std::string path = m / "a-report";
    REQUIRE(run_as(a, a, [&] { return errno_of(mknod(path.c_str(), S_IFREG | 0644, 0)); }) == 0);
    CHECK(run_as(b, b, [&] { return errno_of(unlink(path.c_str())); }) == EPERM);
    CHECK(run_as(b, b, [&] {
              Fd fd(open(path.c_str(), O_RDONLY));
              return fd ? 0 : errno;
          }) == 0);
    CHECK(lstat_errno_elsewhere(path) == 0);  // B's close left the name
    CHECK(run_as(a, a, [&] {
              Fd fd(open(path.c_str(), O_RDONLY));
              return fd ? 0 : errno;
          }) == 0);
    CHECK(lstat_errno_elsewhere(path) == ENOENT);  // A's close took it
}
