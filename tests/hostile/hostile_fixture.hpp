// The hostile suite's fixture: a shared spoolfs (allow_other, mode 1777) beside a kernel
// tmpfs of the same mode, the oracle, both on fresh directories and both unmounted when the
// test case ends, whether it passed or not. Attacks and victims run as forked children under
// unprivileged uids, every one bounded: a child that outlives its bound has the spoolfs
// connection aborted under it (so a hung request becomes failing system calls), is killed
// and reaped, and the test sees a timeout instead of hanging.
#pragma once

#include <dirent.h>
#include <grp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>

#include "file_util.hpp"
#include "mount_fixture.hpp"
#include "mount_util.hpp"

namespace hostile {

using namespace mount_test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uid_t kUserA = 60001;  // the attacker, or the owner being attacked
constexpr uid_t kUserB = 60002;  // the neighbour
constexpr size_t KiB = 1024, MiB = 1024 * KiB;
constexpr int kHung = -999;  // the result of a child that did not finish within its bound

// The name of an errno value ("ENOSPC"), or "0".
inline std::string errname(int e) {
    if (e == 0) return "0";
    const char* n = strerrorname_np(e);
    return n ? n : std::to_string(e);
}

// A kernel tmpfs, mode 1777 plus `options`, on a fresh directory under /tmp; lazily
// unmounted (so even a busy one goes) and the directory removed at the end.
class Tmpfs {
  public:
    explicit Tmpfs(const std::string& options = {}) {
        char dir[] = "/tmp/hostile-tmpfs-XXXXXX";
        if (!mkdtemp(dir)) throw_errno("mkdtemp");
        path_ = dir;
        const std::string opts = "mode=1777" + (options.empty() ? "" : "," + options);
        if (::mount("hostile-oracle", path_.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
            const int err = errno;
            ::rmdir(path_.c_str());
            throw std::system_error(err, std::generic_category(), "mount tmpfs " + path_);
        }
    }
    ~Tmpfs() {
        ::umount2(path_.c_str(), MNT_DETACH);
        ::rmdir(path_.c_str());
    }
    Tmpfs(const Tmpfs&) = delete;
    Tmpfs& operator=(const Tmpfs&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

// One file system under attack: where it is, and (spoolfs only) the FUSE connection to
// abort when a request hangs.
struct Target {
    std::string name;  // "tmpfs" or "spoolfs"
    std::string path;
    unsigned connection = 0;
    pid_t daemon = -1;
    std::string operator/(std::string_view n) const { return path + "/" + std::string(n); }
    bool is_spoolfs() const { return connection != 0; }
    // A hung request: abort the connection (the callers' system calls fail) and kill the
    // daemon, which may be spinning on the request (the Mount fixture still reaps it).
    void abort_connection() const {
        if (connection == 0) return;
        if (daemon > 0) ::kill(daemon, SIGKILL);
        const std::string file = "/sys/fs/fuse/connections/" + std::to_string(connection) + "/abort";
        Fd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
        if (fd) [[maybe_unused]] auto n = ::write(fd.get(), "1", 1);
    }
};

// The shared /tmp: spoolfs with "allow_other,mode=1777," + spool_options, and the tmpfs
// oracle with tmpfs_options. tmpfs is declared first, so it goes last.
class Both {
  public:
    explicit Both(const std::string& spool_options, const std::string& tmpfs_options = {},
                  std::chrono::seconds watchdog = 90s)
        : tmpfs_(tmpfs_options),
          spool_("allow_other,mode=1777" + (spool_options.empty() ? "" : "," + spool_options),
                 watchdog) {}
    Target tmpfs() const { return {"tmpfs", tmpfs_.path(), 0, -1}; }
    Target spoolfs() const { return {"spoolfs", spool_.path(), spool_.connection(), spool_.pid()}; }
    std::array<Target, 2> both() const { return {tmpfs(), spoolfs()}; }
    Mount& mount() { return spool_; }

  private:
    Tmpfs tmpfs_;
    Mount spool_;
};

// A T in memory shared with forked children (T trivially copyable), zeroed at first.
template <class T>
class Shared {
    static_assert(std::is_trivially_copyable_v<T>);

  public:
    Shared() {
        void* p = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw_errno("mmap");
        p_ = new (p) T{};
    }
    ~Shared() { ::munmap(p_, sizeof(T)); }
    Shared(const Shared&) = delete;
    Shared& operator=(const Shared&) = delete;
    T& operator*() const { return *p_; }
    T* operator->() const { return p_; }

  private:
    T* p_;
};

// Up to 256 labelled results of an attack's steps (a value, or -errno), to compare between
// the two file systems.
struct Record {
    static constexpr int kMaxEntries = 256;
    int n = 0;
    long long v[kMaxEntries] = {};
    char label[kMaxEntries][40] = {};

    void add(long long x, std::string_view l = {}) {
        if (n >= kMaxEntries) return;
        v[n] = x;
        l.copy(label[n], sizeof label[n] - 1);
        ++n;
    }
    // A system call's result: its value, or -errno.
    void result(long long r, std::string_view l = {}) { add(r < 0 ? -errno : r, l); }
    bool operator==(const Record& o) const { return n == o.n && std::equal(v, v + n, o.v); }

    // -errno by name; values labelled "mode..." in octal.
    static std::string value(long long x, std::string_view l = {}) {
        if (x < 0 && x > -4096) return "-" + errname(static_cast<int>(-x));
        if (l.starts_with("mode") && x >= 0) {
            char buf[24];
            std::snprintf(buf, sizeof buf, "0%llo", x);
            return buf;
        }
        return std::to_string(x);
    }
    // "[fallocate=-ENOSPC, 0, size=4096]"
    std::string str() const {
        std::string s = "[";
        for (int i = 0; i < n; ++i) {
            if (i) s += ", ";
            if (label[i][0]) s += std::string(label[i]) + "=";
            s += value(v[i], label[i]);
        }
        return s + "]";
    }
    // Where this record (tmpfs) and `o` (spoolfs) differ, one line each.
    std::string differences(const Record& o) const {
        std::string s;
        for (int i = 0; i < std::max(n, o.n); ++i) {
            const bool mine = i < n, theirs = i < o.n;
            if (mine && theirs && v[i] == o.v[i]) continue;
            s += "  #" + std::to_string(i) + " " + (mine ? label[i] : o.label[i]) +
                 ": tmpfs " + (mine ? value(v[i], label[i]) : "(none)") +
                 ", spoolfs " + (theirs ? value(o.v[i], o.label[i]) : "(none)") + "\n";
        }
        return s;
    }
};

// A forked child running `body` as uid/gid (0: stays root), umask 0. Destroying a Child that
// still runs kills it (aborting `target`'s connection first if it will not die) and reaps it.
class Child {
  public:
    Child(uid_t uid, const std::function<int()>& body, const Target* target = nullptr)
        : target_(target) {
        std::cout.flush();
        std::cerr.flush();
        pid_ = ::fork();
        if (pid_ < 0) throw_errno("fork");
        if (pid_ == 0) {
            int code = 255;
            ::umask(0);
            if (uid != 0 && (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 ||
                             ::setresuid(uid, uid, uid) != 0)) {
                ::_exit(200);
            }
            try {
                code = body();
            } catch (...) {
                code = 254;
            }
            ::_exit(code);
        }
    }
    ~Child() { kill_and_reap(); }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    // Its exit code (-1: killed by a signal) once it exits within `timeout`, else nullopt.
    std::optional<int> wait(std::chrono::milliseconds timeout) {
        if (!status_) status_ = wait_child(pid_, timeout);
        if (!status_) return std::nullopt;
        return WIFEXITED(*status_) ? WEXITSTATUS(*status_) : -1;
    }
    // Where a hung child waits, from /proc: the kernel function (wchan) and the system
    // call with its arguments; "-1 ..." means user space (a lock, say), not a request.
    std::string where() const {
        auto first_line = [&](const char* what) {
            std::ifstream in("/proc/" + std::to_string(pid_) + "/" + what);
            std::string line;
            std::getline(in, line);
            return line;
        };
        return "wchan " + first_line("wchan") + ", syscall " + first_line("syscall");
    }
    // A hung child: its requests are aborted, then it is killed and reaped.
    void kill_and_reap() {
        if (status_ || pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        if ((status_ = wait_child(pid_, 2s))) return;
        if (target_) target_->abort_connection();
        status_ = wait_child(pid_, 10s);
    }

  private:
    pid_t pid_ = -1;
    std::optional<int> status_;
    const Target* target_;
};

// Runs `body` as `uid` (0: root) and returns its exit code, or kHung when it did not finish
// within `timeout`: then the target's connection is aborted (a hang must not outlive the
// test) and the child is killed.
inline int run_bounded(const Target& t, uid_t uid, const std::function<int()>& body,
                       std::chrono::milliseconds timeout = 5s) {
    Child c(uid, body, &t);
    auto code = c.wait(timeout);
    if (!code) {
        std::cerr << "hostile_fixture: a child hung on " << t.name << " (" << c.where()
                  << "); aborting the connection\n";
        t.abort_connection();
    }
    return code.value_or(kHung);
}

// What another user does on a shared /tmp: `ls -l` of the root (every entry's lstat), then
// create, write, read back and unlink a file of its own. 0 when all of it worked, else
// 100 + the step that failed.
inline int neighbour_work(const Target& t) {
    DIR* d = ::opendir(t.path.c_str());
    if (!d) return 101;
    while (dirent* e = ::readdir(d)) {
        struct stat st {};
        if (::fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno != ENOENT) {
            ::closedir(d);
            return 102;
        }
    }
    ::closedir(d);
    const std::string name = t / ("neighbour-" + std::to_string(::getpid()));
    Fd fd(::open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return 103;
    if (::pwrite(fd.get(), "hello", 5, 0) != 5) return 104;
    char buf[5];
    if (::pread(fd.get(), buf, 5, 0) != 5 || std::memcmp(buf, "hello", 5) != 0) return 105;
    if (::unlink(name.c_str()) != 0) return 106;
    return 0;
}

// The attack as kUserA, and 50 ms into it the neighbour's work as kUserB: each bounded by
// `bound` (a hang detector, not a speed limit). nullopt: it hung (and was aborted).
struct Served {
    int attacker = kHung;
    int neighbour = kHung;
};

inline Served attack_while_serving(const Target& t, const std::function<int()>& attack,
                                   std::chrono::milliseconds bound = 5s, uid_t attacker = kUserA) {
    Child a(attacker, attack, &t);
    auto attacked = a.wait(50ms);
    Child n(kUserB, [&] { return neighbour_work(t); }, &t);
    const auto served = n.wait(bound);
    if (!served) t.abort_connection();
    if (!attacked) attacked = a.wait(served ? bound : 1s);
    if (!attacked) t.abort_connection();
    return {attacked.value_or(kHung), served.value_or(kHung)};
}

// Polls `done` until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    while (!done()) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

// A file of `owner`'s with exactly `mode`, made by root (chown, then chmod: chown would
// clear set-id bits).
inline void make_file(const std::string& path, uid_t owner, mode_t mode, std::string_view data = {}) {
    write_file(path, data, 0600);
    if (::chown(path.c_str(), owner, owner) != 0) throw_errno("chown " + path);
    if (::chmod(path.c_str(), mode) != 0) throw_errno("chmod " + path);
}

inline mode_t mode_of(const std::string& path) {
    return stat_or_throw(path).st_mode & 07777;
}

}  // namespace hostile
