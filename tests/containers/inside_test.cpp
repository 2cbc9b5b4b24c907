// Item 5b: the daemon inside a container that was given /dev/fuse and CAP_SYS_ADMIN (root
// in a new mount namespace, with or without a pid namespace), mounted on the container's
// /tmp. The test reaches the container's /tmp through /proc/PID/root, which resolves paths
// in that process's mount namespace.
#include <sys/wait.h>
#include <sys/xattr.h>

#include <catch2/catch.hpp>
#include <csignal>

#include "container_util.hpp"
#include "mount_util.hpp"

using namespace container_test;
using namespace mount_test;

namespace {

std::string stat_at(const std::string& root, const std::string& name) {
    char value[64];
    const std::string attr = "user.spoolfs.stats." + name;
    const ssize_t n = ::getxattr(root.c_str(), attr.c_str(), value, sizeof value);
    if (n < 0) throw_errno("getxattr " + attr + " on " + root);
    return std::string(value, static_cast<size_t>(n));
}

// Files work in the container's /tmp (seen from here as `tmp`), and the kernel serves an
// open file itself: the daemon runs as root with CAP_SYS_ADMIN in the initial user
// namespace.
void check_files_and_passthrough(const std::string& tmp) {
    write_file(tmp + "/a", "hello\n");
    CHECK(read_file(tmp + "/a") == "hello\n");
    CHECK(stat_at(tmp, "passthrough") == "1");
    Fd fd = open_or_throw(tmp + "/p", O_RDWR | O_CREAT | O_EXCL, 0600);
    write_all(fd.get(), "through the kernel\n");
    CHECK(std::stoul(stat_at(tmp, "files_passthrough")) >= 1);
    CHECK(read_at(fd.get(), 100) == "through the kernel\n");
}

}  // namespace

TEST_CASE("5b: the daemon inside a container with a pid namespace; the mount goes with "
          "the container",
          "[containers][inside]") {
    Background container({"unshare", "-mpf", "--mount-proc", "--kill-child", "sh", "-c",
                          spoolfs_exe() + " -o lifetime=mount /tmp && echo ready && exec sleep 120"});
    INFO("container: " << container.log());
    REQUIRE(container.wait_for_log("ready", 10s));
    const pid_t init = first_child(container.pid());
    REQUIRE(init > 0);

    const auto inside = mount_in(init, "/tmp");
    REQUIRE(is_spoolfs(inside));
    const auto host_tmp = find_mount("/tmp");
    CHECK_FALSE((is_spoolfs(host_tmp) && host_tmp->minor == inside->minor));
    CHECK(fuse_connections().count(inside->minor) == 1);
    CHECK(container.log().find("spoolfs: mounted on /tmp") != std::string::npos);

    check_files_and_passthrough("/proc/" + std::to_string(init) + "/root/tmp");

    // The container ends (its init is killed, as a runtime does): every process in it dies,
    // the mount namespace goes, and with it the mount and the FUSE connection.
    ::kill(init, SIGKILL);
    CHECK(container.wait_exit(10s));
    CHECK(wait_connection_gone(inside->minor, 10s));
}

TEST_CASE("5b: the daemon inside a mount namespace only; its end takes the mount with it",
          "[containers][inside]") {
    // unshare execs the daemon: its pid is the daemon's.
    Background daemon({"unshare", "-m", spoolfs_exe(), "-f", "-o", "lifetime=mount", "/tmp"});
    INFO("daemon: " << daemon.log());
    REQUIRE(daemon.wait_for_log("spoolfs: mounted on /tmp", 10s));
    const auto inside = mount_in(daemon.pid(), "/tmp");
    REQUIRE(is_spoolfs(inside));
    check_files_and_passthrough("/proc/" + std::to_string(daemon.pid()) + "/root/tmp");

    SECTION("SIGTERM: the daemon unmounts and exits 0") {
        daemon.signal(SIGTERM);
        const auto status = daemon.wait_exit(10s);
        REQUIRE(status);
        CHECK(WIFEXITED(*status));
        CHECK(WEXITSTATUS(*status) == 0);
    }
    SECTION("SIGKILL: auto_unmount's watcher unmounts in the namespace") {
        daemon.signal(SIGKILL);
        REQUIRE(daemon.wait_exit(10s));
    }
    CHECK(wait_connection_gone(inside->minor, 10s));
    CHECK(lines_of(daemon.log()).size() == 1);  // "mounted on": nothing else, no error
}
