// Two users against each other on a shared /tmp, each scenario on tmpfs and on spoolfs
// (lifetime=mount, so names live as on tmpfs): unlink and rename in the sticky root, hard
// links to another's file, another's 0600 file, FIFOs, symlinks, RENAME_EXCHANGE and
// RENAME_NOREPLACE across owners, O_TMPFILE + linkat, timestamps and xattrs of another's
// file. Every result (value or errno) and the visible state afterwards must be tmpfs's.
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <catch2/catch.hpp>

#include "hostile_fixture.hpp"

using namespace hostile;

namespace {

using Scenario = std::function<void(const Target&, Record&)>;

// Runs `step` as `uid` (bounded), its results appended to `r`, then its exit code.
void as(const Target& t, uid_t uid, Record& r, const std::string& what,
        const std::function<void(Record&)>& step) {
    Shared<Record> rec;
    const int code = run_bounded(t, uid, [&] {
        step(*rec);
        return 0;
    });
    for (int i = 0; i < rec->n; ++i) r.add(rec->v[i], what + ": " + rec->label[i]);
    r.add(code, what + ": exit");
}

void same_as_tmpfs(const std::string& options, const Scenario& scenario) {
    Both b(options);
    Record r[2];
    int i = 0;
    for (const Target& t : b.both()) scenario(t, r[i++]);
    INFO("tmpfs:   " << r[0].str());
    INFO("spoolfs: " << r[1].str());
    INFO("differences:\n" << r[0].differences(r[1]));
    CHECK(r[1] == r[0]);
}

const std::string kOptions = "lifetime=mount";

long long mode_or_errno(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? st.st_mode : -errno;
}

long long owner_or_errno(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? st.st_uid : -errno;
}

// A regular file's data, "!" when there is none, "dir" for a directory and so on.
std::string contents(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return "!";
    if (S_ISDIR(st.st_mode)) return "dir";
    return S_ISREG(st.st_mode) ? read_file(path) : "special";
}

}  // namespace

TEST_CASE("hostile: in the sticky root B can neither unlink, rename nor replace A's file",
          "[audit][sticky]") {
    same_as_tmpfs(kOptions, [](const Target& t, Record& r) {
        as(t, kUserA, r, "A", [&](Record& a) {
            Fd fd(::open((t / "a").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
            a.result(fd ? ::write(fd.get(), "A", 1) : -1, "create a");
            a.result(::mkdir((t / "a-dir").c_str(), 0777), "mkdir a-dir");
        });
        as(t, kUserB, r, "B", [&](Record& b) {
            write_file(t / "b", "B", 0666);
            b.result(::unlink((t / "a").c_str()), "unlink a");
            b.result(::rename((t / "a").c_str(), (t / "stolen").c_str()), "rename a");
            b.result(::rename((t / "b").c_str(), (t / "a").c_str()), "rename b over a");
            b.result(::renameat2(AT_FDCWD, (t / "b").c_str(), AT_FDCWD, (t / "a").c_str(), RENAME_EXCHANGE),
                     "exchange b and a");
            b.result(::renameat2(AT_FDCWD, (t / "b").c_str(), AT_FDCWD, (t / "a").c_str(), RENAME_NOREPLACE),
                     "rename b noreplace a");
            b.result(::rmdir((t / "a-dir").c_str()), "rmdir a-dir");
            b.result(::rename((t / "a-dir").c_str(), (t / "b-dir").c_str()), "rename a-dir");
            b.result(::mkdir((t / "b-dir").c_str(), 0777), "mkdir b-dir");
            b.result(::rename((t / "b-dir").c_str(), (t / "a-dir").c_str()), "rename b-dir over a-dir");
            b.result(::truncate((t / "a").c_str(), 0), "truncate a (0666)");
            b.result(::chmod((t / "a").c_str(), 0600), "chmod a");
            b.result(::chown((t / "a").c_str(), kUserB, kUserB), "chown a");
            b.result(::utimensat(AT_FDCWD, (t / "a").c_str(), nullptr, 0), "utimensat a now");
            const timespec times[2] = {{1, 0}, {2, 0}};
            b.result(::utimensat(AT_FDCWD, (t / "a").c_str(), times, 0), "utimensat a explicit");
            b.result(::setxattr((t / "a").c_str(), "user.b", "1", 1, 0), "setxattr a user.b");
            b.result(::setxattr((t / "a-dir").c_str(), "user.b", "1", 1, 0), "setxattr a-dir user.b");
            b.result(::mknod((t / "dev").c_str(), S_IFCHR | 0666, makedev(1, 3)), "mknod char dev");
        });
        r.add(owner_or_errno(t / "a"), "owner of a");
        r.add(contents(t / "a") == "", "a truncated by B");
        r.add(contents(t / "b") == "B", "b intact");
        r.add(lstat_errno(t / "stolen"), "stolen exists");
        r.add(mode_or_errno(t / "a-dir"), "mode of a-dir");
        r.add(owner_or_errno(t / "a-dir"), "owner of a-dir");
        r.add(list_dir(t.path).size(), "names in root");
    });
}

TEST_CASE("hostile: hard links to another user's file (protected_hardlinks) and their fate",
          "[audit][link]") {
    same_as_tmpfs(kOptions, [](const Target& t, Record& r) {
        make_file(t / "open", kUserA, 0666, "shared");
        make_file(t / "readonly", kUserA, 0644, "public");
        make_file(t / "secret", kUserA, 0600, "secret");
        make_file(t / "setuid", kUserA, 04755, "prog");
        as(t, kUserB, r, "B", [&](Record& b) {
            b.result(::link((t / "open").c_str(), (t / "b-open").c_str()), "link 0666");
            b.result(::link((t / "readonly").c_str(), (t / "b-ro").c_str()), "link 0644");
            b.result(::link((t / "secret").c_str(), (t / "b-secret").c_str()), "link 0600");
            b.result(::link((t / "setuid").c_str(), (t / "b-suid").c_str()), "link 04755");
            b.result(::unlink((t / "b-open").c_str()), "unlink own link");
        });
        as(t, kUserA, r, "A", [&](Record& a) { a.result(::unlink((t / "open").c_str()), "unlink open"); });
        struct stat st {};
        r.result(::lstat((t / "readonly").c_str(), &st), "lstat readonly");
        r.add(st.st_nlink, "its links");
        r.add(lstat_errno(t / "open"), "open gone");
        r.add(lstat_errno(t / "b-open"), "b-open gone");
    });
}

TEST_CASE("hostile: another user's 0600 file stays closed", "[audit][perm]") {
    same_as_tmpfs(kOptions, [](const Target& t, Record& r) {
        make_file(t / "secret", kUserA, 0600, "secret");
        REQUIRE(::setxattr((t / "secret").c_str(), "user.k", "v", 1, 0) == 0);
        as(t, kUserB, r, "B", [&](Record& b) {
            b.result(::open((t / "secret").c_str(), O_RDONLY | O_CLOEXEC), "open for reading");
            b.result(::open((t / "secret").c_str(), O_WRONLY | O_CLOEXEC), "open for writing");
            b.result(::open((t / "secret").c_str(), O_PATH | O_CLOEXEC) >= 0, "O_PATH");
            b.result(::truncate((t / "secret").c_str(), 0), "truncate");
            char buf[8];
            b.result(::getxattr((t / "secret").c_str(), "user.k", buf, sizeof buf), "getxattr");
            b.result(::setxattr((t / "secret").c_str(), "user.k", "w", 1, 0), "setxattr");
            b.result(::listxattr((t / "secret").c_str(), nullptr, 0), "listxattr size");
            b.result(::removexattr((t / "secret").c_str(), "user.k"), "removexattr");
            b.result(::access((t / "secret").c_str(), R_OK), "access R_OK");
            b.result(::open((t / "secret").c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0666), "O_CREAT open");
            b.result(::open((t / "secret").c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666),
                     "O_CREAT|O_EXCL");
            // Through /proc/self/fd of an O_PATH descriptor: no way around the mode.
            Fd path_fd(::open((t / "secret").c_str(), O_PATH | O_CLOEXEC));
            const std::string via = "/proc/self/fd/" + std::to_string(path_fd.get());
            b.result(::open(via.c_str(), O_RDONLY | O_CLOEXEC), "reopen O_PATH fd");
        });
        r.add(contents(t / "secret") == "secret", "contents intact");
    });
}

TEST_CASE("hostile: FIFOs and sockets of one user in the sticky root, opened by another",
          "[audit][fifo]") {
    same_as_tmpfs(kOptions, [](const Target& t, Record& r) {
        as(t, kUserA, r, "A", [&](Record& a) {
            a.result(::mkfifo((t / "fifo").c_str(), 0666), "mkfifo 0666");
            a.result(::mkfifo((t / "private").c_str(), 0600), "mkfifo 0600");
            a.result(::mknod((t / "sock").c_str(), S_IFSOCK | 0666, 0), "mknod socket");
        });
        as(t, kUserB, r, "B", [&](Record& b) {
            Fd rw(::open((t / "fifo").c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
            b.add(rw ? 0 : -errno, "open fifo O_RDWR");
            if (rw) {
                b.result(::write(rw.get(), "ping", 4), "write fifo");
                char buf[8];
                b.result(::read(rw.get(), buf, sizeof buf), "read fifo");
            }
            b.result(::open((t / "fifo").c_str(), O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0666),
                     "O_CREAT open fifo (protected_fifos)");
            b.result(::open((t / "private").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC), "open 0600 fifo");
            b.result(::open((t / "sock").c_str(), O_RDONLY | O_CLOEXEC), "open socket");
            b.result(::unlink((t / "fifo").c_str()), "unlink fifo");
            b.result(::truncate((t / "fifo").c_str(), 0), "truncate fifo");
        });
        r.add(mode_or_errno(t / "fifo"), "mode of fifo");
        r.add(mode_or_errno(t / "sock"), "mode of sock");
        r.add(stat_or_throw(t / "fifo").st_size, "fifo size");
    });
}

TEST_CASE("hostile: symlinks planted by one user for another in the sticky root",
          "[audit][symlink]") {
    same_as_tmpfs(kOptions, [](const Target& t, Record& r) {
        make_file(t / "b-file", kUserB, 0600, "B's");
        as(t, kUserA, r, "A", [&](Record& a) {
            a.result(::symlink((t / "b-file").c_str(), (t / "trap").c_str()), "symlink to B's file");
            a.result(::symlink("dangling-target", (t / "dangling").c_str()), "dangling symlink");
            a.result(::lchown((t / "trap").c_str(), kUserB, kUserB), "lchown to B");
        });
        as(t, kUserB, r, "B", [&](Record& b) {
            // B follows A's links (protected_symlinks decides; the same on both).
            Fd fd(::open((t / "trap").c_str(), O_RDWR | O_CLOEXEC));
            b.add(fd ? 0 : -errno, "open through trap");
            if (fd) b.result(::pwrite(fd.get(), "X", 1, 0), "write through trap");
            b.result(::open((t / "trap").c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC), "O_NOFOLLOW");
            b.result(::open((t / "dangling").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644),
                     "O_CREAT through dangling");
            b.result(::unlink((t / "trap").c_str()), "unlink A's symlink");
            b.result(::lchown((t / "trap").c_str(), kUserB, kUserB), "lchown A's symlink");
            char buf[64];
            b.result(::readlink((t / "trap").c_str(), buf, sizeof buf), "readlink");
            b.result(::lsetxattr((t / "trap").c_str(), "user.x", "1", 1, 0), "lsetxattr user.* on symlink");
        });
        r.add(contents(t / "b-file") == "B's" ? 0 : contents(t / "b-file") == "X's" ? 1 : 2, "B's file");
        r.add(lstat_errno(t / "dangling-target"), "dangling target made");
        r.add(owner_or_errno(t / "dangling-target"), "its owner");
        r.add(mode_or_errno(t / "trap"), "mode of trap");
    });
}

TEST_CASE("hostile: RENAME_EXCHANGE across owners, in a plain and a sticky directory",
          "[audit][rename]") {
    same_as_tmpfs(kOptions, [](const Target& t, Record& r) {
        for (const char* dir : {"plain", "sticky"}) {
            const std::string d = t / dir;
            REQUIRE(::mkdir(d.c_str(), 0777) == 0);
            REQUIRE(::chmod(d.c_str(), std::string(dir) == "sticky" ? 01777 : 0777) == 0);
            make_file(d + "/a", kUserA, 0644, "A");
            make_file(d + "/b", kUserB, 0644, "B");
            REQUIRE(::mkdir((d + "/a-dir").c_str(), 0755) == 0);
            REQUIRE(::chown((d + "/a-dir").c_str(), kUserA, kUserA) == 0);
            as(t, kUserB, r, std::string("B in ") + dir, [&](Record& b) {
                b.result(::renameat2(AT_FDCWD, (d + "/b").c_str(), AT_FDCWD, (d + "/a").c_str(),
                                     RENAME_EXCHANGE),
                         "exchange b, a");
                b.result(::renameat2(AT_FDCWD, (d + "/b").c_str(), AT_FDCWD, (d + "/a-dir").c_str(),
                                     RENAME_EXCHANGE),
                         "exchange b, a-dir");
                b.result(::rename((d + "/b").c_str(), (d + "/a-dir/x").c_str()), "rename into a-dir");
                b.result(::renameat2(AT_FDCWD, (d + "/a").c_str(), AT_FDCWD, (d + "/b").c_str(),
                                     RENAME_NOREPLACE),
                         "noreplace a over b");
            });
            r.add(contents(d + "/a") == "A" ? 1 : contents(d + "/a") == "B" ? 2 : 0, "who is at a");
            r.add(contents(d + "/b") == "A" ? 1 : contents(d + "/b") == "B" ? 2 : 0, "who is at b");
            r.add(mode_or_errno(d + "/a-dir"), "mode of a-dir");
            r.add(list_dir(d).size(), "names");
        }
    });
}

TEST_CASE("hostile: O_TMPFILE and linkat by another user", "[audit][tmpfile]") {
    same_as_tmpfs(kOptions, [](const Target& t, Record& r) {
        make_file(t / "taken", kUserA, 0644, "A");
        REQUIRE(::mkdir((t / "a-dir").c_str(), 0755) == 0);
        REQUIRE(::chown((t / "a-dir").c_str(), kUserA, kUserA) == 0);
        as(t, kUserB, r, "B", [&](Record& b) {
            Fd fd(::open(t.path.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0644));
            b.add(fd ? 0 : -errno, "O_TMPFILE");
            if (!fd) return;
            b.result(::write(fd.get(), "tmp", 3), "write");
            const std::string via = "/proc/self/fd/" + std::to_string(fd.get());
            b.result(::linkat(fd.get(), "", AT_FDCWD, (t / "b-empty").c_str(), AT_EMPTY_PATH),
                     "linkat AT_EMPTY_PATH (needs CAP_DAC_READ_SEARCH)");
            b.result(::linkat(AT_FDCWD, via.c_str(), AT_FDCWD, (t / "taken").c_str(), AT_SYMLINK_FOLLOW),
                     "linkat over A's name");
            b.result(::linkat(AT_FDCWD, via.c_str(), AT_FDCWD, (t / "a-dir/in").c_str(), AT_SYMLINK_FOLLOW),
                     "linkat into A's dir");
            b.result(::linkat(AT_FDCWD, via.c_str(), AT_FDCWD, (t / "b-named").c_str(), AT_SYMLINK_FOLLOW),
                     "linkat to a new name");
            Fd excl(::open(t.path.c_str(), O_TMPFILE | O_EXCL | O_RDWR | O_CLOEXEC, 0644));
            const std::string via_excl = "/proc/self/fd/" + std::to_string(excl.get());
            b.result(::linkat(AT_FDCWD, via_excl.c_str(), AT_FDCWD, (t / "b-excl").c_str(), AT_SYMLINK_FOLLOW),
                     "linkat of an O_EXCL tmpfile");
            // A tmpfile in A's directory: no write permission.
            b.result(::open((t / "a-dir").c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0644), "O_TMPFILE in A's dir");
        });
        r.add(contents(t / "taken") == "A", "A's name intact");
        r.add(contents(t / "b-named") == "tmp", "B's tmpfile named");
        r.add(owner_or_errno(t / "b-named"), "its owner");
        r.add(mode_or_errno(t / "b-named"), "mode of it");
        r.add(lstat_errno(t / "b-excl"), "b-excl");
    });
}

TEST_CASE("hostile: a set-group-ID directory of A's and B's files in it", "[audit][setid]") {
    same_as_tmpfs(kOptions, [](const Target& t, Record& r) {
        REQUIRE(::mkdir((t / "sgid").c_str(), 0777) == 0);
        REQUIRE(::chown((t / "sgid").c_str(), kUserA, kUserA) == 0);
        REQUIRE(::chmod((t / "sgid").c_str(), 02777) == 0);
        as(t, kUserB, r, "B", [&](Record& b) {
            Fd fd(::open((t / "sgid/f").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 02775));
            b.add(fd ? 0 : -errno, "create 02775 in A's sgid dir");
            b.result(::mkdir((t / "sgid/sub").c_str(), 0777), "mkdir");
            b.result(::chmod((t / "sgid/f").c_str(), 02775), "chmod 02775 (not in the group)");
        });
        r.add(mode_or_errno(t / "sgid/f"), "mode of f");
        r.add(stat_or_throw(t / "sgid/f").st_gid, "gid of f");
        r.add(mode_or_errno(t / "sgid/sub"), "mode of sub");
        r.add(stat_or_throw(t / "sgid/sub").st_gid, "gid of sub");
    });
}
