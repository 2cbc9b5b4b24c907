#include "mount_fixture.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace mount_test {
namespace {

using Clock = std::chrono::steady_clock;


std::string read_whole(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "wait status " + std::to_string(status);
}

std::vector<char*> c_argv(std::vector<std::string>& args) {
    std::vector<char*> v;
    for (auto& a : args) v.push_back(a.data());
    v.push_back(nullptr);
    return v;
}

}  // namespace

std::optional<int> wait_child(pid_t pid, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) return std::nullopt;
        if (Clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(1ms);
    }
}

std::string unescape_mountinfo(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::optional<MountEntry> find_mount(const std::string& path) {
    return find_mount_in(0, path);
}

std::optional<MountEntry> find_mount_in(pid_t pid, const std::string& path) {
    std::ifstream in(pid > 0 ? "/proc/" + std::to_string(pid) + "/mountinfo"
                             : std::string("/proc/self/mountinfo"));
    std::optional<MountEntry> found;
    for (std::string line; std::getline(in, line);) {
        // id parent major:minor root mountpoint options [optional...] - fstype source super
        std::istringstream fields(line);
        std::string id, parent, dev, root, point;
        fields >> id >> parent >> dev >> root >> point;
        if (unescape_mountinfo(point) != path) continue;
        std::string word;
        while (fields >> word && word != "-") {
        }
        MountEntry e;
        fields >> e.fstype;
        const auto colon = dev.find(':');
        e.major = static_cast<unsigned>(std::stoul(dev.substr(0, colon)));
        e.minor = static_cast<unsigned>(std::stoul(dev.substr(colon + 1)));
        found = e;  // later lines are mounted on top of earlier ones
    }
    return found;
}

Mount::Mount(std::string options, std::chrono::seconds watchdog)
    : options_(std::move(options)), watchdog_limit_(watchdog) {
    char dir[] = "/tmp/spoolfs-mount-XXXXXX";
    if (!mkdtemp(dir)) throw std::runtime_error("mkdtemp: " + std::string(strerror(errno)));
    path_ = dir;
    log_path_ = path_ + ".log";
    try {
        start();
    } catch (...) {
        stop();
        rmdir(path_.c_str());
        throw;
    }
}

Mount::~Mount() {
    stop();
    if (rmdir(path_.c_str()) != 0)
        std::cerr << "mount_fixture: rmdir " << path_ << ": " << strerror(errno) << "\n";
    unlink(log_path_.c_str());
}

// A hung connection is aborted through fusectl: mount it where the system did not (systemd
// does, as sys-fs-fuse-connections.mount; a VM or container without it may not). Left
// mounted afterwards, as a system normally has it.
static void ensure_fusectl() {
    static const bool mounted = [] {
        if (find_mount("/sys/fs/fuse/connections")) return true;
        return ::mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, nullptr) == 0;
    }();
    (void)mounted;
}

void Mount::start() {
    ensure_fusectl();
    const char* exe = std::getenv("SPOOLFS");
    if (!exe || !*exe) throw std::runtime_error("SPOOLFS is not set: the path of the daemon");
    std::vector<std::string> args{exe, "-f"};
    if (!options_.empty()) args.insert(args.end(), {"-o", options_});
    args.push_back(path_);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0600);
    posix_spawn_file_actions_adddup2(&actions, 2, 1);
    auto argv = c_argv(args);
    exit_status_.reset();
    const int rc = posix_spawn(&pid_, exe, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        pid_ = -1;
        throw std::runtime_error(std::string("spawn ") + exe + ": " + strerror(rc));
    }

    const auto deadline = Clock::now() + 10s;
    for (;;) {
        if (auto e = find_mount(path_); e && e->fstype.starts_with("fuse")) {
            connection_ = e->minor;
            break;
        }
        if (!daemon_running())
            throw std::runtime_error("spoolfs exited (" + describe_status(*exit_status_) +
                                     ") before mounting; its stderr:\n" + log());
        if (Clock::now() >= deadline)
            throw std::runtime_error("spoolfs did not mount " + path_ + " within 10 s; stderr:\n" +
                                     log());
        std::this_thread::sleep_for(5ms);
    }
    stopping_ = false;
    watching_ = false;
    watchdog_ = std::thread([this] { watch(watchdog_limit_); });
    // A test forks right after mounting. A thread still starting may hold the allocator's
    // lock (ASan's does, setting the thread up), and a child forked then waits for it
    // forever: seen as a child hung in futex_do_wait in hostile_quota_test under ASan.
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return watching_; });
}

void Mount::watch(std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    watching_ = true;
    cv_.notify_all();
    if (cv_.wait_for(lock, limit, [this] { return stopping_; })) return;
    std::cerr << "mount_fixture: test case exceeded " << limit.count()
              << " s; aborting FUSE connection " << connection_ << "\n";
    abort_connection();
}

void Mount::stop_watchdog() noexcept {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
}

void Mount::abort_connection() noexcept {
    if (connection_ == 0) return;
    const std::string file = "/sys/fs/fuse/connections/" + std::to_string(connection_) + "/abort";
    const int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    [[maybe_unused]] auto n = write(fd, "1", 1);
    close(fd);
}

bool Mount::mounted() const {
    auto e = find_mount(path_);
    return e && e->fstype.starts_with("fuse") && e->minor == connection_;
}

bool Mount::daemon_running() {
    return pid_ > 0 && !wait_exit(0ms);
}

std::optional<int> Mount::wait_exit(std::chrono::milliseconds timeout) {
    if (exit_status_) return exit_status_;
    if (pid_ <= 0) return std::nullopt;
    exit_status_ = wait_child(pid_, timeout);
    return exit_status_;
}

void Mount::remount() {
    stop();
    start();
}

std::string Mount::log() const {
    return read_whole(log_path_);
}

void Mount::stop() noexcept {
    stop_watchdog();
    // Lazy unmount never blocks on a busy or dead connection; fusermount3 is the fallback.
    if (mounted() && umount2(path_.c_str(), MNT_DETACH) != 0)
        run_process({"fusermount3", "-u", "-z", path_}, 5s);
    if (pid_ <= 0) return;
    bool forced = false;
    if (!wait_exit(5s)) {
        forced = true;
        abort_connection();
        if (!wait_exit(1s)) {
            kill(pid_, SIGKILL);
            wait_exit(5s);
        }
    }
    if (mounted()) umount2(path_.c_str(), MNT_DETACH);  // a killed daemon leaves its mount
    const bool clean = exit_status_ && WIFEXITED(*exit_status_) && WEXITSTATUS(*exit_status_) == 0;
    if (forced || !clean) {
        std::cerr << "mount_fixture: spoolfs on " << path_ << " "
                  << (forced ? "did not exit within 5 s after unmount; aborted and killed"
                             : describe_status(exit_status_.value_or(-1)))
                  << "; its stderr:\n"
                  << log() << "\n";
    }
    pid_ = -1;
}

bool ProcessResult::exited_with(int code) const {
    return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == code;
}

std::string ProcessResult::describe() const {
    return (timed_out ? std::string("timed out") : describe_status(status)) + "; stderr: " + err;
}

ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::vector<std::string>& extra_env) {
    std::vector<std::string> args = argv;
    std::vector<std::string> env_strings(extra_env);
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
    auto c_args = c_argv(args);
    auto c_env = c_argv(env_strings);  // earlier entries win with glibc's getenv

    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe2: " + std::string(strerror(errno)));
    const pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        const int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        execvpe(c_args[0], c_args.data(), c_env.data());
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    ProcessResult result;
    if (pid < 0) {
        close(out[0]);
        close(err[0]);
        throw std::runtime_error("fork: " + std::string(strerror(errno)));
    }
    setpgid(pid, pid);  // either side may run first

    const auto deadline = Clock::now() + timeout;
    std::optional<int> status;
    std::optional<Clock::time_point> drain_deadline;  // grandchildren may hold the pipes
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    int open_pipes = 2;
    while (open_pipes > 0 || !status) {
        const auto now = Clock::now();
        if (now >= deadline || (drain_deadline && now >= *drain_deadline)) {
            result.timed_out = now >= deadline;
            kill(-pid, SIGKILL);
            break;
        }
        poll(fds, 2, 20);
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[65536];
            const ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                sinks[i]->append(buf, static_cast<size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_pipes;
            }
        }
        if (!status) {
            int st = 0;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                status = st;
                drain_deadline = Clock::now() + 2s;
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) close(f.fd);
    if (!status) status = wait_child(pid, 5s);
    result.status = status.value_or(-1);
    return result;
}

ProcessResult run_shell(const std::string& command, std::chrono::milliseconds timeout) {
    return run_process({"/bin/sh", "-c", command}, timeout);
}

int run_child(const std::function<int()>& body, std::chrono::milliseconds timeout) {
    std::cout.flush();
    std::cerr.flush();
    const pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int code = 255;
        try {
            code = body();
        } catch (...) {
        }
        _exit(code);  // never run the framework's atexit handlers in the child
    }
    auto status = wait_child(pid, timeout);
    if (!status) {
        kill(pid, SIGKILL);
        wait_child(pid, 5s);
        return -1;
    }
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

int run_as(uid_t uid, gid_t gid, const std::function<int()>& body,
           std::chrono::milliseconds timeout) {
    return run_child(
        [&] {
            if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
                setresuid(uid, uid, uid) != 0)
                return 200;
            return body();
        },
        timeout);
}

}  // namespace mount_test
