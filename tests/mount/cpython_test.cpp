// CPython's own suites for tempfile, shutil and os, run with TMPDIR on spoolfs
// (lifetime=mount) and on a kernel tmpfs: every case that passes on tmpfs must pass on
// spoolfs too. Needs an interpreter with the `test` package (Debian:
// libpython3.11-testsuite); /usr/bin/python3 is preferred.
#include <sys/mount.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <map>
#include <sstream>

#include "file_util.hpp"
#include "mount_fixture.hpp"

using namespace mount_test;

namespace {

const std::vector<std::string> kSuites = {"test_tempfile", "test_threadedtempfile", "test_shutil",
                                          "test_os"};
constexpr auto kSuiteTimeout = 600s;

// The first interpreter that can import the suites, or "" if none can.
std::string python_with_test_package() {
    for (const std::string candidate : {"/usr/bin/python3", "python3"}) {
        const auto r = run_process(
            {candidate, "-c", "import test.support, test.test_tempfile, test.test_os"}, 60s);
        if (r.exited_with(0)) return candidate;
    }
    return "";
}

// A kernel tmpfs on a fresh directory, for the reference run.
struct Tmpfs {
    std::string path;
    Tmpfs() {
        char dir[] = "/tmp/spoolfs-tmpfs-XXXXXX";
        if (!mkdtemp(dir)) throw_errno("mkdtemp");
        path = dir;
        if (mount("tmpfs", path.c_str(), "tmpfs", 0, "size=2G,mode=1777") != 0) {
            const int err = errno;
            rmdir(path.c_str());
            throw std::system_error(err, std::generic_category(), "mount tmpfs " + path);
        }
    }
    ~Tmpfs() {
        umount2(path.c_str(), MNT_DETACH);
        rmdir(path.c_str());
    }
};

// unittest's verbose lines: "test_x (test.test_os.Class.test_x) ... ok". A docstring or
// output of the test may put the result on a later line.
std::map<std::string, std::string> parse_results(const std::string& output) {
    std::map<std::string, std::string> results;
    std::string pending;
    auto result_of = [](const std::string& tail) -> std::string {
        for (const char* r :
             {"ok", "FAIL", "ERROR", "skipped", "expected failure", "unexpected success"})
            if (tail.rfind(r, 0) == 0) return r;
        return "";
    };
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);) {
        const auto open = line.find(" (test.");
        const auto close = line.find(')', open);
        if (open != std::string::npos && close != std::string::npos && line.find(' ') == open) {
            pending = line.substr(open + 2, close - open - 2);
        }
        if (pending.empty()) continue;
        const auto dots = line.rfind(" ... ");
        const std::string r = result_of(dots == std::string::npos ? line : line.substr(dots + 5));
        if (!r.empty()) {
            results[pending] = r;
            pending.clear();
        }
    }
    return results;
}

ProcessResult run_suites(const std::string& python, const std::string& tmpdir) {
    std::vector<std::string> argv{python, "-m", "test", "-v"};
    argv.insert(argv.end(), kSuites.begin(), kSuites.end());
    return run_process(argv, kSuiteTimeout, {"TMPDIR=" + tmpdir});
}

}  // namespace

TEST_CASE("CPython's tempfile, shutil and os suites pass on spoolfs wherever they pass on tmpfs") {
    const std::string python = python_with_test_package();
    if (python.empty())
        FAIL(
            "no python3 with the test package; on Debian: apt-get install "
            "libpython3.11-testsuite");

    std::map<std::string, std::string> on_tmpfs;
    {
        Tmpfs tmpfs;
        const auto r = run_suites(python, tmpfs.path);
        INFO("tmpfs run: " << r.describe());
        REQUIRE_FALSE(r.timed_out);
        on_tmpfs = parse_results(r.out + r.err);
    }
    // Sanity of the parser and of the reference run: hundreds of cases, nearly all passing.
    const auto passed = std::count_if(on_tmpfs.begin(), on_tmpfs.end(),
                                      [](const auto& e) { return e.second == "ok"; });
    REQUIRE(on_tmpfs.size() > 300);
    REQUIRE(passed > 200);

    Mount m("lifetime=mount", 2 * kSuiteTimeout);
    const auto r = run_suites(python, m.path());
    const auto on_spoolfs = parse_results(r.out + r.err);
    std::ostringstream regressions;
    int count = 0;
    for (const auto& [id, result] : on_tmpfs) {
        if (result != "ok" && result != "expected failure") continue;
        const auto it = on_spoolfs.find(id);
        const std::string got = it == on_spoolfs.end() ? "not run" : it->second;
        if (got == result) continue;
        ++count;
        regressions << "  " << id << ": " << got << "\n";
    }
    // The tracebacks of the failures, from unittest's summary at the end of each suite.
    std::string details;
    if (const auto at = r.out.find("======"); count > 0 && at != std::string::npos)
        details = r.out.substr(at, 20000);
    INFO("spoolfs run: " << r.describe().substr(0, 2000)
                         << "\nspoolfs daemon alive: " << m.daemon_running() << "\n"
                         << count << " cases pass on tmpfs but not on spoolfs:\n"
                         << regressions.str() << details);
    CHECK_FALSE(r.timed_out);
    CHECK(count == 0);
}
