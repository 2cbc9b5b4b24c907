// The POSIX namespace on a real mount, as tmpfs has it: every kind of file, hard links,
// rename and its error cases, unlink of open files, long names and readdir.
// lifetime=mount throughout, so a closed file keeps its name as on tmpfs.
#include <linux/fs.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "file_util.hpp"
#include "mount_fixture.hpp"

using namespace mount_test;

namespace {

const std::string kOpts = "lifetime=mount";

int rename2(const std::string& from, const std::string& to, unsigned flags) {
    return errno_of(renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags));
}

}  // namespace

TEST_CASE("a regular file keeps what was written to it") {
    Mount m(kOpts);
    const std::string data = pattern(300000, 1);
    write_file(m / "f", data, 0640);
    const auto st = stat_or_throw(m / "f");
    CHECK(S_ISREG(st.st_mode));
    CHECK((st.st_mode & 07777) == 0640);
    CHECK(st.st_size == 300000);
    CHECK(st.st_nlink == 1);
    CHECK(read_file(m / "f") == data);
}

TEST_CASE("directories count their subdirectories in st_nlink and rmdir empties them") {
    Mount m(kOpts);
    REQUIRE(mkdir((m / "d").c_str(), 0755) == 0);
    CHECK(stat_or_throw(m / "d").st_nlink == 2);
    REQUIRE(mkdir((m / "d/a").c_str(), 0755) == 0);
    REQUIRE(mkdir((m / "d/b").c_str(), 0755) == 0);
    CHECK(stat_or_throw(m / "d").st_nlink == 4);
    CHECK(errno_of(mkdir((m / "d/a").c_str(), 0755)) == EEXIST);
    write_file(m / "d/a/f", "x");
    CHECK(errno_of(rmdir((m / "d/a").c_str())) == ENOTEMPTY);
    CHECK(errno_of(rmdir((m / "d/a/f").c_str())) == ENOTDIR);
    REQUIRE(unlink((m / "d/a/f").c_str()) == 0);
    CHECK(rmdir((m / "d/a").c_str()) == 0);
    CHECK(stat_or_throw(m / "d").st_nlink == 3);
    CHECK(errno_of(unlink((m / "d/b").c_str())) == EISDIR);
}

TEST_CASE("a symlink stores its target verbatim and is followed") {
    Mount m(kOpts);
    write_file(m / "target", "through the link");
    REQUIRE(symlink("target", (m / "link").c_str()) == 0);
    REQUIRE(symlink("/nonexistent/dangling", (m / "dangling").c_str()) == 0);
    const auto st = stat_or_throw(m / "link");
    CHECK(S_ISLNK(st.st_mode));
    CHECK(st.st_size == 6);
    char buf[64] = {};
    CHECK(readlink((m / "link").c_str(), buf, sizeof buf) == 6);
    CHECK(std::string(buf) == "target");
    CHECK(read_file(m / "link") == "through the link");
    struct stat followed {};
    CHECK(errno_of(stat((m / "dangling").c_str(), &followed)) == ENOENT);
    CHECK(errno_of(open((m / "link").c_str(), O_RDONLY | O_NOFOLLOW)) == ELOOP);
}

TEST_CASE("a hard link is the same inode under two names") {
    Mount m(kOpts);
    REQUIRE(mkdir((m / "other").c_str(), 0755) == 0);
    write_file(m / "a", "shared");
    REQUIRE(link((m / "a").c_str(), (m / "other/b").c_str()) == 0);
    const auto a = stat_or_throw(m / "a"), b = stat_or_throw(m / "other/b");
    CHECK(a.st_ino == b.st_ino);
    CHECK(a.st_nlink == 2);
    write_file(m / "other/b", "changed via b");
    CHECK(read_file(m / "a") == "changed via b");
    REQUIRE(unlink((m / "a").c_str()) == 0);
    CHECK(stat_or_throw(m / "other/b").st_nlink == 1);
    CHECK(errno_of(link((m / "other/b").c_str(), (m / "other/b").c_str())) == EEXIST);
    REQUIRE(mkdir((m / "dir").c_str(), 0755) == 0);
    CHECK(errno_of(link((m / "dir").c_str(), (m / "dir2").c_str())) == EPERM);
}

TEST_CASE("FIFOs made by mkfifo and mknod carry data between processes") {
    Mount m(kOpts);
    REQUIRE(mkfifo((m / "fifo").c_str(), 0600) == 0);
    REQUIRE(mknod((m / "fifo2").c_str(), S_IFIFO | 0600, 0) == 0);
    CHECK(S_ISFIFO(stat_or_throw(m / "fifo").st_mode));
    CHECK(S_ISFIFO(stat_or_throw(m / "fifo2").st_mode));
    // O_RDWR on a FIFO never blocks on Linux, so one process can check both ends.
    Fd fd(open((m / "fifo").c_str(), O_RDWR));
    REQUIRE(fd);
    REQUIRE(write(fd.get(), "ping", 4) == 4);
    char buf[4];
    CHECK(read(fd.get(), buf, 4) == 4);
    CHECK(std::string(buf, 4) == "ping");
}

TEST_CASE("a unix socket bound in the mount accepts connections") {
    Mount m(kOpts);
    const std::string path = m / "sock";
    Fd server(socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof addr.sun_path);
    path.copy(addr.sun_path, path.size());
    REQUIRE(bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(server.get(), 1) == 0);
    CHECK(S_ISSOCK(stat_or_throw(path).st_mode));
    Fd client(socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK(connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(mknod((m / "sock2").c_str(), S_IFSOCK | 0600, 0) == 0);
    CHECK(S_ISSOCK(stat_or_throw(m / "sock2").st_mode));
}

TEST_CASE("device nodes keep their device number") {
    Mount m(kOpts);
    REQUIRE(mknod((m / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
    REQUIRE(mknod((m / "blk").c_str(), S_IFBLK | 0600, makedev(7, 42)) == 0);
    const auto c = stat_or_throw(m / "null"), b = stat_or_throw(m / "blk");
    CHECK(S_ISCHR(c.st_mode));
    CHECK(c.st_rdev == makedev(1, 3));
    CHECK(S_ISBLK(b.st_mode));
    CHECK(b.st_rdev == makedev(7, 42));
}

TEST_CASE("rename moves a file between directories keeping its inode") {
    Mount m(kOpts);
    REQUIRE(mkdir((m / "d1").c_str(), 0755) == 0);
    REQUIRE(mkdir((m / "d2").c_str(), 0755) == 0);
    write_file(m / "d1/f", "moving");
    const ino_t ino = stat_or_throw(m / "d1/f").st_ino;
    REQUIRE(rename((m / "d1/f").c_str(), (m / "d2/g").c_str()) == 0);
    CHECK(lstat_errno(m / "d1/f") == ENOENT);
    CHECK(stat_or_throw(m / "d2/g").st_ino == ino);
    CHECK(read_file(m / "d2/g") == "moving");
    CHECK(list_dir(m / "d1").empty());
    CHECK(list_dir(m / "d2") == std::vector<std::string>{"g"});
}

TEST_CASE("rename over an existing file replaces it") {
    Mount m(kOpts);
    write_file(m / "src", "new");
    write_file(m / "dst", "old");
    REQUIRE(link((m / "dst").c_str(), (m / "dst-link").c_str()) == 0);
    REQUIRE(rename((m / "src").c_str(), (m / "dst").c_str()) == 0);
    CHECK(read_file(m / "dst") == "new");
    CHECK(lstat_errno(m / "src") == ENOENT);
    // The replaced inode lost one name.
    CHECK(stat_or_throw(m / "dst-link").st_nlink == 1);
    CHECK(read_file(m / "dst-link") == "old");
}

TEST_CASE("a directory moved elsewhere updates both parents' link counts and its ..") {
    Mount m(kOpts);
    REQUIRE(mkdir((m / "p1").c_str(), 0755) == 0);
    REQUIRE(mkdir((m / "p2").c_str(), 0755) == 0);
    REQUIRE(mkdir((m / "p1/child").c_str(), 0755) == 0);
    REQUIRE(rename((m / "p1/child").c_str(), (m / "p2/child").c_str()) == 0);
    CHECK(stat_or_throw(m / "p1").st_nlink == 2);
    CHECK(stat_or_throw(m / "p2").st_nlink == 3);
    CHECK(stat_or_throw(m / "p2/child/..").st_ino == stat_or_throw(m / "p2").st_ino);
}

TEST_CASE("RENAME_NOREPLACE fails with EEXIST on an existing target and moves otherwise") {
    Mount m(kOpts);
    write_file(m / "a", "a");
    write_file(m / "b", "b");
    CHECK(rename2(m / "a", m / "b", RENAME_NOREPLACE) == EEXIST);
    CHECK(read_file(m / "a") == "a");
    CHECK(read_file(m / "b") == "b");
    CHECK(rename2(m / "a", m / "c", RENAME_NOREPLACE) == 0);
    CHECK(read_file(m / "c") == "a");
    CHECK(lstat_errno(m / "a") == ENOENT);
}

TEST_CASE("RENAME_EXCHANGE swaps a file and a directory atomically") {
    Mount m(kOpts);
    write_file(m / "file", "data");
    REQUIRE(mkdir((m / "dir").c_str(), 0755) == 0);
    write_file(m / "dir/inner", "inner");
    REQUIRE(mkdir((m / "other").c_str(), 0755) == 0);
    const ino_t file_ino = stat_or_throw(m / "file").st_ino;
    const ino_t dir_ino = stat_or_throw(m / "dir").st_ino;
    REQUIRE(rename2(m / "file", m / "dir", RENAME_EXCHANGE) == 0);
    CHECK(stat_or_throw(m / "file").st_ino == dir_ino);
    CHECK(stat_or_throw(m / "dir").st_ino == file_ino);
    CHECK(read_file(m / "file/inner") == "inner");
    CHECK(read_file(m / "dir") == "data");
    CHECK(rename2(m / "dir", m / "missing", RENAME_EXCHANGE) == ENOENT);
    CHECK(rename2(m / "dir", m / "file", RENAME_EXCHANGE | RENAME_NOREPLACE) == EINVAL);
}

TEST_CASE("RENAME_EXCHANGE of directories in different parents fixes up their ..") {
    Mount m(kOpts);
    REQUIRE(mkdir((m / "p1").c_str(), 0755) == 0);
    REQUIRE(mkdir((m / "p2").c_str(), 0755) == 0);
    REQUIRE(mkdir((m / "p1/x").c_str(), 0755) == 0);
    write_file(m / "p2/x", "file");
    REQUIRE(rename2(m / "p1/x", m / "p2/x", RENAME_EXCHANGE) == 0);
    CHECK(S_ISREG(stat_or_throw(m / "p1/x").st_mode));
    CHECK(stat_or_throw(m / "p2/x/..").st_ino == stat_or_throw(m / "p2").st_ino);
    CHECK(stat_or_throw(m / "p1").st_nlink == 2);
    CHECK(stat_or_throw(m / "p2").st_nlink == 3);
}

TEST_CASE("rename of a directory onto a non-empty directory fails with ENOTEMPTY") {
    Mount m(kOpts);
    REQUIRE(mkdir((m / "src").c_str(), 0755) == 0);
    REQUIRE(mkdir((m / "full").c_str(), 0755) == 0);
    write_file(m / "full/keep", "k");
    const int err = rename2(m / "src", m / "full", 0);
    CHECK((err == ENOTEMPTY || err == EEXIST));
    CHECK(read_file(m / "full/keep") == "k");
    REQUIRE(mkdir((m / "empty").c_str(), 0755) == 0);
    CHECK(rename2(m / "src", m / "empty", 0) == 0);
    CHECK(lstat_errno(m / "src") == ENOENT);
    CHECK(S_ISDIR(stat_or_throw(m / "empty").st_mode));
}

TEST_CASE("rename of a file onto a directory fails with EISDIR, the reverse with ENOTDIR") {
    Mount m(kOpts);
    write_file(m / "file", "f");
    REQUIRE(mkdir((m / "dir").c_str(), 0755) == 0);
    CHECK(rename2(m / "file", m / "dir", 0) == EISDIR);
    CHECK(rename2(m / "dir", m / "file", 0) == ENOTDIR);
    CHECK(rename2(m / "file/x", m / "y", 0) == ENOTDIR);
    CHECK(S_ISREG(stat_or_throw(m / "file").st_mode));
    CHECK(S_ISDIR(stat_or_throw(m / "dir").st_mode));
}

TEST_CASE("rename of a directory into its own subtree fails with EINVAL") {
    Mount m(kOpts);
    REQUIRE(mkdir((m / "a").c_str(), 0755) == 0);
    REQUIRE(mkdir((m / "a/b").c_str(), 0755) == 0);
    CHECK(rename2(m / "a", m / "a/b/c", 0) == EINVAL);
    CHECK(rename2(m / "a", m / "a/c", 0) == EINVAL);
    CHECK(S_ISDIR(stat_or_throw(m / "a/b").st_mode));
}

TEST_CASE("rename onto itself or onto a hard link of the same inode does nothing") {
    Mount m(kOpts);
    write_file(m / "f", "same");
    REQUIRE(link((m / "f").c_str(), (m / "g").c_str()) == 0);
    CHECK(rename2(m / "f", m / "f", 0) == 0);
    CHECK(rename2(m / "f", m / "g", 0) == 0);
    // POSIX: both names remain.
    CHECK(read_file(m / "f") == "same");
    CHECK(read_file(m / "g") == "same");
    CHECK(stat_or_throw(m / "f").st_nlink == 2);
}

TEST_CASE("rename of a missing name fails with ENOENT") {
    Mount m(kOpts);
    CHECK(rename2(m / "missing", m / "x", 0) == ENOENT);
    write_file(m / "f", "f");
    CHECK(rename2(m / "f", m / "nodir/x", 0) == ENOENT);
    CHECK(read_file(m / "f") == "f");
}

TEST_CASE("an unlinked open file stays readable until the last close") {
    Mount m(kOpts);
    REQUIRE(mkdir((m / "d").c_str(), 0755) == 0);
    const std::string data = pattern(100000, 7);
    write_file(m / "d/f", data);
    Fd fd = open_or_throw(m / "d/f", O_RDWR);
    REQUIRE(unlink((m / "d/f").c_str()) == 0);
    CHECK(lstat_errno(m / "d/f") == ENOENT);
    // Its directory is empty now, so rmdir succeeds while the file is still open.
    CHECK(rmdir((m / "d").c_str()) == 0);
    struct stat st {};
    REQUIRE(fstat(fd.get(), &st) == 0);
    CHECK(st.st_nlink == 0);
    CHECK(read_at(fd.get(), data.size() + 1) == data);
    write_all(fd.get(), "still writable", 10);
    CHECK(read_at(fd.get(), 14, 10) == "still writable");
    CHECK(fd.close() == 0);
}

TEST_CASE("names of 255 bytes work and 256 bytes give ENAMETOOLONG") {
    Mount m(kOpts);
    const std::string ok(255, 'n'), too_long(256, 'n');
    write_file(m / ok, "long");
    CHECK(read_file(m / ok) == "long");
    CHECK(list_dir(m.path()) == std::vector<std::string>{ok});
    CHECK(errno_of(open((m / too_long).c_str(), O_CREAT | O_WRONLY, 0600)) == ENAMETOOLONG);
    CHECK(errno_of(mkdir((m / too_long).c_str(), 0755)) == ENAMETOOLONG);
    CHECK(errno_of(symlink("x", (m / too_long).c_str())) == ENAMETOOLONG);
    CHECK(rename2(m / ok, m / too_long, 0) == ENAMETOOLONG);
    CHECK(lstat_errno(m / too_long) == ENAMETOOLONG);
}

TEST_CASE("readdir lists every kind of entry with its d_type, and . and .. once") {
    Mount m(kOpts);
    write_file(m / "reg", "");
    REQUIRE(mkdir((m / "dir").c_str(), 0755) == 0);
    REQUIRE(symlink("reg", (m / "lnk").c_str()) == 0);
    REQUIRE(mkfifo((m / "fifo").c_str(), 0600) == 0);
    REQUIRE(mknod((m / "sock").c_str(), S_IFSOCK | 0600, 0) == 0);
    std::map<std::string, int> seen;
    DIR* d = opendir(m.path().c_str());
    REQUIRE(d);
    std::map<std::string, unsigned char> types;
    while (dirent* e = readdir(d)) {
        ++seen[e->d_name];
        types[e->d_name] = e->d_type;
    }
    closedir(d);
    const std::map<std::string, int> once{{".", 1},   {"..", 1},   {"reg", 1}, {"dir", 1},
                                          {"lnk", 1}, {"fifo", 1}, {"sock", 1}};
    CHECK(seen == once);
    CHECK(types["reg"] == DT_REG);
    CHECK(types["dir"] == DT_DIR);
    CHECK(types["lnk"] == DT_LNK);
    CHECK(types["fifo"] == DT_FIFO);
    CHECK(types["sock"] == DT_SOCK);
}

TEST_CASE("readdir returns every untouched entry exactly once while the directory changes") {
    Mount m(kOpts);
    const std::string dir = m / "big";
    REQUIRE(mkdir(dir.c_str(), 0755) == 0);
    constexpr int kEntries = 2000;
    for (int i = 0; i < kEntries; ++i) {
        // mknod: an inode per name without an open/close round trip per entry.
        REQUIRE(mknod((dir + "/keep-" + std::to_string(i)).c_str(), S_IFREG | 0600, 0) == 0);
    }

    // Between getdents64 calls, other names are created and deleted: the changes fall
    // inside the listing every time, whatever the scheduling.
    unsigned churned = 0;
    int churn_errors = 0;
    auto churn = [&] {
        for (int k = 0; k < 4; ++k, ++churned) {
            const std::string name = dir + "/churn-" + std::to_string(churned % 64);
            if ((churned / 64) % 2 == 0) {
                if (mknod(name.c_str(), S_IFREG | 0600, 0) != 0) ++churn_errors;
            } else if (unlink(name.c_str()) != 0) {
                ++churn_errors;
            }
        }
    };
    std::map<std::string, int> seen;
    int passes = 0;
    {
        Fd fd = open_or_throw(dir, O_RDONLY | O_DIRECTORY);
        alignas(8) char buf[512];  // a few entries per getdents64 call
        for (;;) {
            const long n = syscall(SYS_getdents64, fd.get(), buf, sizeof buf);
            REQUIRE(n >= 0);
            if (n == 0) break;
            ++passes;
            for (long off = 0; off < n;) {
                // struct linux_dirent64: d_ino, d_off, then u16 d_reclen, u8 d_type, d_name.
                unsigned short reclen = 0;
                std::memcpy(&reclen, buf + off + 16, sizeof reclen);
                ++seen[std::string(buf + off + 19)];
                off += reclen;
            }
            churn();
        }
    }
    CHECK(churn_errors == 0);
    CHECK(passes > 50);
    INFO("creates and deletes during the listing: " << churned);
    CHECK(churned >= 200);

    std::vector<std::string> missing, duplicated;
    for (int i = 0; i < kEntries; ++i) {
        const auto it = seen.find("keep-" + std::to_string(i));
        if (it == seen.end())
            missing.push_back(std::to_string(i));
        else if (it->second != 1)
            duplicated.push_back(std::to_string(i) + " x" + std::to_string(it->second));
    }
    INFO("missing keep-N: " << Catch::Detail::stringify(missing));
    INFO("duplicated keep-N: " << Catch::Detail::stringify(duplicated));
    CHECK(missing.empty());
    CHECK(duplicated.empty());
    CHECK(seen["."] == 1);
    CHECK(seen[".."] == 1);
}
