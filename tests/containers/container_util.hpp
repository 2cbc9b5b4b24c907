// Helpers for the container and plain-user tests: guards that put back every global change
// (/dev/fuse's mode, /etc/fuse.conf, a user account), a background process with its output
// in a log file that is killed when the test ends, and views into other mount namespaces.
// Every wait is bounded. The tests run as root.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include "file_util.hpp"
#include "mount_fixture.hpp"

namespace container_test {

using namespace std::chrono_literals;
using mount_test::MountEntry;
using mount_test::ProcessResult;

// $SPOOLFS, the daemon under test.
std::string spoolfs_exe();

// Sets a file's permission bits and restores the old ones when destroyed.
class ModeGuard {
  public:
    ModeGuard(std::string path, mode_t mode);
    ~ModeGuard();
    ModeGuard(const ModeGuard&) = delete;
    ModeGuard& operator=(const ModeGuard&) = delete;

  private:
    std::string path_;
    mode_t old_mode_;
};

// /dev/fuse usable by everyone for the test's lifetime (a standard Debian has it 0666;
// this machine 0600).
struct DevFuseForEveryone : ModeGuard {
    DevFuseForEveryone() : ModeGuard("/dev/fuse", 0666) {}
};

// /etc/fuse.conf with `user_allow_other` on (true) or off (false) for the test's lifetime;
// the file's bytes, mode and owner are put back exactly when destroyed (rewritten in place,
// so its inode stays).
class FuseConf {
  public:
    explicit FuseConf(bool user_allow_other);
    ~FuseConf();
    FuseConf(const FuseConf&) = delete;
    FuseConf& operator=(const FuseConf&) = delete;

  private:
    static constexpr const char* path_ = "/etc/fuse.conf";
    std::optional<std::string> old_;  // nullopt: there was no file
    mode_t mode_ = 0644;
    uid_t uid_ = 0;
    gid_t gid_ = 0;
};

// A user account made with useradd for the test (no home, no group of its own: group
// `users`), removed with userdel when destroyed, after every process of its uid has been
// killed and every mount it made under /tmp lazily unmounted. fusermount3 refuses uids that
// have no passwd entry ("could not determine username"), so an arbitrary uid will not do.
class TestUser {
  public:
    TestUser();
    ~TestUser();
    TestUser(const TestUser&) = delete;
    TestUser& operator=(const TestUser&) = delete;

    const std::string& name() const { return name_; }
    uid_t uid() const { return uid_; }
    gid_t gid() const { return gid_; }
    // Processes with this real uid now.
    std::vector<pid_t> processes() const;
    void kill_all() const;

  private:
    std::string name_;
    uid_t uid_ = 0;
    gid_t gid_ = 0;
};

// Who a background process runs as: root (nullopt) or a user.
struct Credentials {
    uid_t uid;
    gid_t gid;
};

// A process running beside the test, in a process group of its own, with stdout and stderr
// in a log file; SIGKILLed with its group, and reaped, when destroyed (and when the test
// program dies: PR_SET_PDEATHSIG). As `as`, if given (groups dropped).
class Background {
  public:
    explicit Background(const std::vector<std::string>& argv,
                        std::optional<Credentials> as = std::nullopt);
    ~Background();
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;

    pid_t pid() const { return pid_; }
    std::string log() const;
    // True once the log holds `text`; false if the process exits first or `timeout` passes.
    bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout);
    // The wait status once the process has exited, nullopt while it runs after `timeout`.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    bool running() { return !wait_exit(0ms); }
    void signal(int sig) const;  // to the process alone
    void kill_group();            // SIGKILL to its group, then reap (bounded)

  private:
    pid_t pid_ = -1;
    std::optional<int> status_;
    std::string log_path_;
};

// The top-most mount at `path` as process `pid` sees it (its mount namespace).
std::optional<MountEntry> mount_in(pid_t pid, const std::string& path);
bool is_spoolfs(const std::optional<MountEntry>& e);

// The first child of `pid` (unshare -f's child: the container's init), or -1; waits up to
// `timeout` for it to appear.
pid_t first_child(pid_t pid, std::chrono::milliseconds timeout = 5s);

// The FUSE connections the kernel has now, as numbers (the minor device of each mount):
// read from a fusectl mounted in a throwaway mount namespace (this machine has none
// mounted).
std::set<unsigned> fuse_connections();
// Waits up to `timeout` for connection `n` to go away.
bool wait_connection_gone(unsigned n, std::chrono::milliseconds timeout);

// Polls `pred` every 5 ms until it holds or `timeout` passes.
template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
}

// The lines of `text` that are not empty.
std::vector<std::string> lines_of(const std::string& text);

// A fresh directory under /tmp owned by `owner` (mode 0755), removed when destroyed.
class OwnedDir {
  public:
    OwnedDir(const std::string& prefix, uid_t uid, gid_t gid);
    const std::string& path() const { return dir_.path(); }

  private:
    mount_test::TempDir dir_;
};

}  // namespace container_test

namespace container_test {

// What a plain user (or root in a user namespace) can do on a spoolfs mounted at `root`
// with lifetime=close, size=1M and nr_inodes=16, checked in a child running as uid/gid:
// 0 when all held, else the number of the first check that failed (see check_name).
int check_files_as(uid_t uid, gid_t gid, const std::string& root);
std::string check_name(int code);

// Runs argv as uid/gid (setpriv, groups dropped), bounded.
ProcessResult run_as_user(uid_t uid, gid_t gid, const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = 10s);

}  // namespace container_test
