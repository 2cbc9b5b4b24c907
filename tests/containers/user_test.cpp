// Item 6: a plain user mounts spoolfs on a directory of their own through fusermount3
// (setuid root), and allow_other needs user_allow_other in /etc/fuse.conf.
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include "container_util.hpp"
#include "mount_util.hpp"

using namespace container_test;
using namespace mount_test;

namespace {

bool exited_cleanly(const std::optional<int>& status) {
    return status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

// The user unmounts with fusermount3 -u, and the daemon then exits cleanly.
void unmount_as(const TestUser& user, const std::string& dir, Background& daemon) {
    const ProcessResult u = run_as_user(user.uid(), user.gid(), {"fusermount3", "-u", dir});
    INFO("fusermount3 -u: " << u.describe());
    CHECK(u.exited_with(0));
    const auto status = daemon.wait_exit(10s);
    REQUIRE(status);
    CHECK(exited_cleanly(status));
}

}  // namespace

TEST_CASE("6: a plain user mounts through fusermount3; lifetimes, limits, no passthrough",
          "[containers][user]") {
    TestUser user;
    DevFuseForEveryone dev_fuse;
    OwnedDir dir("spoolfs-ct-user-", user.uid(), user.gid());

    Background daemon({spoolfs_exe(), "-f", "-o", "lifetime=close,size=1M,nr_inodes=16",
                       dir.path()},
                      Credentials{user.uid(), user.gid()});
    INFO("daemon: " << daemon.log());
    REQUIRE(daemon.wait_for_log("spoolfs: mounted on", 10s));
    REQUIRE(is_spoolfs(find_mount(dir.path())));

    // Without allow_other nobody else gets in, root included.
    CHECK(lstat_errno(dir.path() + "/x") == EACCES);

    const int code = check_files_as(user.uid(), user.gid(), dir.path());
    INFO(check_name(code));
    CHECK(code == 0);

    unmount_as(user, dir.path(), daemon);
    CHECK_FALSE(is_spoolfs(find_mount(dir.path())));
    const auto lines = lines_of(daemon.log());
    REQUIRE(lines.size() == 1);  // no word about passthrough falling back
    CHECK(lines[0].starts_with("spoolfs: mounted on " + dir.path()));
    CHECK(wait_until([&] { return user.processes().empty(); }, 5s));  // the watcher too
}

TEST_CASE("6: allow_other without user_allow_other: one line naming it, nothing mounted",
          "[containers][user]") {
    FuseConf conf(false);
    TestUser user;
    DevFuseForEveryone dev_fuse;
    OwnedDir dir("spoolfs-ct-user-", user.uid(), user.gid());

    // As a user types it: in the background once mounted (no -f).
    const ProcessResult r = run_as_user(user.uid(), user.gid(),
                                        {spoolfs_exe(), "-o", "allow_other", dir.path()}, 20s);
    INFO("spoolfs: " << r.describe() << "\nstdout: " << r.out);
    CHECK_FALSE(r.timed_out);
    CHECK_FALSE(r.exited_with(0));
    CHECK(lines_of(r.err).size() == 1);
    CHECK(r.err.find("user_allow_other") != std::string::npos);
    CHECK_FALSE(is_spoolfs(find_mount(dir.path())));
    CHECK(wait_until([&] { return user.processes().empty(); }, 5s));
}

TEST_CASE("6: allow_other with user_allow_other in /etc/fuse.conf lets others in",
          "[containers][user]") {
    FuseConf conf(true);
    TestUser user;
    DevFuseForEveryone dev_fuse;
    OwnedDir dir("spoolfs-ct-user-", user.uid(), user.gid());

    Background daemon({spoolfs_exe(), "-f", "-o", "allow_other,lifetime=mount", dir.path()},
                      Credentials{user.uid(), user.gid()});
    INFO("daemon: " << daemon.log());
    REQUIRE(daemon.wait_for_log("spoolfs: mounted on", 10s));
    REQUIRE(is_spoolfs(find_mount(dir.path())));

    write_file(dir.path() + "/by-root", "root\n");  // the root directory is 1777
    CHECK(stat_or_throw(dir.path() + "/by-root").st_uid == 0);
    const int read_back = run_as(user.uid(), user.gid(), [&] {
        return read_file(dir.path() + "/by-root") == "root\n" ? 0 : 1;
    });
    CHECK(read_back == 0);

    unmount_as(user, dir.path(), daemon);
}
