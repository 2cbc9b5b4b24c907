// Spilling without a descriptor per file: under a small ram=, tens of thousands of small
// files roll over into the pack (tempfile::Pack, one anonymous file in the spill
// directory) and all stay writable and readable, past the daemon's descriptor limit
// (20,000 here), while the daemon's open descriptors stay few; unlinked, their space
// goes back to the spill filesystem. And a full spill filesystem leaves ram= usable:
// with passthrough on, new files then stay in the heap instead of the spill directory.
//
// Spill directories live on a tmpfs of the test's own (SpillFs), whose free blocks see
// the anonymous files too.
#include <sys/resource.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "file_util.hpp"
#include "mount_fixture.hpp"
#include "mount_util.hpp"

using namespace mount_test;

namespace {

constexpr size_t KiB = 1024, MiB = 1024 * KiB;

std::string name_of(unsigned i) {
    return "f" + std::to_string(i);
}

std::size_t descriptors_of(pid_t pid) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
        ++n;
    return n;
}

}  // namespace

TEST_CASE("more small files spill than the daemon has descriptors, and all come back") {
    constexpr unsigned files = 30000;
    rlimit limit{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
    INFO("descriptor limit " << limit.rlim_max);
    SpillFs spill("512M");
    const std::uint64_t spill_free = spill.free_bytes();
    Mount m("passthrough=off,ram=16M,lifetime=mount,spill_dir=" + spill.path());
    // 30,000 files of 1 to 3 KiB: some 4,000 fit in 16 MiB of RAM, the rest spill.
    const auto content = [](unsigned i) { return pattern(1000 + i % 2000, i); };
    for (unsigned i = 0; i < files; ++i) write_file(m / name_of(i), content(i));
    const std::size_t descriptors = descriptors_of(m.pid());
    CHECK(descriptors < 1000);
    CHECK(stat_of(m, "ram_bytes") <= 16 * MiB);
    CHECK(stat_of(m, "files_spilled") >= files / 2);
    CHECK(spill_free - spill.free_bytes() >= 20 * MiB);  // the spilled data is on disk
    CHECK(spill_free - spill.free_bytes() < 200 * MiB);  // 4 KiB pages, not 64 KiB slots

    unsigned wrong = 0;
    for (unsigned i = 0; i < files; ++i) wrong += read_file(m / name_of(i)) != content(i);
    CHECK(wrong == 0);

    for (unsigned i = 0; i < files; ++i) REQUIRE(::unlink((m / name_of(i)).c_str()) == 0);
    // The kernel forgets the inodes a little after the unlinks: a bounded wait.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((spill_free - spill.free_bytes() > MiB || stat_of(m, "ram_bytes") > 64 * KiB) &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(spill_free - spill.free_bytes() <= MiB);
    CHECK(stat_of(m, "ram_bytes") <= 64 * KiB);
}

TEST_CASE("with the spill filesystem full, new files still fill ram=") {
    SpillFs spill("32M");
    {
        // Someone else filled it.
        Fd filler = open_or_throw(spill.path() + "/filler", O_WRONLY | O_CREAT);
        const std::string block(MiB, 'f');
        for (ssize_t n = 0; n >= 0;) n = ::write(filler.get(), block.data(), block.size());
        for (ssize_t n = 0; n >= 0;) n = ::write(filler.get(), block.data(), 4096);
    }
    REQUIRE(spill.free_bytes() < 64 * KiB);
    Mount m("ram=64M,lifetime=mount,spill_dir=" + spill.path());
    write_file(m / "small", "hello");
    CHECK(read_file(m / "small") == "hello");
    // Most of the RAM budget, in files the kernel could have been given on disk.
    for (unsigned i = 0; i < 4; ++i) write_file(m / name_of(i), pattern(10 * MiB, i));
    for (unsigned i = 0; i < 4; ++i) CHECK(read_file(m / name_of(i)) == pattern(10 * MiB, i));
    CHECK(stat_of(m, "ram_bytes") >= 40 * MiB);
}
