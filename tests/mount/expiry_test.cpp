// Expiry on a real mount (expire=2s): what nobody used for the duration goes, for every
// process, within a bounded time; an open file never goes, and its age starts at its last
// close; touched files, non-empty directories and the root stay; a directory's xattr
// user.spoolfs.expire rules what is created in it later. Every wait is bounded (the
// duration plus 3 s of slack); nothing here asserts speed.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include "file_util.hpp"
#include "mount_fixture.hpp"
#include "mount_util.hpp"

using namespace mount_test;

namespace {

const char* const kXattr = "user.spoolfs.expire";
constexpr auto kDuration = 2s;
constexpr auto kSlack = 3s;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Polls until `done`, for at most `limit`.
bool within(std::chrono::milliseconds limit, const std::function<bool()>& done) {
    const auto deadline = Clock::now() + limit;
    while (!done()) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

// Whether `path` is gone (for this process and for another) within the duration plus
// slack after `since`; prints how long it took, for the record.
bool goes(const std::string& path, Clock::time_point since, const char* what) {
    const auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(
        kDuration + kSlack - (Clock::now() - since));
    const bool gone = within(limit, [&] { return lstat_errno(path) == ENOENT; });
    std::fprintf(stderr, "expiry_test: %s %s after %.2f s\n", what, gone ? "went" : "stayed",
                 seconds_since(since));
    return gone && run_child([&] { return lstat_errno(path); }) == ENOENT;
}

int set_expire(const std::string& path, std::string_view value) {
    return errno_of(setxattr(path.c_str(), kXattr, value.data(), value.size(), 0));
}

std::string expire_of(const std::string& path) {
    char buf[32];
    const ssize_t n = getxattr(path.c_str(), kXattr, buf, sizeof buf);
    if (n < 0) throw_errno(std::string("getxattr ") + kXattr + " " + path);
    return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

TEST_CASE("expire=2s: a closed file goes for every process, and the stat counts it") {
    Mount m("lifetime=mount,expire=2s");
    CHECK(expire_of(m.path()) == "2s");
    const auto start = Clock::now();
    write_file(m / "f", "data");
    REQUIRE(symlink("f", (m / "s").c_str()) == 0);
    REQUIRE(lstat_errno(m / "f") == 0);  // cached by the kernel when it goes
    CHECK(stat_of(m, "files_expired") == 0);
    CHECK(goes(m / "f", start, "a closed file"));
    CHECK(goes(m / "s", start, "a symlink"));
    CHECK(within(5s, [&] { return stat_of(m, "files_expired") == 2; }));
    CHECK(list_dir(m.path()).empty());

    const auto json = run_process({std::getenv("SPOOLFS"), "--stats", "--json", m.path()}, 10s);
    INFO(json.out << json.describe());
    CHECK_THAT(json.out, Catch::Contains("\"files_expired\": 2"));
}

TEST_CASE("expire=2s: an open file stays while open, and goes its duration after the last close") {
    Mount m("lifetime=mount,expire=2s");
    Fd fd = open_or_throw(m / "open", O_RDWR | O_CREAT | O_EXCL, 0644);
    write_all(fd.get(), "held");
    Fd second = open_or_throw(m / "open", O_RDONLY);
    std::this_thread::sleep_for(2 * kDuration);
    CHECK(lstat_errno(m / "open") == 0);
    REQUIRE(fd.close() == 0);
    std::this_thread::sleep_for(kDuration);  // one handle is enough
    CHECK(lstat_errno(m / "open") == 0);
    REQUIRE(second.close() == 0);
    const auto closed = Clock::now();
    std::this_thread::sleep_for(1s);  // half the duration since the close: its age restarted
    CHECK(lstat_errno(m / "open") == 0);
    CHECK(goes(m / "open", closed, "a file after its last close"));
}

TEST_CASE("expire=2s: a file written or touched now and then stays") {
    Mount m("lifetime=mount,expire=2s");
    write_file(m / "written", "1");
    write_file(m / "touched", "1");
    const auto until = Clock::now() + 2 * kDuration;
    while (Clock::now() < until) {
        write_file(m / "written", "2");
        REQUIRE(utimensat(AT_FDCWD, (m / "touched").c_str(), nullptr, 0) == 0);
        std::this_thread::sleep_for(500ms);
    }
    CHECK(lstat_errno(m / "written") == 0);
    CHECK(lstat_errno(m / "touched") == 0);
    const auto stopped = Clock::now();
    CHECK(goes(m / "written", stopped, "a file no longer written"));
    CHECK(goes(m / "touched", stopped, "a file no longer touched"));
}

TEST_CASE("expire=2s: an empty directory goes, a non-empty one and the root stay") {
    Mount m("lifetime=mount,expire=2s");
    const auto start = Clock::now();
    REQUIRE(mkdir((m / "empty").c_str(), 0755) == 0);
    REQUIRE(mkdir((m / "full").c_str(), 0755) == 0);
    Fd held = open_or_throw(m / "full/held", O_RDWR | O_CREAT, 0644);
    CHECK(goes(m / "empty", start, "an empty directory"));
    std::this_thread::sleep_for(1s);
    CHECK(lstat_errno(m / "full") == 0);
    CHECK(lstat_errno(m / "full/held") == 0);
    struct stat root {};
    CHECK(lstat(m.path().c_str(), &root) == 0);
    CHECK(m.mounted());
    // Emptied, it is as old as its last change.
    REQUIRE(held.close() == 0);
    CHECK(goes(m / "full/held", Clock::now(), "the file of a full directory"));
    CHECK(goes(m / "full", Clock::now(), "a directory emptied"));
    CHECK(lstat(m.path().c_str(), &root) == 0);
    // The root, empty and unchanged for longer than the duration, stays all the same.
    const auto expired = stat_of(m, "files_expired");
    std::this_thread::sleep_for(3s);
    CHECK(stat_of(m, "files_expired") == expired);
    CHECK(m.mounted());
    CHECK(mkdir((m / "after").c_str(), 0755) == 0);
}

TEST_CASE("expire=2s: a directory's user.spoolfs.expire rules what is created in it later") {
    Mount m("lifetime=mount,expire=2s,allow_other");
    REQUIRE(mkdir((m / "keep").c_str(), 0777) == 0);
    REQUIRE(mkdir((m / "slow").c_str(), 0777) == 0);
    CHECK(set_expire(m / "keep", "off") == 0);
    CHECK(set_expire(m / "slow", "1h") == 0);
    CHECK(expire_of(m / "keep") == "off");
    CHECK(expire_of(m / "slow") == "1h");
    CHECK(set_expire(m / "keep", "soon") == EINVAL);
    REQUIRE(chmod((m / "keep").c_str(), 0777) == 0);  // the kernel lets the stranger ask
    // Only the owner: a stranger gets EPERM, as for user.spoolfs.lifetime.
    CHECK(run_as(60021, 60021, [&] { return set_expire(m / "keep", "1s"); }) == EPERM);
    const auto start = Clock::now();
    write_file(m / "keep/f", "kept");
    write_file(m / "slow/f", "kept longer");
    write_file(m / "goes", "gone");
    CHECK(expire_of(m / "keep/f") == "off");
    CHECK(goes(m / "goes", start, "a file beside the directories"));
    std::this_thread::sleep_for(1s);
    CHECK(lstat_errno(m / "keep/f") == 0);
    CHECK(lstat_errno(m / "slow/f") == 0);
    CHECK(lstat_errno(m / "keep") == 0);
}

TEST_CASE("no expire=: only a directory whose xattr asks for it expires") {
    Mount m("lifetime=mount");
    CHECK(expire_of(m.path()) == "off");
    REQUIRE(mkdir((m / "d").c_str(), 0755) == 0);
    CHECK(set_expire(m / "d", "2s") == 0);
    const auto start = Clock::now();
    write_file(m / "d/f", "short");
    write_file(m / "f", "stays");
    CHECK(goes(m / "d/f", start, "a file in a directory with expire 2s"));
    CHECK(lstat_errno(m / "f") == 0);
    CHECK(stat_of(m, "files_expired") == 1);
    // Removing the xattr gives the mount's value back.
    CHECK(errno_of(removexattr((m / "d").c_str(), kXattr)) == 0);
    CHECK(expire_of(m / "d") == "off");
}
