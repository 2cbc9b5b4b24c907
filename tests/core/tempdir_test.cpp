// Python's TestCandidateTempdirList, TestGetDefaultTempdir, TestGetTempPrefix and
// TestGetTempDir, plus the override (tempfile.tempdir), caching and thread safety.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>
#include <vector>

#include "default_tempdir.hpp"
#include "tempfile/tempfile.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using tempfile_test::list_dir;
using tempfile_test::ScopedEnv;
using tempfile_test::ScopedTempdir;
using tempfile_test::Scratch;

TEST_CASE("gettempprefix is a non-empty prefix that makes usable names") {
    CHECK(tempfile::gettempprefix() == "tmp");
    Scratch scratch;
    fs::path file = scratch.path() / (std::string(tempfile::gettempprefix()) + "xxxxxx.xxx");
    tempfile_test::write_file(file, "x");
    CHECK(fs::exists(file));
}

TEST_CASE("the candidates are TMPDIR, TEMP, TMP, /tmp, /var/tmp, /usr/tmp, the cwd") {
    ScopedEnv tmpdir("TMPDIR", "/candidate/one");
    ScopedEnv temp("TEMP", "/candidate/two");
    ScopedEnv tmp("TMP", "/candidate/three");
    std::vector<fs::path> expected{"/candidate/one", "/candidate/two", "/candidate/three", "/tmp",
                                   "/var/tmp",       "/usr/tmp",       fs::current_path()};
    CHECK(tempfile::detail::candidate_tempdir_list() == expected);
}

TEST_CASE("unset or empty variables are not candidates") {
    ScopedEnv tmpdir("TMPDIR", std::nullopt);
    ScopedEnv temp("TEMP", "");
    ScopedEnv tmp("TMP", "/candidate");
    std::vector<fs::path> candidates = tempfile::detail::candidate_tempdir_list();
    REQUIRE(candidates.size() == 5);
    CHECK(candidates.front() == "/candidate");
}

TEST_CASE("the probe leaves nothing behind") {
    Scratch scratch;
    std::vector<fs::path> candidates{scratch.path()};
    CHECK(tempfile::detail::default_tempdir(candidates) == scratch.path());
    CHECK(list_dir(scratch.path()).empty());
}

TEST_CASE("unusable candidates are skipped, in order") {
    Scratch scratch;
    fs::path file = scratch.path() / "file";
    tempfile_test::write_file(file, "");
    fs::path first_good = scratch.path() / "good";
    fs::path second_good = scratch.path() / "also_good";
    fs::create_directory(first_good);
    fs::create_directory(second_good);
    std::vector<fs::path> candidates{scratch.path() / "missing", file, first_good, second_good};
    CHECK(tempfile::detail::default_tempdir(candidates) == first_good);
    CHECK(list_dir(first_good).empty());
}

TEST_CASE("a directory where files cannot be created is skipped") {
    Scratch scratch;
    fs::path read_only = scratch.path() / "read_only";
    fs::path good = scratch.path() / "good";
    fs::create_directory(read_only);
    fs::create_directory(good);
    tempfile_test::hand_to_unprivileged(scratch.path());
    ::chmod(read_only.c_str(), 0555);
    int status = tempfile_test::run_unprivileged([&] {
        std::vector<fs::path> candidates{read_only, good};
        return tempfile::detail::default_tempdir(candidates) == good ? 0 : 1;
    });
    CHECK(status == 0);
    CHECK(list_dir(read_only).empty());
    CHECK(list_dir(good).empty());
}

TEST_CASE("no usable candidate is ENOENT") {
    Scratch scratch;
    fs::path file = scratch.path() / "file";
    tempfile_test::write_file(file, "");
    std::vector<fs::path> candidates{scratch.path() / "missing", file};
    try {
        tempfile::detail::default_tempdir(candidates);
        FAIL("no exception");
    } catch (const std::system_error& error) {
        CHECK(error.code() == std::errc::no_such_file_or_directory);
    }
}

TEST_CASE("a relative candidate comes back absolute") {
    Scratch scratch;
    tempfile_test::ScopedCwd cwd(scratch.path());
    std::vector<fs::path> candidates{"."};
    CHECK(tempfile::detail::default_tempdir(candidates) == scratch.path());
}

TEST_CASE("gettempdir is an absolute, writable directory") {
    fs::path dir = tempfile::gettempdir();
    CHECK(dir.is_absolute());
    CHECK(fs::is_directory(dir));
    CHECK(::access(dir.c_str(), W_OK) == 0);
    tempfile::NamedTemporaryFile file;
    CHECK(file.write("blat") == 4);
    CHECK(file.name().parent_path() == dir);
}

TEST_CASE("gettempdir takes the first usable of TMPDIR, TEMP, TMP") {
    Scratch scratch;
    fs::path temp = scratch.path() / "temp";
    fs::path tmp = scratch.path() / "tmp";
    fs::create_directory(temp);
    fs::create_directory(tmp);
    ScopedTempdir forget(std::nullopt);
    ScopedEnv tmpdir_env("TMPDIR", (scratch.path() / "missing").string());
    ScopedEnv temp_env("TEMP", temp.string());
    ScopedEnv tmp_env("TMP", tmp.string());
    CHECK(tempfile::gettempdir() == temp);
}

TEST_CASE("gettempdir is cached until the override is cleared") {
    Scratch first;
    Scratch second;
    ScopedTempdir forget(std::nullopt);
    CHECK_FALSE(tempfile::tempdir().has_value());
    std::optional<ScopedEnv> tmpdir;
    tmpdir.emplace("TMPDIR", first.path().string());
    CHECK(tempfile::gettempdir() == first.path());
    CHECK(tempfile::tempdir() == first.path());
    tmpdir.reset();
    tmpdir.emplace("TMPDIR", second.path().string());
    CHECK(tempfile::gettempdir() == first.path());
    tempfile::set_tempdir(std::nullopt);
    CHECK(tempfile::gettempdir() == second.path());
}

TEST_CASE("the override wins and is returned as is") {
    ScopedTempdir relative(fs::path("not/a/real/../dir"));
    CHECK(tempfile::gettempdir() == fs::path("not/a/real/../dir"));
    CHECK(tempfile::gettempdir().native() == "not/a/real/../dir");
}

TEST_CASE("creations go to the override") {
    Scratch scratch;
    ScopedTempdir override_dir(scratch.path());
    tempfile::MkstempResult file = tempfile::mkstemp();
    CHECK(file.path.parent_path() == scratch.path());
    tempfile::TemporaryDirectory dir;
    CHECK(dir.name().parent_path() == scratch.path());
}

TEST_CASE("gettempdir does not change the case of the name") {
    Scratch scratch;
    fs::path mixed_case = tempfile::mkdtemp({.suffix = "-Temp", .dir = scratch.path()});
    ScopedTempdir forget(std::nullopt);
    ScopedEnv tmpdir("TMPDIR", mixed_case.string());
    CHECK(tempfile::gettempdir().native() == mixed_case.native());
}

TEST_CASE("concurrent first calls agree and leave nothing behind") {
    Scratch scratch;
    ScopedTempdir forget(std::nullopt);
    ScopedEnv tmpdir("TMPDIR", scratch.path().string());
    std::vector<fs::path> results(8);
    std::vector<std::thread> threads;
    for (fs::path& result : results)
        threads.emplace_back([&result] { result = tempfile::gettempdir(); });
    for (std::thread& thread : threads) thread.join();
    for (const fs::path& result : results) CHECK(result == scratch.path());
    CHECK(list_dir(scratch.path()).empty());
}
