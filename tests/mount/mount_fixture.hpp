// A real spoolfs mount for one test case, and the bounded process helpers the tests need.
//
// Mount starts the daemon named by $SPOOLFS in the foreground on a fresh directory under
// /tmp, waits (bounded) until the kernel shows the mount, and always takes it down again:
// lazy unmount, then up to 5 s for the daemon to exit, then an abort of the FUSE
// connection and SIGKILL. A watchdog aborts the connection when a test case outlives its
// deadline, so a hung request turns into failing system calls instead of a hung suite.
// Nothing here is thread-safe except what the watchdog does on its own.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace mount_test {

using namespace std::chrono_literals;

// What /proc/self/mountinfo says about the mount at one point.
struct MountEntry {
    std::string fstype;
    unsigned major = 0;
    unsigned minor = 0;  // for FUSE: the connection number under /sys/fs/fuse/connections
};

// The top-most mount at `path` (an absolute path without symlinks), if any.
std::optional<MountEntry> find_mount(const std::string& path);
// The same in the mount namespace of process `pid` (its /proc/PID/mountinfo).
std::optional<MountEntry> find_mount_in(pid_t pid, const std::string& path);
// A mountinfo field with its escapes (\ooo for space, tab, newline, backslash) undone.
std::string unescape_mountinfo(const std::string& field);

class Mount {
  public:
    // `options` is the daemon's -o list ("" for none). Throws std::runtime_error, with the
    // daemon's stderr, when it does not mount within 10 s.
    explicit Mount(std::string options = {}, std::chrono::seconds watchdog = 60s);
    ~Mount();
    Mount(const Mount&) = delete;
    Mount& operator=(const Mount&) = delete;

    const std::string& path() const { return path_; }
    std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }
    pid_t pid() const { return pid_; }
    unsigned connection() const { return connection_; }

    bool mounted() const;  // the kernel still shows our mount
    bool daemon_running();
    // The daemon's wait status once it has exited, nullopt if it is still running after
    // `timeout`.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    // Starts the daemon again on the same mount point after it has exited.
    void remount();
    std::string log() const;  // everything the daemon wrote to stdout and stderr

  private:
    void start();
    void stop() noexcept;
    void abort_connection() noexcept;
    void watch(std::chrono::seconds limit);
    void stop_watchdog() noexcept;

    std::string options_;
    std::chrono::seconds watchdog_limit_;
    std::string path_;
    std::string log_path_;
    pid_t pid_ = -1;
    std::optional<int> exit_status_;
    unsigned connection_ = 0;

    std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    bool watching_ = false;  // the watchdog thread has started and waits
    std::thread watchdog_;
};

// The outcome of a child process run to completion or killed at its deadline.
struct ProcessResult {
    int status = -1;  // wait status
    bool timed_out = false;
    std::string out;
    std::string err;

    bool exited_with(int code) const;
    std::string describe() const;  // "exit 2", "killed by signal 9", "timed out" + stderr
};

// Runs argv (argv[0] searched in PATH) with extra "NAME=value" environment entries, in its
// own process group; the whole group is killed at `timeout`.
ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::vector<std::string>& extra_env = {});
ProcessResult run_shell(const std::string& command, std::chrono::milliseconds timeout);

// waitpid with a deadline: the child's wait status, or nullopt while it still runs.
std::optional<int> wait_child(pid_t pid, std::chrono::milliseconds timeout);

// Runs `body` in a forked child and returns its exit code; -1 if it was killed or did not
// finish within `timeout`. The child never returns into the test framework.
int run_child(const std::function<int()>& body, std::chrono::milliseconds timeout = 10s);
// The same, with the child's real, effective and saved ids switched to uid/gid first
// (supplementary groups dropped). Exit code 200 means the switch itself failed.
int run_as(uid_t uid, gid_t gid, const std::function<int()>& body,
           std::chrono::milliseconds timeout = 10s);

}  // namespace mount_test
