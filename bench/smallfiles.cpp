// smallfiles: the measuring steps of scripts/bench.sh that no stock tool does exactly.
//
//   smallfiles files DIR COUNT SIZE [--daemon-pid PID]
//       COUNT files of SIZE bytes in DIR, one phase at a time: create (create, write,
//       close), stat, read (open, read, close), list (readdir), unlink.
//   smallfiles tempfile DIR COUNT SIZE --cleanup=unlink|close [--daemon-pid PID]
//       Python's tempfile pattern COUNT times: create, write SIZE, read it back, close.
//       unlink: then unlink (tmpfs). close: set user.spoolfs.lifetime=close on DIR so
//       that the close removes the file (spoolfs), and check that DIR ends up empty.
//   smallfiles clients DIR COUNT CLIENTS [--daemon-pid PID]
//       CLIENTS processes at once, each stat()s COUNT times the name of a file it holds
//       open. DIR gets user.spoolfs.lifetime=close where it can (spoolfs), whose names
//       the kernel never caches: every stat asks the daemon. Prints phase=clients and
//       phase=clients_p99, whose seconds are the 99th percentile of one stat's latency.
//   smallfiles resident FILE
//       Prints how many of FILE's pages are in the page cache (as fincore does).
//   smallfiles evict FILE
//       posix_fadvise(DONTNEED) on FILE; prints the resident pages before and after.
//   smallfiles time [--daemon-pid PID] -- COMMAND [ARG...]
//       Runs COMMAND (stdout to /dev/null) and times it.
//   smallfiles pingpong COUNT
//       Two processes pinned to one CPU pass a byte back and forth through two pipes
//       COUNT times: the floor of any request that wakes a daemon on the caller's CPU
//       (two context switches). Prints pingpong_us=MEDIAN of 5 rounds, in microseconds.
//
// files, tempfile and time print one line per phase on stdout:
//   phase=NAME ops=N seconds=S daemon_cpu=C daemon_hwm_kib=K
// seconds from CLOCK_MONOTONIC; daemon_cpu is the utime+stime delta of PID (from
// /proc/PID/stat) and daemon_hwm_kib its VmHWM, reset before the phase by writing 5 to
// /proc/PID/clear_refs ("-" for both without --daemon-pid). resident and evict print one
// line of page counts. Errors go to stderr with exit status 1; usage errors exit 2.
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tempfile/fd.hpp"

namespace {

using tempfile::FileDescriptor;

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

double monotonic_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

unsigned long parse_number(std::string_view text, const char* what) {
    unsigned long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
        throw UsageError(std::string("bad ") + what + ": " + std::string(text));
    return value;
}

// The FUSE daemon's CPU time and peak RSS, sampled around each phase.
class DaemonProbe {
  public:
    explicit DaemonProbe(std::optional<pid_t> pid) : pid_(pid) {}

    void start() {
        if (!pid_) return;
        // Resets VmHWM to the current RSS, so the peak is this phase's.
        std::ofstream(proc("clear_refs")) << "5\n";
        cpu_at_start_ = cpu_seconds();
    }

    std::string report() const {
        if (!pid_) return "daemon_cpu=- daemon_hwm_kib=-";
        char line[96];
        std::snprintf(line, sizeof line, "daemon_cpu=%.2f daemon_hwm_kib=%lu",
                      cpu_seconds() - cpu_at_start_, hwm_kib());
        return line;
    }

  private:
    std::string proc(const char* name) const {
        return "/proc/" + std::to_string(*pid_) + "/" + name;
    }

    // utime and stime are fields 14 and 15; the command name (field 2) may hold spaces,
    // so count from its closing parenthesis.
    double cpu_seconds() const {
        std::ifstream in(proc("stat"));
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto paren = text.rfind(')');
        if (paren == std::string::npos) throw std::runtime_error("daemon is gone: " + proc("stat"));
        std::istringstream fields(text.substr(paren + 2));
        std::string field;
        unsigned long long utime = 0, stime = 0;
        for (int i = 3; i <= 15 && fields >> field; ++i) {
            if (i == 14) utime = std::stoull(field);
            if (i == 15) stime = std::stoull(field);
        }
        return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
    }

    unsigned long hwm_kib() const {
        std::ifstream in(proc("status"));
        for (std::string line; std::getline(in, line);)
            if (line.starts_with("VmHWM:")) return std::stoul(line.substr(6));
        return 0;
    }

    std::optional<pid_t> pid_;
    double cpu_at_start_ = 0;
};

// Times one phase and prints its line when done.
class Phase {
  public:
    Phase(DaemonProbe& probe, std::string name, unsigned long ops)
        : probe_(probe), name_(std::move(name)), ops_(ops) {
        probe_.start();
        start_ = monotonic_seconds();
    }
    void done() {
        double seconds = monotonic_seconds() - start_;
        std::printf("phase=%s ops=%lu seconds=%.6f %s\n", name_.c_str(), ops_, seconds,
                    probe_.report().c_str());
        std::fflush(stdout);
    }

  private:
    DaemonProbe& probe_;
    std::string name_;
    unsigned long ops_;
    double start_ = 0;
};

FileDescriptor open_dir(const std::string& path) {
    FileDescriptor dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) fail("open " + path);
    return dir;
}

std::string file_name(unsigned long i) {
    char name[32];
    std::snprintf(name, sizeof name, "f%07lu", i);
    return name;
}

void write_all(int fd, const char* data, size_t size, const std::string& name) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("write " + name);
        data += n;
        size -= static_cast<size_t>(n);
    }
}

size_t read_all(int fd, char* data, size_t capacity, off_t offset, const std::string& name) {
    size_t total = 0;
    while (total < capacity) {
        ssize_t n = ::pread(fd, data + total, capacity - total, offset + static_cast<off_t>(total));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("read " + name);
        if (n == 0) break;
        total += static_cast<size_t>(n);
    }
    return total;
}

void close_checked(FileDescriptor fd, const std::string& name) {
    if (::close(fd.release()) != 0) fail("close " + name);
}

struct DirCloser {
    void operator()(DIR* dir) const { closedir(dir); }
};

unsigned long count_entries(int dirfd) {
    // fdopendir takes ownership of its descriptor, so hand it a duplicate.
    int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) fail("dup");
    std::unique_ptr<DIR, DirCloser> dir(fdopendir(dup));
    if (!dir) {
        ::close(dup);
        fail("fdopendir");
    }
    rewinddir(dir.get());
    unsigned long count = 0;
    errno = 0;
    while (dirent* entry = readdir(dir.get())) {
        std::string_view name = entry->d_name;
        if (name != "." && name != "..") ++count;
    }
    if (errno != 0) fail("readdir");
    return count;
}

void small_files(const std::string& path, unsigned long count, size_t size, DaemonProbe& probe) {
    FileDescriptor dir = open_dir(path);
    std::vector<char> data(size, 'x');
    std::vector<char> buffer(size + 1);

    Phase create(probe, "create", count);
    for (unsigned long i = 0; i < count; ++i) {
        auto name = file_name(i);
        FileDescriptor fd(
            ::openat(dir.get(), name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
        if (!fd) fail("create " + name);
        write_all(fd.get(), data.data(), size, name);
        close_checked(std::move(fd), name);
    }
    create.done();

    Phase stat_phase(probe, "stat", count);
    for (unsigned long i = 0; i < count; ++i) {
        auto name = file_name(i);
        struct stat st {};
        if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) fail("stat " + name);
        if (static_cast<size_t>(st.st_size) != size)
            throw std::runtime_error("wrong size: " + name);
    }
    stat_phase.done();

    Phase read_phase(probe, "read", count);
    for (unsigned long i = 0; i < count; ++i) {
        auto name = file_name(i);
        FileDescriptor fd(::openat(dir.get(), name.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) fail("open " + name);
        if (read_all(fd.get(), buffer.data(), buffer.size(), 0, name) != size)
            throw std::runtime_error("short read: " + name);
        close_checked(std::move(fd), name);
    }
    read_phase.done();

    Phase list(probe, "list", 1);
    unsigned long listed = count_entries(dir.get());
    list.done();
    if (listed != count)
        throw std::runtime_error("listed " + std::to_string(listed) + " entries, expected " +
                                 std::to_string(count));

    Phase unlink_phase(probe, "unlink", count);
    for (unsigned long i = 0; i < count; ++i) {
        auto name = file_name(i);
        if (::unlinkat(dir.get(), name.c_str(), 0) != 0) fail("unlink " + name);
    }
    unlink_phase.done();
}

void tempfile_pattern(const std::string& path, unsigned long count, size_t size, bool unlink,
                      DaemonProbe& probe) {
    FileDescriptor dir = open_dir(path);
    if (!unlink) {
        static constexpr std::string_view close_value = "close";
        if (::fsetxattr(dir.get(), "user.spoolfs.lifetime", close_value.data(), close_value.size(),
                        0) != 0)
            fail("setxattr user.spoolfs.lifetime=close on " + path);
    }
    std::vector<char> data(size);
    std::vector<char> buffer(size);

    Phase phase(probe, "tempfile", count);
    for (unsigned long i = 0; i < count; ++i) {
        // A fresh name each time, as mkstemp's random names are.
        auto name = file_name(i);
        data[i % size] = static_cast<char>('a' + i % 26);
        FileDescriptor fd(
            ::openat(dir.get(), name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
        if (!fd) fail("create " + name);
        write_all(fd.get(), data.data(), size, name);
        if (read_all(fd.get(), buffer.data(), size, 0, name) != size ||
            buffer[i % size] != data[i % size])
            throw std::runtime_error("read back differs: " + name);
        close_checked(std::move(fd), name);
        if (unlink && ::unlinkat(dir.get(), name.c_str(), 0) != 0) fail("unlink " + name);
    }
    phase.done();

    unsigned long left = count_entries(dir.get());
    if (left != 0)
        throw std::runtime_error(std::to_string(left) + " files left in " + path +
                                 (unlink ? "" : ": the close did not remove them"));
}

// A read-only shared mapping, unmapped on destruction; get() is MAP_FAILED if refused.
class Mapping {
  public:
    Mapping(int fd, size_t size)
        : addr_(::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0)), size_(size) {}
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() {
        if (addr_ != MAP_FAILED) ::munmap(addr_, size_);
    }
    void* get() const { return addr_; }

  private:
    void* addr_;
    size_t size_;
};

// A file opened to look at its page cache.
struct CachedFile {
    explicit CachedFile(const std::string& file_path) : path(file_path) {
        if (!fd) fail("open " + path);
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) fail("stat " + path);
        size = static_cast<size_t>(st.st_size);
        pages = (size + page_size - 1) / page_size;
    }

    // The number of pages in the page cache, as fincore counts them, or "-" when the file
    // cannot be mapped (a driver may refuse shared mappings, e.g. for direct I/O files).
    // Mapping does not fault pages in, so it does not disturb what it counts.
    std::string resident() const {
        if (size == 0) return "0";
        Mapping mapping(fd.get(), size);
        if (mapping.get() == MAP_FAILED) return "-";
        std::vector<unsigned char> vec(pages);
        if (::mincore(mapping.get(), size, vec.data()) != 0) fail("mincore " + path);
        unsigned long count = 0;
        for (unsigned char v : vec) count += v & 1;
        return std::to_string(count);
    }

    std::string path;
    FileDescriptor fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    size_t page_size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t size = 0;
    size_t pages = 0;
};

// One client of concurrent_stats(): waits for `go` to close, then times each stat.
[[noreturn]] void stat_client(const std::string& name, unsigned long count, int go, int out) {
    int status = 0;
    try {
        FileDescriptor file(::open(name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        if (!file) fail("open " + name);
        char byte;
        if (::read(go, &byte, 1) < 0) fail("read the start signal");
        std::vector<float> latencies(count);
        struct stat st {};
        for (unsigned long i = 0; i < count; ++i) {
            const double start = monotonic_seconds();
            if (::stat(name.c_str(), &st) != 0) fail("stat " + name);
            latencies[i] = static_cast<float>(monotonic_seconds() - start);
        }
        write_all(out, reinterpret_cast<const char*>(latencies.data()),
                  latencies.size() * sizeof(float), "latencies");
        file.reset();
        ::unlink(name.c_str());  // tmpfs; spoolfs removed it at the close
    } catch (const std::exception& e) {
        std::fprintf(stderr, "smallfiles: %s\n", e.what());
        status = 1;
    }
    ::_exit(status);
}

void concurrent_stats(const std::string& path, unsigned long count, unsigned long clients,
                      DaemonProbe& probe) {
    FileDescriptor dir = open_dir(path);
    static constexpr std::string_view close_value = "close";
    // tmpfs has no such attribute (or no user xattrs): nothing to set there.
    (void)::fsetxattr(dir.get(), "user.spoolfs.lifetime", close_value.data(), close_value.size(),
                      0);
    int go[2];
    if (::pipe2(go, O_CLOEXEC) != 0) fail("pipe");
    FileDescriptor go_read(go[0]), go_write(go[1]);
    std::vector<pid_t> children;
    std::vector<FileDescriptor> outputs;
    for (unsigned long c = 0; c < clients; ++c) {
        int out[2];
        if (::pipe2(out, O_CLOEXEC) != 0) fail("pipe");
        FileDescriptor out_read(out[0]), out_write(out[1]);
        const pid_t child = ::fork();
        if (child < 0) fail("fork");
        if (child == 0) {
            go_write.reset();
            stat_client(path + "/client-" + std::to_string(c), count, go_read.get(),
                        out_write.get());
        }
        children.push_back(child);
        outputs.push_back(std::move(out_read));
    }
    ::usleep(100000);  // the clients have opened their files
    Phase phase(probe, "clients", count * clients);
    go_write.reset();  // EOF: go
    std::vector<float> all(count * clients);
    for (unsigned long c = 0; c < clients; ++c) {
        auto* at = reinterpret_cast<char*>(all.data() + c * count);
        size_t left = count * sizeof(float);
        while (left > 0) {  // a pipe: read(2), not pread(2)
            const ssize_t n = ::read(outputs[c].get(), at, left);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw std::runtime_error("a stat client failed");
            at += n;
            left -= static_cast<size_t>(n);
        }
    }
    bool failed = false;
    for (pid_t child : children) {
        int status = 0;
        ::waitpid(child, &status, 0);
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    if (failed) throw std::runtime_error("a stat client failed");
    phase.done();
    std::sort(all.begin(), all.end());
    std::printf("phase=clients_p99 ops=%lu seconds=%.9f %s\n", count * clients,
                static_cast<double>(all[all.size() * 99 / 100]), probe.report().c_str());
}

void resident(const std::string& path) {
    CachedFile file(path);
    std::printf("pages=%zu resident=%s\n", file.pages, file.resident().c_str());
}

void evict(const std::string& path) {
    CachedFile file(path);
    std::string before = file.resident();
    // DONTNEED only drops clean pages: write back anything dirty first.
    if (::fdatasync(file.fd.get()) != 0) fail("fdatasync " + path);
    if (int rc = ::posix_fadvise(file.fd.get(), 0, 0, POSIX_FADV_DONTNEED); rc != 0) {
        errno = rc;
        fail("posix_fadvise " + path);
    }
    std::printf("pages=%zu resident_before=%s resident_after=%s\n", file.pages, before.c_str(),
                file.resident().c_str());
}

int run_timed(char** argv, DaemonProbe& probe) {
    Phase phase(probe, "command", 1);
    pid_t child = ::fork();
    if (child < 0) fail("fork");
    if (child == 0) {
        int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) ::dup2(null, STDOUT_FILENO);
        ::execvp(argv[0], argv);
        std::fprintf(stderr, "smallfiles: exec %s: %s\n", argv[0], std::strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0)
        if (errno != EINTR) fail("waitpid");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        phase.done();
        return 0;
    }
    if (WIFSIGNALED(status))
        std::fprintf(stderr, "smallfiles: %s killed by signal %d\n", argv[0], WTERMSIG(status));
    else
        std::fprintf(stderr, "smallfiles: %s exited with status %d\n", argv[0],
                     WEXITSTATUS(status));
    return 1;
}

// One round of pingpong(): microseconds per round trip.
double pingpong_round(unsigned long count) {
    int there[2], back[2];
    if (::pipe2(there, O_CLOEXEC) != 0) fail("pipe");
    FileDescriptor there_read(there[0]), there_write(there[1]);
    if (::pipe2(back, O_CLOEXEC) != 0) fail("pipe");
    FileDescriptor back_read(back[0]), back_write(back[1]);
    pid_t child = ::fork();
    if (child < 0) fail("fork");
    char byte = 0;
    if (child == 0) {
        there_write.reset();  // so that the parent's end makes an EOF here if it dies
        back_read.reset();
        for (unsigned long i = 0; i < count; ++i)
            if (::read(there_read.get(), &byte, 1) != 1 || ::write(back_write.get(), &byte, 1) != 1)
                ::_exit(1);
        ::_exit(0);
    }
    there_read.reset();  // and the child's end one there
    back_write.reset();
    const double start = monotonic_seconds();
    bool ok = true;
    for (unsigned long i = 0; ok && i < count; ++i)
        ok = ::write(there_write.get(), &byte, 1) == 1 && ::read(back_read.get(), &byte, 1) == 1;
    const double seconds = monotonic_seconds() - start;
    there_write.reset();
    int status = 0;
    while (::waitpid(child, &status, 0) < 0)
        if (errno != EINTR) fail("waitpid");
    if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("pingpong: the other process failed");
    return seconds / static_cast<double>(count) * 1e6;
}

void pingpong(unsigned long count) {
    const int cpu = ::sched_getcpu();
    if (cpu < 0) fail("sched_getcpu");
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (::sched_setaffinity(0, sizeof(one), &one) != 0) fail("sched_setaffinity");
    std::vector<double> rounds;
    for (int round = 0; round < 5; ++round) rounds.push_back(pingpong_round(count));
    std::sort(rounds.begin(), rounds.end());
    std::printf("pingpong_us=%.2f\n", rounds[rounds.size() / 2]);
}

int usage() {
    std::fputs(
        "usage: smallfiles files DIR COUNT SIZE [--daemon-pid PID]\n"
        "       smallfiles tempfile DIR COUNT SIZE --cleanup=unlink|close [--daemon-pid PID]\n"
        "       smallfiles clients DIR COUNT CLIENTS [--daemon-pid PID]\n"
        "       smallfiles resident FILE\n"
        "       smallfiles evict FILE\n"
        "       smallfiles time [--daemon-pid PID] -- COMMAND [ARG...]\n"
        "       smallfiles pingpong COUNT\n",
        stderr);
    return 2;
}

int run(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    std::optional<pid_t> daemon;
    std::optional<bool> unlink;
    std::vector<std::string_view> positional;
    size_t i = 0;
    for (; i < args.size(); ++i) {
        if (args[i] == "--") {
            ++i;
            break;
        }
        if (args[i] == "--daemon-pid" && i + 1 < args.size()) {
            daemon = static_cast<pid_t>(parse_number(args[++i], "pid"));
        } else if (args[i] == "--cleanup=unlink" || args[i] == "--cleanup=close") {
            unlink = args[i] == "--cleanup=unlink";
        } else if (args[i].starts_with("--")) {
            throw UsageError("unknown option " + std::string(args[i]));
        } else {
            positional.push_back(args[i]);
        }
    }
    if (positional.empty()) return usage();
    DaemonProbe probe(daemon);
    auto mode = positional[0];
    if (mode == "time" && positional.size() == 1 && i < args.size())
        return run_timed(argv + 1 + i, probe);
    if (mode == "resident" && positional.size() == 2) {
        resident(std::string(positional[1]));
        return 0;
    }
    if (mode == "pingpong" && positional.size() == 2) {
        pingpong(parse_number(positional[1], "count"));
        return 0;
    }
    if (mode == "evict" && positional.size() == 2) {
        evict(std::string(positional[1]));
        return 0;
    }
    if (positional.size() != 4) return usage();
    std::string dir(positional[1]);
    unsigned long count = parse_number(positional[2], "count");
    size_t size = parse_number(positional[3], "size");
    if (mode == "files") {
        small_files(dir, count, size, probe);
        return 0;
    }
    if (mode == "clients" && count > 0 && size > 0) {
        concurrent_stats(dir, count, size, probe);
        return 0;
    }
    if (mode == "tempfile" && unlink && size > 0) {
        tempfile_pattern(dir, count, size, *unlink, probe);
        return 0;
    }
    return usage();
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "smallfiles: %s\n", e.what());
        return usage();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "smallfiles: %s\n", e.what());
        return 1;
    }
}
