// Item 5a: a daemon on the host whose mount a container gets as its /tmp by a bind mount
// into the container's mount namespace; and the Kubernetes form, a daemon in a namespace
// of its own whose mount propagates (shared, "Bidirectional") to the host and from there
// (slave, "HostToContainer") into a consumer started before it.
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <catch2/catch.hpp>
#include <csignal>

#include "container_util.hpp"
#include "mount_util.hpp"

using namespace container_test;
using namespace mount_test;

namespace {

// `script` run by sh in the mount namespace of `pid`, bounded.
ProcessResult in_container(pid_t pid, const std::string& script) {
    return run_process({"nsenter", "-t", std::to_string(pid), "-m", "sh", "-c", script}, 10s);
}

// A container (a private mount namespace) whose /tmp is `host_dir` bind-mounted; it says
// "ready" once it is.
std::vector<std::string> container_with_tmp_from(const std::string& host_dir) {
    return {"unshare", "-m", "--propagation", "private", "sh", "-c",
            "mount --bind " + host_dir + " /tmp && echo ready && exec sleep 120"};
}

bool exited_cleanly(const std::optional<int>& status) {
    return status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

// A directory made a shared mount (bind-mounted on itself), as a Kubernetes node's
// hostPath under /var/lib is; lazily unmounted when the test ends.
class SharedDir {
  public:
    SharedDir() : dir_("spoolfs-ct-shared-") {
        if (::mount(path().c_str(), path().c_str(), nullptr, MS_BIND, nullptr) != 0)
            throw_errno("bind " + path());
        if (::mount(nullptr, path().c_str(), nullptr, MS_SHARED, nullptr) != 0) {
            ::umount2(path().c_str(), MNT_DETACH);
            throw_errno("make-shared " + path());
        }
    }
    ~SharedDir() { ::umount2(path().c_str(), MNT_DETACH); }
    SharedDir(const SharedDir&) = delete;
    SharedDir& operator=(const SharedDir&) = delete;
    const std::string& path() const { return dir_.path(); }

  private:
    TempDir dir_;
};

}  // namespace

TEST_CASE("5a: a host mount bind-mounted as a container's /tmp: files cross both ways",
          "[containers][bind]") {
    Mount host("lifetime=mount");
    Background container(container_with_tmp_from(host.path()));
    INFO("container: " << container.log());
    REQUIRE(container.wait_for_log("ready", 10s));
    const pid_t c = container.pid();

    const auto inside = mount_in(c, "/tmp");
    REQUIRE(is_spoolfs(inside));
    CHECK(inside->minor == host.connection());
    const auto host_tmp = find_mount("/tmp");
    CHECK_FALSE((is_spoolfs(host_tmp) && host_tmp->minor == host.connection()));

    // Written inside, read on the host; written on the host, read inside.
    const ProcessResult w = in_container(c, "echo inside > /tmp/from-container");
    REQUIRE(w.exited_with(0));
    CHECK(read_file(host / "from-container") == "inside\n");
    write_file(host / "from-host", "host\n");
    const ProcessResult r = in_container(c, "cat /tmp/from-host");
    CHECK(r.exited_with(0));
    CHECK(r.out == "host\n");

    // lifetime=close across the namespaces: a file held open inside is seen on the host,
    // and vanishes there when the container closes it.
    REQUIRE(::mkdir((host / "anon").c_str(), 01777) == 0);
    REQUIRE(::setxattr((host / "anon").c_str(), "user.spoolfs.lifetime", "close", 5, 0) == 0);
    {
        Background holder({"nsenter", "-t", std::to_string(c), "-m", "sh", "-c",
                           "exec 3>/tmp/anon/held && echo x >&3 && echo open && exec sleep 120"});
        REQUIRE(holder.wait_for_log("open", 10s));
        CHECK(read_file(host / "anon/held") == "x\n");
    }
    CHECK(wait_until([&] { return lstat_errno(host / "anon/held") == ENOENT; }, 5s));
    const ProcessResult closed = in_container(c, "echo y > /tmp/anon/closed; ls -A /tmp/anon");
    CHECK(closed.exited_with(0));
    CHECK(closed.out.empty());
    CHECK(wait_until([&] { return lstat_errno(host / "anon/closed") == ENOENT; }, 5s));
}

TEST_CASE("5a: the host unmounts first: the container keeps its /tmp, the daemon exits "
          "when the container ends",
          "[containers][bind]") {
    Mount host("lifetime=mount");
    Background container(container_with_tmp_from(host.path()));
    INFO("container: " << container.log());
    REQUIRE(container.wait_for_log("ready", 10s));
    REQUIRE(in_container(container.pid(), "echo kept > /tmp/f").exited_with(0));

    const ProcessResult u = run_process({"umount", host.path()}, 10s);
    REQUIRE(u.exited_with(0));
    CHECK_FALSE(host.mounted());
    // The bind mount in the container holds the file system: the daemon serves on.
    CHECK_FALSE(host.wait_exit(500ms));
    const ProcessResult r = in_container(container.pid(), "cat /tmp/f");
    CHECK(r.exited_with(0));
    CHECK(r.out == "kept\n");

    container.kill_group();  // the container ends: its namespace, and the last mount, go
    const auto status = host.wait_exit(10s);
    INFO("daemon: " << host.log());
    REQUIRE(status);
    CHECK(exited_cleanly(status));
}

TEST_CASE("5a: the container ends first: the host mount stays and unmounts",
          "[containers][bind]") {
    Mount host("lifetime=mount");
    {
        Background container(container_with_tmp_from(host.path()));
        INFO("container: " << container.log());
        REQUIRE(container.wait_for_log("ready", 10s));
        REQUIRE(in_container(container.pid(), "echo left > /tmp/f").exited_with(0));
    }
    CHECK(host.mounted());
    CHECK(read_file(host / "f") == "left\n");
    REQUIRE(run_process({"umount", host.path()}, 10s).exited_with(0));
    const auto status = host.wait_exit(10s);
    INFO("daemon: " << host.log());
    REQUIRE(status);
    CHECK(exited_cleanly(status));
}

TEST_CASE("5a, Kubernetes form: a daemon's mount propagates (shared) to the host and "
          "(slave) into a consumer started before it",
          "[containers][bind][propagation]") {
    SharedDir node;  // the hostPath; destroyed after the namespaces below are gone
    const std::string scratch = node.path() + "/scratch";
    REQUIRE(::mkdir(scratch.c_str(), 01777) == 0);

    Background consumer({"unshare", "-m", "--propagation", "slave", "sh", "-c",
                         "echo ready && exec sleep 120"});
    REQUIRE(consumer.wait_for_log("ready", 10s));
    CHECK_FALSE(is_spoolfs(mount_in(consumer.pid(), scratch)));

    Background daemon({"unshare", "-m", "--propagation", "shared", spoolfs_exe(), "-f", "-o",
                       "lifetime=mount", scratch});
    INFO("daemon: " << daemon.log());
    REQUIRE(daemon.wait_for_log("spoolfs: mounted on", 10s));
    CHECK(is_spoolfs(mount_in(daemon.pid(), scratch)));
    CHECK(wait_until([&] { return is_spoolfs(find_mount(scratch)); }, 5s));
    CHECK(wait_until([&] { return is_spoolfs(mount_in(consumer.pid(), scratch)); }, 5s));

    const ProcessResult w = in_container(consumer.pid(), "echo consumer > " + scratch + "/c");
    CHECK(w.exited_with(0));
    CHECK(read_file(scratch + "/c") == "consumer\n");

    SECTION("the daemon stops: the unmount reaches the host and the consumer") {
        daemon.signal(SIGTERM);
        const auto status = daemon.wait_exit(10s);
        REQUIRE(status);
        CHECK(exited_cleanly(status));
    }
    SECTION("the daemon is SIGKILLed: auto_unmount's watcher unmounts everywhere") {
        daemon.signal(SIGKILL);
        REQUIRE(daemon.wait_exit(10s));
    }
    CHECK(wait_until([&] { return !is_spoolfs(find_mount(scratch)); }, 10s));
    CHECK(wait_until([&] { return !is_spoolfs(mount_in(consumer.pid(), scratch)); }, 10s));
}
