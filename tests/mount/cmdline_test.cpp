// Bad command lines: exit status 2, exactly one line on stderr naming what is wrong, and
// nothing mounted. The daemon runs with -f so that a wrong mount would stay in our hands.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "file_util.hpp"
#include "mount_fixture.hpp"

using namespace mount_test;

namespace {

ProcessResult run_spoolfs(std::vector<std::string> args) {
    const char* exe = std::getenv("SPOOLFS");
    if (!exe) throw std::runtime_error("SPOOLFS is not set");
    args.insert(args.begin(), exe);
    return run_process(args, 10s);
}

// Exit 2, one line on stderr containing `named`, nothing mounted on `point`.
void check_rejected(const ProcessResult& r, const std::string& named, const std::string& point) {
    INFO(r.describe());
    CHECK(r.exited_with(2));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(!r.err.empty());
    CHECK(r.err.back() == '\n');
    CHECK_THAT(r.err, Catch::Contains(named));
    const bool mounted = find_mount(point).has_value();
    if (mounted) umount2(point.c_str(), MNT_DETACH);  // FUSE can mount even on a file
    CHECK_FALSE(mounted);
}

}  // namespace

TEST_CASE("an unknown option is rejected by name") {
    TempDir mp("spoolfs-cmdline-");
    check_rejected(run_spoolfs({"-f", "-o", "frobnicate=1", mp.path()}), "frobnicate", mp.path());
}

TEST_CASE("a malformed size= is rejected by name") {
    TempDir mp("spoolfs-cmdline-");
    check_rejected(run_spoolfs({"-f", "-o", "size=12Q", mp.path()}), "size", mp.path());
}

TEST_CASE("a malformed value of any spoolfs option is rejected by name") {
    const auto [option, value] = GENERATE(table<std::string, std::string>({
        {"size", "lots"},
        {"size", "-5M"},
        {"nr_inodes", "many"},
        {"mode", "99999"},
        {"uid", "root!"},
        {"gid", "x"},
        {"ram", "1X"},
        {"spool", "big"},
        {"lifetime", "forever"},
        {"busy_poll", "fast"},
        {"idle_poll", "yes"},
    }));
    TempDir mp("spoolfs-cmdline-");
    INFO(option << "=" << value);
    check_rejected(run_spoolfs({"-f", "-o", option + "=" + value, mp.path()}), option, mp.path());
}

TEST_CASE("a mount point that does not exist is rejected by name") {
    TempDir mp("spoolfs-cmdline-");
    const std::string missing = mp.path() + "/missing";
    check_rejected(run_spoolfs({"-f", missing}), missing, missing);
}

TEST_CASE("a mount point that is not a directory is rejected by name") {
    TempDir mp("spoolfs-cmdline-");
    const std::string file = mp.path() + "/file";
    write_file(file, "");
    check_rejected(run_spoolfs({"-f", file}), file, file);
}

TEST_CASE("a missing mount point argument is rejected") {
    const auto r = run_spoolfs({"-f", "-o", "lifetime=mount"});
    INFO(r.describe());
    CHECK(r.exited_with(2));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

TEST_CASE("a spill_dir inside the mount point is rejected by name") {
    TempDir mp("spoolfs-cmdline-");
    REQUIRE(mkdir((mp.path() + "/spill").c_str(), 0700) == 0);
    check_rejected(run_spoolfs({"-f", "-o", "spill_dir=" + mp.path() + "/spill", mp.path()}),
                   "spill_dir", mp.path());
}

TEST_CASE("a spill_dir that does not exist is rejected by name") {
    TempDir mp("spoolfs-cmdline-");
    check_rejected(run_spoolfs({"-f", "-o", "spill_dir=/nonexistent/spoolfs-spill", mp.path()}),
                   "spill_dir", mp.path());
}

TEST_CASE("--json and --prometheus go with --stats") {
    TempDir mp("spoolfs-cmdline-");
    check_rejected(run_spoolfs({"-f", "--json", mp.path()}), "--json goes with --stats",
                   mp.path());
    check_rejected(run_spoolfs({"-f", "--prometheus", mp.path()}),
                   "--prometheus goes with --stats", mp.path());
}

namespace {

// Start failures that no option causes: exit 1, one line naming the cause, nothing
// mounted, no daemon left.
void check_start_failure(const ProcessResult& r, const std::string& named) {
    INFO(r.describe());
    CHECK(r.exited_with(1));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_THAT(r.err, Catch::Contains(named));
}

}  // namespace

TEST_CASE("mounting over a spoolfs mount fails with one line naming it") {
    Mount m;
    check_start_failure(run_spoolfs({"-f", m.path()}), "already a spoolfs mount");
    // Still exactly the one mount, still serving.
    CHECK(find_mount(m.path()).has_value());
    CHECK(errno_of(::access(m.path().c_str(), W_OK)) == 0);
}

TEST_CASE("a plain user without access to /dev/fuse gets one line naming it") {
    struct stat st {};
    REQUIRE(::stat("/dev/fuse", &st) == 0);
    // The mode this test needs, restored whatever happens.
    struct ModeGuard {
        mode_t saved;
        ~ModeGuard() { ::chmod("/dev/fuse", saved); }
    } guard{st.st_mode & 07777};
    REQUIRE(::chmod("/dev/fuse", 0600) == 0);
    TempDir mp("spoolfs-cmdline-");
    REQUIRE(::chown(mp.path().c_str(), 60001, 60001) == 0);
    const std::string exe = std::getenv("SPOOLFS");
    const std::string err_file = mp.path() + ".err";
    const int code = run_as(60001, 60001, [&] {
        // stderr into a file the test reads afterwards; the child's exit code is spoolfs's.
        const ProcessResult r = run_process({exe, "-f", mp.path()}, 10s);
        FILE* out = std::fopen(err_file.c_str(), "w");
        if (out) {
            std::fputs(r.err.c_str(), out);
            std::fclose(out);
        }
        return r.timed_out ? 99 : WIFEXITED(r.status) ? WEXITSTATUS(r.status) : 98;
    });
    CHECK(code == 1);
    std::string err;
    if (FILE* in = std::fopen(err_file.c_str(), "r")) {
        char line[512];
        while (std::fgets(line, sizeof(line), in)) err += line;
        std::fclose(in);
    }
    ::unlink(err_file.c_str());
    INFO(err);
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
    CHECK_THAT(err, Catch::Contains("/dev/fuse") && Catch::Contains("0666"));
    CHECK_FALSE(find_mount(mp.path()).has_value());
}

TEST_CASE("--stats --json and --stats --prometheus print every statistic") {
    Mount m("lifetime=mount");
    write_all(open_or_throw(m / "f", O_RDWR | O_CREAT).get(), std::string(5000, 'x'));
    const char* exe = std::getenv("SPOOLFS");
    const std::vector<std::string> names = {"ram_bytes",   "spilled_bytes", "files_in_ram",
                                            "files_spilled", "files_close", "files_mount",
                                            "passthrough", "files_passthrough",
                                            "files_expired", "ram_budget_bytes",
                                            "pressure_level", "pressure_bytes",
                                            "pressure_files", "ring",
                                            "ring_queues", "ring_requests",
                                            "ring_buffer_bytes"};
    const auto json = run_process({exe, "--stats", "--json", m.path()}, 10s);
    INFO(json.out << json.describe());
    CHECK(json.exited_with(0));
    CHECK_THAT(json.out, Catch::StartsWith("{\"mountpoint\": \"" + m.path() + "\""));
    CHECK_THAT(json.out, Catch::EndsWith("}\n"));
    CHECK_THAT(json.out, Catch::Contains("\"files_mount\": 1"));
    for (const auto& name : names) CHECK_THAT(json.out, Catch::Contains("\"" + name + "\": "));

    const auto prom = run_process({exe, "--stats", "--prometheus", m.path()}, 10s);
    INFO(prom.out << prom.describe());
    CHECK(prom.exited_with(0));
    const std::string label = "{mountpoint=\"" + m.path() + "\"}";
    CHECK_THAT(prom.out, Catch::Contains("spoolfs_files_mount" + label + " 1\n"));
    for (const auto& name : names) {
        CHECK_THAT(prom.out, Catch::Contains("# HELP spoolfs_" + name + " "));
        CHECK_THAT(prom.out, Catch::Contains("# TYPE spoolfs_" + name + " gauge\n"));
        CHECK_THAT(prom.out, Catch::Contains("spoolfs_" + name + label + " "));
    }
    // Every sample line is "name{labels} value": what node_exporter's parser takes.
    std::istringstream lines(prom.out);
    for (std::string line; std::getline(lines, line);) {
        if (line.starts_with("#")) continue;
        INFO(line);
        CHECK(line.find(label + " ") != std::string::npos);
        CHECK(line.find_first_not_of("0123456789", line.rfind(' ') + 1) == std::string::npos);
    }
}
