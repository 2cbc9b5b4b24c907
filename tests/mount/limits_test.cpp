// Limits and unmount on a real mount: size= and nr_inodes= end in ENOSPC without harm to
// what is already stored; every way of unmounting ends the daemon with status 0 and
// leaves nothing behind; spilled data lives only in anonymous files.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <catch2/catch.hpp>
#include <functional>
#include <string>

#include "file_util.hpp"
#include "mount_fixture.hpp"
#include "mount_util.hpp"

using namespace mount_test;

namespace {

constexpr size_t KiB = 1024, MiB = 1024 * KiB;

// Writes `data` into a new file; the errno of the first failing step, 0 if all succeeded.
int try_write_file(const std::string& path, std::string_view data) {
    Fd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) return errno;
    for (off_t at = 0; !data.empty();) {
        const ssize_t n = pwrite(fd.get(), data.data(), data.size(), at);
        if (n <= 0) return n < 0 ? errno : EIO;
        data.remove_prefix(static_cast<size_t>(n));
        at += n;
    }
    if (fsync(fd.get()) != 0) return errno;
    return fd.close();
}

// Stores a little of everything, then has `unmount` end the mount; the daemon must exit 0
// on its own, the mount must be gone, and a remount must be empty.
void check_clean_unmount(const std::function<void(Mount&)>& unmount) {
    Mount m("lifetime=mount");
    REQUIRE(mkdir((m / "d").c_str(), 0755) == 0);
    write_file(m / "d/f", pattern(3 * MiB, 1));
    REQUIRE(symlink("d/f", (m / "l").c_str()) == 0);
    REQUIRE(setxattr((m / "d/f").c_str(), "user.x", "v", 1, 0) == 0);
    unmount(m);
    const auto status = m.wait_exit(5s);
    INFO("daemon stderr:\n" << m.log());
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    CHECK_FALSE(find_mount(m.path()));
    m.remount();
    CHECK(list_dir(m.path()).empty());
}

}  // namespace

TEST_CASE("size= ends in ENOSPC and every file written before stays intact") {
    Mount m("lifetime=mount,size=4M");
    struct statvfs vfs {};
    REQUIRE(statvfs(m.path().c_str(), &vfs) == 0);
    CHECK(vfs.f_blocks * vfs.f_frsize == 4 * MiB);

    int complete = 0, err = 0;
    for (; complete < 64; ++complete) {
        err = try_write_file(m / ("f" + std::to_string(complete)),
                             pattern(256 * KiB, static_cast<unsigned>(complete)));
        if (err != 0) break;
    }
    CHECK(err == ENOSPC);
    CHECK(complete >= 12);  // 16 fit in 4 MiB; allow some room for metadata
    CHECK(complete <= 16);
    for (int i = 0; i < complete; ++i) {
        INFO("file f" << i);
        CHECK(read_file(m / ("f" + std::to_string(i))) ==
              pattern(256 * KiB, static_cast<unsigned>(i)));
    }
    REQUIRE(statvfs(m.path().c_str(), &vfs) == 0);
    CHECK(vfs.f_bavail * vfs.f_frsize < 256 * KiB);

    // Freeing a file makes room again.
    REQUIRE(unlink((m / "f0").c_str()) == 0);
    unlink((m / ("f" + std::to_string(complete))).c_str());  // the partial one
    CHECK(try_write_file(m / "again", pattern(200 * KiB, 99)) == 0);
    CHECK(read_file(m / "again") == pattern(200 * KiB, 99));
}

TEST_CASE("a write or fallocate past size= fails with ENOSPC and keeps what fitted") {
    Mount m("lifetime=mount,size=4M");
    Fd fd = open_or_throw(m / "big", O_RDWR | O_CREAT);
    const std::string data = pattern(6 * MiB, 4);
    size_t written = 0;
    int err = 0;
    while (written < data.size()) {
        const ssize_t n = pwrite(fd.get(), data.data() + written, data.size() - written,
                                 static_cast<off_t>(written));
        if (n < 0) {
            err = errno;
            break;
        }
        written += static_cast<size_t>(n);
    }
    CHECK(err == ENOSPC);
    CHECK(written <= 4 * MiB);
    struct stat st {};
    REQUIRE(fstat(fd.get(), &st) == 0);
    CHECK(static_cast<size_t>(st.st_size) == written);
    CHECK(read_at(fd.get(), data.size()) == data.substr(0, written));

    Fd other = open_or_throw(m / "other", O_RDWR | O_CREAT);
    CHECK(errno_of(fallocate(other.get(), 0, 0, 8 * MiB)) == ENOSPC);
}

TEST_CASE("nr_inodes= ends in ENOSPC and every entry made before stays intact") {
    Mount m("lifetime=mount,nr_inodes=50");
    struct statvfs vfs {};
    REQUIRE(statvfs(m.path().c_str(), &vfs) == 0);
    CHECK(vfs.f_files == 50u);

    int created = 0, err = 0;
    for (; created < 100; ++created) {
        err =
            try_write_file(m / ("f" + std::to_string(created)), "file " + std::to_string(created));
        if (err != 0) break;
    }
    CHECK(err == ENOSPC);
    CHECK(created >= 45);  // the root directory may count as one
    CHECK(created < 50);
    CHECK(errno_of(mkdir((m / "d").c_str(), 0755)) == ENOSPC);
    CHECK(errno_of(symlink("x", (m / "l").c_str())) == ENOSPC);
    CHECK(errno_of(mkfifo((m / "p").c_str(), 0600)) == ENOSPC);
    // A hard link counts as an inode, as on tmpfs.
    CHECK(errno_of(link((m / "f0").c_str(), (m / "f0-link").c_str())) == ENOSPC);
    for (int i = 0; i < created; ++i) {
        INFO("file f" << i);
        CHECK(read_file(m / ("f" + std::to_string(i))) == "file " + std::to_string(i));
    }
    REQUIRE(statvfs(m.path().c_str(), &vfs) == 0);
    CHECK(vfs.f_ffree == 0u);
    REQUIRE(unlink((m / "f1").c_str()) == 0);
    CHECK(mkdir((m / "d").c_str(), 0755) == 0);
}

// tmpfs frees an unlinked file at unlink(2); nr_inodes= stops counting it then too,
// whichever thread serves the kernel's FORGET and whenever it comes.
TEST_CASE("a full nr_inodes= mount has room again as soon as unlink returns") {
    const std::string loop = GENERATE("busy_poll=0", "busy_poll=0,-s", "busy_poll=50");
    Mount m("lifetime=mount,nr_inodes=3," + loop);
    for (int i = 0; i < 500; ++i) {
        INFO(loop << ", round " << i);
        REQUIRE(try_write_file(m / "f", "x") == 0);
        REQUIRE(mkdir((m / "d").c_str(), 0755) == 0);
        REQUIRE(unlink((m / "f").c_str()) == 0);
        REQUIRE(rmdir((m / "d").c_str()) == 0);
    }
}

TEST_CASE("df shows size= and nr_inodes=") {
    Mount m("size=10M,nr_inodes=777");
    const auto df = run_process({"df", "-B1", "--output=size,itotal,target", m.path()}, 10s);
    INFO(df.out << df.describe());
    REQUIRE(df.exited_with(0));
    CHECK_THAT(df.out, Catch::Contains("10485760") && Catch::Contains(" 777 ") &&
                           Catch::Contains(m.path()));
}

TEST_CASE("fusermount3 -u unmounts and the daemon exits 0") {
    check_clean_unmount([](Mount& m) {
        const auto r = run_process({"fusermount3", "-u", m.path()}, 10s);
        INFO(r.describe());
        CHECK(r.exited_with(0));
    });
}

TEST_CASE("umount unmounts and the daemon exits 0") {
    check_clean_unmount([](Mount& m) {
        const auto r = run_process({"umount", m.path()}, 10s);
        INFO(r.describe());
        CHECK(r.exited_with(0));
    });
}

TEST_CASE("SIGTERM unmounts and the daemon exits 0") {
    check_clean_unmount([](Mount& m) { REQUIRE(kill(m.pid(), SIGTERM) == 0); });
}

TEST_CASE("SIGINT unmounts and the daemon exits 0") {
    check_clean_unmount([](Mount& m) { REQUIRE(kill(m.pid(), SIGINT) == 0); });
}

TEST_CASE("data beyond ram= spills to unnamed files in spill_dir and reads back intact") {
    TempDir spill("spoolfs-spill-");
    Mount m("lifetime=mount,ram=1M,spill_dir=" + spill.path());
    for (unsigned i = 0; i < 4; ++i) write_file(m / ("f" + std::to_string(i)), pattern(3 * MiB, i));
    for (unsigned i = 0; i < 4; ++i) {
        INFO("file f" << i);
        CHECK(read_file(m / ("f" + std::to_string(i))) == pattern(3 * MiB, i));
    }
    // Spilled data has no name on disk, so a crash cannot leave it behind.
    CHECK(list_dir(spill.path()).empty());
}

TEST_CASE("SIGKILL of the daemon leaves nothing in spill_dir") {
    TempDir spill("spoolfs-spill-");
    Mount m("lifetime=mount,ram=1M,spill_dir=" + spill.path());
    write_file(m / "f", pattern(8 * MiB, 8));
    REQUIRE(kill(m.pid(), SIGKILL) == 0);
    const auto status = m.wait_exit(5s);
    REQUIRE(status);
    CHECK(WIFSIGNALED(*status));
    CHECK(list_dir(spill.path()).empty());
    const auto du = run_process({"du", "-s", "-B1", spill.path()}, 10s);
    REQUIRE(du.exited_with(0));
    CHECK(std::stoull(du.out) <= 64 * KiB);  // just the directory itself
}

// Each backing file is a descriptor, and a descriptor table that grows while threads
// share it waits for an RCU grace period each time it doubles (9-30 ms here, stalling a
// create and the callers behind it): the daemon grows it once, at startup.
TEST_CASE("the daemon's descriptor table is grown once, before any request") {
    Mount m;
    // The mount shows before the daemon grows its table; its first answer comes after.
    REQUIRE(lstat_errno(m.path()) == 0);
    rlimit limit{};
    REQUIRE(prlimit(m.pid(), RLIMIT_NOFILE, nullptr, &limit) == 0);
    const rlim_t soft = limit.rlim_cur;
    const std::uint64_t slots =
        proc_field("/proc/" + std::to_string(m.pid()) + "/status", "FDSize");
    INFO("soft limit " << soft << ", table " << slots);
    CHECK(slots >= std::min<std::uint64_t>(soft, 65536));
}
