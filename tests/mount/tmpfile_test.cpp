// Anonymous files on a real mount: open(dir, O_TMPFILE) gives a file without a name that
// linkat can name later, and Python's tempfile.TemporaryFile really gets one.
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <catch2/catch.hpp>
#include <sstream>
#include <thread>

#include "file_util.hpp"
#include "mount_fixture.hpp"

using namespace mount_test;

namespace {

Fd open_tmpfile(const std::string& dir, mode_t mode = 0600) {
    Fd fd(open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, mode));
    if (!fd) throw_errno("open O_TMPFILE in " + dir);
    return fd;
}

int link_fd(int fd, const std::string& path) {
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    return errno_of(linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW));
}

std::string python() {
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

}  // namespace

TEST_CASE("O_TMPFILE gives a readable and writable regular file without a name") {
    Mount m;
    Fd fd = open_tmpfile(m.path());
    struct stat st {};
    REQUIRE(fstat(fd.get(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(st.st_nlink == 0);
    CHECK(st.st_uid == getuid());
    const std::string data = pattern(200000, 21);
    write_all(fd.get(), data);
    CHECK(read_at(fd.get(), data.size() + 1) == data);
    CHECK(list_dir(m.path()).empty());
}

TEST_CASE("linkat through /proc/self/fd names an anonymous file") {
    Mount m("lifetime=mount");
    REQUIRE(mkdir((m / "d").c_str(), 0755) == 0);
    Fd fd = open_tmpfile(m / "d");
    write_all(fd.get(), "named later");
    REQUIRE(link_fd(fd.get(), m / "d/named") == 0);
    struct stat st {};
    REQUIRE(fstat(fd.get(), &st) == 0);
    CHECK(st.st_nlink == 1);
    CHECK(stat_or_throw(m / "d/named").st_ino == st.st_ino);
    REQUIRE(fd.close() == 0);
    CHECK(read_file(m / "d/named") == "named later");
    CHECK(list_dir(m / "d") == std::vector<std::string>{"named"});
}

TEST_CASE("under lifetime=close a linked anonymous file still goes with its last handle") {
    Mount m;
    Fd fd = open_tmpfile(m.path());
    REQUIRE(link_fd(fd.get(), m / "named") == 0);
    CHECK(lstat_errno(m / "named") == 0);
    REQUIRE(fd.close() == 0);
    CHECK(lstat_errno(m / "named") == ENOENT);
}

TEST_CASE("an anonymous file belongs to the creating user") {
    Mount m("allow_other");
    const int err = run_as(12345, 12346, [&] {
        Fd fd(open(m.path().c_str(), O_TMPFILE | O_RDWR, 0640));
        if (!fd) return errno;
        struct stat st {};
        if (fstat(fd.get(), &st) != 0) return errno;
        return st.st_uid == 12345 && st.st_gid == 12346 && (st.st_mode & 07777) == 0640 ? 0 : 1;
    });
    CHECK(err == 0);
}

TEST_CASE("many anonymous files at once stay independent") {
    Mount m;
    std::vector<Fd> files;
    for (unsigned i = 0; i < 64; ++i) {
        files.push_back(open_tmpfile(m.path()));
        write_all(files.back().get(), pattern(10000, i));
    }
    for (unsigned i = 0; i < files.size(); ++i) {
        INFO("file " << i);
        CHECK(read_at(files[i].get(), 10001) == pattern(10000, i));
    }
    CHECK(list_dir(m.path()).empty());
}

TEST_CASE("an anonymous file's space and inode are released when it is closed") {
    Mount m("size=64M,nr_inodes=1000");
    struct statvfs empty {};
    REQUIRE(statvfs(m.path().c_str(), &empty) == 0);
    Fd fd = open_tmpfile(m.path());
    write_all(fd.get(), pattern(4 * 1024 * 1024, 3));
    struct statvfs busy {};
    REQUIRE(statvfs(m.path().c_str(), &busy) == 0);
    CHECK(busy.f_bfree < empty.f_bfree);
    CHECK(busy.f_ffree < empty.f_ffree);
    REQUIRE(fd.close() == 0);
    // The kernel sends RELEASE asynchronously; allow it a moment to arrive.
    struct statvfs after {};
    for (int i = 0; i < 200; ++i) {
        REQUIRE(statvfs(m.path().c_str(), &after) == 0);
        if (after.f_bfree == empty.f_bfree && after.f_ffree == empty.f_ffree) break;
        std::this_thread::sleep_for(10ms);
    }
    CHECK(after.f_bfree == empty.f_bfree);
    CHECK(after.f_ffree == empty.f_ffree);
}

TEST_CASE("Python's tempfile.TemporaryFile gets a real O_TMPFILE on the mount") {
    Mount m;
    const TempDir trace_dir("spoolfs-strace-");
    const std::string trace = trace_dir.path() + "/trace";
    const std::string script = R"(
import os, sys, tempfile
d = sys.argv[1]
f = tempfile.TemporaryFile(dir=d)
f.write(b"hello"); f.flush(); f.seek(0)
print(f.read().decode())
print(os.readlink('/proc/self/fd/%d' % f.fileno()))
print(len(os.listdir(d)))
f.close()
print(len(os.listdir(d)))
)";
    const auto r = run_process(
        {"strace", "-f", "-qq", "-o", trace, "-e",
         "trace=open,openat,unlink,unlinkat,rename,renameat2", python(), "-c", script, m.path()},
        60s);
    INFO("strace: " << r.describe());
    const std::string log = read_file(trace);
    // Only the system calls on the mount matter; the interpreter's own start-up is noise.
    std::string on_mount;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);)
        if (line.find('"' + m.path()) != std::string::npos) on_mount += line + "\n";
    INFO("python: " << r.describe() << "\nstdout: " << r.out << "\nstrace on the mount:\n"
                    << on_mount);
    REQUIRE(r.exited_with(0));

    std::istringstream out(r.out);
    std::string data, link, listed_open, listed_closed;
    std::getline(out, data);
    std::getline(out, link);
    std::getline(out, listed_open);
    std::getline(out, listed_closed);
    CHECK(data == "hello");
    CHECK(link.rfind(m.path() + "/", 0) == 0);
    CHECK_THAT(link, Catch::EndsWith("(deleted)"));
    CHECK(listed_open == "0");
    CHECK(listed_closed == "0");

    // The openat of the mount directory with O_TMPFILE succeeded (returned a descriptor),
    // and nothing was created and unlinked there instead.
    bool tmpfile_ok = false, unlinked = false;
    std::istringstream calls(on_mount);
    for (std::string line; std::getline(calls, line);) {
        if (line.find("O_TMPFILE") != std::string::npos &&
            line.find(" = -1") == std::string::npos && line.find(" = ") != std::string::npos)
            tmpfile_ok = true;
        if (line.find("unlink") != std::string::npos) unlinked = true;
    }
    CHECK(tmpfile_ok);
    CHECK_FALSE(unlinked);
}
