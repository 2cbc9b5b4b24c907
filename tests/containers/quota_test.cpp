// Issue 13, item 2: per-user limits in a user namespace, where tmpfs has none. The daemon
// runs as root of a user namespace that maps 65536 uids and gids (0 inside is 100000
// outside), in a mount namespace of its own, as a container runtime would start it; the
// container's users write through its mount and are held to usrquota_block_hardlimit=1M.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "container_util.hpp"
#include "mount_util.hpp"

using namespace container_test;
using namespace mount_test;

namespace {

constexpr uid_t kOuterBase = 100000;  // uid and gid 0 inside
constexpr unsigned kMapped = 65536;

std::string read_all(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_proc(pid_t pid, const std::string& file, const std::string& text) {
    Fd fd(::open(("/proc/" + std::to_string(pid) + "/" + file).c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) throw_errno("open " + file);
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        throw_errno("write " + file);
}

// spoolfs started in new user and mount namespaces whose maps root writes from outside
// (util-linux's --map-users needs newuidmap, which Debian installs only with uidmap).
// Killed with its process group, and reaped, when destroyed.
class NamespacedDaemon {
  public:
    NamespacedDaemon(const std::string& options, const std::string& mountpoint) {
        char log[] = "/tmp/spoolfs-ct-quota-log-XXXXXX";
        Fd log_fd(::mkstemp(log));
        if (!log_fd) throw_errno("mkstemp");
        log_ = log;
        int ready[2], go[2];
        if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(go, O_CLOEXEC) != 0) throw_errno("pipe2");
        const std::string exe = spoolfs_exe();
        pid_ = ::fork();
        if (pid_ < 0) throw_errno("fork");
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            ::setpgid(0, 0);
            ::dup2(log_fd.get(), 1);
            ::dup2(log_fd.get(), 2);
            char byte = 0;
            if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) ::_exit(120);
            if (::write(ready[1], "r", 1) != 1 || ::read(go[0], &byte, 1) != 1) ::_exit(121);
            // Root of the new namespace, its capabilities kept across the exec.
            if (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0) ::_exit(122);
            ::execl(exe.c_str(), exe.c_str(), "-f", "-o", options.c_str(), mountpoint.c_str(),
                    nullptr);
            ::_exit(123);
        }
        ::close(ready[1]);
        ::close(go[0]);
        char byte = 0;
        const bool unshared = ::read(ready[0], &byte, 1) == 1;
        ::close(ready[0]);
        if (unshared) {
            const std::string map =
                "0 " + std::to_string(kOuterBase) + " " + std::to_string(kMapped);
            write_proc(pid_, "uid_map", map);
            write_proc(pid_, "gid_map", map);
        }
        [[maybe_unused]] const auto n = ::write(go[1], "g", 1);
        ::close(go[1]);
    }
    ~NamespacedDaemon() {
        ::kill(-pid_, SIGKILL);
        ::kill(pid_, SIGKILL);
        wait_child(pid_, 10s);
        ::unlink(log_.c_str());
    }
    NamespacedDaemon(const NamespacedDaemon&) = delete;
    NamespacedDaemon& operator=(const NamespacedDaemon&) = delete;

    pid_t pid() const { return pid_; }
    std::string log() const { return read_all(log_); }

  private:
    pid_t pid_ = -1;
    std::string log_;
};

// argv run inside the daemon's namespaces, as `uid` of that namespace.
ProcessResult run_inside(pid_t daemon, uid_t uid, const std::vector<std::string>& argv) {
    std::vector<std::string> full = {"nsenter",
                                     "-t",
                                     std::to_string(daemon),
                                     "-U",
                                     "-m",
                                     "--",
                                     "setpriv",
                                     "--reuid",
                                     std::to_string(uid),
                                     "--regid",
                                     std::to_string(uid),
                                     "--clear-groups"};
    full.insert(full.end(), argv.begin(), argv.end());
    return run_process(full, 30s);
}

// dd of `kib` KiB in 64 KiB blocks to `path`, inside, as `uid`.
ProcessResult write_inside(pid_t daemon, uid_t uid, const std::string& path, unsigned kib) {
    return run_inside(daemon, uid,
                      {"dd", "if=/dev/zero", "of=" + path, "bs=64K",
                       "count=" + std::to_string(kib / 64), "oflag=append", "conv=notrunc"});
}

}  // namespace

TEST_CASE("usrquota in a user namespace: the container's users are held to their limit",
          "[containers][quota]") {
    DevFuseForEveryone dev_fuse;
    OwnedDir dir("spoolfs-ct-quota-", kOuterBase, kOuterBase);
    NamespacedDaemon daemon(
        "noauto_unmount,allow_other,mode=1777,lifetime=mount,usrquota,usrquota_block_hardlimit=1M",
        dir.path());
    INFO("daemon: " << daemon.log());
    REQUIRE(wait_until(
        [&] { return daemon.log().find("spoolfs: mounted on") != std::string::npos; }, 10s));
    REQUIRE(is_spoolfs(mount_in(daemon.pid(), dir.path())));
    const std::string a = dir.path() + "/a", b = dir.path() + "/b";

    // uid 1000 of the container: 1 MiB fits, the 17th 64 KiB block does not.
    const ProcessResult full = write_inside(daemon.pid(), 1000, a, 1088);
    INFO("1000: " << full.describe() << full.err);
    CHECK_FALSE(full.exited_with(0));
    CHECK(full.err.find("Disk quota exceeded") != std::string::npos);
    CHECK(full.err.find("1048576 bytes") != std::string::npos);
    // uid 2000 is not affected; the container's root has no limit.
    const ProcessResult other = write_inside(daemon.pid(), 2000, b, 1024);
    INFO("2000: " << other.describe() << other.err);
    CHECK(other.exited_with(0));
    const ProcessResult root = write_inside(daemon.pid(), 0, dir.path() + "/root", 3072);
    INFO("0: " << root.describe() << root.err);
    CHECK(root.exited_with(0));

    // The report, as the container's root sees it: uids as the container numbers them.
    const ProcessResult report =
        run_inside(daemon.pid(), 0, {spoolfs_exe(), "--stats", "--by-user", "--json", dir.path()});
    INFO(report.describe() << report.out);
    CHECK(report.exited_with(0));
    CHECK(report.out.find("{\"uid\": 1000, \"bytes\": 1048576, \"files\": 1,") !=
          std::string::npos);
    CHECK(report.out.find("{\"uid\": 2000, \"bytes\": 1048576,") != std::string::npos);

    // The container's root raises 1000's limit (CAP_SYS_ADMIN in the daemon's namespace);
    // 1000 itself cannot.
    const ProcessResult refused = run_inside(
        daemon.pid(), 1000, {spoolfs_exe(), "--set-limit", dir.path(), "user", "1000", "block=9M"});
    CHECK(refused.exited_with(1));
    const ProcessResult raised = run_inside(
        daemon.pid(), 0, {spoolfs_exe(), "--set-limit", dir.path(), "user", "1000", "block=2M"});
    INFO(raised.describe());
    CHECK(raised.exited_with(0));
    const ProcessResult more = write_inside(daemon.pid(), 1000, a, 1024);
    INFO("1000 again: " << more.describe() << more.err);
    CHECK(more.exited_with(0));
    CHECK_FALSE(write_inside(daemon.pid(), 1000, a, 64).exited_with(0));
}
