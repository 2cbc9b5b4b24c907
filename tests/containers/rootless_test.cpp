// Item 5c: rootless, as rootless podman runs fuse-overlayfs: a plain user makes a user and
// mount namespace (unshare -Urm) and the daemon mounts inside it as that namespace's root.
// Without CAP_SYS_ADMIN in the initial user namespace, passthrough falls back to the plain
// path.
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include "container_util.hpp"
#include "mount_util.hpp"

using namespace container_test;
using namespace mount_test;

TEST_CASE("5c: rootless: the daemon in an unprivileged user namespace", "[containers][rootless]") {
    TestUser user;
    DevFuseForEveryone dev_fuse;
    OwnedDir dir("spoolfs-ct-rootless-", user.uid(), user.gid());
    const Credentials as{user.uid(), user.gid()};

    Background daemon({"unshare", "-Urm", spoolfs_exe(), "-f", "-o",
                       "lifetime=close,size=1M,nr_inodes=16", dir.path()},
                      as);
    INFO("daemon: " << daemon.log());
    REQUIRE(daemon.wait_for_log("spoolfs: mounted on", 10s));
    const pid_t pid = daemon.pid();
    REQUIRE(is_spoolfs(mount_in(pid, dir.path())));
    CHECK_FALSE(is_spoolfs(find_mount(dir.path())));  // only the namespace sees it

    // The user reaches the namespace's view through /proc/PID/root.
    const int code = check_files_as(user.uid(), user.gid(),
                                    "/proc/" + std::to_string(pid) + "/root" + dir.path());
    INFO(check_name(code));
    CHECK(code == 0);

    // Unmounted from inside the namespace, by its root (the user).
    const ProcessResult u =
        run_as_user(user.uid(), user.gid(),
                    {"nsenter", "-t", std::to_string(pid), "-U", "-m", "--preserve-credentials",
                     "fusermount3", "-u", dir.path()});
    CHECK(u.exited_with(0));
    INFO("fusermount3 -u: " << u.describe());
    const auto status = daemon.wait_exit(10s);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    // Passthrough fell back without a word: the daemon said only that it mounted.
    const auto lines = lines_of(daemon.log());
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].starts_with("spoolfs: mounted on " + dir.path()));
    CHECK(wait_until([&] { return user.processes().empty(); }, 5s));
}
