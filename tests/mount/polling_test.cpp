// busy_poll= and idle_poll= on a real mount: the daemon polls for the next request, and
// keeps idle CPUs polling, only while requests keep coming (an idle mount costs no CPU),
// a signal still ends it while it polls, and every loop (polling or not, one thread or
// many) serves the same files.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "file_util.hpp"
#include "mount_fixture.hpp"

using namespace mount_test;

namespace {

// User plus system CPU time of process `pid` so far, in clock ticks (/proc/PID/stat).
long cpu_ticks(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) throw std::runtime_error("no /proc/PID/stat");
    // The command name may hold spaces; the fields after it are plain numbers.
    std::istringstream fields(line.substr(line.rfind(')') + 2));
    std::string skip;
    for (int field = 3; field < 14; ++field) fields >> skip;
    long user = 0, system = 0;
    fields >> user >> system;
    return user + system;
}

// Requests back to back, as a program calling stat() in a loop sends them: an fstat
// after each write must ask the daemon (the kernel drops a file's times at a write).
void request_stream(const Mount& m, int count) {
    Fd fd = open_or_throw(m / "stream", O_RDWR | O_CREAT | O_TRUNC);
    struct stat st {};
    for (int i = 0; i < count; ++i) {
        REQUIRE(pwrite(fd.get(), "x", 1, i) == 1);
        REQUIRE(fstat(fd.get(), &st) == 0);
    }
    CHECK(st.st_size == count);
}

// CPU ticks the daemon uses over one second in which nobody asks it anything.
long idle_ticks(const Mount& m) {
    std::this_thread::sleep_for(100ms);  // whatever was under way ends
    const long before = cpu_ticks(m.pid());
    std::this_thread::sleep_for(1s);
    return cpu_ticks(m.pid()) - before;
}

// Whether process `pid` holds a CPU latency request (an open /dev/cpu_dma_latency).
bool holds_cpu_latency(pid_t pid) {
    std::error_code ec;
    for (const auto& fd :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        if (std::filesystem::read_symlink(fd.path(), ec) == "/dev/cpu_dma_latency") return true;
    }
    return false;
}

// Waits up to 5 s for holds_cpu_latency(pid) to be `wanted`; returns what it last saw.
bool wait_holds_cpu_latency(pid_t pid, bool wanted) {
    const auto end = std::chrono::steady_clock::now() + 5s;
    bool holds = holds_cpu_latency(pid);
    while (holds != wanted && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(5ms);
        holds = holds_cpu_latency(pid);
    }
    return holds;
}

// A client thread sending requests back to back (as request_stream), until destroyed.
class BackgroundStream {
  public:
    explicit BackgroundStream(const Mount& m)
        : fd_(open_or_throw(m / "stream", O_RDWR | O_CREAT | O_TRUNC)), thread_([this] {
              struct stat st {};
              for (off_t i = 0; !stop_; ++i) {
                  if (pwrite(fd_.get(), "x", 1, i % 4096) != 1 || fstat(fd_.get(), &st) != 0)
                      ++errors_;
              }
          }) {}
    ~BackgroundStream() { stop(); }
    // Stops the client; the number of requests that failed.
    int stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        return errors_;
    }

  private:
    Fd fd_;
    std::atomic<bool> stop_ = false;
    std::atomic<int> errors_ = 0;
    std::thread thread_;
};

}  // namespace

TEST_CASE("idle_poll keeps idle CPUs polling while requests stream, and only then") {
    // Only root may ask, and only where idle CPUs can poll (cpuidle state 0 is POLL);
    // otherwise the daemon goes on without, whatever the option.
    std::ifstream idle_state("/sys/devices/system/cpu/cpu0/cpuidle/state0/name");
    std::string idle_state_name;
    std::getline(idle_state, idle_state_name);
    const bool may_hold = access("/dev/cpu_dma_latency", W_OK) == 0 && idle_state_name == "POLL";
    const auto [options, wanted] = GENERATE(table<std::string, bool>({
        // idle_poll is about /dev/fuse's reader: the ring (uring=auto) needs no polling.
        {"lifetime=mount,idle_poll=on,uring=off", true},
        {"lifetime=mount,idle_poll=on,uring=off,-s", true},
        {"lifetime=mount", false},  // off by default
        {"lifetime=mount,idle_poll=on,busy_poll=0,uring=off", false},
    }));
    INFO("options: " << options << ", idle CPUs can be kept polling: " << may_hold);
    Mount m(options);
    CHECK_FALSE(wait_holds_cpu_latency(m.pid(), false));  // mounting is over
    {
        BackgroundStream stream(m);
        if (wanted && may_hold) {
            CHECK(wait_holds_cpu_latency(m.pid(), true));
        } else {
            std::this_thread::sleep_for(300ms);
            CHECK_FALSE(holds_cpu_latency(m.pid()));
        }
        CHECK(stream.stop() == 0);
    }
    // 10 ms after the last request the request is dropped; the wait allows for a slow CI.
    CHECK_FALSE(wait_holds_cpu_latency(m.pid(), false));
}

TEST_CASE("polling stops once requests stop: an idle mount uses no CPU") {
    // busy_poll at its default and at its most: either way the window closes.
    const std::string options = GENERATE(as<std::string>{}, "lifetime=mount",
                                         "lifetime=mount,busy_poll=10000", "lifetime=mount,-s");
    INFO("options: " << options);
    Mount m(options);
    request_stream(m, 20000);
    // 2 ticks (20 ms at 100 Hz) allow for timers; a daemon still polling takes ~100.
    CHECK(idle_ticks(m) <= 2);
    request_stream(m, 2000);  // polling starts again, and stops again
    CHECK(idle_ticks(m) <= 2);
}

TEST_CASE("SIGTERM while the daemon polls for requests unmounts it and it exits 0") {
    const std::string options = GENERATE(as<std::string>{}, "lifetime=mount", "lifetime=mount,-s");
    INFO("options: " << options);
    Mount m(options);
    write_file(m / "f", "data");
    // A client that keeps the daemon polling until the mount goes away under it.
    const pid_t client = fork();
    REQUIRE(client >= 0);
    if (client == 0) {
        struct stat st {};
        for (int i = 0; i < 2'000'000 && stat((m / "f").c_str(), &st) == 0; ++i) {
        }
        _exit(0);
    }
    std::this_thread::sleep_for(300ms);
    CHECK(kill(m.pid(), SIGTERM) == 0);
    const auto status = m.wait_exit(5s);
    kill(client, SIGKILL);
    wait_child(client, 5s);
    INFO("daemon stderr:\n" << m.log());
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    CHECK_FALSE(find_mount(m.path()));
}

TEST_CASE("every request loop serves the same files, and a closed file is gone at once") {
    const std::string options = GENERATE(as<std::string>{}, "busy_poll=0", "busy_poll=0,-s",
                                         "busy_poll=50", "busy_poll=50,-s");
    INFO("options: " << options);
    Mount m(options);
    REQUIRE(mkdir((m / "d").c_str(), 0755) == 0);
    const std::string data = pattern(3 << 20, 7);  // more than one request's worth
    {
        Fd fd = open_or_throw(m / "d/f", O_RDWR | O_CREAT);
        write_all(fd.get(), data);
        CHECK(read_at(fd.get(), data.size()) == data);
        CHECK(stat_or_throw(m / "d/f").st_size == static_cast<off_t>(data.size()));
    }
    // lifetime=close (the default): the last close took the name with it.
    CHECK(lstat_errno(m / "d/f") == ENOENT);
    CHECK(list_dir(m / "d").empty());
}
