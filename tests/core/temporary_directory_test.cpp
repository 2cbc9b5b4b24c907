// Python's TestTemporaryDirectory: cleanup of whole trees, hostile ones included
// (no permissions, symlinks leading outside), ignore_cleanup_errors, delete, moves.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "tempfile/tempfile.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using tempfile_test::lexists;
using tempfile_test::list_dir;
using tempfile_test::mode_of;
using tempfile_test::Scratch;

namespace {

// Python's do_create2: `dirs` subdirectories `recurse` levels deep, `files` files in each.
void fill(const fs::path& path, int recurse = 1, int dirs = 1, int files = 1) {
    if (recurse > 0) {
        for (int i = 0; i < dirs; ++i) {
            fs::path sub = path / ("dir" + std::to_string(i));
            fs::create_directory(sub);
            fill(sub, recurse - 1, dirs, files);
        }
    }
    for (int i = 0; i < files; ++i)
        tempfile_test::write_file(path / ("test" + std::to_string(i) + ".txt"), "Hello world!");
}

// Every file and directory under and including `root`, deepest first (os.walk topdown=False).
std::vector<fs::path> bottom_up(const fs::path& root) {
    std::vector<fs::path> paths;
    for (const auto& entry : fs::recursive_directory_iterator(root)) paths.push_back(entry.path());
    std::reverse(paths.begin(), paths.end());
    paths.push_back(root);
    return paths;
}

std::error_code cleanup_error(tempfile::TemporaryDirectory& dir) {
    try {
        dir.cleanup();
    } catch (const std::system_error& error) {
        return error.code();
    }
    return {};
}

}  // namespace

TEST_CASE("TemporaryDirectory makes a 0700 directory with the asked-for name") {
    Scratch scratch;
    tempfile::TemporaryDirectory dir({.suffix = ".d", .prefix = "aa", .dir = scratch.path()});
    CHECK(tempfile_test::name_problem(dir.name(), scratch.path(), "aa", ".d") == "");
    CHECK(fs::is_directory(dir.name()));
    CHECK(mode_of(dir.name()) == 0700);
}

TEST_CASE("TemporaryDirectory in a missing directory is ENOENT") {
    fs::path gone;
    {
        tempfile::TemporaryDirectory dir;
        gone = dir.name();
    }
    try {
        tempfile::TemporaryDirectory dir({.dir = gone});
        FAIL("no exception");
    } catch (const std::system_error& error) {
        CHECK(error.code() == std::errc::no_such_file_or_directory);
    }
}

TEST_CASE("cleanup() removes the whole tree; again is a no-op") {
    Scratch scratch;
    tempfile::TemporaryDirectory dir({.dir = scratch.path()});
    fill(dir.name(), 3, 2, 2);
    dir.cleanup();
    CHECK_FALSE(lexists(dir.name()));
    CHECK(list_dir(scratch.path()).empty());
    dir.cleanup();
    dir.cleanup();
}

TEST_CASE("destruction removes the tree") {
    Scratch scratch;
    fs::path name;
    {
        tempfile::TemporaryDirectory dir({.dir = scratch.path()});
        name = dir.name();
        fill(name, 3);
    }
    CHECK_FALSE(lexists(name));
}

TEST_CASE("delete_ = false keeps the tree at destruction; cleanup() still removes it") {
    Scratch scratch;
    fs::path name;
    {
        tempfile::TemporaryDirectory dir({.dir = scratch.path(), .delete_ = false});
        name = dir.name();
        fill(name);
    }
    CHECK(lexists(name / "test0.txt"));
    tempfile::TemporaryDirectory explicit_cleanup({.dir = scratch.path(), .delete_ = false});
    explicit_cleanup.cleanup();
    CHECK_FALSE(lexists(explicit_cleanup.name()));
}

TEST_CASE("a symlink to a directory outside is removed, not followed") {
    Scratch scratch;
    tempfile::TemporaryDirectory outside({.dir = scratch.path()});
    fill(outside.name(), 0);
    tempfile::TemporaryDirectory dir({.dir = scratch.path()});
    fill(dir.name());
    fs::create_directory_symlink(outside.name(), dir.name() / "foo");
    dir.cleanup();
    CHECK_FALSE(lexists(dir.name()));
    CHECK(list_dir(outside.name()) == std::vector<std::string>{"test0.txt"});
}

TEST_CASE("a hostile tree is removed: every mode Python tries, without root's bypass") {
    Scratch scratch;
    for (mode_t mode = 0; mode < 8; ++mode) {
        mode_t permissions = mode << 6;
        INFO("mode " << std::oct << permissions);
        tempfile::TemporaryDirectory dir({.dir = scratch.path()});
        fill(dir.name(), 3, 2, 2);
        tempfile_test::hand_to_unprivileged(scratch.path());  // removing needs the parent too
        for (const fs::path& path : bottom_up(dir.name())) ::chmod(path.c_str(), permissions);
        int status = tempfile_test::run_unprivileged([&dir] {
            dir.cleanup();
            return lexists(dir.name()) ? 1 : 0;
        });
        CHECK(status == 0);
        CHECK_FALSE(lexists(dir.name()));
    }
}

TEST_CASE("permission fixes never reach through symlinks to the outside") {
    Scratch scratch;
    tempfile::TemporaryDirectory outside({.dir = scratch.path()});
    fs::path outside_dir = outside.name() / "dir";
    fs::create_directory(outside_dir);
    tempfile_test::write_file(outside_dir / "keep", "x");
    fs::path outside_file = outside.name() / "file";
    tempfile_test::write_file(outside_file, "x");

    tempfile::TemporaryDirectory dir({.dir = scratch.path()});
    fs::path locked = dir.name() / "locked";
    fs::create_directory(locked);
    fs::create_directory_symlink(outside_dir, locked / "to_dir");
    fs::create_symlink(outside_file, locked / "to_file");
    tempfile_test::hand_to_unprivileged(scratch.path());
    ::chmod(outside_dir.c_str(), 0500);
    ::chmod(outside_file.c_str(), 0400);
    ::chmod(locked.c_str(), 0);

    int status = tempfile_test::run_unprivileged([&dir] {
        dir.cleanup();
        return lexists(dir.name()) ? 1 : 0;
    });
    CHECK(status == 0);
    CHECK(mode_of(outside_dir) == 0500);
    CHECK(mode_of(outside_file) == 0400);
    CHECK(list_dir(outside_dir) == std::vector<std::string>{"keep"});
    ::chmod(outside_dir.c_str(), 0700);
}

TEST_CASE("a TemporaryDirectory swapped for a symlink is not followed") {
    Scratch scratch;
    tempfile::TemporaryDirectory target({.dir = scratch.path()});
    fill(target.name());
    tempfile::TemporaryDirectory dir({.dir = scratch.path()});
    fs::path moved_away = scratch.path() / "moved";
    fs::rename(dir.name(), moved_away);
    fs::create_directory_symlink(target.name(), dir.name());
    // O_NOFOLLOW|O_DIRECTORY on a symlink: Linux says ENOTDIR (POSIX allows ELOOP).
    std::error_code error = cleanup_error(dir);
    CHECK(
        (error == std::errc::not_a_directory || error == std::errc::too_many_symbolic_link_levels));
    CHECK(list_dir(target.name()) == std::vector<std::string>{"dir0", "test0.txt"});
    fs::remove(dir.name());
}

TEST_CASE("ignore_cleanup_errors: removal goes as far as it can, silently") {
    // The directory's parent refuses removal: Python does not fix the parent of the root.
    Scratch scratch;
    fs::path parent = scratch.path() / "parent";
    fs::create_directory(parent);
    for (bool ignore : {true, false}) {
        INFO("ignore_cleanup_errors " << ignore);
        tempfile::TemporaryDirectory dir({.dir = parent, .ignore_cleanup_errors = ignore});
        fill(dir.name(), 2);
        tempfile_test::hand_to_unprivileged(parent);
        ::chmod(parent.c_str(), 0500);
        int status = tempfile_test::run_unprivileged([&dir, ignore] {
            std::error_code error = cleanup_error(dir);
            bool expected = ignore ? !error : error == std::errc::permission_denied;
            return expected && list_dir(dir.name()).empty() ? 0 : 1;
        });
        CHECK(status == 0);
        CHECK(lexists(dir.name()));
        ::chmod(parent.c_str(), 0700);
        dir.cleanup();  // a second cleanup() retries, as Python's does
        CHECK_FALSE(lexists(dir.name()));
    }
}

TEST_CASE("moving a TemporaryDirectory moves the duty to remove it") {
    Scratch scratch;
    fs::path name;
    {
        tempfile::TemporaryDirectory outer({.dir = scratch.path()});
        fs::path outer_name = outer.name();
        {
            tempfile::TemporaryDirectory dir({.dir = scratch.path()});
            name = dir.name();
            outer = std::move(dir);
            CHECK(dir.name().empty());
        }
        CHECK(lexists(name));
        CHECK_FALSE(lexists(outer_name));
        tempfile::TemporaryDirectory moved(std::move(outer));
        CHECK(moved.name() == name);
    }
    CHECK_FALSE(lexists(name));
    CHECK(list_dir(scratch.path()).empty());
}
