#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "tempfile/fd.hpp"
#include "tempfile/pack.hpp"
#include "tempfile/spool.hpp"

using tempfile::FileDescriptor;
using tempfile::Spool;
using Bytes = std::vector<std::byte>;

namespace {

constexpr std::uint64_t chunk_bytes = Spool::chunk_size;
constexpr std::uint64_t max_offset = std::numeric_limits<off_t>::max();

// Never zero, so a byte that should have been kept cannot pass as a hole.
Bytes pattern(std::size_t n, unsigned seed = 0) {
    Bytes out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = std::byte(1 + (i * 131 + seed * 17) % 251);
    return out;
}

Bytes zeros(std::size_t n) {
    return Bytes(n);
}

Bytes concat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

Bytes read(const Spool& spool, std::uint64_t offset, std::size_t n) {
    Bytes out(n, std::byte{0xee});
    out.resize(spool.pread(out, offset));
    return out;
}

Bytes contents(const Spool& spool) {
    return read(spool, 0, spool.size());
}

bool all_zero(const Bytes& bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

int error_of(const auto& call) {
    try {
        call();
    } catch (const std::system_error& e) {
        return e.code().value();
    }
    return 0;
}

// A fresh directory under /var/tmp (disk, as spoolfs's default spill directory), removed
// with everything in it at the end of the test.
class TempDir {
  public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string name = std::string(base && *base ? base : "/var/tmp") + "/spool_test.XXXXXX";
        if (!::mkdtemp(name.data()))
            throw std::system_error(errno, std::generic_category(), "mkdtemp");
        path_ = name;
        fd_.reset(::open(name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd_) throw std::system_error(errno, std::generic_category(), "open dir");
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    int fd() const { return fd_.get(); }
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
    FileDescriptor fd_;
};

// The same checks run on a spool in RAM and on one rolled over before its first write.
Spool make_spool(bool rolled, const TempDir& dir) {
    Spool spool;
    if (rolled) spool.rollover(dir.fd());
    REQUIRE(spool.rolled() == rolled);
    return spool;
}

}  // namespace

TEST_CASE("a new spool is empty") {
    Spool spool;
    CHECK(spool.size() == 0);
    CHECK(spool.ram_bytes() == 0);
    CHECK(spool.allocated_bytes() == 0);
    CHECK_FALSE(spool.rolled());
    CHECK(spool.fd() == -1);
    CHECK(read(spool, 0, 10).empty());
    CHECK_FALSE(spool.seek_data(0));
    CHECK_FALSE(spool.seek_hole(0));
}

TEST_CASE("write and read back across chunk boundaries") {
    TempDir dir;
    const bool rolled = GENERATE(false, true);
    CAPTURE(rolled);
    Spool spool = make_spool(rolled, dir);

    const Bytes data = pattern(3 * chunk_bytes + 123);
    CHECK(spool.pwrite(data, 7) == data.size());
    CHECK(spool.size() == data.size() + 7);
    CHECK(read(spool, 0, 7) == zeros(7));
    CHECK(read(spool, 7, data.size()) == data);

    SECTION("reads are short at the end and empty past it") {
        CHECK(read(spool, spool.size() - 5, 100).size() == 5);
        CHECK(read(spool, spool.size(), 100).empty());
        CHECK(read(spool, spool.size() + chunk_bytes * 1000, 100).empty());
        CHECK(read(spool, max_offset + 1, 100).empty());
    }
    SECTION("an overwrite straddling a boundary changes only its range") {
        const Bytes patch = pattern(1000, 9);
        spool.pwrite(patch, chunk_bytes - 500);
        // Built at its full size, not by insert() after zeros(7): GCC 12 at -O3 reports a
        // false -Warray-bounds (memcpy "offset 7 out of the bounds [0, 7]") in that insert.
        Bytes expected = zeros(7 + data.size());
        std::copy(data.begin(), data.end(), expected.begin() + 7);
        std::copy(patch.begin(), patch.end(), expected.begin() + chunk_bytes - 500);
        CHECK(contents(spool) == expected);
    }
    SECTION("an empty write changes nothing") {
        CHECK(spool.pwrite({}, spool.size() + 100) == 0);
        CHECK(spool.size() == data.size() + 7);
    }
}

TEST_CASE("a gap becomes a hole that reads as zeros and costs no memory") {
    TempDir dir;
    const bool rolled = GENERATE(false, true);
    CAPTURE(rolled);
    Spool spool = make_spool(rolled, dir);

    const std::uint64_t far = std::uint64_t{1} << 40;  // 1 TiB
    spool.pwrite(pattern(10), 0);
    spool.pwrite(pattern(10, 3), far);
    CHECK(spool.size() == far + 10);
    CHECK(read(spool, 10, 3 * chunk_bytes) == zeros(3 * chunk_bytes));
    CHECK(read(spool, far - 100, 100) == zeros(100));
    CHECK(read(spool, far, 10) == pattern(10, 3));
    CHECK(spool.allocated_bytes() <= 4 * chunk_bytes);
    if (!rolled) CHECK(spool.ram_bytes() == 2 * 4096);
}

TEST_CASE("truncate shrinks and grows, and what was cut off never comes back") {
    TempDir dir;
    const bool rolled = GENERATE(false, true);
    const std::uint64_t cut = GENERATE(as<std::uint64_t>{}, 0, 1, 4095, chunk_bytes - 1,
                                       chunk_bytes, chunk_bytes + 1, 2 * chunk_bytes + 77);
    CAPTURE(rolled, cut);
    Spool spool = make_spool(rolled, dir);

    const Bytes data = pattern(3 * chunk_bytes);
    spool.pwrite(data, 0);
    spool.truncate(cut);
    CHECK(spool.size() == cut);
    CHECK(contents(spool) == Bytes(data.begin(), data.begin() + cut));

    spool.truncate(4 * chunk_bytes);
    CHECK(spool.size() == 4 * chunk_bytes);
    Bytes expected(data.begin(), data.begin() + cut);
    expected.resize(4 * chunk_bytes);
    CHECK(contents(spool) == expected);
    if (!rolled) CHECK(spool.ram_bytes() <= (cut + chunk_bytes - 1) / chunk_bytes * chunk_bytes);
}

TEST_CASE("truncating to an absurd size allocates nothing") {
    TempDir dir;
    const bool rolled = GENERATE(false, true);
    CAPTURE(rolled);
    Spool spool = make_spool(rolled, dir);

    spool.truncate(std::uint64_t{1} << 40);
    CHECK(spool.size() == std::uint64_t{1} << 40);
    CHECK(spool.ram_bytes() == 0);
    CHECK(spool.allocated_bytes() == 0);
    CHECK(read(spool, (std::uint64_t{1} << 39) + 5, 4096) == zeros(4096));
}

TEST_CASE("a small file grows its last chunk in powers of two") {
    Spool spool;
    spool.pwrite(pattern(1), 0);
    CHECK(spool.ram_bytes() == 4096);
    spool.pwrite(pattern(1), 4096);
    CHECK(spool.ram_bytes() == 8192);
    spool.pwrite(pattern(1), 20000);
    CHECK(spool.ram_bytes() == 32768);
    spool.pwrite(pattern(1), chunk_bytes - 1);
    CHECK(spool.ram_bytes() == chunk_bytes);
    CHECK(spool.allocated_bytes() == spool.ram_bytes());
    CHECK(contents(spool).size() == chunk_bytes);

    SECTION("and gives the memory back when truncated") {
        spool.truncate(100);
        CHECK(spool.ram_bytes() == 4096);
        Bytes expected = zeros(100);
        expected[0] = pattern(1)[0];
        CHECK(contents(spool) == expected);
    }
    SECTION("a hundred thousand one-byte files cost 4 KiB of data each") {
        std::vector<Spool> spools(100'000);
        std::uint64_t total = 0;
        for (auto& s : spools) {
            s.pwrite(pattern(1), 0);
            total += s.ram_bytes();
        }
        CHECK(total == 100'000 * 4096);
    }
}

TEST_CASE("punch_hole frees whole chunks, zeroes partial ones and keeps the size") {
    TempDir dir;
    const bool rolled = GENERATE(false, true);
    CAPTURE(rolled);
    Spool spool = make_spool(rolled, dir);

    const Bytes data = pattern(4 * chunk_bytes);
    spool.pwrite(data, 0);
    const std::uint64_t before = spool.allocated_bytes();
    spool.punch_hole(chunk_bytes / 2, 2 * chunk_bytes);
    Bytes expected = data;
    std::fill(expected.begin() + chunk_bytes / 2,
              expected.begin() + chunk_bytes / 2 + 2 * chunk_bytes, std::byte{0});
    CHECK(spool.size() == 4 * chunk_bytes);
    CHECK(contents(spool) == expected);
    CHECK(spool.allocated_bytes() <= before - chunk_bytes);
    if (!rolled) CHECK(spool.ram_bytes() == 3 * chunk_bytes);

    SECTION("past the end it changes nothing but zeroes") {
        spool.punch_hole(4 * chunk_bytes - 10, 10 * chunk_bytes);
        std::fill(expected.end() - 10, expected.end(), std::byte{0});
        CHECK(spool.size() == 4 * chunk_bytes);
        CHECK(contents(spool) == expected);
    }
    SECTION("over everything it leaves no data") {
        spool.punch_hole(0, 4 * chunk_bytes);
        CHECK(contents(spool) == zeros(4 * chunk_bytes));
        CHECK_FALSE(spool.seek_data(0));
        CHECK(spool.allocated_bytes() == 0);
    }
    SECTION("a range covering the tail of a short last chunk frees it") {
        spool.truncate(3 * chunk_bytes + 100);
        spool.punch_hole(3 * chunk_bytes, 100);
        expected.resize(3 * chunk_bytes);
        expected.resize(3 * chunk_bytes + 100);
        CHECK(contents(spool) == expected);
        if (rolled) {
            // ext4 zeroes a partial block in place rather than freeing it.
            CHECK(spool.seek_hole(3 * chunk_bytes) >= 3 * chunk_bytes);
        } else {
            CHECK(spool.seek_hole(3 * chunk_bytes) == 3 * chunk_bytes);
            CHECK(spool.ram_bytes() == 2 * chunk_bytes);
        }
    }
}

TEST_CASE("zero_range reads as zeros and grows the size unless keep_size") {
    TempDir dir;
    const bool rolled = GENERATE(false, true);
    CAPTURE(rolled);
    Spool spool = make_spool(rolled, dir);

    Bytes expected = pattern(3 * chunk_bytes);
    spool.pwrite(expected, 0);
    const std::uint64_t ram = spool.ram_bytes();
    spool.zero_range(100, chunk_bytes);
    std::fill(expected.begin() + 100, expected.begin() + 100 + chunk_bytes, std::byte{0});
    CHECK(contents(spool) == expected);
    CHECK(spool.ram_bytes() <= ram);

    spool.zero_range(3 * chunk_bytes - 10, 100, true);
    std::fill(expected.end() - 10, expected.end(), std::byte{0});
    CHECK(spool.size() == 3 * chunk_bytes);
    CHECK(contents(spool) == expected);

    spool.zero_range(3 * chunk_bytes - 20, 100);
    std::fill(expected.end() - 20, expected.end(), std::byte{0});
    expected.resize(3 * chunk_bytes + 80);
    CHECK(spool.size() == 3 * chunk_bytes + 80);
    CHECK(contents(spool) == expected);
}

TEST_CASE("allocate backs a range with storage and grows the size unless keep_size") {
    TempDir dir;
    const bool rolled = GENERATE(false, true);
    CAPTURE(rolled);
    Spool spool = make_spool(rolled, dir);

    spool.pwrite(pattern(1000), 0);
    spool.allocate(500, 3 * chunk_bytes);
    CHECK(spool.size() == 500 + 3 * chunk_bytes);
    Bytes expected = pattern(1000);
    expected.resize(500 + 3 * chunk_bytes);
    CHECK(contents(spool) == expected);
    CHECK(spool.allocated_bytes() >= 3 * chunk_bytes);
    if (!rolled) CHECK(spool.ram_bytes() == 4 * chunk_bytes);

    const std::uint64_t before = spool.allocated_bytes();
    spool.allocate(spool.size() + chunk_bytes, 2 * chunk_bytes, true);
    CHECK(spool.size() == 500 + 3 * chunk_bytes);
    CHECK(spool.allocated_bytes() >= before + 2 * chunk_bytes);
    CHECK(contents(spool) == expected);

    SECTION("space kept past the end reads as zeros once the size grows") {
        spool.truncate(10 * chunk_bytes);
        expected.resize(10 * chunk_bytes);
        CHECK(contents(spool) == expected);
    }
    SECTION("and is freed by a truncate below it") {
        spool.truncate(100);
        CHECK(spool.allocated_bytes() <= chunk_bytes);
        expected.resize(100);
        CHECK(contents(spool) == expected);
    }
}

TEST_CASE("allocating more than the machine's memory in RAM fails with ENOMEM, changing nothing") {
    Spool spool;
    spool.pwrite(pattern(100), 0);
    CHECK(error_of([&] { spool.allocate(0, std::uint64_t{1} << 50); }) == ENOMEM);
    CHECK(spool.size() == 100);
    CHECK(spool.ram_bytes() == 4096);
    CHECK(contents(spool) == pattern(100));
}

TEST_CASE("seek_data and seek_hole find data and holes") {
    TempDir dir;
    const bool rolled = GENERATE(false, true);
    CAPTURE(rolled);
    Spool spool = make_spool(rolled, dir);

    // Data at [0, 10) and [1 MiB, 1 MiB + 10), then a hole to 3 MiB. RAM reports whole
    // chunks as data, a disk file whole blocks: check what holds for both.
    const std::uint64_t mib = 1 << 20;
    spool.pwrite(pattern(10), 0);
    spool.pwrite(pattern(10), mib);
    spool.truncate(3 * mib);

    CHECK(spool.seek_data(0) == 0);
    CHECK(spool.seek_data(5) == 5);
    const auto hole = spool.seek_hole(0);
    REQUIRE(hole);
    CHECK(*hole >= 10);
    CHECK(*hole <= chunk_bytes);
    CHECK(spool.seek_data(*hole) == mib);
    CHECK(spool.seek_data(100'000) == mib);
    const auto tail = spool.seek_hole(mib);
    REQUIRE(tail);
    CHECK(*tail >= mib + 10);
    CHECK(*tail <= mib + chunk_bytes);
    CHECK_FALSE(spool.seek_data(mib + chunk_bytes));
    CHECK(spool.seek_hole(3 * mib - 1) == 3 * mib - 1);
    CHECK_FALSE(spool.seek_data(3 * mib));
    CHECK_FALSE(spool.seek_hole(3 * mib));
    CHECK_FALSE(spool.seek_data(max_offset + 1));

    SECTION("the end of a file that is all data is its only hole") {
        spool.truncate(100);
        spool.pwrite(pattern(100), 0);
        CHECK(spool.seek_hole(0) == 100);
        CHECK(spool.seek_hole(50) == 100);
        CHECK(spool.seek_data(99) == 99);
    }
}

TEST_CASE("offsets and sizes past off_t's range are refused, changing nothing") {
    TempDir dir;
    const bool rolled = GENERATE(false, true);
    CAPTURE(rolled);
    Spool spool = make_spool(rolled, dir);
    spool.pwrite(pattern(100), 0);

    CHECK(error_of([&] { spool.pwrite(pattern(10), max_offset - 5); }) == EFBIG);
    CHECK(error_of([&] { spool.pwrite(pattern(10), max_offset + 1); }) == EINVAL);
    CHECK(error_of([&] { spool.truncate(max_offset + 1); }) == EINVAL);
    CHECK(error_of([&] { spool.allocate(max_offset - 5, 10); }) == EFBIG);
    CHECK(error_of([&] { spool.zero_range(max_offset - 5, 10); }) == EFBIG);
    CHECK(error_of([&] { spool.punch_hole(max_offset - 5, 10); }) == EFBIG);
    CHECK(error_of([&] { spool.punch_hole(0, 0); }) == EINVAL);
    CHECK(error_of([&] { spool.allocate(0, 0); }) == EINVAL);
    CHECK(error_of([&] { spool.zero_range(0, max_offset + 1); }) == EINVAL);
    CHECK(spool.size() == 100);
    CHECK(contents(spool) == pattern(100));
}

TEST_CASE(
    "in RAM a spool reaches the last offset; a file system that cannot hold it refuses the "
    "rollover") {
    TempDir dir;
    Spool spool;
    spool.pwrite(pattern(100), 0);
    spool.pwrite(pattern(10, 1), max_offset - 10);
    CHECK(spool.size() == max_offset);
    CHECK(read(spool, max_offset - 10, 100) == pattern(10, 1));
    // ext4 stops at 16 TiB; a file system that goes further takes the data.
    const int err = error_of([&] { spool.rollover(dir.fd()); });
    CHECK(spool.rolled() == (err == 0));
    CHECK(spool.size() == max_offset);
    CHECK(read(spool, 0, 100) == pattern(100));
    CHECK(read(spool, max_offset - 10, 100) == pattern(10, 1));
}

TEST_CASE("rollover keeps every byte and every hole, at every boundary") {
    TempDir dir;
    const std::uint64_t size =
        GENERATE(as<std::uint64_t>{}, 0, 1, 4095, 4096, 4097, chunk_bytes - 1, chunk_bytes,
                 chunk_bytes + 1, 3 * chunk_bytes, 3 * chunk_bytes + 5);
    const int layout = GENERATE(0, 1, 2);  // dense, with holes, after truncate
    CAPTURE(size, layout);

    Spool spool;
    Bytes expected(size);
    if (layout == 0) {
        expected = pattern(size);
        spool.pwrite(expected, 0);
    } else if (layout == 1) {
        spool.truncate(size);
        for (std::uint64_t off = 0; off + 2 * chunk_bytes < size + chunk_bytes;
             off += 2 * chunk_bytes) {
            const std::size_t n = std::min<std::uint64_t>(100, size - off);
            const Bytes piece = pattern(n, static_cast<unsigned>(off));
            spool.pwrite(piece, off);
            std::copy(piece.begin(), piece.end(), expected.begin() + off);
        }
    } else {
        spool.pwrite(pattern(4 * chunk_bytes), 0);
        spool.truncate(size / 2);
        spool.truncate(size);
        const Bytes data = pattern(size / 2);
        std::copy(data.begin(), data.end(), expected.begin());
    }
    REQUIRE(contents(spool) == expected);

    spool.rollover(dir.fd());
    CHECK(spool.rolled());
    CHECK(spool.fd() >= 0);
    CHECK(spool.ram_bytes() == 0);
    CHECK(spool.size() == size);
    CHECK(contents(spool) == expected);
    if (layout == 1 && size > 2 * chunk_bytes) CHECK(spool.allocated_bytes() < size);

    // The backing file has no name in the directory.
    CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("rollover adopts a given empty file") {
    TempDir dir;
    const auto path = dir.path() / "adopted";
    FileDescriptor file(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    REQUIRE(file);
    const int raw = file.get();

    Spool spool;
    spool.pwrite(pattern(chunk_bytes + 10), 5);
    spool.rollover(std::move(file));
    CHECK(spool.fd() == raw);
    CHECK(spool.ram_bytes() == 0);

    // Seen through another descriptor: the data really is in that file.
    FileDescriptor other(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(other);
    Bytes seen(chunk_bytes + 100);
    const ssize_t n = ::pread(other.get(), seen.data(), seen.size(), 0);
    REQUIRE(n == static_cast<ssize_t>(chunk_bytes + 15));
    seen.resize(static_cast<std::size_t>(n));
    CHECK(seen == concat(zeros(5), pattern(chunk_bytes + 10)));
}

TEST_CASE("unroll brings every byte and every hole back into RAM and closes the file") {
    TempDir dir;
    Spool spool;
    spool.pwrite(pattern(100), 10);
    spool.pwrite(pattern(chunk_bytes), 3 * chunk_bytes + 7);
    spool.truncate(6 * chunk_bytes + 1);
    const Bytes before = contents(spool);
    spool.rollover(dir.fd());
    const int fd = spool.fd();

    spool.unroll();
    CHECK_FALSE(spool.rolled());
    CHECK(::fcntl(fd, F_GETFD) == -1);
    CHECK(spool.size() == 6 * chunk_bytes + 1);
    CHECK(contents(spool) == before);
    // The holes stayed holes: only the chunks holding data take RAM.
    CHECK(spool.ram_bytes() <= 4 * chunk_bytes);
    CHECK(spool.seek_data(chunk_bytes) == 3 * chunk_bytes);

    spool.unroll();  // in RAM: nothing to do
    CHECK(contents(spool) == before);
}

TEST_CASE("move_to takes the data, holes kept, into a new file in another directory") {
    TempDir first, second;
    Spool spool;
    spool.pwrite(pattern(100), 10);
    spool.pwrite(pattern(chunk_bytes), 3 * chunk_bytes + 7);
    spool.truncate(6 * chunk_bytes + 1);
    const Bytes before = contents(spool);

    spool.move_to(first.fd());  // from RAM: a rollover
    REQUIRE(spool.rolled());
    const int old_fd = spool.fd();
    spool.move_to(second.fd());  // from one file to another
    CHECK(spool.fd() != old_fd);
    CHECK(::fcntl(old_fd, F_GETFD) == -1);
    CHECK(contents(spool) == before);
    CHECK(spool.size() == 6 * chunk_bytes + 1);
    CHECK(spool.seek_data(chunk_bytes) == 3 * chunk_bytes);
    struct stat st {};
    REQUIRE(::fstat(spool.fd(), &st) == 0);
    CHECK(static_cast<std::uint64_t>(st.st_blocks) * 512 < 3 * chunk_bytes);  // holes stayed
}

TEST_CASE("sync_size takes the size of writes made to the file behind the spool's back") {
    TempDir dir;
    Spool spool;
    spool.pwrite(pattern(100), 0);
    spool.sync_size();  // in RAM: nothing to follow
    CHECK(spool.size() == 100);

    spool.rollover(dir.fd());
    const Bytes more = pattern(50);
    REQUIRE(::pwrite(spool.fd(), more.data(), more.size(), 200) == 50);
    CHECK(spool.size() == 100);
    spool.sync_size();
    CHECK(spool.size() == 250);
    CHECK(contents(spool) == concat(concat(pattern(100), zeros(100)), more));

    REQUIRE(::ftruncate(spool.fd(), 10) == 0);
    spool.sync_size();
    CHECK(spool.size() == 10);
}

TEST_CASE("rollover of a rolled-over spool changes nothing and closes a given file") {
    TempDir dir;
    Spool spool;
    spool.pwrite(pattern(100), 0);
    spool.rollover(dir.fd());
    const int fd = spool.fd();

    spool.rollover(dir.fd());
    CHECK(spool.fd() == fd);

    FileDescriptor extra(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    const int raw = extra.get();
    REQUIRE(raw >= 0);
    spool.rollover(std::move(extra));
    CHECK(spool.fd() == fd);
    CHECK(::fcntl(raw, F_GETFD) == -1);
    CHECK(errno == EBADF);
    CHECK(contents(spool) == pattern(100));
}

TEST_CASE("a failed rollover throws and leaves the data in RAM") {
    Spool spool;
    spool.pwrite(pattern(2 * chunk_bytes), 100);
    spool.truncate(5 * chunk_bytes);
    const Bytes expected = contents(spool);
    const std::uint64_t ram = spool.ram_bytes();

    SECTION("a directory nothing can be created in") {
        // procfs has no O_TMPFILE, so this takes the create-and-unlink path, which fails.
        FileDescriptor proc(::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        REQUIRE(proc);
        CHECK(error_of([&] { spool.rollover(proc.get()); }) != 0);
    }
    SECTION("a directory that was removed") {
        std::optional<TempDir> dir(std::in_place);
        FileDescriptor fd(::dup(dir->fd()));
        dir.reset();
        CHECK(error_of([&] { spool.rollover(fd.get()); }) != 0);
    }
    SECTION("a descriptor that is not a directory") {
        TempDir dir;
        FileDescriptor file(::openat(dir.fd(), "f", O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        REQUIRE(file);
        CHECK(error_of([&] { spool.rollover(file.get()); }) == ENOTDIR);
    }
    SECTION("a given file opened read-only") {
        TempDir dir;
        FileDescriptor(::openat(dir.fd(), "f", O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        FileDescriptor file(::openat(dir.fd(), "f", O_RDONLY | O_CLOEXEC));
        REQUIRE(file);
        CHECK(error_of([&] { spool.rollover(std::move(file)); }) != 0);
    }
    CHECK_FALSE(spool.rolled());
    CHECK(spool.fd() == -1);
    CHECK(spool.ram_bytes() == ram);
    CHECK(contents(spool) == expected);
}

namespace {

// Limits the size of files this process writes, so a write to the rolled-over file fails
// the way a full disk makes it fail: part written, then an error.
class FileSizeLimit {
  public:
    explicit FileSizeLimit(rlim_t bytes) {
        old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
        ::getrlimit(RLIMIT_FSIZE, &old_);
        rlimit limit = old_;
        limit.rlim_cur = bytes;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
    }
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;
    ~FileSizeLimit() {
        ::setrlimit(RLIMIT_FSIZE, &old_);
        ::signal(SIGXFSZ, old_handler_);
    }

  private:
    rlimit old_{};
    sighandler_t old_handler_;
};

}  // namespace

TEST_CASE("a failed write to the rolled-over file keeps the size and the bytes before it") {
    TempDir dir;
    Spool spool;
    spool.rollover(dir.fd());
    const Bytes data = pattern(2 * chunk_bytes);
    spool.pwrite(data, 0);
    {
        FileSizeLimit limit(3 * chunk_bytes);
        CHECK(error_of([&] { spool.pwrite(pattern(3 * chunk_bytes, 5), chunk_bytes); }) == EFBIG);
    }
    CHECK(spool.size() == 2 * chunk_bytes);
    struct stat st {};
    REQUIRE(::fstat(spool.fd(), &st) == 0);
    CHECK(st.st_size == static_cast<off_t>(2 * chunk_bytes));
    CHECK(read(spool, 0, chunk_bytes) == Bytes(data.begin(), data.begin() + chunk_bytes));
    CHECK(spool.pwrite(pattern(10), 2 * chunk_bytes) == 10);
    CHECK(spool.size() == 2 * chunk_bytes + 10);
}

TEST_CASE("a moved spool keeps its data and its file; the moved-from one is empty") {
    TempDir dir;
    const bool rolled = GENERATE(false, true);
    CAPTURE(rolled);
    Spool spool = make_spool(rolled, dir);
    spool.pwrite(pattern(chunk_bytes + 1), 0);
    const int fd = spool.fd();

    Spool moved(std::move(spool));
    CHECK(moved.fd() == fd);
    CHECK(contents(moved) == pattern(chunk_bytes + 1));
    // The moved-from spool is empty and in RAM, charged for nothing.
    CHECK(spool.size() == 0);  // NOLINT(bugprone-use-after-move)
    CHECK(spool.ram_bytes() == 0);
    CHECK_FALSE(spool.rolled());
    CHECK(read(spool, 0, 10).empty());
    Spool assigned;
    assigned = std::move(moved);
    CHECK(assigned.fd() == fd);
    CHECK(contents(assigned) == pattern(chunk_bytes + 1));
}

TEST_CASE("random operations match a plain byte vector, in RAM, after rollover and packed") {
    TempDir dir;
    std::uint64_t seed = GENERATE(1, 2, 3, 4, 5, 6, 7, 8);
    if (const char* env = std::getenv("SPOOL_TEST_SEED")) seed = std::strtoull(env, nullptr, 10);
    INFO("seed " << seed << " (rerun with SPOOL_TEST_SEED=" << seed << ")");

    std::mt19937_64 rng(seed);
    const auto below = [&](std::uint64_t n) { return n == 0 ? 0 : rng() % n; };
    constexpr int steps = 3000;
    constexpr std::uint64_t span = 24 * chunk_bytes;
    // Seed 1 never rolls over, so one run stays in RAM throughout; odd seeds pack, even
    // ones roll over to a file of their own.
    const int rollover_at = seed == 1 ? steps : static_cast<int>(below(steps));
    const bool packs = seed % 2 == 1;
    const auto pack = std::make_shared<tempfile::Pack>(dir.fd());

    const auto offset = [&]() -> std::uint64_t {
        if (below(4) == 0) {  // on or next to a chunk_bytes or page boundary
            const std::uint64_t unit = below(2) ? chunk_bytes : 4096;
            const std::uint64_t base = below(span / unit) * unit;
            const std::uint64_t jitter = below(3);
            return below(2) ? base + jitter : (base >= jitter ? base - jitter : 0);
        }
        return below(span);
    };
    const auto length = [&]() -> std::uint64_t {
        switch (below(3)) {
            case 0:
                return below(100);
            case 1:
                return below(3 * 4096);
            default:
                return below(3 * chunk_bytes);
        }
    };

    Spool spool;
    Bytes model;
    std::uint64_t reserved_end = 0;  // preallocated past the end with keep_size
    for (int step = 0; step < steps; ++step) {
        if (step == rollover_at) {
            if (packs)
                spool.pack(pack);
            else
                spool.rollover(dir.fd());
        }
        const std::uint64_t off = offset();
        const std::uint64_t len = length();
        const std::uint64_t end = off + len;
        const auto zero_model = [&](std::uint64_t from, std::uint64_t to) {
            to = std::min<std::uint64_t>(to, model.size());
            if (from < to) std::fill(model.begin() + from, model.begin() + to, std::byte{0});
        };
        const auto grow_model = [&](std::uint64_t to) {
            if (to > model.size()) model.resize(to);
        };
        const int op = static_cast<int>(below(9));
        INFO("step " << step << " op " << op << " offset " << off << " length " << len);
        switch (op) {
            case 0:
            case 1: {
                const Bytes data = pattern(len, static_cast<unsigned>(step));
                REQUIRE(spool.pwrite(data, off) == len);
                if (len) grow_model(end);
                std::copy(data.begin(), data.end(), model.begin() + off);
                break;
            }
            case 2: {
                Bytes expected;
                if (off < model.size()) {
                    expected.assign(model.begin() + off,
                                    model.begin() + std::min<std::uint64_t>(end, model.size()));
                }
                REQUIRE(read(spool, off, len) == expected);
                break;
            }
            case 3:
                spool.truncate(off);
                // Only shrinking frees what was preallocated past the end (as on tmpfs).
                if (off < model.size()) reserved_end = std::min(reserved_end, off);
                model.resize(off);
                break;
            case 4:
                if (len == 0) break;
                spool.punch_hole(off, len);
                zero_model(off, end);
                break;
            case 5: {
                if (len == 0) break;
                const bool keep = below(2);
                spool.zero_range(off, len, keep);
                zero_model(off, end);
                if (!keep) grow_model(end);
                break;
            }
            case 6: {
                if (len == 0) break;
                const bool keep = below(2);
                spool.allocate(off, len, keep);
                if (keep) reserved_end = std::max(reserved_end, end);
                if (!keep) grow_model(end);
                break;
            }
            case 7: {
                // Whatever the granularity, data is never reported inside a run of zeros
                // past it, and a hole never where a byte is not zero.
                const auto data = spool.seek_data(off);
                if (off >= model.size()) {
                    REQUIRE_FALSE(data);
                    break;
                }
                const std::uint64_t stop = data ? *data : model.size();
                REQUIRE(stop >= off);
                REQUIRE(stop <= model.size());
                REQUIRE(all_zero(Bytes(model.begin() + off, model.begin() + stop)));
                break;
            }
            case 8: {
                const auto hole = spool.seek_hole(off);
                if (off >= model.size()) {
                    REQUIRE_FALSE(hole);
                    break;
                }
                REQUIRE(hole);
                REQUIRE(*hole >= off);
                REQUIRE(*hole <= model.size());
                if (*hole < model.size()) REQUIRE(model[*hole] == std::byte{0});
                break;
            }
        }
        REQUIRE(spool.size() == model.size());
        if (spool.packed()) {
            REQUIRE(spool.ram_bytes() == 0);
            REQUIRE(spool.fd() == -1);
            const std::uint64_t covered = std::max<std::uint64_t>(model.size(), reserved_end);
            REQUIRE(spool.allocated_bytes() <=
                    (covered + chunk_bytes - 1) / chunk_bytes * chunk_bytes);
        } else if (spool.rolled()) {
            REQUIRE(spool.ram_bytes() == 0);
        } else {
            REQUIRE(spool.allocated_bytes() == spool.ram_bytes());
            const std::uint64_t covered = std::max<std::uint64_t>(model.size(), reserved_end);
            REQUIRE(spool.ram_bytes() <= (covered + chunk_bytes - 1) / chunk_bytes * chunk_bytes);
        }
        if (step % 100 == 99) REQUIRE(contents(spool) == model);
    }
    CHECK(spool.rolled() == (rollover_at < steps));
    CHECK(spool.packed() == (packs && rollover_at < steps));
    CHECK(contents(spool) == model);
    // Back to RAM and out to a file of its own, holes kept.
    if (spool.packed()) {
        const std::uint64_t held = spool.allocated_bytes();
        spool.unroll();
        CHECK_FALSE(spool.rolled());
        CHECK(spool.ram_bytes() == held);
        CHECK(contents(spool) == model);
        CHECK(pack->slots_in_use() == 0);
        spool.pack(pack);
        spool.move_to(dir.fd());
        CHECK(spool.fd() >= 0);
        CHECK(contents(spool) == model);
        CHECK(pack->slots_in_use() == 0);
    }
}

TEST_CASE("read_pieces gives what pread gives, holes included, without a copy") {
    Spool spool;
    std::mt19937_64 rng(7);
    Bytes model(5 * Spool::chunk_size + 123);
    for (int i = 0; i < 40; ++i) {
        std::uint64_t at = rng() % model.size();
        std::size_t n = 1 + rng() % std::min<std::uint64_t>(9000, model.size() - at);
        Bytes data(n, static_cast<std::byte>(1 + rng() % 255));
        spool.pwrite(data, at);
        std::copy(data.begin(), data.end(), model.begin() + static_cast<std::ptrdiff_t>(at));
    }
    spool.punch_hole(Spool::chunk_size, Spool::chunk_size);
    std::fill_n(model.begin() + Spool::chunk_size, Spool::chunk_size, std::byte{0});
    model.resize(spool.size());
    for (int i = 0; i < 200; ++i) {
        std::uint64_t at = rng() % (model.size() + 10);
        std::size_t n = rng() % (3 * Spool::chunk_size);
        Bytes got;
        std::size_t covered = spool.read_pieces(at, n, [&](std::span<const std::byte> piece) {
            got.insert(got.end(), piece.begin(), piece.end());
        });
        Bytes want(at < model.size() ? std::min<std::uint64_t>(n, model.size() - at) : 0);
        if (!want.empty())
            std::copy_n(model.begin() + static_cast<std::ptrdiff_t>(at), want.size(), want.begin());
        INFO("offset " << at << ", length " << n);
        CHECK(covered == want.size());
        CHECK(got == want);
    }
}

TEST_CASE("ram_growth predicts exactly what a write adds to ram_bytes") {
    Spool spool;
    std::mt19937_64 rng(11);
    for (int i = 0; i < 2000; ++i) {
        std::uint64_t at = rng() % (8 * Spool::chunk_size);
        std::size_t n = 1 + rng() % (2 * Spool::chunk_size);
        if (rng() % 4 == 0) spool.truncate(rng() % (8 * Spool::chunk_size));
        std::uint64_t predicted = spool.ram_growth(at, n);
        std::uint64_t before = spool.ram_bytes();
        spool.pwrite(Bytes(n, std::byte{1}), at);
        INFO("write of " << n << " at " << at);
        REQUIRE(spool.ram_bytes() - before == predicted);
    }
}

TEST_CASE("growth's closed form equals what allocate and pwrite add, in RAM and packed") {
    TempDir dir;
    const bool packs = GENERATE(false, true);
    std::mt19937_64 rng(packs ? 13 : 12);
    Spool spool;
    if (packs) spool.pack(std::make_shared<tempfile::Pack>(dir.fd()));
    for (int i = 0; i < 600; ++i) {
        // Sparse: a few chunks of assorted capacities scattered over 64 chunks.
        if (rng() % 8 == 0) spool.truncate(rng() % (64 * chunk_bytes));
        if (rng() % 3 == 0) spool.punch_hole(rng() % (64 * chunk_bytes), 1 + rng() % (4 * chunk_bytes));
        const std::uint64_t at = rng() % (64 * chunk_bytes);
        const std::uint64_t n = 1 + rng() % (rng() % 2 ? 5000 : 20 * chunk_bytes);
        const std::uint64_t predicted = spool.growth(at, n);
        REQUIRE(spool.ram_growth(at, n) == (packs ? 0 : predicted));
        const std::uint64_t before = spool.allocated_bytes();
        INFO("at " << at << " length " << n << " step " << i);
        if (rng() % 2)
            spool.allocate(at, n, rng() % 2);
        else
            spool.pwrite(Bytes(n, std::byte{7}), at);
        REQUIRE(spool.allocated_bytes() - before == predicted);
    }
}

namespace {

// A hang detector, not a speed assertion: what would walk every chunk index of 2^63 bytes
// takes hours, what is bounded by the data takes microseconds.
constexpr auto hang_bound = std::chrono::seconds(2);

template <typename F>
std::chrono::steady_clock::duration timed(F&& f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::steady_clock::now() - start;
}

}  // namespace

TEST_CASE("no call does work proportional to the offsets and lengths passed") {
    TempDir dir;
    const int where = GENERATE(0, 1, 2);  // RAM, packed, a file of its own
    INFO((where == 0 ? "in RAM" : where == 1 ? "packed" : "own file"));
    Spool spool;
    const auto pack = std::make_shared<tempfile::Pack>(dir.fd());
    const Bytes data = pattern(3 * chunk_bytes + 5, 3);
    spool.pwrite(data, 1000);
    if (where == 1) spool.pack(pack);
    if (where == 2) spool.rollover(dir.fd());
    const std::uint64_t size = spool.size();

    SECTION("growth over the whole offset range: a closed form") {
        std::uint64_t g = 0;
        CHECK(timed([&] { g = spool.growth(0, max_offset); }) < hang_bound);
        if (where == 2) {
            CHECK(g == 0);
        } else {
            // Every chunk index becomes a full chunk; those present count their growth only.
            CHECK(g == (std::uint64_t{1} << 63) - spool.allocated_bytes());
        }
        CHECK(Spool().growth(0, max_offset) == std::uint64_t{1} << 63);
        CHECK(Spool().growth(max_offset - 1, 1) == chunk_bytes);  // the chunk's last byte
        CHECK(Spool().growth(max_offset, 1) == 0);  // refused by the call itself
    }
    SECTION("allocate of 2^63-1 bytes is refused before any work, nothing lost") {
        int err = 0;
        CHECK(timed([&] { err = error_of([&] { spool.allocate(0, max_offset); }); }) < hang_bound);
        CHECK(err == (where == 0 ? ENOMEM : where == 1 ? ENOSPC : EFBIG));
        CHECK(timed([&] { err = error_of([&] { spool.allocate(0, max_offset, true); }); }) <
              hang_bound);
        CHECK(err != 0);
        CHECK(spool.size() == size);
        CHECK(read(spool, 1000, data.size()) == data);
    }
    SECTION("a write at the last offset, then seeks, punch, zero and truncate over it all") {
        const std::uint64_t far = where == 2 ? (std::uint64_t{1} << 40) : max_offset - 1;
        CHECK(timed([&] {
                  CHECK(spool.pwrite(pattern(1, 9), far) == 1);
                  CHECK(spool.size() == far + 1);
                  CHECK(spool.seek_hole(size + 10).value_or(0) >= size + 10);
                  CHECK(spool.seek_hole(size + 10).value_or(0) <= size + chunk_bytes);
                  CHECK(spool.seek_data(size + 10).value_or(0) >= size + 10);
                  CHECK(spool.seek_data(size + 10).value_or(0) <= far);
                  CHECK(spool.seek_hole(far) == far + 1);
                  spool.zero_range(size, far - size, true);
                  spool.punch_hole(size, far + 1 - size);
                  CHECK(read(spool, far, 5) == zeros(1));
                  spool.truncate(far - 10);
                  spool.truncate(size);
              }) < hang_bound);
        CHECK(read(spool, 1000, data.size()) == data);
        CHECK(spool.size() == size);
        CHECK(spool.allocated_bytes() < 8 * chunk_bytes);
    }
    SECTION("moving a huge sparse spool between RAM, the pack and a file of its own") {
        const std::uint64_t far = std::uint64_t{1} << 40;  // ext4 holds files up to 16 TiB
        spool.pwrite(pattern(10, 4), far);
        CHECK(timed([&] {
                  if (where == 0) spool.pack(pack);
                  spool.unroll();
                  spool.pack(pack);
                  spool.move_to(dir.fd());
                  spool.unroll();
              }) < hang_bound);
        CHECK_FALSE(spool.rolled());
        CHECK(read(spool, 1000, data.size()) == data);
        CHECK(read(spool, far, 10) == pattern(10, 4));
        CHECK(spool.ram_bytes() <= 6 * chunk_bytes);
    }
}

TEST_CASE("pack: slots are reused, read as zeros when taken, and give their space back") {
    TempDir dir;
    tempfile::Pack pack(dir.fd());
    const auto a = pack.acquire();
    const auto b = pack.acquire();
    CHECK(a != b);
    CHECK(pack.slots_in_use() == 2);
    pack.write(a, 0, pattern(tempfile::Pack::slot_size, 1));
    pack.write(b, 100, pattern(10, 2));
    Bytes got(10);
    pack.read(b, 100, got);
    CHECK(got == pattern(10, 2));
    pack.read(b, 0, got);
    CHECK(got == zeros(10));  // never written
    const std::uint64_t before = pack.allocated_bytes();
    CHECK(before >= tempfile::Pack::slot_size);
    pack.release(a);
    CHECK(pack.slots_in_use() == 1);
    CHECK(pack.allocated_bytes() + tempfile::Pack::slot_size <= before);  // punched out
    const auto c = pack.acquire();
    CHECK(c == a);  // reused
    Bytes whole(tempfile::Pack::slot_size, std::byte{0xee});
    pack.read(c, 0, whole);
    CHECK(all_zero(whole));  // nothing of a's data

    // Positional I/O on the shared descriptor: threads on their own slots do not mix.
    std::vector<std::thread> threads;
    std::vector<tempfile::Pack::Slot> slots(4);
    for (auto& slot : slots) slot = pack.acquire();
    for (unsigned t = 0; t < slots.size(); ++t) {
        threads.emplace_back([&, t] {
            for (unsigned i = 0; i < 50; ++i)
                pack.write(slots[t], i * 1000, pattern(1000, t));
        });
    }
    for (auto& thread : threads) thread.join();
    for (unsigned t = 0; t < slots.size(); ++t) {
        Bytes back(1000);
        pack.read(slots[t], 49000, back);
        CHECK(back == pattern(1000, t));
    }
}

TEST_CASE("a packed spool keeps data and holes, frees slots, and gives disk space back") {
    TempDir dir;
    const auto pack = std::make_shared<tempfile::Pack>(dir.fd());
    {
        Spool small;
        small.pwrite(pattern(4096, 1), 0);
        small.pack(pack);
        CHECK(small.packed());
        CHECK(small.rolled());
        CHECK(small.fd() == -1);
        CHECK(small.allocated_bytes() == 4096);  // its slot is mostly a hole
        CHECK(pack->allocated_bytes() <= 8192);
        CHECK(contents(small) == pattern(4096, 1));
        CHECK(pack->slots_in_use() == 1);
    }
    CHECK(pack->slots_in_use() == 0);  // the destructor gave the slot back

    Spool spool;
    spool.pack(pack);  // an empty spool packs too, and then grows there
    const Bytes data = pattern(5 * chunk_bytes, 2);
    spool.pwrite(data, 0);
    CHECK(pack->slots_in_use() == 5);
    const std::uint64_t disk = pack->allocated_bytes();
    CHECK(disk >= 5 * chunk_bytes);
    spool.punch_hole(chunk_bytes, 2 * chunk_bytes);  // two whole slots go
    CHECK(pack->slots_in_use() == 3);
    CHECK(pack->allocated_bytes() + 2 * chunk_bytes <= disk);
    CHECK(spool.seek_hole(0) == chunk_bytes);
    CHECK(spool.seek_data(chunk_bytes) == 3 * chunk_bytes);
    Bytes expected = data;
    std::fill(expected.begin() + chunk_bytes, expected.begin() + 3 * chunk_bytes, std::byte{0});
    CHECK(contents(spool) == expected);

    spool.truncate(3 * chunk_bytes + 100);  // the last chunk shrinks, the rest is punched
    CHECK(pack->slots_in_use() == 2);
    expected.resize(3 * chunk_bytes + 100);
    CHECK(contents(spool) == expected);
    spool.truncate(4 * chunk_bytes);  // what was cut off never comes back
    expected.resize(4 * chunk_bytes);
    CHECK(contents(spool) == expected);

    Spool moved(std::move(spool));
    CHECK(moved.packed());
    CHECK_FALSE(spool.rolled());
    moved = Spool();  // assignment gives the slots back too
    CHECK(pack->slots_in_use() == 0);
    CHECK(pack->allocated_bytes() <= 8192);
}

TEST_CASE("a failed packed write keeps the size and every byte before it") {
    TempDir dir;
    const auto pack = std::make_shared<tempfile::Pack>(dir.fd());
    Spool spool;
    const Bytes data = pattern(chunk_bytes, 3);
    spool.pwrite(data, 0);
    spool.pack(pack);
    {
        // The pack file may not reach the second slot: writing there fails as on a full disk.
        FileSizeLimit limit(chunk_bytes + 100);
        CHECK(error_of([&] { spool.pwrite(pattern(3 * chunk_bytes, 5), chunk_bytes / 2); }) ==
              EFBIG);
    }
    CHECK(spool.size() == chunk_bytes);
    CHECK(pack->slots_in_use() == 1);  // the slots taken for the write went back
    const Bytes head = read(spool, 0, chunk_bytes / 2);
    CHECK(head == Bytes(data.begin(), data.begin() + chunk_bytes / 2));
    spool.pwrite(pattern(10), chunk_bytes);
    CHECK(read(spool, chunk_bytes, 20) == pattern(10));
}
