// Python's TestMkstempInner, TestMkstemp, TestMkdtemp, TestMktemp and TestBadTempdir:
// names, modes under a umask, close-on-exec, collisions, retry exhaustion, bad dirs.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "anonymous_file.hpp"
#include "name_source.hpp"
#include "tempfile/tempfile.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using tempfile_test::error_of;
using tempfile_test::list_dir;
using tempfile_test::mode_of;
using tempfile_test::name_problem;
using tempfile_test::ScopedTempdir;
using tempfile_test::Scratch;

namespace {

struct Affixes {
    std::string prefix;
    std::string suffix;
};

const std::vector<Affixes> python_affixes{
    {"", ""}, {"a", ""}, {"", "b"}, {"a", "b"}, {"aa", ".txt"}};

// Names from a fixed list, in turn (Python's _mock_candidate_names).
tempfile::detail::ScopedNameSource names(std::vector<std::string> list) {
    return tempfile::detail::ScopedNameSource(
        [list = std::move(list), next = std::size_t{0}]() mutable { return list.at(next++); });
}

}  // namespace

TEST_CASE("mkstemp makes a new file with the asked-for name, open for reading and writing") {
    Scratch scratch;
    for (const Affixes& affixes : python_affixes) {
        tempfile::MkstempResult file = tempfile::mkstemp(
            {.suffix = affixes.suffix, .prefix = affixes.prefix, .dir = scratch.path()});
        CHECK(name_problem(file.path, scratch.path(), affixes.prefix, affixes.suffix) == "");
        CHECK(fs::is_regular_file(file.path));
        CHECK(::write(file.fd.get(), "blat", 4) == 4);
        char buffer[4] = {};
        CHECK(::pread(file.fd.get(), buffer, 4, 0) == 4);
        CHECK(std::string(buffer, 4) == "blat");
    }
    CHECK(list_dir(scratch.path()).size() == python_affixes.size());
}

TEST_CASE("mkstemp's defaults are gettempdir() and the prefix tmp") {
    Scratch scratch;
    ScopedTempdir override_dir(scratch.path());
    tempfile::MkstempResult file = tempfile::mkstemp();
    CHECK(name_problem(file.path, scratch.path(), "tmp", "") == "");
}

TEST_CASE("a relative dir gives an absolute path") {
    Scratch scratch;
    tempfile_test::ScopedCwd cwd(scratch.path());
    tempfile::MkstempResult file = tempfile::mkstemp({.dir = "."});
    fs::path dir = tempfile::mkdtemp({.dir = "."});
    CHECK(name_problem(file.path, scratch.path(), "tmp", "") == "");
    CHECK(name_problem(dir, scratch.path(), "tmp", "") == "");
}

TEST_CASE("mkstemp and mkdtemp make many distinct names (stochastic)") {
    Scratch scratch;
    std::set<fs::path> paths;
    for (int i = 0; i < 100; ++i) {
        paths.insert(tempfile::mkstemp({.prefix = "aa", .dir = scratch.path()}).path);
        paths.insert(tempfile::mkdtemp({.prefix = "aa", .dir = scratch.path()}));
    }
    CHECK(paths.size() == 200);
    CHECK(list_dir(scratch.path()).size() == 200);
}

TEST_CASE("mkstemp makes files 0600 and mkdtemp directories 0700, less the umask") {
    Scratch scratch;
    SECTION("umask 022") {
        tempfile_test::ScopedUmask umask(022);
        CHECK(mode_of(tempfile::mkstemp({.dir = scratch.path()}).path) == 0600);
        CHECK(mode_of(tempfile::mkdtemp({.dir = scratch.path()})) == 0700);
    }
    SECTION("umask 0277 removes the owner's write bit too") {
        tempfile_test::ScopedUmask umask(0277);
        CHECK(mode_of(tempfile::mkstemp({.dir = scratch.path()}).path) == 0400);
        CHECK(mode_of(tempfile::mkdtemp({.dir = scratch.path()})) == 0500);
    }
}

TEST_CASE("mkstemp's descriptor is not inherited across exec") {
    Scratch scratch;
    tempfile::MkstempResult file = tempfile::mkstemp({.dir = scratch.path()});
    int flags = ::fcntl(file.fd.get(), F_GETFD);
    REQUIRE(flags >= 0);
    CHECK((flags & FD_CLOEXEC) != 0);
    CHECK((::fcntl(file.fd.get(), F_GETFL) & O_ACCMODE) == O_RDWR);
}

TEST_CASE("a taken name is skipped: file after file, file after directory") {
    Scratch scratch;
    SECTION("existing file") {
        auto source = names({"aaa", "aaa", "bbb"});
        CHECK(tempfile::mkstemp({.dir = scratch.path()}).path.filename() == "tmpaaa");
        CHECK(tempfile::mkstemp({.dir = scratch.path()}).path.filename() == "tmpbbb");
    }
    SECTION("existing directory") {
        auto source = names({"aaa", "aaa", "bbb"});
        CHECK(tempfile::mkdtemp({.dir = scratch.path()}).filename() == "tmpaaa");
        CHECK(tempfile::mkstemp({.dir = scratch.path()}).path.filename() == "tmpbbb");
    }
    SECTION("mkdtemp after a file") {
        auto source = names({"aaa", "aaa", "bbb"});
        tempfile::NamedTemporaryFile file({.dir = scratch.path(), .delete_ = false});
        CHECK(file.name().filename() == "tmpaaa");
        CHECK(tempfile::mkdtemp({.dir = scratch.path()}).filename() == "tmpbbb");
    }
    SECTION("mkdtemp after a directory") {
        auto source = names({"aaa", "aaa", "bbb"});
        CHECK(tempfile::mkdtemp({.dir = scratch.path()}).filename() == "tmpaaa");
        CHECK(tempfile::mkdtemp({.dir = scratch.path()}).filename() == "tmpbbb");
    }
}

TEST_CASE("after max_tries taken names, creation fails with EEXIST") {
    Scratch scratch;
    tempfile_test::write_file(scratch.path() / "tmpaaa", "");
    int drawn = 0;
    tempfile::detail::ScopedNameSource source([&drawn] {
        ++drawn;
        return std::string("aaa");
    });
    SECTION("mkstemp") {
        CHECK(error_of([&] { tempfile::mkstemp({.dir = scratch.path()}); }) ==
              std::errc::file_exists);
    }
    SECTION("mkdtemp") {
        CHECK(error_of([&] { tempfile::mkdtemp({.dir = scratch.path()}); }) ==
              std::errc::file_exists);
    }
    SECTION("NamedTemporaryFile") {
        CHECK(error_of([&] { tempfile::NamedTemporaryFile({.dir = scratch.path()}); }) ==
              std::errc::file_exists);
    }
    SECTION("TemporaryFile's create-then-unlink fallback") {
        CHECK(error_of([&] { tempfile::detail::create_then_unlink(scratch.path(), {}); }) ==
              std::errc::file_exists);
    }
    CHECK(drawn == tempfile::max_tries);
    CHECK(list_dir(scratch.path()) == std::vector<std::string>{"tmpaaa"});
}

TEST_CASE("bad directories fail with the right errno and leave nothing") {
    Scratch scratch;
    auto both = [](const fs::path& dir) {
        return std::pair(error_of([&] { tempfile::mkstemp({.dir = dir}); }),
                         error_of([&] { tempfile::mkdtemp({.dir = dir}); }));
    };
    SECTION("missing directory: ENOENT") {
        auto [file_error, dir_error] = both(scratch.path() / "nonexistent");
        CHECK(file_error == std::errc::no_such_file_or_directory);
        CHECK(dir_error == std::errc::no_such_file_or_directory);
    }
    SECTION("not a directory: ENOTDIR") {
        tempfile_test::write_file(scratch.path() / "file", "");
        auto [file_error, dir_error] = both(scratch.path() / "file");
        CHECK(file_error == std::errc::not_a_directory);
        CHECK(dir_error == std::errc::not_a_directory);
    }
    SECTION("read-only directory: EACCES") {
        fs::path read_only = scratch.path() / "read_only";
        fs::create_directory(read_only);
        tempfile_test::hand_to_unprivileged(scratch.path());
        ::chmod(read_only.c_str(), 0555);
        int status = tempfile_test::run_unprivileged([&] {
            auto [file_error, dir_error] = both(read_only);
            bool denied = file_error == std::errc::permission_denied &&
                          dir_error == std::errc::permission_denied;
            return denied ? 0 : 1;
        });
        CHECK(status == 0);
        CHECK(list_dir(read_only).empty());
    }
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

TEST_CASE("mktemp returns free names without creating them") {
    Scratch scratch;
    std::set<fs::path> seen;
    for (const Affixes& affixes : python_affixes) {
        fs::path name = tempfile::mktemp(
            {.suffix = affixes.suffix, .prefix = affixes.prefix, .dir = scratch.path()});
        CHECK(name_problem(name, scratch.path(), affixes.prefix, affixes.suffix) == "");
        CHECK_FALSE(tempfile_test::lexists(name));
        // Python's test creates each file exclusively: the name must really be free.
        int fd = ::open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
        CHECK(fd >= 0);
        ::close(fd);
        seen.insert(name);
    }
    CHECK(seen.size() == python_affixes.size());
}

TEST_CASE("mktemp skips names that exist, dangling symlinks included") {
    Scratch scratch;
    fs::create_symlink(scratch.path() / "nowhere", scratch.path() / "tmpaaa");
    auto source = names({"aaa", "bbb"});
    CHECK(tempfile::mktemp({.dir = scratch.path()}).filename() == "tmpbbb");
}

#pragma GCC diagnostic pop

TEST_CASE("a NUL byte in prefix, suffix or dir is refused and nothing is created") {
    using namespace std::string_literals;
    Scratch scratch;
    const auto refused = [](auto&& make, const std::string& argument) {
        try {
            make();
        } catch (const std::invalid_argument& e) {
            return std::string(e.what()).find(argument) != std::string::npos;
        }
        return false;
    };
    CHECK(refused([&] { tempfile::mkstemp({.prefix = "a\0b"s, .dir = scratch.path()}); },
                  "prefix"));
    CHECK(refused([&] { tempfile::mkstemp({.suffix = "a\0b"s, .dir = scratch.path()}); },
                  "suffix"));
    CHECK(refused([&] { tempfile::mkdtemp({.prefix = "x\0"s, .dir = scratch.path()}); },
                  "prefix"));
    CHECK(refused(
        [&] { tempfile::mkstemp({.dir = fs::path(scratch.path().native() + "\0/sub"s)}); },
        "dir"));
    CHECK(refused(
        [&] { tempfile::NamedTemporaryFile({.prefix = "a\0b"s, .dir = scratch.path()}); },
        "prefix"));
    CHECK(list_dir(scratch.path()).empty());
}
