// Python's TestSpooledTemporaryFile: the rollover boundary, rollover(), fileno(),
// and read/write/seek/tell/truncate before, across and after the rollover.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "tempfile/tempfile.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using tempfile_test::error_of;
using tempfile_test::list_dir;
using tempfile_test::Scratch;

namespace {

tempfile::SpooledTemporaryFile spooled(std::size_t max_size, const fs::path& dir) {
    return tempfile::SpooledTemporaryFile({.max_size = max_size, .dir = dir});
}

off_t size_on_disk(int fd) {
    struct stat st {};
    REQUIRE(::fstat(fd, &st) == 0);
    return st.st_size;
}

}  // namespace

TEST_CASE("a new SpooledTemporaryFile is in RAM") {
    Scratch scratch;
    CHECK_FALSE(tempfile::SpooledTemporaryFile().rolled());
    tempfile::SpooledTemporaryFile file(
        {.max_size = 100, .suffix = ".txt", .prefix = "a", .dir = scratch.path()});
    CHECK_FALSE(file.rolled());
    CHECK(file.max_size() == 100);
    CHECK(file.tell() == 0);
}

TEST_CASE("writing exactly max_size stays in RAM; one more byte rolls over") {
    Scratch scratch;
    auto file = spooled(30, scratch.path());
    file.write(std::string(20, 'x'));
    CHECK_FALSE(file.rolled());
    file.write(std::string(10, 'x'));
    CHECK_FALSE(file.rolled());
    file.write("x");
    CHECK(file.rolled());
    CHECK(file.tell() == 31);
    file.seek(0);
    CHECK(file.read() == std::string(31, 'x'));
}

TEST_CASE("rewriting within max_size stays in RAM") {
    Scratch scratch;
    auto file = spooled(30, scratch.path());
    for (int i = 0; i < 5; ++i) {
        file.seek(0);
        file.write(std::string(20, 'x'));
    }
    CHECK_FALSE(file.rolled());
}

TEST_CASE("several writes that end at max_size stay in RAM") {
    Scratch scratch;
    auto file = spooled(35, scratch.path());
    for (std::size_t size : {20, 10, 5}) file.write(std::string(size, 'x'));
    CHECK_FALSE(file.rolled());
    file.write("x");
    CHECK(file.rolled());
}

TEST_CASE("a write far past the end rolls over and leaves a hole") {
    Scratch scratch;
    auto file = spooled(30, scratch.path());
    CHECK(file.seek(100) == 100);
    CHECK_FALSE(file.rolled());
    file.write("x");
    CHECK(file.rolled());
    CHECK(size_on_disk(file.fileno()) == 101);
    file.seek(0);
    CHECK(file.read() == std::string(100, '\0') + "x");
}

TEST_CASE("max_size 0 never rolls over on write") {
    Scratch scratch;
    auto file = spooled(0, scratch.path());
    file.write(std::string(1 << 20, 'x'));
    CHECK_FALSE(file.rolled());
    file.seek(0);
    CHECK(file.read().size() == (1u << 20));
}

TEST_CASE("fileno() rolls over and gives the file") {
    Scratch scratch;
    auto file = spooled(30, scratch.path());
    file.write("abc");
    CHECK_FALSE(file.rolled());
    int fd = file.fileno();
    CHECK(fd > 0);
    CHECK(file.rolled());
    CHECK(size_on_disk(fd) == 3);
    CHECK(file.fileno() == fd);
}

TEST_CASE("rollover() moves the data to an unnamed file in dir, position kept") {
    Scratch scratch;
    auto file = spooled(1000, scratch.path());
    file.write("hello world");
    file.seek(6);
    file.rollover();
    CHECK(file.rolled());
    CHECK(file.tell() == 6);
    CHECK(::lseek(file.fileno(), 0, SEEK_CUR) == 6);  // the descriptor's own offset
    CHECK(file.read() == "world");
    CHECK(list_dir(scratch.path()).empty());
    std::string link = fs::read_symlink("/proc/self/fd/" + std::to_string(file.fileno()));
    CHECK(link.starts_with(scratch.path().string() + "/"));
    CHECK_THAT(link, Catch::EndsWith(" (deleted)"));
    file.rollover();
    CHECK(file.tell() == 11);
}

TEST_CASE("writes, reads and seeks carry on across the rollover") {
    Scratch scratch;
    auto file = spooled(30, scratch.path());
    file.write(std::string(35, 'a'));
    CHECK(file.rolled());
    file.write(std::string(35, 'b'));
    CHECK(file.seek(0) == 0);
    CHECK(file.read(70) == std::string(35, 'a') + std::string(35, 'b'));
    CHECK(file.seek(-5, SEEK_END) == 65);
    CHECK(file.seek(2, SEEK_CUR) == 67);
    CHECK(file.read() == "bbb");
    CHECK(file.tell() == 70);
}

TEST_CASE("seek and tell in RAM") {
    Scratch scratch;
    auto file = spooled(100, scratch.path());
    file.write("0123456789");
    CHECK(file.seek(-3, SEEK_END) == 7);
    CHECK(file.read() == "789");
    CHECK(file.seek(-4, SEEK_CUR) == 6);
    CHECK(file.read(2) == "67");
    CHECK(file.seek(20) == 20);
    CHECK(file.read().empty());
    CHECK(error_of([&] { file.seek(-1); }) == std::errc::invalid_argument);
    CHECK(error_of([&] { file.seek(0, 42); }) == std::errc::invalid_argument);
    CHECK(file.tell() == 20);
    CHECK_FALSE(file.rolled());
}

TEST_CASE("truncate in RAM and across the rollover") {
    Scratch scratch;
    SECTION("to the position") {
        auto file = spooled(10, scratch.path());
        file.write("abcdefg\n");
        file.seek(0);
        CHECK(file.truncate() == 0);
        CHECK_FALSE(file.rolled());
        CHECK(file.read().empty());
    }
    SECTION("to a size, position unchanged") {
        auto file = spooled(10, scratch.path());
        file.write("abcdefg\n");
        CHECK(file.truncate(4) == 4);
        CHECK_FALSE(file.rolled());
        CHECK(file.tell() == 8);
        file.seek(0);
        CHECK(file.read() == "abcd");
    }
    SECTION("past max_size: rolls over") {
        auto file = spooled(10, scratch.path());
        file.write("abcdefg\n");
        CHECK(file.truncate(20) == 20);
        CHECK(file.rolled());
        CHECK(size_on_disk(file.fileno()) == 20);
        file.seek(0);
        CHECK(file.read() == "abcdefg\n" + std::string(12, '\0'));
    }
    SECTION("after the rollover") {
        auto file = spooled(10, scratch.path());
        file.write("abcdefghijklmnop");
        REQUIRE(file.rolled());
        CHECK(file.truncate(3) == 3);
        CHECK(size_on_disk(file.fileno()) == 3);
    }
}

TEST_CASE("closing frees the file; closing again is fine; then I/O is EBADF") {
    Scratch scratch;
    for (std::size_t max_size : {0, 1}) {
        auto file = spooled(max_size, scratch.path());
        file.write("abc\n");
        CHECK(file.rolled() == (max_size == 1));
        file.close();
        file.close();
        CHECK(file.closed());
        CHECK(error_of([&] { file.write("x"); }) == std::errc::bad_file_descriptor);
        CHECK(error_of([&] { file.read(); }) == std::errc::bad_file_descriptor);
        CHECK(error_of([&] { file.fileno(); }) == std::errc::bad_file_descriptor);
    }
    CHECK(list_dir(scratch.path()).empty());
}

TEST_CASE("the rolled-over file's descriptor goes away with the object") {
    Scratch scratch;
    std::size_t open_before = list_dir("/proc/self/fd").size();
    {
        auto file = spooled(2, scratch.path());
        file.write("foo");
        REQUIRE(file.rolled());
        CHECK(list_dir("/proc/self/fd").size() == open_before + 1);
    }
    CHECK(list_dir("/proc/self/fd").size() == open_before);
    CHECK(list_dir(scratch.path()).empty());
}

TEST_CASE("a moved SpooledTemporaryFile keeps data and position") {
    Scratch scratch;
    auto file = spooled(100, scratch.path());
    file.write("abcdef");
    file.seek(2);
    tempfile::SpooledTemporaryFile moved = std::move(file);
    CHECK(moved.tell() == 2);
    CHECK(moved.read() == "cdef");
}
