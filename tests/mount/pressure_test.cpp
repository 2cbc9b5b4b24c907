// The memory hog: in a memory-limited cgroup (v1, 1 GiB) holding spoolfs's daemon and its
// writer, files fill most of the limit in spoolfs's RAM; then a hog in the same cgroup
// allocates and touches memory step by step up to a size that fits only if the files
// leave RAM. spoolfs's RAM drops (pressure=on), every file stays intact and the hog is not
// OOM-killed; the same files on a tmpfs get the same hog OOM-killed.
//
// Where pages are charged: a cgroup v1 memory controller charges a page to the cgroup of
// the task that faults it. The daemon's heap is its own; pages of the RAM store (a tmpfs)
// belong to whoever wrote them: the writer, when the kernel writes a passthrough file
// itself. Both run in the test's cgroup, so everything spoolfs holds counts against it;
// the spill directory's page cache counts too, but the kernel reclaims it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "file_util.hpp"
#include "mount_fixture.hpp"
#include "mount_util.hpp"

using namespace mount_test;

namespace {

constexpr std::uint64_t MiB = 1 << 20;
constexpr std::uint64_t limit = 1024 * MiB;
constexpr unsigned file_count = 44;  // files of 16 MiB: 704 MiB
constexpr std::uint64_t file_size = 16 * MiB;
// Beside tmpfs's 704 MiB of files: 1344 MiB, past the limit. Beside spoolfs: the limit less
// half of what its RAM holds when the hog starts (672 MiB with files in the heap, some
// 850 with the RAM store's 350), so that at least half of it must go.
constexpr std::uint64_t tmpfs_hog_size = 640 * MiB;
constexpr std::uint64_t hog_step = 16 * MiB;
constexpr auto hog_pause = 100ms;  // between steps: 160 MiB/s at most
const std::string cgroup_root = "/sys/fs/cgroup/memory";

void write_text(const std::string& path, const std::string& text) {
    Fd fd = open_or_throw(path, O_WRONLY);
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        throw_errno("write " + path);
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::uint64_t proc_status_bytes(pid_t pid, const std::string& field) {
    return proc_kib_field("/proc/" + std::to_string(pid) + "/status", field);
}

// A fresh memory cgroup v1 that the test process joins; its children (the daemon, the
// writer, the hog) are born in it. Always removed: the test process leaves, whatever is
// left inside is killed, and the directory goes (bounded waits).
class MemoryCgroup {
  public:
    explicit MemoryCgroup(std::uint64_t bytes) {
        static unsigned serial = 0;
        dir_ = cgroup_root + "/spoolfs-pressure-" + std::to_string(::getpid()) + "-" +
               std::to_string(serial++);
        for (const std::string& line : split_lines(read_text("/proc/self/cgroup"))) {
            auto at = line.find(":memory:");
            if (at != std::string::npos) home_ = cgroup_root + line.substr(at + 8);
        }
        if (::mkdir(dir_.c_str(), 0755) != 0) throw_errno("mkdir " + dir_);
        write_text(dir_ + "/memory.limit_in_bytes", std::to_string(bytes));
        write_text(dir_ + "/cgroup.procs", std::to_string(::getpid()));
    }
    ~MemoryCgroup() {
        try {
            write_text(home_ + "/cgroup.procs", std::to_string(::getpid()));
        } catch (...) {
        }
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (::rmdir(dir_.c_str()) != 0 && errno == EBUSY &&
               std::chrono::steady_clock::now() < deadline) {
            for (const std::string& pid : split_lines(read_text(dir_ + "/cgroup.procs")))
                if (std::stoi(pid) != ::getpid()) ::kill(std::stoi(pid), SIGKILL);
            std::this_thread::sleep_for(50ms);
        }
    }
    MemoryCgroup(const MemoryCgroup&) = delete;
    MemoryCgroup& operator=(const MemoryCgroup&) = delete;

    std::uint64_t usage() const { return std::stoull(read_text(dir_ + "/memory.usage_in_bytes")); }
    std::uint64_t oom_kills() const {
        std::string text = read_text(dir_ + "/memory.oom_control");
        auto at = text.find("oom_kill ");
        return at == std::string::npos ? 0 : std::stoull(text.substr(at + 9));
    }

  private:
    static std::vector<std::string> split_lines(const std::string& text) {
        std::vector<std::string> lines;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);)
            if (!line.empty()) lines.push_back(line);
        return lines;
    }

    std::string dir_;
    std::string home_ = cgroup_root;
};

// Writes the files (the test process is the writer) and returns nothing: their content
// is pattern(file_size, i), checked by intact().
void write_files(const std::string& dir) {
    for (unsigned i = 0; i < file_count; ++i) {
        Fd fd = open_or_throw(dir + "/f" + std::to_string(i), O_WRONLY | O_CREAT | O_TRUNC);
        write_all(fd.get(), pattern(file_size, i));
    }
}

unsigned intact(const std::string& dir) {
    unsigned good = 0;
    for (unsigned i = 0; i < file_count; ++i)
        good += read_file(dir + "/f" + std::to_string(i)) == pattern(file_size, i);
    return good;
}

// The hog: a child that maps, touches and keeps `size` bytes, hog_step at a time, then
// says so on a pipe and waits to be killed.
class Hog {
  public:
    explicit Hog(std::uint64_t size) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
        pid_ = ::fork();
        if (pid_ < 0) throw_errno("fork");
        if (pid_ == 0) {
            ::close(fds[0]);
            for (std::uint64_t held = 0; held < size; held += hog_step) {
                void* p = ::mmap(nullptr, hog_step, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (p == MAP_FAILED) ::_exit(3);
                std::memset(p, 0x5a, hog_step);
                struct timespec pause = {0, std::chrono::nanoseconds(hog_pause).count()};
                ::nanosleep(&pause, nullptr);
            }
            if (::write(fds[1], "d", 1) != 1) ::_exit(4);
            ::sleep(120);
            ::_exit(0);
        }
        ::close(fds[1]);
        done_.reset(fds[0]);
    }
    ~Hog() {
        ::kill(pid_, SIGKILL);
        wait_child(pid_, 10s);
    }
    Hog(const Hog&) = delete;
    Hog& operator=(const Hog&) = delete;

    // Waits up to `step` for the hog: true once it holds all it wanted, false while it
    // is still growing; the wait status once it died.
    std::optional<bool> poll_done(std::chrono::milliseconds step) {
        pollfd p{done_.get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(step.count())) <= 0) return false;
        char c = 0;
        if (::read(done_.get(), &c, 1) == 1) return true;
        status_ = wait_child(pid_, 10s);
        return std::nullopt;  // died
    }
    std::optional<int> status() const { return status_; }

  private:
    pid_t pid_ = -1;
    Fd done_;
    std::optional<int> status_;
};

bool killed_by_sigkill(std::optional<int> status) {
    return status && WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL;
}

// The hog against files in spoolfs's RAM (`options`, at least `in_ram` bytes of them).
void hog_against_spoolfs(const std::string& options, std::uint64_t in_ram,
                         std::ostringstream& figures) {
    MemoryCgroup cgroup(limit);
    Mount m(options, 120s);
    write_files(m.path());
    const std::uint64_t ram_before = stat_of(m, "ram_bytes");
    const std::uint64_t ram_ceiling = stat_of(m, "ram_budget_bytes");
    const std::uint64_t rss_before = proc_status_bytes(m.pid(), "VmRSS");
    figures << "-o " << options << "\nbefore: ram_bytes " << ram_before / MiB
            << " MiB, daemon VmRSS " << rss_before / MiB << " MiB, cgroup usage "
            << cgroup.usage() / MiB << " MiB\n";
    REQUIRE(ram_before >= in_ram);

    // While the hog grows: how low spoolfs's RAM goes and when it first halves.
    const auto start = std::chrono::steady_clock::now();
    const auto since_start = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    std::optional<double> halved_after, hog_done_after, pressure_seen_after;
    std::uint64_t ram_low = ram_before, rss_low = rss_before;
    const std::uint64_t hog_size = limit - ram_before / 2;
    std::optional<Hog> hog(std::in_place, hog_size);
    std::optional<bool> done = false;
    while (done == false && std::chrono::steady_clock::now() - start < 60s) {
        done = hog->poll_done(100ms);
        std::uint64_t ram = stat_of(m, "ram_bytes");
        ram_low = std::min(ram_low, ram);
        rss_low = std::min(rss_low, proc_status_bytes(m.pid(), "VmRSS"));
        if (!pressure_seen_after && stat_of(m, "ram_budget_bytes") < ram_ceiling)
            pressure_seen_after = since_start();
        if (!halved_after && ram <= ram_before / 2) halved_after = since_start();
    }
    if (done == true) hog_done_after = since_start();
    const std::uint64_t budget_low = stat_of(m, "ram_budget_bytes");
    figures << "during (hog of " << hog_size / MiB << " MiB, " << hog_step / MiB << " MiB every "
            << hog_pause.count() << " ms, all held after "
            << (hog_done_after ? std::to_string(*hog_done_after) + " s" : "never")
            << "): ram_bytes down to " << ram_low / MiB << " MiB, daemon VmRSS down to "
            << rss_low / MiB << " MiB, budget first below ram= after "
            << (pressure_seen_after ? std::to_string(*pressure_seen_after) + " s" : "never")
            << ", halved after " << (halved_after ? std::to_string(*halved_after) + " s" : "never")
            << "; ram_budget_bytes " << budget_low / MiB << " MiB, pressure_level "
            << stat_of(m, "pressure_level") << ", pressure_bytes "
            << stat_of(m, "pressure_bytes") / MiB << " MiB, pressure_files "
            << stat_of(m, "pressure_files") << ", cgroup usage " << cgroup.usage() / MiB
            << " MiB, oom kills " << cgroup.oom_kills() << "\n";
    INFO(figures.str() << m.log());
    CHECK(done == true);  // the hog holds all it asked for, alive
    CHECK(cgroup.oom_kills() == 0);
    REQUIRE(halved_after.has_value());
    CHECK(*halved_after < 30.0);  // a generous bound: about the hog's own ramp here
    CHECK(stat_of(m, "pressure_files") > 0);
    // Files held in the daemon's heap: the freed heap went back to the kernel too.
    if (rss_before > ram_before / 2) CHECK(rss_low <= rss_before / 2);

    // The hog gone, the budget grows back, and every byte is there.
    hog.reset();
    const auto end = std::chrono::steady_clock::now();
    while (stat_of(m, "ram_budget_bytes") <= budget_low &&
           std::chrono::steady_clock::now() - end < 30s)
        std::this_thread::sleep_for(100ms);
    const double grew_after =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - end).count();
    CHECK(stat_of(m, "ram_budget_bytes") > budget_low);
    CHECK(intact(m.path()) == file_count);
    figures << "after (hog killed): ram_budget_bytes " << stat_of(m, "ram_budget_bytes") / MiB
            << " MiB (growing " << grew_after << " s after), ram_bytes "
            << stat_of(m, "ram_bytes") / MiB << " MiB, spilled_bytes "
            << stat_of(m, "spilled_bytes") / MiB << " MiB, daemon VmRSS "
            << proc_status_bytes(m.pid(), "VmRSS") / MiB << " MiB; all " << file_count
            << " files intact\n";
    WARN(figures.str());
}

}  // namespace

TEST_CASE("a memory hog makes spoolfs's RAM give way; on tmpfs it is OOM-killed") {
    if (::access((cgroup_root + "/memory.limit_in_bytes").c_str(), W_OK) != 0) {
        WARN("no writable cgroup v1 memory controller: test skipped");
        return;
    }
#ifdef __SANITIZE_ADDRESS__
    // AddressSanitizer's quarantine keeps freed heap (up to 256 MiB) on purpose, and its
    // shadow memory alone takes much of the cgroup.
    WARN("memory hog not run under AddressSanitizer");
    return;
#endif
    std::ostringstream figures;

    SECTION("spoolfs, files in the heap (passthrough=off)") {
        hog_against_spoolfs("lifetime=mount,passthrough=off,ram=900M", file_count * file_size,
                            figures);
    }
    SECTION("spoolfs, files in the RAM store (passthrough)") {
        hog_against_spoolfs("lifetime=mount,ram=900M", 300 * MiB, figures);
    }

    SECTION("tmpfs") {
        MemoryCgroup cgroup(limit);
        TempDir dir("spoolfs-pressure-tmpfs-");
        if (::mount("spoolfs-test", dir.path().c_str(), "tmpfs", 0, "size=900M") != 0)
            throw_errno("mount tmpfs");
        struct Unmount {
            std::string path;
            ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
        } unmount{dir.path()};
        write_files(dir.path());
        figures << "tmpfs: cgroup usage with the files " << cgroup.usage() / MiB << " MiB\n";
        Hog hog(tmpfs_hog_size);
        std::optional<bool> done = false;
        const auto start = std::chrono::steady_clock::now();
        while (done == false && std::chrono::steady_clock::now() - start < 60s)
            done = hog.poll_done(100ms);
        figures << "tmpfs: hog of " << tmpfs_hog_size / MiB << " MiB "
                << (done ? "survived" : "died") << ", oom kills " << cgroup.oom_kills() << "\n";
        INFO(figures.str());
        CHECK_FALSE(done.has_value());  // it died
        CHECK(killed_by_sigkill(hog.status()));
        CHECK(cgroup.oom_kills() >= 1);
        WARN(figures.str());
    }
}

// This machine has 24 GiB: its MemAvailable stays far above the low mark (1 GiB) while
// the suite runs, and the test's own cgroup has no limit.
TEST_CASE("without pressure the budget is ram=; pressure=off keeps it so") {
    for (const std::string options : {"ram=300M", "ram=300M,pressure=off"}) {
        INFO(options);
        Mount m(options);
        write_file(m / "f", pattern(MiB, 1));
        CHECK(stat_of(m, "ram_budget_bytes") == 300 * MiB);
        CHECK(stat_of(m, "pressure_level") == 0);
        CHECK(stat_of(m, "pressure_bytes") == 0);
        CHECK(stat_of(m, "pressure_files") == 0);
    }
}
