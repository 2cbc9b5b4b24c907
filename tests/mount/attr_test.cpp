// Attributes on a real mount: xattrs, modes, owners, timestamps, and the kernel's
// permission checks that make a 1777 spoolfs a safe shared /tmp.
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>

#include <algorithm>
#include <catch2/catch.hpp>

#include "file_util.hpp"
#include "mount_fixture.hpp"

using namespace mount_test;

namespace {

const std::string kOpts = "lifetime=mount";
const std::string kShared = "lifetime=mount,allow_other,mode=1777";
constexpr uid_t kUserA = 12345;
constexpr uid_t kUserB = 23456;

std::string get_xattr(const std::string& path, const std::string& name) {
    char buf[256];
    const ssize_t n = getxattr(path.c_str(), name.c_str(), buf, sizeof buf);
    if (n < 0) throw_errno("getxattr " + name);
    return std::string(buf, static_cast<size_t>(n));
}

int set_xattr(const std::string& path, const std::string& name, const std::string& value,
              int flags = 0) {
    return errno_of(setxattr(path.c_str(), name.c_str(), value.data(), value.size(), flags));
}

std::vector<std::string> list_xattrs(const std::string& path) {
    const ssize_t size = listxattr(path.c_str(), nullptr, 0);
    if (size < 0) throw_errno("listxattr");
    std::string buf(static_cast<size_t>(size), '\0');
    const ssize_t n = listxattr(path.c_str(), buf.data(), buf.size());
    if (n != size) throw_errno("listxattr");
    std::vector<std::string> names;
    for (size_t at = 0; at < buf.size(); at += names.back().size() + 1)
        names.emplace_back(buf.c_str() + at);
    std::sort(names.begin(), names.end());
    return names;
}

bool same_time(const timespec& a, const timespec& b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

TEST_CASE("user xattrs store binary values and answer size queries") {
    Mount m(kOpts);
    write_file(m / "f", "");
    const std::string value("bin\0ary\xff", 8);
    REQUIRE(set_xattr(m / "f", "user.blob", value) == 0);
    CHECK(getxattr((m / "f").c_str(), "user.blob", nullptr, 0) == 8);
    CHECK(get_xattr(m / "f", "user.blob") == value);
    char small[4];
    CHECK(errno_of(getxattr((m / "f").c_str(), "user.blob", small, sizeof small)) == ERANGE);
    REQUIRE(set_xattr(m / "f", "user.empty", "") == 0);
    CHECK(getxattr((m / "f").c_str(), "user.empty", nullptr, 0) == 0);
    CHECK(errno_of(getxattr((m / "f").c_str(), "user.missing", nullptr, 0)) == ENODATA);
}

TEST_CASE("XATTR_CREATE fails with EEXIST and XATTR_REPLACE with ENODATA") {
    Mount m(kOpts);
    write_file(m / "f", "");
    CHECK(set_xattr(m / "f", "user.k", "v1", XATTR_REPLACE) == ENODATA);
    CHECK(set_xattr(m / "f", "user.k", "v1", XATTR_CREATE) == 0);
    CHECK(set_xattr(m / "f", "user.k", "v2", XATTR_CREATE) == EEXIST);
    CHECK(get_xattr(m / "f", "user.k") == "v1");
    CHECK(set_xattr(m / "f", "user.k", "v3", XATTR_REPLACE) == 0);
    CHECK(get_xattr(m / "f", "user.k") == "v3");
}

TEST_CASE("listxattr lists every name and removexattr removes one") {
    Mount m(kOpts);
    write_file(m / "f", "");
    REQUIRE(set_xattr(m / "f", "user.a", "1") == 0);
    REQUIRE(set_xattr(m / "f", "user.bb", "22") == 0);
    const auto names = list_xattrs(m / "f");
    CHECK(std::count(names.begin(), names.end(), "user.a") == 1);
    CHECK(std::count(names.begin(), names.end(), "user.bb") == 1);
    char tiny[3];
    CHECK(errno_of(listxattr((m / "f").c_str(), tiny, sizeof tiny)) == ERANGE);
    REQUIRE(removexattr((m / "f").c_str(), "user.a") == 0);
    CHECK(errno_of(getxattr((m / "f").c_str(), "user.a", nullptr, 0)) == ENODATA);
    CHECK(errno_of(removexattr((m / "f").c_str(), "user.a")) == ENODATA);
    const auto after = list_xattrs(m / "f");
    CHECK(std::count(after.begin(), after.end(), "user.a") == 0);
    CHECK(std::count(after.begin(), after.end(), "user.bb") == 1);
}

TEST_CASE("trusted. and security. xattrs work for root, on files and directories") {
    Mount m(kOpts);
    write_file(m / "f", "");
    REQUIRE(mkdir((m / "d").c_str(), 0755) == 0);
    for (const std::string& path : {m / "f", m / "d"}) {
        INFO(path);
        CHECK(set_xattr(path, "trusted.t", "tv") == 0);
        CHECK(set_xattr(path, "security.s", "sv") == 0);
        CHECK(set_xattr(path, "user.u", "uv") == 0);
        CHECK(get_xattr(path, "trusted.t") == "tv");
        CHECK(get_xattr(path, "security.s") == "sv");
        CHECK(get_xattr(path, "user.u") == "uv");
    }
}

TEST_CASE("an unprivileged user cannot see or set trusted. xattrs") {
    Mount m(kShared);
    write_file(m / "f", "", 0666);
    REQUIRE(set_xattr(m / "f", "trusted.t", "tv") == 0);
    const int set_err =
        run_as(kUserA, kUserA, [&] { return set_xattr(m / "f", "trusted.x", "1"); });
    CHECK(set_err == EPERM);
    const int get_err = run_as(kUserA, kUserA, [&] {
        return errno_of(getxattr((m / "f").c_str(), "trusted.t", nullptr, 0));
    });
    CHECK(get_err == ENODATA);
}

TEST_CASE("chmod and fchmod change the mode bits and ctime") {
    Mount m(kOpts);
    write_file(m / "f", "", 0644);
    const auto before = stat_or_throw(m / "f");
    REQUIRE(chmod((m / "f").c_str(), 04751) == 0);
    const auto after = stat_or_throw(m / "f");
    CHECK((after.st_mode & 07777) == 04751);
    CHECK(S_ISREG(after.st_mode));
    CHECK(!same_time(after.st_ctim, before.st_ctim));
    Fd fd = open_or_throw(m / "f", O_RDONLY);
    REQUIRE(fchmod(fd.get(), 0600) == 0);
    CHECK((stat_or_throw(m / "f").st_mode & 07777) == 0600);
    REQUIRE(mkdir((m / "d").c_str(), 0700) == 0);
    REQUIRE(chmod((m / "d").c_str(), 01777) == 0);
    CHECK((stat_or_throw(m / "d").st_mode & 07777) == 01777);
}

TEST_CASE("chown changes owner and group, -1 keeps them, and clears set-user-ID") {
    Mount m(kOpts);
    write_file(m / "f", "", 0755);
    REQUIRE(chown((m / "f").c_str(), 1001, 2002) == 0);
    auto st = stat_or_throw(m / "f");
    CHECK(st.st_uid == 1001u);
    CHECK(st.st_gid == 2002u);
    REQUIRE(chown((m / "f").c_str(), static_cast<uid_t>(-1), 3003) == 0);
    st = stat_or_throw(m / "f");
    CHECK(st.st_uid == 1001u);
    CHECK(st.st_gid == 3003u);
    REQUIRE(chmod((m / "f").c_str(), 04755) == 0);
    REQUIRE(chown((m / "f").c_str(), 1002, static_cast<gid_t>(-1)) == 0);
    st = stat_or_throw(m / "f");
    CHECK(st.st_uid == 1002u);
    CHECK((st.st_mode & S_ISUID) == 0);
    REQUIRE(symlink("f", (m / "l").c_str()) == 0);
    REQUIRE(lchown((m / "l").c_str(), 1003, 1003) == 0);
    CHECK(stat_or_throw(m / "l").st_uid == 1003u);
    CHECK(stat_or_throw(m / "f").st_uid == 1002u);
}

TEST_CASE("utimensat stores nanosecond timestamps exactly") {
    Mount m(kOpts);
    write_file(m / "f", "");
    const timespec times[2] = {{1000000000, 123456789}, {1500000000, 987654321}};
    REQUIRE(utimensat(AT_FDCWD, (m / "f").c_str(), times, 0) == 0);
    const auto st = stat_or_throw(m / "f");
    CHECK(st.st_atim.tv_sec == 1000000000);
    CHECK(st.st_atim.tv_nsec == 123456789);
    CHECK(st.st_mtim.tv_sec == 1500000000);
    CHECK(st.st_mtim.tv_nsec == 987654321);
    REQUIRE(mkdir((m / "d").c_str(), 0755) == 0);
    REQUIRE(utimensat(AT_FDCWD, (m / "d").c_str(), times, 0) == 0);
    CHECK(same_time(stat_or_throw(m / "d").st_mtim, times[1]));
    REQUIRE(symlink("f", (m / "l").c_str()) == 0);
    REQUIRE(utimensat(AT_FDCWD, (m / "l").c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
    CHECK(same_time(stat_or_throw(m / "l").st_mtim, times[1]));
}

TEST_CASE("UTIME_NOW sets the current time and UTIME_OMIT leaves a timestamp alone") {
    Mount m(kOpts);
    write_file(m / "f", "");
    const timespec old[2] = {{1000000000, 111}, {1000000000, 222}};
    REQUIRE(utimensat(AT_FDCWD, (m / "f").c_str(), old, 0) == 0);
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    const timespec set_atime_now[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    REQUIRE(utimensat(AT_FDCWD, (m / "f").c_str(), set_atime_now, 0) == 0);
    auto st = stat_or_throw(m / "f");
    CHECK(std::abs(st.st_atim.tv_sec - now.tv_sec) <= 2);
    CHECK(same_time(st.st_mtim, old[1]));
    Fd fd = open_or_throw(m / "f", O_RDWR);
    const timespec set_mtime_now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    REQUIRE(futimens(fd.get(), set_mtime_now) == 0);
    st = stat_or_throw(m / "f");
    CHECK(std::abs(st.st_mtim.tv_sec - now.tv_sec) <= 2);
    CHECK(std::abs(st.st_atim.tv_sec - now.tv_sec) <= 2);
}

TEST_CASE("a write updates mtime and ctime") {
    Mount m(kOpts);
    write_file(m / "f", "");
    const timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    REQUIRE(utimensat(AT_FDCWD, (m / "f").c_str(), old, 0) == 0);
    const auto before = stat_or_throw(m / "f");
    {
        Fd fd = open_or_throw(m / "f", O_WRONLY);
        write_all(fd.get(), "new data");
    }
    const auto after = stat_or_throw(m / "f");
    CHECK(after.st_mtim.tv_sec > 1000000000);
    CHECK(!same_time(after.st_ctim, before.st_ctim));
    CHECK(after.st_size == 8);
}

TEST_CASE("new entries belong to the creating process's uid and gid") {
    Mount m(kShared);
    const int err = run_as(kUserA, kUserA + 1, [&] {
        if (Fd fd(open((m / "file").c_str(), O_CREAT | O_WRONLY, 0600)); !fd) return errno;
        if (mkdir((m / "dir").c_str(), 0700) != 0) return errno;
        if (symlink("file", (m / "link").c_str()) != 0) return errno;
        if (mkfifo((m / "fifo").c_str(), 0600) != 0) return errno;
        return 0;
    });
    REQUIRE(err == 0);
    for (const char* name : {"file", "dir", "link", "fifo"}) {
        INFO(name);
        const auto st = stat_or_throw(m / name);
        CHECK(st.st_uid == kUserA);
        CHECK(st.st_gid == kUserA + 1);
    }
}

TEST_CASE("in a set-group-ID directory new files take its group and subdirectories its bit") {
    Mount m(kShared);
    REQUIRE(mkdir((m / "shared").c_str(), 0777) == 0);
    REQUIRE(chown((m / "shared").c_str(), 0, 4242) == 0);
    REQUIRE(chmod((m / "shared").c_str(), 02777) == 0);
    // A user who is not in group 4242 still creates files of that group.
    const int err = run_as(kUserA, kUserA, [&] {
        if (Fd fd(open((m / "shared/file").c_str(), O_CREAT | O_WRONLY, 0644)); !fd) return errno;
        return errno_of(mkdir((m / "shared/sub").c_str(), 0755));
    });
    REQUIRE(err == 0);
    const auto file = stat_or_throw(m / "shared/file");
    CHECK(file.st_uid == kUserA);
    CHECK(file.st_gid == 4242u);
    const auto sub = stat_or_throw(m / "shared/sub");
    CHECK(sub.st_gid == 4242u);
    CHECK((sub.st_mode & S_ISGID) != 0);
}

TEST_CASE("the root directory is 1777 and owned by the mounting user by default") {
    Mount m;
    const auto st = stat_or_throw(m.path());
    CHECK(S_ISDIR(st.st_mode));
    CHECK((st.st_mode & 07777) == 01777);
    CHECK(st.st_uid == getuid());
    CHECK(st.st_gid == getgid());
}

TEST_CASE("mode=, uid= and gid= set the root directory's") {
    Mount m("mode=0750,uid=1234,gid=5678");
    const auto st = stat_or_throw(m.path());
    CHECK((st.st_mode & 07777) == 0750);
    CHECK(st.st_uid == 1234u);
    CHECK(st.st_gid == 5678u);
}

TEST_CASE("in the sticky root another user can neither unlink nor rename my file") {
    Mount m(kShared);
    REQUIRE(run_as(kUserA, kUserA, [&] {
                if (Fd fd(open((m / "a-file").c_str(), O_CREAT | O_WRONLY, 0666)); !fd)
                    return errno;
                return 0;
            }) == 0);
    REQUIRE(run_as(kUserB, kUserB, [&] {
                if (Fd fd(open((m / "b-file").c_str(), O_CREAT | O_WRONLY, 0666)); !fd)
                    return errno;
                return 0;
            }) == 0);
    CHECK(run_as(kUserB, kUserB, [&] { return errno_of(unlink((m / "a-file").c_str())); }) ==
          EPERM);
    CHECK(run_as(kUserB, kUserB, [&] {
              return errno_of(rename((m / "a-file").c_str(), (m / "stolen").c_str()));
          }) == EPERM);
    // Nor replace it by renaming over it.
    CHECK(run_as(kUserB, kUserB, [&] {
              return errno_of(rename((m / "b-file").c_str(), (m / "a-file").c_str()));
          }) == EPERM);
    CHECK(stat_or_throw(m / "a-file").st_uid == kUserA);
    CHECK(run_as(kUserA, kUserA, [&] { return errno_of(unlink((m / "a-file").c_str())); }) == 0);
}

TEST_CASE("another user's 0600 file and 0700 directory stay closed") {
    Mount m(kShared);
    REQUIRE(run_as(kUserA, kUserA, [&] {
                Fd fd(open((m / "secret").c_str(), O_CREAT | O_WRONLY, 0600));
                if (!fd || write(fd.get(), "s", 1) != 1) return errno;
                return errno_of(mkdir((m / "private").c_str(), 0700));
            }) == 0);
    CHECK(run_as(kUserB, kUserB,
                 [&] { return errno_of(open((m / "secret").c_str(), O_RDONLY)); }) == EACCES);
    CHECK(run_as(kUserB, kUserB, [&] {
              return errno_of(open((m / "secret").c_str(), O_WRONLY | O_TRUNC));
          }) == EACCES);
    CHECK(run_as(kUserB, kUserB, [&] {
              return errno_of(open((m / "private").c_str(), O_RDONLY | O_DIRECTORY));
          }) == EACCES);
    CHECK(run_as(kUserB, kUserB, [&] {
              return errno_of(open((m / "private/x").c_str(), O_CREAT | O_WRONLY, 0600));
          }) == EACCES);
    CHECK(run_as(kUserB, kUserB, [&] { return errno_of(chmod((m / "secret").c_str(), 0666)); }) ==
          EPERM);
    CHECK(run_as(kUserA, kUserA,
                 [&] { return errno_of(open((m / "secret").c_str(), O_RDONLY)); }) == 0);
}

TEST_CASE("without allow_other other users cannot enter the mount at all") {
    Mount m("lifetime=mount");
    CHECK(run_as(kUserA, kUserA, [&] {
              struct stat st {};
              return errno_of(stat(m.path().c_str(), &st));
          }) == EACCES);
}

TEST_CASE("a write or truncate by another user clears set-user-ID and security.capability") {
    Mount m(kShared);
    write_file(m / "f", "data", 0666);
    // struct vfs_cap_data, revision 2, little-endian: cap_net_bind_service permitted.
    const std::string capability(
        "\0\0\0\2"
        "\0\4\0\0"
        "\0\0\0\0"
        "\0\0\0\0"
        "\0\0\0\0",
        20);
    REQUIRE(set_xattr(m / "f", "security.capability", capability) == 0);
    REQUIRE(chmod((m / "f").c_str(), 06777) == 0);
    CHECK(run_as(kUserA, kUserA, [&] {
              Fd fd(open((m / "f").c_str(), O_WRONLY | O_APPEND));
              if (!fd) return errno;
              return write(fd.get(), "x", 1) == 1 ? 0 : errno;
          }) == 0);
    auto st = stat_or_throw(m / "f");
    CHECK((st.st_mode & 07777) == 0777);  // both bits: the file is group-executable
    CHECK(getxattr((m / "f").c_str(), "security.capability", nullptr, 0) < 0);

    REQUIRE(chmod((m / "f").c_str(), 04777) == 0);
    CHECK(run_as(kUserA, kUserA, [&] { return errno_of(truncate((m / "f").c_str(), 1)); }) == 0);
    CHECK((stat_or_throw(m / "f").st_mode & 07777) == 0777);

    // Root's own writes keep the bits, as on tmpfs (CAP_FSETID).
    REQUIRE(chmod((m / "f").c_str(), 04777) == 0);
    {
        Fd fd(open((m / "f").c_str(), O_WRONLY | O_APPEND));
        REQUIRE(fd);
        REQUIRE(write(fd.get(), "y", 1) == 1);
    }
    CHECK((stat_or_throw(m / "f").st_mode & 07777) == 04777);
}

TEST_CASE("listing a directory keeps every entry's attributes whole") {
    Mount m(kOpts);
    REQUIRE(mkdir((m / "d").c_str(), 0750) == 0);
    write_file(m / "d/f", "12345", 0640);
    REQUIRE(chown((m / "d/f").c_str(), 4321, 8765) == 0);
    for (const auto& name : list_dir(m / "d")) (void)name;  // READDIRPLUS refreshes them
    const auto st = stat_or_throw(m / "d/f");
    CHECK(st.st_mode == (S_IFREG | 0640));
    CHECK(st.st_uid == 4321u);
    CHECK(st.st_gid == 8765u);
    CHECK(st.st_size == 5);
    CHECK(st.st_nlink == 1u);
}
