// Bad command lines: exit status 2, exactly one line on stderr naming what is wrong, and
// nothing mounted. The daemon runs with -f so that a wrong mount would stay in our hands.
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>

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
