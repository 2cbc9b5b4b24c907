// Python's TestTemporaryFile: a file with no name, both by O_TMPFILE and by the
// create-then-unlink fallback.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "anonymous_file.hpp"
#include "tempfile/tempfile.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using tempfile_test::list_dir;
using tempfile_test::Scratch;

namespace {

std::string fd_link(int fd) {
    return fs::read_symlink("/proc/self/fd/" + std::to_string(fd)).string();
}

nlink_t link_count(int fd) {
    struct stat st {};
    REQUIRE(::fstat(fd, &st) == 0);
    return st.st_nlink;
}

mode_t mode_of(int fd) {
    struct stat st {};
    REQUIRE(::fstat(fd, &st) == 0);
    return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("TemporaryFile reads back what was written") {
    Scratch scratch;
    tempfile::File file = tempfile::TemporaryFile({.dir = scratch.path()});
    CHECK(file.write("1234") == 4);
    CHECK(file.tell() == 4);
    CHECK(file.seek(0) == 0);
    CHECK(file.read() == "1234");
    CHECK(file.seek(-2, SEEK_END) == 2);
    CHECK(file.read(1) == "3");
    CHECK(file.truncate() == 3);
    CHECK(file.seek(0, SEEK_END) == 3);
}

TEST_CASE("TemporaryFile has no name") {
    Scratch scratch;
    tempfile::File file = tempfile::TemporaryFile({.dir = scratch.path()});
    CHECK(file.write("blat") == 4);
    CHECK(list_dir(scratch.path()).empty());
    CHECK(link_count(file.fileno()) == 0);
    CHECK_THAT(fd_link(file.fileno()), Catch::EndsWith(" (deleted)"));
    // Python's test_has_no_name: the file does not keep its directory from being removed.
    CHECK(::rmdir(scratch.path().c_str()) == 0);
    CHECK(file.write("more") == 4);
}

TEST_CASE("O_TMPFILE gives an unnamed file where the filesystem has it") {
    Scratch scratch;
    std::optional<tempfile::FileDescriptor> fd = tempfile::detail::open_tmpfile(scratch.path());
    if (!fd) {
        WARN("no O_TMPFILE on " << scratch.path());
        return;
    }
    CHECK(link_count(fd->get()) == 0);
    // O_TMPFILE's link reads "<dir>/#<inode> (deleted)".
    CHECK_THAT(fd_link(fd->get()),
               Catch::StartsWith(scratch.path().string() + "/#") && Catch::EndsWith(" (deleted)"));
    CHECK(list_dir(scratch.path()).empty());
}

TEST_CASE("the create-then-unlink fallback leaves no name either") {
    Scratch scratch;
    tempfile::FileDescriptor fd =
        tempfile::detail::create_then_unlink(scratch.path(), {.suffix = ".x", .prefix = "pre"});
    CHECK(list_dir(scratch.path()).empty());
    CHECK(link_count(fd.get()) == 0);
    CHECK_THAT(fd_link(fd.get()), Catch::EndsWith(".x (deleted)"));
    CHECK(::write(fd.get(), "abc", 3) == 3);
}

TEST_CASE("TemporaryFile is 0600, read-write and close-on-exec") {
    Scratch scratch;
    tempfile_test::ScopedUmask umask(022);
    tempfile::File file = tempfile::TemporaryFile({.dir = scratch.path()});
    CHECK(mode_of(file.fileno()) == 0600);
    CHECK((::fcntl(file.fileno(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK((::fcntl(file.fileno(), F_GETFL) & O_ACCMODE) == O_RDWR);
    tempfile::FileDescriptor fallback = tempfile::detail::create_then_unlink(scratch.path(), {});
    CHECK(mode_of(fallback.get()) == 0600);
    CHECK((::fcntl(fallback.get(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("TemporaryFile in a missing directory is ENOENT and leaves nothing") {
    Scratch scratch;
    try {
        tempfile::TemporaryFile({.dir = scratch.path() / "missing"});
        FAIL("no exception");
    } catch (const std::system_error& error) {
        CHECK(error.code() == std::errc::no_such_file_or_directory);
    }
    CHECK(list_dir(scratch.path()).empty());
}

TEST_CASE("a File can be closed many times; then I/O is EBADF") {
    Scratch scratch;
    tempfile::File file = tempfile::TemporaryFile({.dir = scratch.path()});
    file.write("abc\n");
    file.close();
    file.close();
    CHECK(file.closed());
    CHECK(file.fileno() == -1);
    try {
        file.write("x");
        FAIL("no exception");
    } catch (const std::system_error& error) {
        CHECK(error.code() == std::errc::bad_file_descriptor);
    }
}

TEST_CASE("a File hands its descriptor over and is closed afterwards") {
    Scratch scratch;
    tempfile::File file = tempfile::TemporaryFile({.dir = scratch.path()});
    int raw = file.fileno();
    tempfile::FileDescriptor fd = file.release();
    CHECK(fd.get() == raw);
    CHECK(file.closed());
    tempfile::File moved = tempfile::File(std::move(fd));
    CHECK(moved.write("ok") == 2);
}
