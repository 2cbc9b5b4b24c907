#include "container_util.hpp"

#include "mount_util.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace container_test {
namespace {

using Clock = std::chrono::steady_clock;
using mount_test::run_process;
using mount_test::throw_errno;

std::string read_whole(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}


void write_whole(const std::string& path, const std::string& data) {
    mount_test::Fd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    if (!fd) throw_errno("open " + path);
    mount_test::write_all(fd.get(), data);
}

bool useradd_locked(const ProcessResult& r) {
    // useradd and userdel exit 1 or 10 when another program holds the passwd or group lock.
    return r.exited_with(1) || r.exited_with(10);
}

}  // namespace

std::string spoolfs_exe() {
    const char* exe = std::getenv("SPOOLFS");
    if (!exe || !*exe) throw std::runtime_error("SPOOLFS is not set: the path of the daemon");
    return exe;
}

ModeGuard::ModeGuard(std::string path, mode_t mode) : path_(std::move(path)) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) throw_errno("stat " + path_);
    old_mode_ = st.st_mode & 07777;
    if (::chmod(path_.c_str(), mode) != 0) throw_errno("chmod " + path_);
}

ModeGuard::~ModeGuard() {
    if (::chmod(path_.c_str(), old_mode_) != 0)
        std::cerr << "container_test: could not restore the mode of " << path_ << ": "
                  << std::strerror(errno) << "\n";
}

FuseConf::FuseConf(bool user_allow_other) {
    struct stat st {};
    if (::stat(path_, &st) == 0) {
        old_ = read_whole(path_);
        mode_ = st.st_mode & 07777;
        uid_ = st.st_uid;
        gid_ = st.st_gid;
    }
    std::string text = old_.value_or("");
    std::istringstream in(text);
    std::string out;
    bool present = false;
    for (std::string line; std::getline(in, line);) {
        const auto first = line.find_first_not_of(" \t");
        const auto last = line.find_last_not_of(" \t");
        const bool is_option = first != std::string::npos &&
                               line.substr(first, last - first + 1) == "user_allow_other";
        if (is_option && !user_allow_other) line = "#" + line;
        present |= is_option;
        out += line + "\n";
    }
    if (user_allow_other && !present) out += "user_allow_other\n";
    if (!old_) {
        mount_test::Fd fd(::open(path_, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        if (!fd) throw_errno(std::string("create ") + path_);
        mount_test::write_all(fd.get(), out);
    } else if (out != *old_) {
        write_whole(path_, out);
    }
}

FuseConf::~FuseConf() {
    try {
        if (!old_) {
            ::unlink(path_);
            return;
        }
        write_whole(path_, *old_);
        if (::chmod(path_, mode_) != 0 || ::chown(path_, uid_, gid_) != 0) throw_errno("chmod");
    } catch (const std::exception& e) {
        std::cerr << "container_test: could not restore " << path_ << ": " << e.what() << "\n";
    }
}

TestUser::TestUser() {
    for (int attempt = 0;; ++attempt) {
        name_ = "spoolfs-ct" + std::to_string(::getpid()) + "-" + std::to_string(attempt % 10);
        const ProcessResult r = run_process(
            {"useradd", "--no-create-home", "--no-user-group", "--shell", "/usr/sbin/nologin",
             "--comment", "spoolfs container test", name_},
            10s);
        if (r.exited_with(0)) break;
        // 9: the name is taken (a leftover of a killed run); lock: someone else edits.
        if (attempt >= 50 || !(r.exited_with(9) || useradd_locked(r)))
            throw std::runtime_error("useradd " + name_ + ": " + r.describe());
        std::this_thread::sleep_for(100ms);
    }
    const passwd* pw = ::getpwnam(name_.c_str());
    if (!pw) throw std::runtime_error("getpwnam " + name_ + " after useradd");
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
}

TestUser::~TestUser() {
    kill_all();
    // Mounts the user made in this namespace and left behind (a killed daemon's).
    std::ifstream in("/proc/self/mountinfo");
    std::vector<std::string> stale;
    const std::string mark = "user_id=" + std::to_string(uid_) + ",";
    for (std::string line; std::getline(in, line);) {
        if (line.find(" - fuse") == std::string::npos || line.find(mark) == std::string::npos)
            continue;
        std::istringstream fields(line);
        std::string id, parent, dev, root, point;
        fields >> id >> parent >> dev >> root >> point;
        stale.push_back(mount_test::unescape_mountinfo(point));
    }
    for (const auto& p : stale) ::umount2(p.c_str(), MNT_DETACH);
    for (int attempt = 0; attempt < 50; ++attempt) {
        const ProcessResult r = run_process({"userdel", name_}, 10s);
        if (r.exited_with(0)) return;
        if (!useradd_locked(r)) {
            std::cerr << "container_test: userdel " << name_ << ": " << r.describe() << "\n";
            return;
        }
        std::this_thread::sleep_for(100ms);
    }
    std::cerr << "container_test: userdel " << name_ << " kept failing\n";
}

std::vector<pid_t> TestUser::processes() const {
    std::vector<pid_t> found;
    DIR* d = ::opendir("/proc");
    if (!d) return found;
    while (dirent* e = ::readdir(d)) {
        const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
        if (pid <= 0) continue;
        std::ifstream status("/proc/" + std::string(e->d_name) + "/status");
        for (std::string line; std::getline(status, line);) {
            if (line.rfind("Uid:", 0) != 0) continue;
            if (std::stoul(line.substr(4)) == uid_) found.push_back(pid);
            break;
        }
    }
    ::closedir(d);
    return found;
}

void TestUser::kill_all() const {
    for (int round = 0; round < 100; ++round) {
        const auto pids = processes();
        if (pids.empty()) return;
        for (pid_t p : pids) ::kill(p, SIGKILL);
        std::this_thread::sleep_for(20ms);
    }
}

Background::Background(const std::vector<std::string>& argv, std::optional<Credentials> as) {
    char log_template[] = "/tmp/spoolfs-ct-log-XXXXXX";
    const int log_fd = ::mkostemp(log_template, O_CLOEXEC);
    if (log_fd < 0) throw_errno("mkstemp");
    mount_test::Fd log(log_fd);
    log_path_ = log_template;

    std::vector<std::string> args = argv;
    std::vector<char*> c_args;
    for (auto& a : args) c_args.push_back(a.data());
    c_args.push_back(nullptr);

    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw_errno("fork");
    if (pid_ == 0) {
        ::setpgid(0, 0);
        const int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, 0);
        ::dup2(log.get(), 1);
        ::dup2(log.get(), 2);
        if (as && (::setgroups(0, nullptr) != 0 || ::setresgid(as->gid, as->gid, as->gid) != 0 ||
                   ::setresuid(as->uid, as->uid, as->uid) != 0))
            _exit(126);
        // After the switch: changing credentials clears the parent-death signal.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) _exit(125);
        ::execvp(c_args[0], c_args.data());
        _exit(127);
    }
    ::setpgid(pid_, pid_);
}

Background::~Background() {
    kill_group();
    ::unlink(log_path_.c_str());
}

void Background::kill_group() {
    if (pid_ <= 0) return;
    if (status_) {
        ::kill(-pid_, SIGKILL);  // what it left in its group (an auto_unmount watcher)
        return;
    }
    // A daemon first gets SIGTERM, so that it unmounts (and its auto_unmount watcher, in
    // the same group, is not killed before it could do its work).
    ::kill(pid_, SIGTERM);
    if (wait_exit(3s)) {
        ::kill(-pid_, SIGKILL);
        return;
    }
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    if (!wait_exit(5s))
        std::cerr << "container_test: process " << pid_ << " survived SIGKILL for 5 s\n";
}

std::string Background::log() const {
    return read_whole(log_path_);
}

bool Background::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) {
    // Stops early when the process exits: what it wrote by then is all there will be.
    wait_until([&] { return log().find(text) != std::string::npos || !running(); }, timeout);
    return log().find(text) != std::string::npos;
}

std::optional<int> Background::wait_exit(std::chrono::milliseconds timeout) {
    if (status_) return status_;
    if (pid_ <= 0) return std::nullopt;
    status_ = mount_test::wait_child(pid_, timeout);
    return status_;
}

void Background::signal(int sig) const {
    if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

std::optional<MountEntry> mount_in(pid_t pid, const std::string& path) {
    return mount_test::find_mount_in(pid, path);
}

bool is_spoolfs(const std::optional<MountEntry>& e) {
    return e && e->fstype == "fuse.spoolfs";
}

pid_t first_child(pid_t pid, std::chrono::milliseconds timeout) {
    pid_t child = -1;
    wait_until(
        [&] {
            std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) +
                             "/children");
            return static_cast<bool>(in >> child);
        },
        timeout);
    return child;
}

std::set<unsigned> fuse_connections() {
    const ProcessResult r = run_process(
        {"unshare", "-m", "sh", "-c",
         "mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null || true; "
         "ls /sys/fs/fuse/connections"},
        10s);
    if (!r.exited_with(0)) throw std::runtime_error("listing FUSE connections: " + r.describe());
    std::set<unsigned> out;
    std::istringstream in(r.out);
    for (unsigned n; in >> n;) out.insert(n);
    return out;
}

bool wait_connection_gone(unsigned n, std::chrono::milliseconds timeout) {
    return wait_until([&] { return fuse_connections().count(n) == 0; }, timeout);
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(line);
    return out;
}

OwnedDir::OwnedDir(const std::string& prefix, uid_t uid, gid_t gid) : dir_(prefix) {
    if (::chown(dir_.path().c_str(), uid, gid) != 0) throw_errno("chown " + dir_.path());
    if (::chmod(dir_.path().c_str(), 0755) != 0) throw_errno("chmod " + dir_.path());
}

}  // namespace container_test

namespace container_test {
namespace {

enum Check {
    ok = 0,
    passthrough_not_zero,
    create_failed,
    open_file_not_listed,
    closed_file_stays,
    keep_dir_failed,
    kept_file_lost,
    size_not_enforced,
    nr_inodes_not_enforced,
    stats_unreadable,
};

std::string xattr_of(const std::string& path, const std::string& name) {
    char value[64];
    const ssize_t n = ::getxattr(path.c_str(), name.c_str(), value, sizeof value);
    if (n < 0) return "error: " + std::string(std::strerror(errno));
    return std::string(value, static_cast<size_t>(n));
}

int file_checks(const std::string& root) {
    using namespace mount_test;
    const std::string pt = xattr_of(root, "user.spoolfs.stats.passthrough");
    if (pt.starts_with("error")) return stats_unreadable;
    if (pt != "0") return passthrough_not_zero;

    // lifetime=close: listed while open, gone after the last close.
    {
        Fd fd(::open((root + "/anon").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!fd) return create_failed;
        write_all(fd.get(), "anonymous\n");
        if (lstat_errno(root + "/anon") != 0) return open_file_not_listed;
    }
    if (!wait_until([&] { return lstat_errno(root + "/anon") == ENOENT; }, 5s))
        return closed_file_stays;

    // lifetime=mount through the xattr on a directory: a closed file stays.
    const std::string keep = root + "/keep";
    if (::mkdir(keep.c_str(), 0700) != 0 ||
        ::setxattr(keep.c_str(), "user.spoolfs.lifetime", "mount", 5, 0) != 0)
        return keep_dir_failed;
    try {
        write_file(keep + "/kept", "kept\n");
        if (read_file(keep + "/kept") != "kept\n") return kept_file_lost;
    } catch (const std::exception&) {
        return kept_file_lost;
    }

    // size=1M: 2 MiB do not fit.
    {
        Fd fd(::open((keep + "/big").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!fd) return create_failed;
        const Filled f = fill(fd.get(), pattern(2 << 20, 7), 64 << 10);
        if (f.error != ENOSPC || f.written > (1u << 20)) return size_not_enforced;
    }
    if (::unlink((keep + "/big").c_str()) != 0) return size_not_enforced;

    // nr_inodes=16: creating files stops with ENOSPC before 16 more.
    int error = 0;
    for (int i = 0; i < 32 && error == 0; ++i) {
        const std::string name = keep + "/n" + std::to_string(i);
        Fd fd(::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!fd) error = errno;
        if (i >= 16 && error == 0) return nr_inodes_not_enforced;
    }
    if (error != ENOSPC) return nr_inodes_not_enforced;
    return ok;
}

}  // namespace

int check_files_as(uid_t uid, gid_t gid, const std::string& root) {
    return mount_test::run_as(uid, gid, [&] { return file_checks(root); }, 30s);
}

std::string check_name(int code) {
    switch (code) {
        case ok: return "all held";
        case passthrough_not_zero: return "user.spoolfs.stats.passthrough is not 0";
        case create_failed: return "creating a file failed";
        case open_file_not_listed: return "an open lifetime=close file has no name";
        case closed_file_stays: return "a closed lifetime=close file did not vanish within 5 s";
        case keep_dir_failed: return "mkdir or setxattr user.spoolfs.lifetime=mount failed";
        case kept_file_lost: return "a lifetime=mount file did not outlive its close";
        case size_not_enforced: return "size=1M did not stop a 2 MiB file with ENOSPC";
        case nr_inodes_not_enforced: return "nr_inodes=16 did not stop creates with ENOSPC";
        case stats_unreadable: return "user.spoolfs.stats.passthrough unreadable";
        case 200: return "switching to the user failed";
        case -1: return "the checks were killed or timed out";
        default: return "exit code " + std::to_string(code);
    }
}

ProcessResult run_as_user(uid_t uid, gid_t gid, const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout) {
    std::vector<std::string> full{"setpriv", "--reuid", std::to_string(uid), "--regid",
                                  std::to_string(gid), "--clear-groups"};
    full.insert(full.end(), argv.begin(), argv.end());
    return run_process(full, timeout);
}

}  // namespace container_test
