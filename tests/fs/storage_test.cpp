// Tests of file data and its accounting without a mount: reads and writes, usage as data
// grows and shrinks, the size= limit (short writes and ENOSPC that never damage data),
// fallocate modes, SEEK_DATA/SEEK_HOLE, EFBIG, and what statfs reports.
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "storage.hpp"
#include "tempfile/fd.hpp"

using spoolfs::Inode;
using spoolfs::Storage;

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t chunk = tempfile::Spool::chunk_size;
constexpr std::uint64_t max_offset = static_cast<std::uint64_t>(INT64_MAX);

// Distinct, position-dependent bytes, so a misplaced or lost chunk shows.
std::string pattern(std::size_t size, char seed) {
    std::string s(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
        s[i] = static_cast<char>('a' + (i / 7 + i * 13 + static_cast<std::size_t>(seed)) % 26);
    return s;
}

// A directory from mkdtemp(3), removed at the end of the test: the spill directory.
class TempDir {
  public:
    TempDir() {
        std::string templ =
            (std::filesystem::temp_directory_path() / "storage_test.XXXXXX").string();
        if (mkdtemp(templ.data()) == nullptr)
            throw std::system_error(errno, std::generic_category(), "mkdtemp");
        path_ = templ;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    tempfile::FileDescriptor open() const {
        tempfile::FileDescriptor fd(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd) throw std::system_error(errno, std::generic_category(), "open");
        return fd;
    }

  private:
    std::filesystem::path path_;
};

struct Written {
    int err;
    std::size_t done;
};

// A Storage over a fresh spill directory, and files to store in it.
class Fixture {
  public:
    explicit Fixture(std::optional<std::uint64_t> size_limit = std::nullopt,
                     std::uint64_t ram_budget = 64 * MiB, std::uint64_t max_spilled = 16384,
                     bool ram_store = false)
        : storage(config(size_limit, ram_budget, max_spilled, ram_store, spill_)) {}

    Written write(Inode& inode, std::string_view data, std::uint64_t offset) {
        Written w{-1, 0};
        w.err = storage.write(inode, std::as_bytes(std::span(data.data(), data.size())), offset,
                              w.done);
        return w;
    }
    Written write(std::string_view data, std::uint64_t offset) { return write(file, data, offset); }

    // Reads what is there, up to `size` bytes; the test fails on an error.
    std::string read(Inode& inode, std::uint64_t offset, std::size_t size) {
        std::string buf(size, '\0');
        std::size_t done = 0;
        int err = storage.read(inode, std::as_writable_bytes(std::span(buf.data(), buf.size())),
                               offset, done);
        REQUIRE(err == 0);
        REQUIRE(done <= size);
        buf.resize(done);
        return buf;
    }
    std::string read(std::uint64_t offset, std::size_t size) { return read(file, offset, size); }

    std::uint64_t used() const { return storage.usage().used; }

    // A new regular file, owned by the fixture.
    Inode& new_file() {
        others_.push_back(std::make_unique<Inode>(100 + others_.size(), S_IFREG | 0644));
        return *others_.back();
    }

  private:
    static Storage::Config config(std::optional<std::uint64_t> size_limit, std::uint64_t ram_budget,
                                  std::uint64_t max_spilled, bool ram_store,
                                  const TempDir& spill) {
        Storage::Config c;
        c.size_limit = size_limit;
        c.ram_budget = ram_budget;
        c.max_spilled = max_spilled;
        c.ram_store = ram_store;
        c.spill_dir = spill.open();
        return c;
    }

    TempDir spill_;  // before `storage`, which holds a descriptor of it
    std::vector<std::unique_ptr<Inode>> others_;

  public:
    Storage storage;
    Inode file{2, S_IFREG | 0644};
};

}  // namespace

TEST_CASE("write then read returns the data; holes read as zeros", "[storage]") {
    Fixture f;
    Written w = f.write("hello", 0);
    REQUIRE(w.err == 0);
    CHECK(w.done == 5);
    CHECK(f.file.data.size() == 5);
    CHECK(f.read(0, 100) == "hello");  // short at end of file
    CHECK(f.read(5, 10).empty());
    CHECK(f.read(1000, 10).empty());

    REQUIRE(f.write("X", 200000).err == 0);
    CHECK(f.file.data.size() == 200001);
    CHECK(f.read(5, 10) == std::string(10, '\0'));
    CHECK(f.read(199999, 10) == std::string("\0X", 2));

    const std::string big = pattern(3 * chunk + 123, 'q');
    w = f.write(big, 1000);
    REQUIRE(w.err == 0);
    CHECK(w.done == big.size());
    CHECK(f.read(1000, big.size()) == big);
    CHECK(f.read(0, 5) == "hello");
    CHECK(f.write("", 10).err == 0);
    CHECK(f.file.data.size() == 200001);
}

TEST_CASE("usage follows writes, truncate, punch and drop", "[storage]") {
    Fixture f;
    CHECK(f.used() == 0);
    REQUIRE(f.write("x", 0).err == 0);
    const std::uint64_t small = f.used();
    CHECK(small > 0);
    CHECK(small <= 4 * KiB);
    CHECK(f.storage.usage().ram == small);
    CHECK(f.file.charged == small);

    REQUIRE(f.write(pattern(MiB, 'a'), 0).err == 0);
    CHECK(f.used() >= MiB);
    CHECK(f.used() == f.file.data.ram_bytes());
    CHECK(f.storage.usage().ram == f.used());

    REQUIRE(f.storage.truncate(f.file, 2 * chunk) == 0);
    CHECK(f.used() == 2 * chunk);
    CHECK(f.file.data.size() == 2 * chunk);

    REQUIRE(f.storage.fallocate(f.file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, chunk) == 0);
    CHECK(f.used() == chunk);
    CHECK(f.file.data.size() == 2 * chunk);

    REQUIRE(f.storage.truncate(f.file, 10 * MiB) == 0);  // a hole costs nothing
    CHECK(f.used() == chunk);

    Inode& other = f.new_file();
    REQUIRE(f.write(other, pattern(chunk, 'b'), 0).err == 0);
    CHECK(f.used() == 2 * chunk);

    f.storage.drop(f.file);
    CHECK(f.used() == chunk);  // the other file's data is still charged
    CHECK(f.file.charged == 0);
    CHECK(f.file.data.size() == 0);
    f.storage.drop(other);
    CHECK(f.used() == 0);
    CHECK(f.storage.usage().ram == 0);

    REQUIRE(f.storage.truncate(f.file, 0) == 0);
    CHECK(f.used() == 0);
}

TEST_CASE("size=: writes past the limit are short or ENOSPC and never damage data",
          "[storage][limits]") {
    const std::uint64_t limit = 256 * KiB;
    Fixture f(limit);

    SECTION("one write larger than the limit") {
        const std::string data = pattern(MiB, 'a');
        Written w = f.write(data, 0);
        INFO("err " << w.err << " done " << w.done);
        CHECK(((w.err == 0 && w.done > 0 && w.done < data.size()) ||
               (w.err == ENOSPC && w.done == 0)));
        CHECK(w.done <= limit);
        CHECK(f.used() <= limit);
        CHECK(f.file.data.size() == w.done);
        CHECK(f.read(0, data.size()) == data.substr(0, w.done));
    }
    SECTION("earlier data survives; overwriting it when full still works") {
        const std::string first = pattern(100 * KiB, 'a');
        REQUIRE(f.write(first, 0).done == first.size());
        const std::string second = pattern(MiB, 'b');
        Written w = f.write(second, first.size());
        INFO("err " << w.err << " done " << w.done);
        CHECK((w.err == 0 || w.err == ENOSPC));
        CHECK(w.done < second.size());
        CHECK(f.used() <= limit);
        const std::uint64_t size = f.file.data.size();
        CHECK(size == first.size() + w.done);
        CHECK(f.read(0, first.size()) == first);
        CHECK(f.read(first.size(), second.size()) == second.substr(0, w.done));

        // Full: appending gives ENOSPC and changes nothing.
        for (int i = 0; i < 100 && f.write(pattern(chunk, 'c'), f.file.data.size()).err == 0; ++i) {
        }
        const std::uint64_t full_size = f.file.data.size();
        const std::string before = f.read(0, full_size);
        Written more = f.write("more", full_size);
        CHECK(more.err == ENOSPC);
        CHECK(more.done == 0);
        CHECK(f.file.data.size() == full_size);
        CHECK(f.used() <= limit);

        // Overwriting what is already held needs no room.
        const std::string third = pattern(100 * KiB, 'c');
        Written over = f.write(third, 0);
        CHECK(over.err == 0);
        CHECK(over.done == third.size());
        CHECK(f.read(0, third.size()) == third);
        CHECK(f.read(third.size(), full_size) == before.substr(third.size()));
        // Also a range that ends exactly at the end of the file.
        const std::string tail = pattern(10, 'z');
        Written end = f.write(tail, full_size - tail.size());
        CHECK(end.err == 0);
        CHECK(end.done == tail.size());
        CHECK(f.read(full_size - tail.size(), 100) == tail);
        CHECK(f.file.data.size() == full_size);
        CHECK(f.used() <= limit);
    }
    SECTION("files share the limit; dropping one makes room") {
        Inode& other = f.new_file();
        Written w = f.write(pattern(limit, 'a'), 0);
        REQUIRE(w.err == 0);
        Written blocked = f.write(other, pattern(chunk, 'b'), 0);
        CHECK(blocked.err == ENOSPC);
        CHECK(blocked.done == 0);
        CHECK(other.data.size() == 0);
        f.storage.drop(f.file);
        Written after = f.write(other, pattern(chunk, 'b'), 0);
        CHECK(after.err == 0);
        CHECK(after.done == chunk);
        CHECK(f.read(other, 0, chunk) == pattern(chunk, 'b'));
    }
    SECTION("fallocate past the limit: ENOSPC, nothing allocated") {
        CHECK(f.storage.fallocate(f.file, 0, 0, 2 * limit) == ENOSPC);
        CHECK(f.storage.fallocate(f.file, FALLOC_FL_KEEP_SIZE, 0, 2 * limit) == ENOSPC);
        CHECK(f.file.data.size() == 0);
        CHECK(f.used() == 0);
        REQUIRE(f.storage.fallocate(f.file, 0, 0, chunk) == 0);
        CHECK(f.file.data.size() == chunk);
        CHECK(f.used() == chunk);
        CHECK(f.storage.fallocate(f.file, 0, chunk, limit) == ENOSPC);
        CHECK(f.file.data.size() == chunk);
        CHECK(f.used() == chunk);
    }
    SECTION("a hole beyond the limit is free") {
        REQUIRE(f.storage.truncate(f.file, 100 * MiB) == 0);
        CHECK(f.used() == 0);
        Written w = f.write("x", 50 * MiB);
        CHECK(w.err == 0);
        CHECK(w.done == 1);
        CHECK(f.read(50 * MiB, 1) == "x");
    }
}

// A small file's chunk takes 4 KiB, not 64: 4 KiB files fill size= to the last block
// statfs reports (with whole-chunk reservations this stopped at 964 KiB of 1 MiB).
TEST_CASE("small files fill size= to the last block statfs reports", "[storage][limits]") {
    const std::uint64_t limit = MiB;
    Fixture f(limit);
    bool stopped = false;
    for (int i = 0; i < 300 && !stopped; ++i) {
        const std::uint64_t free_bytes = f.storage.statfs(0, std::nullopt).f_bavail * 4096;
        Inode& file = f.new_file();
        Written w = f.write(file, pattern(4 * KiB, 'a'), 0);
        if (w.err != 0) {
            stopped = true;
            INFO("file " << i << ": used " << f.used() << ", statfs free " << free_bytes);
            CHECK(w.err == ENOSPC);
            CHECK(free_bytes < 4 * KiB);
        }
    }
    CHECK(stopped);
    CHECK(f.used() <= limit);
    CHECK(f.used() > limit - 4 * KiB);
}

TEST_CASE("a size= smaller than a chunk still holds a small file", "[storage][limits]") {
    Fixture f(16 * KiB);  // 4 blocks, as statfs reports
    REQUIRE(f.storage.statfs(0, std::nullopt).f_bavail == 4);
    Written w = f.write("hello", 0);
    CHECK(w.err == 0);
    CHECK(w.done == 5);
}

// Near size=, fallocate costs only what is missing, as on tmpfs: an allocated range is
// free, and a new one fits in what is left.
TEST_CASE("fallocate near size= succeeds when the range fits", "[storage][limits]") {
    const std::uint64_t limit = 256 * KiB;
    Fixture f(limit);
    const std::string data = pattern(3 * chunk, 'a');
    REQUIRE(f.write(data, 0).done == data.size());
    REQUIRE(f.used() == 3 * chunk);  // one chunk (64 KiB) left

    SECTION("a range already allocated") {
        CHECK(f.storage.fallocate(f.file, 0, 0, 4 * KiB) == 0);
        CHECK(f.storage.fallocate(f.file, FALLOC_FL_KEEP_SIZE, 0, 3 * chunk) == 0);
    }
    SECTION("a new range that fits in what is left") {
        CHECK(f.storage.fallocate(f.file, 0, 3 * chunk, 4 * KiB) == 0);
        CHECK(f.file.data.size() == 3 * chunk + 4 * KiB);
    }
    CHECK(f.used() <= limit);
    CHECK(f.read(0, data.size()) == data);
}

// spool= rolls a large file over by itself; ram= bounds what all files hold in RAM.
TEST_CASE("spool= and ram= roll data over to the spill directory", "[storage][rollover]") {
    const std::string data = pattern(MiB, 'r');
    SECTION("spool=: a file larger than the threshold rolls over") {
        TempDir spill;
        Storage::Config config;
        config.ram_budget = 64 * MiB;
        config.spool_threshold = 256 * KiB;
        config.spill_dir = spill.open();
        Storage storage(std::move(config));
        Inode file(2, S_IFREG | 0644);
        std::size_t done = 0;
        REQUIRE(storage.write(file, std::as_bytes(std::span(data.data(), data.size())), 0, done) ==
                0);
        REQUIRE(done == data.size());
        CHECK(file.data.rolled());
        CHECK(storage.usage().ram <= 256 * KiB);
        CHECK(storage.usage().used >= data.size());
    }
    SECTION("ram=: RAM use stays within the budget") {
        Fixture f(std::nullopt, 256 * KiB);
        REQUIRE(f.write(data, 0).done == data.size());
        CHECK(f.storage.usage().ram <= 256 * KiB);
        CHECK(f.read(0, data.size()) == data);
    }
}

// A spilled file is charged what it allocates on disk: extending it with ftruncate
// costs nothing, and what it held in RAM is given back.
TEST_CASE("a rolled-over file is charged for its data, not its size", "[storage][rollover]") {
    const std::uint64_t limit = MiB;
    Fixture f(limit);
    const std::string data = pattern(chunk, 'a');
    REQUIRE(f.write(data, 0).err == 0);
    REQUIRE(f.storage.rollover(f.file) == 0);
    REQUIRE(f.file.data.rolled());
    CHECK(f.storage.usage().ram == 0);
    CHECK(f.used() >= chunk);
    CHECK(f.used() <= limit);
    CHECK(f.read(0, data.size()) == data);
    REQUIRE(f.storage.rollover(f.file) == 0);  // a second time: a no-op
    CHECK(f.read(0, data.size()) == data);
    REQUIRE(f.storage.truncate(f.file, 100 * MiB) == 0);
    CHECK(f.used() <= limit);
    CHECK(f.storage.statfs(0, std::nullopt).f_bavail > 0);
}

TEST_CASE("fallocate modes", "[storage]") {
    Fixture f;
    const std::string data = pattern(2 * chunk, 'd');
    REQUIRE(f.write(data, 0).err == 0);

    SECTION("0 allocates and grows the size; KEEP_SIZE does not grow it") {
        REQUIRE(f.storage.fallocate(f.file, 0, 3 * chunk, 1000) == 0);
        CHECK(f.file.data.size() == 3 * chunk + 1000);
        CHECK(f.used() > 2 * chunk);
        CHECK(f.read(3 * chunk, 1000) == std::string(1000, '\0'));
        const std::uint64_t before = f.used();
        REQUIRE(f.storage.fallocate(f.file, FALLOC_FL_KEEP_SIZE, 6 * chunk, chunk) == 0);
        CHECK(f.file.data.size() == 3 * chunk + 1000);
        CHECK(f.used() > before);
        CHECK(f.read(0, data.size()) == data);
    }
    SECTION("PUNCH_HOLE|KEEP_SIZE frees the range and keeps the size") {
        REQUIRE(f.storage.fallocate(f.file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, chunk) ==
                0);
        CHECK(f.file.data.size() == 2 * chunk);
        CHECK(f.used() == chunk);
        CHECK(f.read(0, chunk) == std::string(chunk, '\0'));
        CHECK(f.read(chunk, chunk) == data.substr(chunk));
        // An unaligned punch zeroes just its bytes.
        REQUIRE(f.storage.fallocate(f.file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, chunk + 10,
                                    20) == 0);
        CHECK(f.read(chunk + 10, 20) == std::string(20, '\0'));
        CHECK(f.read(chunk, 10) == data.substr(chunk, 10));
        CHECK(f.read(chunk + 30, 10) == data.substr(chunk + 30, 10));
    }
    SECTION("ZERO_RANGE: EOPNOTSUPP, as tmpfs, nothing changes") {
        CHECK(f.storage.fallocate(f.file, FALLOC_FL_ZERO_RANGE, 100, 50) == EOPNOTSUPP);
        CHECK(f.storage.fallocate(f.file, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 5 * chunk,
                                  10) == EOPNOTSUPP);
        CHECK(f.file.data.size() == 2 * chunk);
        CHECK(f.read(0, data.size()) == data);
    }
    SECTION("unsupported combinations: EOPNOTSUPP, nothing changes") {
        for (int mode : {FALLOC_FL_PUNCH_HOLE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE,
                         FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                         FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE,
                         FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_UNSHARE_RANGE,
                         FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE,
                         FALLOC_FL_KEEP_SIZE | FALLOC_FL_COLLAPSE_RANGE}) {
            INFO("mode " << mode);
            CHECK(f.storage.fallocate(f.file, mode, 0, chunk) == EOPNOTSUPP);
        }
        CHECK(f.file.data.size() == 2 * chunk);
        CHECK(f.read(0, data.size()) == data);
        CHECK(f.used() == 2 * chunk);
    }
    SECTION("length 0: EINVAL; past the largest offset: EFBIG") {
        CHECK(f.storage.fallocate(f.file, 0, 0, 0) == EINVAL);
        CHECK(f.storage.fallocate(f.file, 0, max_offset + 1, 1) == EFBIG);
        CHECK(f.storage.fallocate(f.file, 0, max_offset - 10, 100) == EFBIG);
        CHECK(f.storage.fallocate(f.file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                  max_offset + 1, 1) == EFBIG);
        CHECK(f.file.data.size() == 2 * chunk);
    }
}

TEST_CASE("SEEK_DATA and SEEK_HOLE", "[storage]") {
    Fixture f;
    std::uint64_t at = 12345;

    SECTION("an empty file: ENXIO") {
        CHECK(f.storage.seek(f.file, 0, SEEK_DATA, at) == ENXIO);
        CHECK(f.storage.seek(f.file, 0, SEEK_HOLE, at) == ENXIO);
        CHECK(at == 12345);
    }
    SECTION("data, hole, data, trailing hole") {
        REQUIRE(f.write(pattern(chunk, 'a'), 0).err == 0);
        REQUIRE(f.write(pattern(10, 'b'), 4 * chunk).err == 0);
        REQUIRE(f.storage.truncate(f.file, 8 * chunk) == 0);

        REQUIRE(f.storage.seek(f.file, 0, SEEK_DATA, at) == 0);
        CHECK(at == 0);
        REQUIRE(f.storage.seek(f.file, 0, SEEK_HOLE, at) == 0);
        CHECK(at == chunk);
        REQUIRE(f.storage.seek(f.file, 100, SEEK_HOLE, at) == 0);
        CHECK(at == chunk);
        REQUIRE(f.storage.seek(f.file, chunk, SEEK_DATA, at) == 0);
        CHECK(at == 4 * chunk);
        REQUIRE(f.storage.seek(f.file, chunk + 5, SEEK_HOLE, at) == 0);
        CHECK(at == chunk + 5);
        REQUIRE(f.storage.seek(f.file, 4 * chunk, SEEK_HOLE, at) == 0);
        CHECK(at >= 4 * chunk + 10);  // the hole starts at the end of that chunk's data
        CHECK(at <= 5 * chunk);
        CHECK(f.storage.seek(f.file, 5 * chunk, SEEK_DATA, at) == ENXIO);  // only a hole left
        REQUIRE(f.storage.seek(f.file, 5 * chunk, SEEK_HOLE, at) == 0);
        CHECK(at == 5 * chunk);
        CHECK(f.storage.seek(f.file, 8 * chunk, SEEK_DATA, at) == ENXIO);
        CHECK(f.storage.seek(f.file, 8 * chunk, SEEK_HOLE, at) == ENXIO);
        CHECK(f.storage.seek(f.file, max_offset, SEEK_HOLE, at) == ENXIO);
    }
    SECTION("a file with no hole: SEEK_HOLE finds its end") {
        REQUIRE(f.write(pattern(3 * chunk, 'a'), 0).err == 0);
        REQUIRE(f.storage.seek(f.file, 10, SEEK_HOLE, at) == 0);
        CHECK(at == 3 * chunk);
        REQUIRE(f.storage.seek(f.file, 3 * chunk - 1, SEEK_DATA, at) == 0);
        CHECK(at == 3 * chunk - 1);
    }
}

TEST_CASE("EFBIG for offsets beyond INT64_MAX", "[storage]") {
    Fixture f;
    Written w = f.write("x", max_offset + 1);
    CHECK(w.err == EFBIG);
    CHECK(w.done == 0);
    w = f.write("xy", max_offset - 1);  // would end past INT64_MAX
    CHECK(w.err == EFBIG);
    w = f.write("x", UINT64_MAX);
    CHECK(w.err == EFBIG);
    CHECK(f.storage.truncate(f.file, max_offset + 1) == EFBIG);
    CHECK(f.file.data.size() == 0);
    CHECK(f.used() == 0);

    SECTION("the last byte below INT64_MAX can be written") {
        w = f.write("z", max_offset - 1);
        CHECK(w.err == 0);
        CHECK(w.done == 1);
        CHECK(f.file.data.size() == max_offset);
        CHECK(f.read(max_offset - 1, 10) == "z");
        CHECK(f.used() <= chunk);
    }
}

TEST_CASE("statfs reports size= and nr_inodes", "[storage]") {
    SECTION("with limits") {
        const std::uint64_t limit = 4 * MiB;
        Fixture f(limit);
        struct statvfs st = f.storage.statfs(1, 100);
        CHECK(st.f_frsize == 4096);
        CHECK(st.f_bsize == 4096);
        CHECK(st.f_blocks * st.f_frsize == limit);
        CHECK(st.f_bfree == st.f_blocks);
        CHECK(st.f_bavail == st.f_blocks);
        CHECK(st.f_files == 100);
        CHECK(st.f_ffree == 99);
        CHECK(st.f_favail == 99);
        CHECK(st.f_namemax == 255);

        REQUIRE(f.write(pattern(chunk, 'a'), 0).err == 0);
        st = f.storage.statfs(2, 100);
        CHECK(st.f_blocks * st.f_frsize == limit);
        CHECK(st.f_bavail == st.f_blocks - chunk / 4096);
        CHECK(st.f_bfree == st.f_bavail);
        CHECK(st.f_ffree == 98);

        Inode& other = f.new_file();
        REQUIRE(f.write(other, pattern(3 * chunk, 'b'), 0).err == 0);
        CHECK(f.storage.statfs(3, 100).f_bavail == st.f_blocks - 4 * chunk / 4096);

        f.storage.drop(other);
        f.storage.drop(f.file);
        CHECK(f.storage.statfs(1, 100).f_bavail == st.f_blocks);
        CHECK(f.storage.statfs(150, 100).f_ffree == 0);  // never wraps
    }
    SECTION("without limits: room for RAM and spill, inodes unbounded") {
        Fixture f(std::nullopt, 64 * MiB);
        struct statvfs st = f.storage.statfs(10, std::nullopt);
        CHECK(st.f_blocks * st.f_frsize >= 64 * MiB);
        CHECK(st.f_bavail >= 64 * MiB / 4096);
        CHECK(st.f_files > 10);
        CHECK(st.f_ffree == st.f_files - 10);
    }
}

TEST_CASE("empty files go to disk for passthrough within half the descriptor allowance") {
    Fixture f(std::nullopt, 64 * MiB, 4);
    Inode& a = f.new_file();
    Inode& b = f.new_file();
    Inode& c = f.new_file();
    CHECK(f.storage.place_for_passthrough(a) == 0);
    CHECK(a.data.rolled());
    CHECK(f.storage.place_for_passthrough(a) == EINVAL);  // there already
    CHECK(f.storage.place_for_passthrough(b) == 0);
    CHECK(f.storage.place_for_passthrough(c) == ENOSPC);  // the other half is for rollover
    CHECK_FALSE(c.data.rolled());
    CHECK(f.write(c, "data", 0).err == 0);
    CHECK(f.storage.rollover(c) == 0);  // a small file rolls over into the pack
    CHECK(c.data.packed());
    CHECK(c.data.fd() == -1);  // no descriptor of its own
    CHECK(f.read(c, 0, 10) == "data");

    // Emptied, a spilled file returns to RAM and gives its descriptor back.
    CHECK(f.write(a, "abc", 0).err == 0);
    CHECK(f.storage.truncate(a, 0) == 0);
    CHECK_FALSE(a.data.rolled());
    CHECK(a.data.size() == 0);
    Inode& d = f.new_file();
    Inode& e = f.new_file();
    CHECK(f.storage.place_for_passthrough(d) == 0);  // a gave its back, c holds none
    CHECK(f.storage.place_for_passthrough(e) == ENOSPC);  // b and d hold theirs
    CHECK(f.storage.truncate(b, 0) == 0);
    CHECK(f.storage.place_for_passthrough(e) == 0);
    CHECK(f.write(e, "x", 0).err == 0);
    CHECK(f.storage.place_for_passthrough(e) == EINVAL);  // not empty
    // Emptied, a packed file returns to RAM too, its slots back in the pack.
    CHECK(f.storage.truncate(c, 0) == 0);
    CHECK_FALSE(c.data.rolled());
}

TEST_CASE("the RAM store takes new files, counts them as RAM, and keeps them") {
    Fixture f(std::nullopt, 1024 * MiB, 8, true);  // the store: 768 MiB, made on first use
    Inode& a = f.new_file();
    REQUIRE(f.storage.place_for_passthrough(a) == 0);
    REQUIRE(a.in_store);  // fsopen needs CAP_SYS_ADMIN, which the test suite runs with
    CHECK(f.write(a, std::string(100 * KiB, 'a'), 0).err == 0);
    f.storage.absorb(a);
    CHECK(f.storage.usage().ram >= 100 * KiB);
    CHECK(f.storage.usage().used == f.storage.usage().ram);
    CHECK_FALSE(f.storage.wants_back(a));  // the kernel keeps serving it from the store

    Inode& b = f.new_file();
    Inode& c = f.new_file();
    REQUIRE(f.storage.place_for_passthrough(b) == 0);
    REQUIRE(f.storage.place_for_passthrough(c) == 0);
    CHECK_FALSE(f.storage.wants_back(a));
    CHECK(f.storage.unspill(a) == 0);  // still possible
    CHECK_FALSE(a.data.rolled());
    CHECK_FALSE(a.in_store);
    CHECK(f.read(a, 0, 100 * KiB) == std::string(100 * KiB, 'a'));

    Inode& d = f.new_file();
    Inode& e = f.new_file();
    Inode& g = f.new_file();
    CHECK(f.storage.place_for_passthrough(d) == 0);
    CHECK(f.storage.place_for_passthrough(e) == 0);
    CHECK(f.storage.place_for_passthrough(g) == ENOSPC);  // half of 8 stays for rollover
}

TEST_CASE("metadata is charged against size= and ram= and given back", "[storage][limits]") {
    Fixture f(1 * MiB, 256 * KiB);
    REQUIRE(f.storage.charge_metadata(100 * KiB) == 0);
    CHECK(f.used() == 100 * KiB);
    CHECK(f.storage.usage().ram == 100 * KiB);
    CHECK(f.storage.charge_metadata(200 * KiB) == ENOSPC);  // past ram=
    CHECK(f.used() == 100 * KiB);                          // nothing kept from the refusal
    CHECK(f.storage.usage().ram == 100 * KiB);
    CHECK(f.storage.charge_metadata(2 * MiB) == ENOSPC);  // past size=
    REQUIRE(f.write(pattern(chunk, 'm'), 0).err == 0);
    CHECK(f.used() == 100 * KiB + chunk);
    f.storage.release_metadata(100 * KiB);
    CHECK(f.used() == chunk);
    CHECK(f.storage.usage().ram == chunk);
    CHECK(f.storage.charge_metadata(0) == 0);
}

TEST_CASE("metadata fits while file data fills the heap; the next write makes room",
          "[storage][limits]") {
    Fixture f(std::nullopt, 256 * KiB);
    REQUIRE(f.write(pattern(256 * KiB, 'd'), 0).err == 0);  // the heap is full of data
    REQUIRE(f.storage.charge_metadata(64 * KiB) == 0);
    CHECK(f.storage.charge_metadata(96 * KiB) == ENOSPC);  // metadata past half the heap
    Inode& other = f.new_file();
    REQUIRE(f.write(other, pattern(chunk, 'o'), 0).err == 0);
    CHECK(f.file.data.rolled());  // rolled over for data and metadata to fit again
    CHECK(f.storage.usage().ram <= 256 * KiB);
    f.storage.release_metadata(64 * KiB);
}

namespace {

// A hang detector, not a speed assertion: walking every chunk index of 2^63 bytes takes
// hours, work bounded by the data takes microseconds.
constexpr auto hang_bound = std::chrono::seconds(2);

template <typename F>
auto timed(F&& f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::steady_clock::now() - start;
}

std::size_t open_descriptors() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
        ++n;
    return n;
}

}  // namespace

TEST_CASE("no request does work proportional to the numbers it passes", "[storage][limits]") {
    const bool with_size_limit = GENERATE(false, true);
    INFO((with_size_limit ? "size=64M" : "no size="));
    Fixture f(with_size_limit ? std::optional<std::uint64_t>(64 * MiB) : std::nullopt, 16 * MiB);
    const std::string data = pattern(3 * chunk + 5, 'h');
    REQUIRE(f.write(data, 1000).err == 0);
    Inode& other = f.new_file();
    REQUIRE(f.write(other, pattern(chunk, 'o'), 0).err == 0);
    const std::uint64_t used = f.used();
    const std::uint64_t size = f.file.data.size();
    const auto unchanged = [&] {
        CHECK(f.file.data.size() == size);
        CHECK(f.read(1000, data.size()) == data);
        CHECK(f.used() == used);
        CHECK_FALSE(other.data.rolled());  // nobody else rolled over for it
        CHECK(f.read(other, 0, chunk) == pattern(chunk, 'o'));
    };
    const int in = GENERATE(0, 1, 2);  // in RAM, packed, a file of its own
    if (in == 1) REQUIRE(f.storage.rollover(f.file) == 0);  // small: into the pack
    if (in == 2) {
        // A file of its own: a large one rolls over so.
        REQUIRE(f.write(pattern(2 * MiB, 'l'), 2 * MiB).err == 0);
        REQUIRE(f.storage.rollover(f.file) == 0);
        REQUIRE(f.storage.truncate(f.file, size) == 0);
    }
    INFO((in == 0 ? "in RAM" : in == 1 ? "packed" : "own file"));
    CHECK(f.file.data.packed() == (in == 1));
    const std::uint64_t used_now = f.used();

    SECTION("fallocate of 2^63-1 bytes: ENOSPC at once, as tmpfs") {
        for (int mode : {0, FALLOC_FL_KEEP_SIZE}) {
            int err = -1;
            CHECK(timed([&] { err = f.storage.fallocate(f.file, mode, 0, max_offset); }) <
                  hang_bound);
            CHECK(err == ENOSPC);
            CHECK(timed([&] { err = f.storage.fallocate(f.file, mode, 1, max_offset); }) <
                  hang_bound);
            CHECK(err == EFBIG);  // past the largest offset, as tmpfs
        }
        CHECK(f.file.data.size() == size);
        CHECK(f.read(1000, data.size()) == data);
        CHECK(f.used() == used_now);
        CHECK_FALSE(other.data.rolled());
        if (in == 0) unchanged();
    }
    SECTION("a write at the last offset, then punch, zero, seek and truncate over it all") {
        CHECK(timed([&] {
                  // ext4 holds files up to 16 TiB: a file of its own stops there.
                  const std::uint64_t far = in == 2 ? std::uint64_t{1} << 40 : max_offset - 1;
                  CHECK(f.write("z", far).err == 0);
                  std::uint64_t at = 0;
                  CHECK(f.storage.seek(f.file, size + chunk, SEEK_DATA, at) == 0);
                  CHECK(at <= far);
                  CHECK(f.storage.seek(f.file, size + chunk, SEEK_HOLE, at) == 0);
                  CHECK(f.storage.fallocate(f.file, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                                            size, far - size) == EOPNOTSUPP);
                  CHECK(f.storage.fallocate(f.file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                            size, max_offset - size) == 0);
                  CHECK(f.storage.truncate(f.file, far - 1) == 0);
                  CHECK(f.storage.truncate(f.file, size) == 0);
              }) < hang_bound);
        CHECK(f.read(1000, data.size()) == data);
        CHECK(f.used() <= used_now + 4 * KiB);
        CHECK_FALSE(other.data.rolled());
    }
    SECTION("a huge sparse file rolls over and back by its data") {
        REQUIRE(f.write("far", std::uint64_t{1} << 62).err == 0);
        CHECK(timed([&] {
                  CHECK(f.storage.rollover(f.file) == 0);
                  CHECK(f.file.data.rolled());
              }) < hang_bound);
        CHECK(f.read(std::uint64_t{1} << 62, 3) == "far");
        CHECK(f.read(1000, data.size()) == data);
    }
}

TEST_CASE("an allocation larger than the heap goes to disk without rolling others over",
          "[storage][rollover]") {
    Fixture f(std::nullopt, MiB);
    Inode& other = f.new_file();
    REQUIRE(f.write(other, pattern(512 * KiB, 'o'), 0).err == 0);
    REQUIRE(f.write("hello", 0).err == 0);
    REQUIRE(f.storage.fallocate(f.file, 0, 0, 8 * MiB) == 0);
    CHECK(f.file.data.rolled());
    CHECK(f.file.data.fd() >= 0);  // large: a file of its own
    CHECK(f.file.data.size() == 8 * MiB);
    CHECK(f.read(0, 5) == "hello");
    CHECK_FALSE(other.data.rolled());
    CHECK(f.storage.usage().ram == other.data.ram_bytes());
}

TEST_CASE("spilled files need no descriptor each: small ones go into the pack",
          "[storage][rollover]") {
    // Four descriptors for files of their own, a budget of 64 small files in RAM.
    Fixture f(std::nullopt, 256 * KiB, 4);
    const std::size_t descriptors = open_descriptors();
    constexpr int files = 600;
    std::vector<Inode*> inodes;
    for (int i = 0; i < files; ++i) {
        Inode& inode = f.new_file();
        inodes.push_back(&inode);
        const std::string data = pattern(100 + static_cast<std::size_t>(i), static_cast<char>(i));
        REQUIRE(f.write(inode, data, 0).err == 0);
    }
    CHECK(f.storage.usage().ram <= 256 * KiB);
    CHECK(open_descriptors() <= descriptors + 2);  // the pack, nothing per file
    std::size_t packed = 0;
    for (int i = 0; i < files; ++i) {
        packed += inodes[i]->data.packed();
        REQUIRE(f.read(*inodes[i], 0, 1000) ==
                pattern(100 + static_cast<std::size_t>(i), static_cast<char>(i)));
    }
    CHECK(packed >= files - 64);
    // A packed file comes back to RAM when there is room, giving its slots back.
    for (int i = 0; i < files; ++i) {
        if (i < files - 10) f.storage.drop(*inodes[i]);
    }
    for (int i = files - 10; i < files; ++i) {
        if (inodes[i]->data.packed()) REQUIRE(f.storage.unspill(*inodes[i]) == 0);
        CHECK_FALSE(inodes[i]->data.rolled());
        CHECK(f.read(*inodes[i], 0, 1000) ==
              pattern(100 + static_cast<std::size_t>(i), static_cast<char>(i)));
    }
    CHECK(f.used() == f.storage.usage().ram);
}

TEST_CASE("a packed file opened for writing gets a file of its own for passthrough",
          "[storage][rollover]") {
    Fixture f(std::nullopt, 64 * MiB, 8);
    REQUIRE(f.write("packed data", 0).err == 0);
    REQUIRE(f.storage.rollover(f.file) == 0);
    REQUIRE(f.file.data.packed());
    REQUIRE(f.storage.place_for_passthrough(f.file) == 0);
    CHECK_FALSE(f.file.data.packed());
    CHECK(f.file.data.fd() >= 0);
    CHECK(f.read(0, 100) == "packed data");
    CHECK(f.storage.place_for_passthrough(f.file) == EINVAL);  // there already
    CHECK(f.used() > 0);
}

TEST_CASE("a large fallocate on a packed file moves it to a file of its own first",
          "[storage][rollover]") {
    Fixture f(std::nullopt, 64 * MiB);
    REQUIRE(f.write("packed data", 0).err == 0);
    REQUIRE(f.storage.rollover(f.file) == 0);
    REQUIRE(f.file.data.packed());
    REQUIRE(f.storage.fallocate(f.file, FALLOC_FL_KEEP_SIZE, 0, 8 * MiB) == 0);
    CHECK_FALSE(f.file.data.packed());
    CHECK(f.file.data.fd() >= 0);
    CHECK(f.read(0, 100) == "packed data");
    CHECK(f.used() >= 8 * MiB);
}

TEST_CASE("under memory pressure files leave RAM cold and large first, busy ones stay",
          "[storage][pressure]") {
    Fixture f(std::nullopt, 64 * MiB);
    Inode& cold = f.new_file();
    Inode& busy = f.new_file();
    Inode& hot = f.new_file();
    const std::string large = pattern(8 * MiB, 'c'), small = pattern(512 * KiB, 'h');
    REQUIRE(f.write(cold, large, 0).err == 0);
    REQUIRE(f.write(busy, large, 0).err == 0);
    REQUIRE(f.write(hot, small, 0).err == 0);
    busy.last_use.store(0);  // the coldest, but a request holds it
    f.storage.note_use(hot);
    std::uint64_t before = f.storage.usage().ram;

    f.storage.set_ram_limit(32 * MiB);  // heap share: half of the 64 MiB
    CHECK(f.storage.relieve().files == 0);  // RAM fits already
    {
        std::lock_guard held(busy.mutex);
        f.storage.set_ram_limit(16 * MiB);  // 8 MiB of the three files must go
        Storage::Relief relief = f.storage.relieve();
        CHECK(relief.files == 1);
        CHECK(relief.bytes >= large.size());
    }
    CHECK(cold.data.rolled());
    CHECK_FALSE(busy.data.rolled());
    CHECK_FALSE(hot.data.rolled());
    CHECK(f.storage.usage().ram <= 16 * MiB);
    CHECK(f.storage.usage().ram < before);

    // Writes respect the lower budget too: the busy file rolls over to make room.
    REQUIRE(f.write(hot, pattern(8 * MiB, 'n'), small.size()).err == 0);
    CHECK(f.storage.usage().ram <= 16 * MiB);
    CHECK(busy.data.rolled());

    f.storage.set_ram_limit(0);
    f.storage.relieve();
    CHECK(f.storage.usage().ram == 0);
    CHECK(f.read(cold, 0, large.size()) == large);
    CHECK(f.read(busy, 0, large.size()) == large);
    CHECK(f.read(hot, 0, small.size()) == small);
    CHECK(f.storage.files_on_disk() == 3);
}

TEST_CASE("under memory pressure the RAM store keeps only files a handle holds",
          "[storage][pressure]") {
    Fixture f(std::nullopt, 1024 * MiB, 64, true);  // the store: 768 MiB
    Inode& closed = f.new_file();
    Inode& open = f.new_file();
    REQUIRE(f.storage.place_for_passthrough(closed) == 0);
    REQUIRE(f.storage.place_for_passthrough(open) == 0);
    REQUIRE(closed.in_store);
    const std::string data = pattern(4 * MiB, 's');
    REQUIRE(f.write(closed, data, 0).err == 0);
    REQUIRE(f.write(open, data, 0).err == 0);
    open.backing_id = 1;  // the kernel serves it directly: its backing file stays

    f.storage.set_ram_limit(0);
    Storage::Relief relief = f.storage.relieve();
    CHECK(relief.files == 1);
    CHECK(relief.bytes >= data.size());
    CHECK_FALSE(closed.in_store);
    CHECK(closed.data.rolled());
    CHECK(open.in_store);
    CHECK(f.read(closed, 0, data.size()) == data);
    // No new file goes into the store while the budget is low.
    Inode& late = f.new_file();
    REQUIRE(f.storage.place_for_passthrough(late) == 0);
    CHECK_FALSE(late.in_store);
    open.backing_id = 0;
}

TEST_CASE("quota: a write past the owner's limit is short, then EDQUOT; nothing is lost",
          "[storage][quota]") {
    TempDir spill;
    spoolfs::Quota::Config limits;
    limits.users = true;
    limits.user_default = {MiB, 0};
    spoolfs::Quota quota(limits);
    Storage::Config config;
    config.ram_budget = 64 * MiB;
    config.spill_dir = spill.open();
    config.quota = &quota;
    Storage storage(std::move(config));
    Inode file{2, S_IFREG | 0644};
    REQUIRE(quota.admit(file.quota, 1000, 1000, spoolfs::Holding::named) == 0);
    const auto bytes = [](const std::string& s) { return std::as_bytes(std::span(s)); };
    const std::string data = pattern(MiB - chunk, 'q'), more = pattern(2 * chunk, 'r');
    {
        std::lock_guard lock(file.mutex);
        std::size_t done = 0;
        REQUIRE(storage.write(file, bytes(data), 0, done) == 0);
        REQUIRE(done == data.size());
        // As size=: what fits is written, the call is short, the next one EDQUOT.
        CHECK(storage.write(file, bytes(more), data.size(), done) == 0);
        CHECK(done == chunk);
        CHECK(storage.write(file, bytes(more), MiB, done) == EDQUOT);
        CHECK(done == 0);
        CHECK(storage.fallocate(file, 0, MiB, chunk) == EDQUOT);
        CHECK(quota.user(1000)->bytes[0] == MiB);
        // On disk the limit holds the same.
        REQUIRE(storage.rollover(file) == 0);
        CHECK(storage.write(file, bytes(more), MiB, done) == EDQUOT);
        std::string back(MiB, '\0');
        REQUIRE(storage.read(file, std::as_writable_bytes(std::span(back)), 0, done) == 0);
        CHECK(back == data + more.substr(0, chunk));
        // Cut back, the room is there again.
        REQUIRE(storage.truncate(file, MiB - chunk) == 0);
        CHECK(storage.write(file, bytes(more), MiB - chunk, done) == 0);
        CHECK(done == chunk);
    }
    storage.drop(file);
    CHECK(quota.user(1000)->bytes[0] == 0);
}
