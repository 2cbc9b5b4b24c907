// Python's TestNamedTemporaryFile, and the delete x delete_on_close matrix of 3.12.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "tempfile/tempfile.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using tempfile_test::lexists;
using tempfile_test::list_dir;
using tempfile_test::name_problem;
using tempfile_test::Scratch;

TEST_CASE("NamedTemporaryFile makes a named file with the asked-for name") {
    Scratch scratch;
    for (auto [prefix, suffix] : {std::pair("", ""), std::pair("a", ""), std::pair("", "b"),
                                  std::pair("a", "b"), std::pair("aa", ".txt")}) {
        tempfile::NamedTemporaryFile file(
            {.suffix = suffix, .prefix = prefix, .dir = scratch.path()});
        CHECK(name_problem(file.name(), scratch.path(), prefix, suffix) == "");
        CHECK(fs::is_regular_file(file.name()));
        CHECK(tempfile_test::mode_of(file.name()) == 0600);
        CHECK((::fcntl(file.fileno(), F_GETFD) & FD_CLOEXEC) != 0);
    }
    CHECK(list_dir(scratch.path()).empty());
}

TEST_CASE("NamedTemporaryFile reads and writes through the object and by name") {
    Scratch scratch;
    tempfile::NamedTemporaryFile file({.dir = scratch.path()});
    CHECK(file.write("spam\neggs\n") == 10);
    CHECK(file.seek(0) == 0);
    CHECK(file.read(5) == "spam\n");
    CHECK(file.tell() == 5);
    CHECK(file.truncate(4) == 4);
    CHECK(file.seek(0, SEEK_END) == 4);
    std::ifstream by_name(file.name());
    std::string content;
    std::getline(by_name, content);
    CHECK(content == "spam");
}

TEST_CASE("delete and delete_on_close, as in Python 3.12") {
    Scratch scratch;
    fs::path name;

    SECTION("delete, delete_on_close: removed by close()") {
        tempfile::NamedTemporaryFile file({.dir = scratch.path()});
        name = file.name();
        file.write("blat");
        file.close();
        CHECK(file.closed());
        CHECK_FALSE(lexists(name));
    }
    SECTION("delete, delete_on_close: removed by destruction without close()") {
        {
            tempfile::NamedTemporaryFile file({.dir = scratch.path()});
            name = file.name();
            CHECK(lexists(name));
        }
        CHECK_FALSE(lexists(name));
    }
    SECTION("delete, not delete_on_close: survives close(), removed by destruction") {
        {
            tempfile::NamedTemporaryFile file({.dir = scratch.path(), .delete_on_close = false});
            name = file.name();
            file.write("blat");
            file.close();
            CHECK(file.closed());
            REQUIRE(lexists(name));
            std::ifstream reopened(name);
            std::string content;
            reopened >> content;
            CHECK(content == "blat");
        }
        CHECK_FALSE(lexists(name));
    }
    SECTION("not delete: survives close() and destruction") {
        for (bool delete_on_close : {true, false}) {
            {
                tempfile::NamedTemporaryFile file(
                    {.dir = scratch.path(), .delete_ = false, .delete_on_close = delete_on_close});
                name = file.name();
                file.close();
                CHECK(lexists(name));
            }
            CHECK(lexists(name));
            fs::remove(name);
        }
    }
    CHECK(list_dir(scratch.path()).empty());
}

TEST_CASE("NamedTemporaryFile can be closed many times") {
    Scratch scratch;
    tempfile::NamedTemporaryFile file({.dir = scratch.path()});
    file.write("abc\n");
    file.close();
    file.close();
    file.close();
    CHECK(file.closed());
    CHECK(list_dir(scratch.path()).empty());
}

TEST_CASE("a name removed by someone else is no error") {
    Scratch scratch;
    tempfile::NamedTemporaryFile file({.dir = scratch.path()});
    fs::remove(file.name());
    CHECK_NOTHROW(file.close());
}

TEST_CASE("moving a NamedTemporaryFile moves the duty to remove it") {
    Scratch scratch;
    fs::path name;
    {
        tempfile::NamedTemporaryFile outer({.prefix = "x", .dir = scratch.path()});
        {
            tempfile::NamedTemporaryFile file({.dir = scratch.path()});
            name = file.name();
            outer = std::move(file);
        }
        CHECK(lexists(name));
        CHECK(outer.name() == name);
        CHECK(list_dir(scratch.path()).size() == 1);  // the old "x" file went at assignment
        tempfile::NamedTemporaryFile moved(std::move(outer));
        CHECK(moved.write("still open") == 10);
    }
    CHECK_FALSE(lexists(name));
    CHECK(list_dir(scratch.path()).empty());
}

TEST_CASE("NamedTemporaryFile in a missing directory is ENOENT") {
    Scratch scratch;
    try {
        tempfile::NamedTemporaryFile file({.dir = scratch.path() / "missing"});
        FAIL("no exception");
    } catch (const std::system_error& error) {
        CHECK(error.code() == std::errc::no_such_file_or_directory);
    }
}
