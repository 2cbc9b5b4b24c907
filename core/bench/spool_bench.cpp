// spool_bench: throughput of the spool engine in RAM and rolled over to a disk file.
//
//   spool_bench [--quick] [DIR]
//
// Sequential 1 MiB writes and reads, then 4 KiB random writes and reads on a filled file,
// each on a spool in RAM and on one rolled over into DIR (default /var/tmp); and the
// creation of many one-byte spools, the filesystem's small-file case. Prints one table.
// "seq write" lands in fresh memory and pays the kernel's page faults; "seq overwrite"
// writes the same file again and shows the engine alone. The cpu% column is the share of
// the wall time this process was on a CPU: well under 100 means the machine was busy.
#include <fcntl.h>
#include <unistd.h>

#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "tempfile/fd.hpp"
#include "tempfile/spool.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kib = 1024;
constexpr std::uint64_t mib = 1024 * kib;

struct Sizes {
    std::uint64_t sequential;   // bytes written and read in 1 MiB requests
    std::uint64_t random_file;  // file size for the 4 KiB random requests
    std::uint64_t random_ops;
    std::uint64_t small_files;
};

double cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Times one case from construction to the printed row.
class Timer {
  public:
    Timer() : wall_(Clock::now()), cpu_(cpu_seconds()) {}
    void row(const char* name, const char* state, std::uint64_t bytes, std::uint64_t ops) {
        const double seconds = std::chrono::duration<double>(Clock::now() - wall_).count();
        const double cpu = cpu_seconds() - cpu_;
        std::printf("%-24s %-7s %10.0f %12.0f %6.0f\n", name, state,
                    static_cast<double>(bytes) / seconds / 1e6, static_cast<double>(ops) / seconds,
                    100 * cpu / seconds);
        wall_ = Clock::now();
        cpu_ = cpu_seconds();
    }

  private:
    Clock::time_point wall_;
    double cpu_;
};

tempfile::Spool make_spool(bool rolled, int dirfd) {
    tempfile::Spool spool;
    if (rolled) spool.rollover(dirfd);
    return spool;
}

// Keeps the reads from being optimised away.
volatile std::uint64_t sink;

void sequential(bool rolled, int dirfd, const Sizes& sizes) {
    const char* state = rolled ? "rolled" : "ram";
    tempfile::Spool spool = make_spool(rolled, dirfd);
    std::vector<std::byte> buf(mib);
    for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = std::byte(i * 7 + 1);
    const std::uint64_t ops = sizes.sequential / mib;

    Timer timer;
    for (std::uint64_t i = 0; i < ops; ++i) spool.pwrite(buf, i * mib);
    timer.row("seq write 1 MiB", state, sizes.sequential, ops);
    for (std::uint64_t i = 0; i < ops; ++i) spool.pwrite(buf, i * mib);
    timer.row("seq overwrite 1 MiB", state, sizes.sequential, ops);

    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < ops; ++i) {
        spool.pread(buf, i * mib);
        sum += static_cast<std::uint64_t>(buf[i % mib]);
    }
    timer.row("seq read 1 MiB", state, sizes.sequential, ops);
    sink = sum;
}

void random_io(bool rolled, int dirfd, const Sizes& sizes) {
    const char* state = rolled ? "rolled" : "ram";
    tempfile::Spool spool = make_spool(rolled, dirfd);
    std::vector<std::byte> fill(mib, std::byte{1});
    for (std::uint64_t off = 0; off < sizes.random_file; off += mib) spool.pwrite(fill, off);

    std::mt19937_64 rng(42);
    std::vector<std::uint64_t> offsets(sizes.random_ops);
    for (auto& off : offsets) off = rng() % (sizes.random_file / (4 * kib)) * 4 * kib;
    std::vector<std::byte> buf(4 * kib, std::byte{2});

    Timer timer;
    for (const std::uint64_t off : offsets) spool.pwrite(buf, off);
    timer.row("rand write 4 KiB", state, offsets.size() * buf.size(), offsets.size());

    std::uint64_t sum = 0;
    for (const std::uint64_t off : offsets) {
        spool.pread(buf, off);
        sum += static_cast<std::uint64_t>(buf[off % buf.size()]);
    }
    timer.row("rand read 4 KiB", state, offsets.size() * buf.size(), offsets.size());
    sink = sum;
}

void small_files(const Sizes& sizes) {
    const std::byte one{1};
    std::vector<tempfile::Spool> spools(sizes.small_files);
    Timer timer;
    for (auto& spool : spools) spool.pwrite({&one, 1}, 0);
    timer.row("1-byte files", "ram", spools.size(), spools.size());
    std::uint64_t ram = 0;
    for (const auto& spool : spools) ram += spool.ram_bytes();
    std::printf("  (%zu files hold %.1f MiB of chunks, %zu bytes of Spool each)\n", spools.size(),
                ram / double(mib), sizeof(tempfile::Spool));
}

}  // namespace

int main(int argc, char** argv) {
    Sizes sizes{1024 * mib, 256 * mib, 256 * 1024, 100'000};
    std::string dir = "/var/tmp";
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) {
            sizes = {64 * mib, 32 * mib, 32 * 1024, 10'000};
        } else if (argv[i][0] == '-') {
            std::fprintf(stderr, "usage: %s [--quick] [DIR]\n", argv[0]);
            return 2;
        } else {
            dir = argv[i];
        }
    }
    try {
        const tempfile::FileDescriptor dirfd(
            ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dirfd) throw std::system_error(errno, std::generic_category(), "open " + dir);
        std::printf("%-24s %-7s %10s %12s %6s\n", "case", "state", "MB/s", "IOPS", "cpu%");
        for (const bool rolled : {false, true}) sequential(rolled, dirfd.get(), sizes);
        for (const bool rolled : {false, true}) random_io(rolled, dirfd.get(), sizes);
        small_files(sizes);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "spool_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
