// Concurrency stress on a real mount: several processes create, link, rename and delete
// in the same directories for a few seconds; afterwards every name each one expects is
// there exactly once, with the right content and link count, and nothing else is.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "file_util.hpp"
#include "mount_fixture.hpp"

using namespace mount_test;

namespace {

constexpr int kProcesses = 4;
constexpr int kSharedDirs = 4;
constexpr auto kRunTime = 3s;

// What one worker expects to exist: file name -> tag (its content), and its directories.
struct Expected {
    std::map<std::string, unsigned> files;  // relative to the mount
    std::set<std::string> dirs;
};

// One worker's loop. Names carry the worker's number, so no two workers touch the same
// name and each can predict its part of the final state. Returns 0, or the errno of the
// first failed call (its description is written to `report`).
int work(const std::string& root, int id, const std::string& report) {
    std::mt19937 rng(static_cast<unsigned>(id) * 7919u + 1);
    auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
    Expected ex;
    unsigned counter = 0;
    auto fresh_name = [&] {
        std::string dir = "d" + std::to_string(pick(kSharedDirs));
        if (!ex.dirs.empty() && pick(4) == 0)
            dir = *std::next(ex.dirs.begin(), pick(ex.dirs.size()));
        return dir + "/p" + std::to_string(id) + "-" + std::to_string(counter++);
    };
    auto any_file = [&] { return std::next(ex.files.begin(), pick(ex.files.size()))->first; };
    auto fail = [&](const std::string& what) {
        const int err = errno;
        std::ofstream(report) << "worker " << id << ": " << what << ": " << strerror(err) << "\n";
        return err ? err : 1;
    };

    const auto end = std::chrono::steady_clock::now() + kRunTime;
    while (std::chrono::steady_clock::now() < end) {
        const size_t op = ex.files.size() < 8 ? 0 : pick(7);
        if (op == 0 || op == 1) {  // create a file whose content is its tag
            const std::string name = fresh_name();
            const unsigned tag = static_cast<unsigned>(id) * 100000000u + counter;  // unique
            Fd fd(open((root + "/" + name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
            if (!fd) return fail("create " + name);
            const std::string content = std::to_string(tag);
            if (write(fd.get(), content.data(), content.size()) != ssize_t(content.size()))
                return fail("write " + name);
            if (fd.close() != 0) return fail("close " + name);
            ex.files[name] = tag;
        } else if (op == 2) {  // hard link
            const std::string from = any_file(), to = fresh_name();
            if (link((root + "/" + from).c_str(), (root + "/" + to).c_str()) != 0)
                return fail("link " + from + " " + to);
            ex.files[to] = ex.files[from];
        } else if (op == 3) {  // rename to a fresh name, perhaps in another directory
            const std::string from = any_file(), to = fresh_name();
            if (renameat2(AT_FDCWD, (root + "/" + from).c_str(), AT_FDCWD,
                          (root + "/" + to).c_str(), RENAME_NOREPLACE) != 0)
                return fail("rename " + from + " " + to);
            ex.files[to] = ex.files[from];
            ex.files.erase(from);
        } else if (op == 4) {  // rename over another of our own files
            const std::string from = any_file(), to = any_file();
            if (rename((root + "/" + from).c_str(), (root + "/" + to).c_str()) != 0)
                return fail("rename over " + from + " " + to);
            if (from != to && ex.files[from] != ex.files[to]) {
                ex.files[to] = ex.files[from];
                ex.files.erase(from);
            }
        } else if (op == 5) {  // unlink
            const std::string name = any_file();
            if (unlink((root + "/" + name).c_str()) != 0) return fail("unlink " + name);
            ex.files.erase(name);
        } else {  // a directory of our own: make one, or remove an empty one
            std::string empty;
            for (const auto& d : ex.dirs) {
                bool used = false;
                for (const auto& [name, tag] : ex.files) used |= name.rfind(d + "/", 0) == 0;
                if (!used) empty = d;
            }
            if (!empty.empty() && pick(2) == 0) {
                if (rmdir((root + "/" + empty).c_str()) != 0) return fail("rmdir " + empty);
                ex.dirs.erase(empty);
            } else {
                const std::string d = "d" + std::to_string(pick(kSharedDirs)) + "/p" +
                                      std::to_string(id) + "-dir" + std::to_string(counter++);
                if (mkdir((root + "/" + d).c_str(), 0755) != 0) return fail("mkdir " + d);
                ex.dirs.insert(d);
            }
        }
    }
    std::ofstream out(report);
    for (const auto& [name, tag] : ex.files) out << "F " << name << " " << tag << "\n";
    for (const auto& d : ex.dirs) out << "D " << d << "\n";
    return out.good() ? 0 : EIO;
}

}  // namespace

TEST_CASE("processes creating, linking, renaming and deleting together lose nothing") {
    Mount m("lifetime=mount");
    for (int d = 0; d < kSharedDirs; ++d)
        REQUIRE(mkdir((m / ("d" + std::to_string(d))).c_str(), 0777) == 0);
    const TempDir reports("spoolfs-stress-");
    auto report = [&](int id) { return reports.path() + "/" + std::to_string(id); };

    std::vector<pid_t> workers;
    for (int id = 0; id < kProcesses; ++id) {
        const pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) _exit(work(m.path(), id, report(id)));
        workers.push_back(pid);
    }
    std::map<std::string, unsigned> expected_files;
    std::set<std::string> expected_dirs;
    for (int id = 0; id < kProcesses; ++id) {
        const auto status = wait_child(workers[static_cast<size_t>(id)], kRunTime + 30s);
        if (!status) kill(workers[static_cast<size_t>(id)], SIGKILL);
        std::ifstream in(report(id));
        std::stringstream text;
        text << in.rdbuf();
        INFO(text.str());
        REQUIRE(status);
        REQUIRE(WIFEXITED(*status));
        REQUIRE(WEXITSTATUS(*status) == 0);
        for (std::string kind, name; text >> kind >> name;) {
            if (kind == "F")
                text >> expected_files[name];
            else
                expected_dirs.insert(name);
        }
    }
    CHECK(m.daemon_running());

    // What is there now: every listing free of duplicates, and exactly what was expected.
    std::map<std::string, unsigned> found_files;
    std::set<std::string> found_dirs, duplicates;
    std::vector<std::string> to_list;
    for (int d = 0; d < kSharedDirs; ++d) to_list.push_back("d" + std::to_string(d));
    while (!to_list.empty()) {
        const std::string dir = to_list.back();
        to_list.pop_back();
        for (const auto& name : list_dir(m / dir)) {
            const std::string rel = dir + "/" + name;
            if (S_ISDIR(stat_or_throw(m / rel).st_mode)) {
                if (!found_dirs.insert(rel).second) duplicates.insert(rel);
                to_list.push_back(rel);
            } else if (!found_files.emplace(rel, std::stoul(read_file(m / rel))).second) {
                duplicates.insert(rel);
            }
        }
    }
    CHECK(duplicates.empty());
    CHECK(found_dirs == expected_dirs);
    CHECK(found_files == expected_files);
    CHECK(expected_files.size() > 20);

    // Names with one tag are one inode, with as many links as names.
    std::map<unsigned, std::vector<std::string>> names_of;
    for (const auto& [name, tag] : expected_files) names_of[tag].push_back(name);
    for (const auto& [tag, names] : names_of) {
        INFO("tag " << tag);
        const auto first = stat_or_throw(m / names.front());
        CHECK(first.st_nlink == names.size());
        for (const auto& name : names) CHECK(stat_or_throw(m / name).st_ino == first.st_ino);
    }
    CHECK(m.daemon_running());
}
