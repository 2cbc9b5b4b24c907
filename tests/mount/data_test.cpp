// File data on a real mount: truncate, fallocate, holes, copy_file_range, shared mmap,
// statfs and block sizes.
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/statvfs.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "file_util.hpp"
#include "mount_fixture.hpp"

using namespace mount_test;

namespace {

const std::string kOpts = "lifetime=mount";
constexpr off_t KiB = 1024, MiB = 1024 * KiB;

struct stat fstat_or_throw(int fd) {
    struct stat st {};
    if (fstat(fd, &st) != 0) throw_errno("fstat");
    return st;
}

bool all_zero(const std::string& s) {
    return s.find_first_not_of('\0') == std::string::npos;
}

}  // namespace

TEST_CASE("truncate shrinks and grows a file, and grown parts read as zeros") {
    Mount m(kOpts);
    const std::string data = pattern(64 * KiB, 3);
    write_file(m / "f", data);
    REQUIRE(truncate((m / "f").c_str(), 1000) == 0);
    CHECK(read_file(m / "f") == data.substr(0, 1000));
    Fd fd = open_or_throw(m / "f", O_RDWR);
    REQUIRE(ftruncate(fd.get(), 64 * KiB) == 0);
    const std::string back = read_at(fd.get(), 64 * KiB);
    REQUIRE(back.size() == 64 * KiB);
    CHECK(back.substr(0, 1000) == data.substr(0, 1000));
    CHECK(all_zero(back.substr(1000)));  // the old bytes must not come back
    REQUIRE(ftruncate(fd.get(), 0) == 0);
    CHECK(fstat_or_throw(fd.get()).st_size == 0);
    CHECK(errno_of(ftruncate(fd.get(), -1)) == EINVAL);
}

TEST_CASE("O_TRUNC and O_APPEND behave as on tmpfs") {
    Mount m(kOpts);
    write_file(m / "f", "0123456789");
    {
        Fd fd = open_or_throw(m / "f", O_WRONLY | O_APPEND);
        REQUIRE(write(fd.get(), "ab", 2) == 2);
    }
    CHECK(read_file(m / "f") == "0123456789ab");
    Fd fd = open_or_throw(m / "f", O_RDWR | O_TRUNC);
    CHECK(fstat_or_throw(fd.get()).st_size == 0);
}

TEST_CASE("fallocate mode 0 extends the file with zeros and allocates blocks") {
    Mount m(kOpts);
    Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
    REQUIRE(fallocate(fd.get(), 0, 0, 1 * MiB) == 0);
    const auto st = fstat_or_throw(fd.get());
    CHECK(st.st_size == 1 * MiB);
    CHECK(st.st_blocks * 512 >= 1 * MiB);
    CHECK(all_zero(read_at(fd.get(), 1 * MiB)));
}

TEST_CASE("fallocate with FALLOC_FL_KEEP_SIZE leaves the size alone") {
    Mount m(kOpts);
    Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
    write_all(fd.get(), "abc");
    REQUIRE(fallocate(fd.get(), FALLOC_FL_KEEP_SIZE, 0, 1 * MiB) == 0);
    CHECK(fstat_or_throw(fd.get()).st_size == 3);
    CHECK(read_at(fd.get(), 10) == "abc");
}

TEST_CASE("FALLOC_FL_PUNCH_HOLE zeroes a range, frees its blocks and keeps the size") {
    Mount m(kOpts);
    const std::string data = pattern(1 * MiB, 5);
    Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
    write_all(fd.get(), data);
    const auto before = fstat_or_throw(fd.get());
    REQUIRE(fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 256 * KiB, 512 * KiB) ==
            0);
    const auto after = fstat_or_throw(fd.get());
    CHECK(after.st_size == 1 * MiB);
    CHECK(after.st_blocks < before.st_blocks);
    const std::string back = read_at(fd.get(), 1 * MiB);
    CHECK(back.substr(0, 256 * KiB) == data.substr(0, 256 * KiB));
    CHECK(all_zero(back.substr(256 * KiB, 512 * KiB)));
    CHECK(back.substr(768 * KiB) == data.substr(768 * KiB));
    // An unaligned hole zeroes exactly its bytes.
    REQUIRE(fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 10, 5) == 0);
    CHECK(read_at(fd.get(), 20) == data.substr(0, 10) + std::string(5, '\0') + data.substr(15, 5));
}

TEST_CASE("FALLOC_FL_ZERO_RANGE: EOPNOTSUPP, as on tmpfs, and the file is unchanged") {
    Mount m(kOpts);
    const std::string data = pattern(100 * KiB, 9);
    Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
    write_all(fd.get(), data);
    CHECK(errno_of(fallocate(fd.get(), FALLOC_FL_ZERO_RANGE, 10 * KiB, 20 * KiB)) == EOPNOTSUPP);
    CHECK(errno_of(fallocate(fd.get(), FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 90 * KiB,
                             30 * KiB)) == EOPNOTSUPP);
    CHECK(read_at(fd.get(), 200 * KiB) == data);
}

TEST_CASE("SEEK_DATA and SEEK_HOLE find the data and the holes of a sparse file") {
    Mount m(kOpts);
    Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
    // Data in [0, 4K) and [2M, 2M+4K), a hole between: any chunking up to 1 MiB sees it.
    write_all(fd.get(), pattern(4 * KiB, 1), 0);
    write_all(fd.get(), pattern(4 * KiB, 2), 2 * MiB);
    const off_t size = 2 * MiB + 4 * KiB;
    CHECK(lseek(fd.get(), 0, SEEK_DATA) == 0);
    const off_t hole = lseek(fd.get(), 0, SEEK_HOLE);
    CHECK(hole >= 4 * KiB);
    CHECK(hole <= 1 * MiB);
    CHECK(lseek(fd.get(), 1 * MiB, SEEK_DATA) == 2 * MiB);
    CHECK(lseek(fd.get(), 2 * MiB, SEEK_HOLE) == size);  // the implicit hole at the end
    CHECK(errno_of(lseek(fd.get(), size, SEEK_DATA)) == ENXIO);
    CHECK(errno_of(lseek(fd.get(), size + 1, SEEK_HOLE)) == ENXIO);

    Fd sparse = open_or_throw(m / "sparse", O_RDWR | O_CREAT);
    REQUIRE(ftruncate(sparse.get(), 1 * MiB) == 0);
    CHECK(errno_of(lseek(sparse.get(), 0, SEEK_DATA)) == ENXIO);
    CHECK(lseek(sparse.get(), 0, SEEK_HOLE) == 0);
}

TEST_CASE("copy_file_range copies between files and within one file") {
    Mount m(kOpts);
    const std::string data = pattern(3 * MiB, 11);
    write_file(m / "src", data);
    Fd in = open_or_throw(m / "src", O_RDONLY);
    Fd out = open_or_throw(m / "dst", O_RDWR | O_CREAT);
    loff_t in_off = 512 * KiB, out_off = 100;
    size_t left = 2 * MiB;
    while (left > 0) {
        const ssize_t n = copy_file_range(in.get(), &in_off, out.get(), &out_off, left, 0);
        REQUIRE(n > 0);
        left -= static_cast<size_t>(n);
    }
    CHECK(in_off == 512 * KiB + 2 * MiB);
    CHECK(fstat_or_throw(out.get()).st_size == 100 + 2 * MiB);
    const std::string back = read_at(out.get(), 100 + 2 * MiB);
    CHECK(all_zero(back.substr(0, 100)));
    CHECK(back.substr(100) == data.substr(512 * KiB, 2 * MiB));

    // Within one file, to a range that does not overlap the source.
    Fd same = open_or_throw(m / "src", O_RDWR);
    loff_t from = 0, to = 3 * MiB;
    REQUIRE(copy_file_range(same.get(), &from, same.get(), &to, 1 * MiB, 0) > 0);
    CHECK(read_at(same.get(), 1 * MiB, 3 * MiB).substr(0, static_cast<size_t>(to - 3 * MiB)) ==
          data.substr(0, static_cast<size_t>(to - 3 * MiB)));
}

TEST_CASE("a shared writable mapping is seen by read(2) and through another descriptor") {
    Mount m(kOpts);
    constexpr size_t kSize = 256 * KiB;
    Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
    REQUIRE(ftruncate(fd.get(), kSize) == 0);
    void* map = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    REQUIRE(map != MAP_FAILED);
    const std::string data = pattern(kSize, 13);
    std::memcpy(map, data.data(), kSize);
    REQUIRE(msync(map, kSize, MS_SYNC) == 0);
    CHECK(read_at(fd.get(), kSize) == data);
    {
        Fd other = open_or_throw(m / "f", O_RDONLY);
        CHECK(read_at(other.get(), kSize) == data);
        void* second = mmap(nullptr, kSize, PROT_READ, MAP_SHARED, other.get(), 0);
        REQUIRE(second != MAP_FAILED);
        CHECK(std::memcmp(second, data.data(), kSize) == 0);
        munmap(second, kSize);
    }
    // A write(2) shows in the mapping.
    write_all(fd.get(), "via write", 1000);
    CHECK(std::string(static_cast<char*>(map) + 1000, 9) == "via write");
    REQUIRE(munmap(map, kSize) == 0);
    fd.reset();
    // And the data reached the daemon: a fresh open after the last close sees it.
    const std::string expect = data.substr(0, 1000) + "via write" + data.substr(1009);
    CHECK(read_file(m / "f") == expect);
}

TEST_CASE("statfs reports size= and nr_inodes= so that df reads them") {
    Mount m("lifetime=mount,size=64M,nr_inodes=1000");
    struct statvfs before {};
    REQUIRE(statvfs(m.path().c_str(), &before) == 0);
    CHECK(before.f_bsize >= 512);
    CHECK((before.f_bsize & (before.f_bsize - 1)) == 0);
    CHECK(before.f_blocks * before.f_frsize == 64u * MiB);
    CHECK(before.f_bavail <= before.f_bfree);
    CHECK(before.f_bfree <= before.f_blocks);
    CHECK(before.f_files == 1000u);
    CHECK(before.f_namemax == 255u);

    write_file(m / "f", pattern(8 * MiB, 1));
    for (int i = 0; i < 10; ++i) write_file(m / ("n" + std::to_string(i)), "");
    struct statvfs after {};
    REQUIRE(statvfs(m.path().c_str(), &after) == 0);
    const auto used = static_cast<long long>(before.f_bavail - after.f_bavail) *
                      static_cast<long long>(after.f_frsize);
    CHECK(used >= 8 * MiB);
    CHECK(used <= 9 * MiB);
    CHECK(before.f_ffree - after.f_ffree == 11u);

    const auto df = run_process({"df", "-B1", "--output=size,itotal", m.path()}, 10s);
    REQUIRE(df.exited_with(0));
    CHECK_THAT(df.out, Catch::Contains("67108864") && Catch::Contains("1000"));
}

TEST_CASE("st_blksize is a power of two between 4 KiB and 1 MiB") {
    Mount m(kOpts);
    write_file(m / "f", "x");
    for (const std::string& path : {m / "f", m.path()}) {
        const auto st = stat_or_throw(path);
        INFO(path << " st_blksize " << st.st_blksize);
        CHECK(st.st_blksize >= 4096);
        CHECK(st.st_blksize <= 1 * MiB);
        CHECK((st.st_blksize & (st.st_blksize - 1)) == 0);
    }
}

TEST_CASE("truncating to 1 TiB allocates nothing and the daemon survives") {
    Mount m(kOpts);
    constexpr off_t TiB = 1024 * 1024 * MiB;
    Fd fd = open_or_throw(m / "huge", O_RDWR | O_CREAT);
    REQUIRE(ftruncate(fd.get(), TiB) == 0);
    write_all(fd.get(), "end", TiB - 3);
    const auto st = fstat_or_throw(fd.get());
    CHECK(st.st_size == TiB);
    CHECK(st.st_blocks * 512 <= 4 * MiB);
    CHECK(all_zero(read_at(fd.get(), 64 * KiB, TiB / 2)));
    CHECK(read_at(fd.get(), 3, TiB - 3) == "end");
    CHECK(m.daemon_running());
    CHECK(lstat_errno(m / "huge") == 0);
}
