// The differential fuzzer as a test: random operation sequences on spoolfs, in three
// configurations, and on a kernel tmpfs side by side (docs/fuzzing.md).
//
// Environment (all optional; scripts/fuzz.sh sets them for long runs and replays):
//   SPOOLFS_FUZZ_SEED       base seed (default 1: the test run is the same every time)
//   SPOOLFS_FUZZ_SEQUENCES  sequences per configuration
//   SPOOLFS_FUZZ_FIRST      index of the first sequence (replay: FIRST=n SEQUENCES=1)
//   SPOOLFS_FUZZ_OPS        operations per sequence
//   SPOOLFS_FUZZ_VARIANT    only this configuration: passthrough, heap or spill
//   SPOOLFS_FUZZ_VERBOSE    1: print every operation with both results as it runs
//   SPOOLFS_FUZZ_MINIMIZE   how many failures to shrink to a minimal sequence (default 3)
#include <sys/mount.h>
#include <sys/xattr.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "file_util.hpp"
#include "fuzzer.hpp"
#include "mount_fixture.hpp"

using namespace mount_test;

namespace {

using Clock = std::chrono::steady_clock;

// The oracle: a kernel tmpfs on a fresh directory, with the mount flags libfuse gives
// spoolfs's mount (nosuid, nodev), unmounted (lazily, so even a busy one goes) at the end.
class Tmpfs {
  public:
    Tmpfs() : dir_("spoolfs-fuzz-tmpfs-") {
        if (::mount("spoolfs-fuzz", dir_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0)
            throw_errno("mount tmpfs on " + dir_.path());
    }
    ~Tmpfs() { ::umount2(dir_.path().c_str(), MNT_DETACH); }
    Tmpfs(const Tmpfs&) = delete;
    Tmpfs& operator=(const Tmpfs&) = delete;
    const std::string& path() const { return dir_.path(); }

  private:
    TempDir dir_;  // removed after the unmount above
};

// Kills the daemon when one step of a sequence outlives `limit`, so that a request that
// hangs turns into ENOTCONN at once rather than a stuck test: the Mount fixture's own
// watchdog aborts the connection only after 60 s, and only where fusectl is mounted on
// /sys/fs/fuse/connections. Each beat moves the deadline; the thread wakes only at one.
class StepWatchdog {
  public:
    explicit StepWatchdog(std::chrono::seconds limit) : limit_(limit), thread_([this] { loop(); }) {}
    ~StepWatchdog() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    StepWatchdog(const StepWatchdog&) = delete;
    StepWatchdog& operator=(const StepWatchdog&) = delete;

    void watch(pid_t daemon) {
        std::lock_guard lock(mutex_);
        victim_ = daemon;
    }
    void beat(bool busy) {
        std::lock_guard lock(mutex_);
        const bool wake = busy && !busy_;
        busy_ = busy;
        deadline_ = Clock::now() + limit_;
        if (wake) cv_.notify_all();
    }
    bool take_fired() {
        std::lock_guard lock(mutex_);
        return std::exchange(fired_, false);
    }

  private:
    void loop() {
        std::unique_lock lock(mutex_);
        while (!stop_) {
            if (!busy_) {
                cv_.wait(lock);
            } else if (Clock::now() >= deadline_) {
                if (victim_ > 0) ::kill(victim_, SIGKILL);
                fired_ = true;
                busy_ = false;
            } else {
                cv_.wait_until(lock, deadline_);
            }
        }
    }

    const std::chrono::seconds limit_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stop_ = false, busy_ = false, fired_ = false;
    pid_t victim_ = -1;
    Clock::time_point deadline_;
    std::thread thread_;  // last: starts once the rest is ready
};

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
    const char* v = std::getenv(name);
    if (!v || !*v) return fallback;
    return std::stoull(v, nullptr, 0);
}

struct Variant {
    unsigned index;
    const char* name;
    std::string options;
    bool big_data;
    std::uint64_t sequences;  // in the normal test run
};

std::uint64_t stat_of(const std::string& mnt, const std::string& name) {
    char value[32];
    const std::string attr = "user.spoolfs.stats." + name;
    const ssize_t n = ::getxattr(mnt.c_str(), attr.c_str(), value, sizeof(value) - 1);
    if (n <= 0) return 0;
    return std::stoull(std::string(value, static_cast<std::size_t>(n)));
}

void run_variant(const Variant& v) {
    const char* only = std::getenv("SPOOLFS_FUZZ_VARIANT");
    if (only && *only && v.name != std::string(only)) return;
    const std::uint64_t base = env_number("SPOOLFS_FUZZ_SEED", 1);
    const std::uint64_t first = env_number("SPOOLFS_FUZZ_FIRST", 0);
    const std::uint64_t count = env_number("SPOOLFS_FUZZ_SEQUENCES", v.sequences);
    const int ops_per_sequence = static_cast<int>(env_number("SPOOLFS_FUZZ_OPS", 24));
    const bool verbose = env_number("SPOOLFS_FUZZ_VERBOSE", 0) != 0;
    const std::uint64_t to_minimize = env_number("SPOOLFS_FUZZ_MINIMIZE", 3);

    Tmpfs oracle;
    StepWatchdog watchdog(std::chrono::seconds(10));
    std::optional<Mount> mount;
    std::optional<fuzz::Runner> runner;
    Clock::time_point mounted_at;
    std::uint64_t spilled_files = 0;
    auto remount = [&] {
        runner.reset();
        mount.reset();
        mount.emplace(v.options, std::chrono::seconds(60));
        mounted_at = Clock::now();
        runner.emplace(mount->path(), oracle.path());
        watchdog.watch(mount->pid());
        runner->on_step([&](bool busy) { watchdog.beat(busy); });
        if (v.big_data)
            runner->before_teardown([&] { spilled_files += stat_of(mount->path(), "files_spilled"); });
    };
    // A mount serves a while, then a fresh one takes over: the fixture's watchdog aborts a
    // connection after 60 s, meant for a request that hangs.
    auto fresh_enough = [&] { return mount && Clock::now() - mounted_at < std::chrono::seconds(20); };

    std::ostringstream report;
    std::map<std::string, int> kinds;  // failure signature -> how many
    std::uint64_t failures = 0, minimized = 0;
    const auto started = Clock::now();
    for (std::uint64_t seq = first; seq < first + count; ++seq) {
        if (!fresh_enough()) remount();
        const std::uint64_t seed = fuzz::sequence_seed(base, v.index, seq);
        const auto ops = fuzz::generate(seed, ops_per_sequence, {v.big_data});
        if (verbose) std::cerr << "== " << v.name << " sequence " << seq << "\n";
        const fuzz::RunResult r = runner->run(ops, verbose);
        const bool hung = watchdog.take_fired();
        if (!r.failure) continue;

        ++failures;
        const fuzz::Failure& f = *r.failure;
        const bool new_kind = kinds[f.kind]++ == 0;
        report << "\n" << v.name << " (-o " << v.options << ") sequence " << seq << " (SPOOLFS_FUZZ_SEED=" << base
               << " SPOOLFS_FUZZ_FIRST=" << seq << " SPOOLFS_FUZZ_SEQUENCES=1 SPOOLFS_FUZZ_VARIANT=" << v.name
               << "), step " << f.step << ": " << f.kind << "\n";
        if (new_kind) {
            report << f.what;
            const std::size_t from = r.log.size() > 30 ? r.log.size() - 30 : 0;
            report << "  ops so far" << (from ? " (the last 30)" : "") << ":\n";
            for (std::size_t i = from; i < r.log.size(); ++i) report << "    " << r.log[i] << "\n";
        }
        if (r.connection_lost || hung) {
            report << (hung ? "  a step took more than 10 s: the daemon was killed; its log:\n"
                            : "  spoolfs's connection is gone (the daemon crashed?); its log:\n")
                   << mount->log() << "\n";
            mount.reset();  // remounted before the next sequence
            continue;
        }
        if (new_kind && minimized < to_minimize) {
            ++minimized;
            if (Clock::now() - mounted_at > std::chrono::seconds(10)) remount();
            const auto small = fuzz::minimize(ops, *runner, f, 200);
            const fuzz::RunResult again = runner->run(small);
            report << "  minimal sequence (" << small.size() << " ops)";
            if (again.failure) {
                report << ", failing at step " << again.failure->step << ":\n";
                for (const auto& line : again.log) report << "    " << line << "\n";
                report << "  " << again.failure->what;
            } else {
                report << " did not fail again\n";
            }
        }
        if (failures >= 50) {
            report << "\n(stopped after 50 failing sequences)\n";
            break;
        }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    std::cerr << "fuzz " << v.name << ": " << count << " sequences of " << ops_per_sequence << " ops, seed " << base
              << ", " << failures << " failing, " << seconds << " s"
              << (v.big_data ? ", " + std::to_string(spilled_files) + " spilled files seen" : std::string()) << "\n";
    std::ostringstream summary;
    for (const auto& [kind, n] : kinds) summary << "  " << n << " x " << kind << "\n";
    INFO("spoolfs differs from tmpfs in " << failures << " sequences; by kind:\n"
                                          << summary.str() << report.str());
    CHECK(failures == 0);
    if (v.big_data && count >= 50) {
        INFO("with -o " << v.options << " no file ever rolled over to disk: the variant tests nothing more");
        CHECK(spilled_files > 0);
    }
}

}  // namespace

TEST_CASE("fuzz: spoolfs with kernel passthrough behaves as tmpfs", "[fuzz]") {
    run_variant({0, "passthrough", "lifetime=mount", false, 1000});
}

TEST_CASE("fuzz: spoolfs with data in the daemon's heap behaves as tmpfs", "[fuzz]") {
    run_variant({1, "heap", "lifetime=mount,passthrough=off", false, 1000});
}

TEST_CASE("fuzz: spoolfs spilling to disk behaves as tmpfs", "[fuzz]") {
    run_variant({2, "spill", "lifetime=mount,passthrough=off,ram=4M", true, 500});
}
