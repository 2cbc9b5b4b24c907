// Kernel passthrough on a real mount (fs/passthrough.hpp): a file the kernel reads and
// writes through its backing file (in the RAM store, or a spill file on disk where ram= is
// too small for a store, as with ram=4M here) behaves as on the plain path. Every handle, stat and
// later open sees the same data, size and times; truncate, holes, O_APPEND, mmap and
// copy_file_range work; switching between direct and plain handles shows no stale page;
// ram= is not charged; a full spill filesystem is ENOSPC at the write; nothing is left on
// disk after SIGKILL. Where the kernel or the privileges lack passthrough, the same checks
// run on the plain path and only the first test case, which expects it here, fails.
#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <thread>

#include "file_util.hpp"
#include "mount_fixture.hpp"
#include "mount_util.hpp"

using namespace mount_test;

namespace {

constexpr size_t KiB = 1024, MiB = 1024 * KiB;

// Kernel 6.9 or later (FUSE passthrough), and CAP_SYS_ADMIN, which the daemon inherits.
bool passthrough_expected() {
    utsname u{};
    unsigned major = 0, minor = 0;
    if (uname(&u) != 0 || std::sscanf(u.release, "%u.%u", &major, &minor) != 2) return false;
    if (major < 6 || (major == 6 && minor < 9)) return false;
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("CapEff:", 0) == 0) {
            constexpr unsigned long long cap_sys_admin = 1ull << 21;
            return std::stoull(line.substr(7), nullptr, 16) & cap_sys_admin;
        }
    }
    return false;
}

bool served_directly(const Mount& m) {
    return stat_of(m, "passthrough") == 1;
}

// Waits (bounded) until `done` holds; the kernel sends RELEASE after close() returns.
bool eventually(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

struct stat fstat_or_throw(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_errno("fstat");
    return st;
}

bool later(const timespec& a, const timespec& b) {
    return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

}  // namespace

TEST_CASE("passthrough: the kernel serves reads and writes without the daemon") {
    const bool expected = passthrough_expected();
    INFO("passthrough expected here: " << expected);
    const std::string data = pattern(4 * MiB, 1);
    for (const bool on : {true, false}) {
        Mount m(std::string(on ? "" : "passthrough=off,") + "lifetime=mount,debug");
        CHECK(stat_of(m, "passthrough") == (on && expected ? 1 : 0));
        {
            Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
            CHECK(stat_of(m, "files_passthrough") == (on && expected ? 1 : 0));
            write_all(fd.get(), data);
            posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
            CHECK(read_at(fd.get(), data.size()) == data);
        }
        CHECK(eventually([&] { return stat_of(m, "files_passthrough") == 0; }));
        const std::string log = m.log();
        const bool daemon_wrote = log.find("opcode: WRITE (") != std::string::npos;
        const bool daemon_read = log.find("opcode: READ (") != std::string::npos;
        CHECK(daemon_wrote == !(on && expected));
        CHECK(daemon_read == !(on && expected));
        CHECK(read_file(m / "f") == data);
    }
}

TEST_CASE("passthrough: every handle, stat and later open see what the kernel wrote") {
    Mount m("lifetime=mount");
    Fd a = open_or_throw(m / "f", O_RDWR | O_CREAT);
    Fd b = open_or_throw(m / "f", O_RDWR);
    CHECK(stat_of(m, "files_passthrough") == (served_directly(m) ? 1 : 0));
    write_all(a.get(), "hello");
    CHECK(read_at(b.get(), 5) == "hello");
    const std::string far = pattern(100000, 2);
    write_all(b.get(), far, 1 * MiB);
    CHECK(fstat_or_throw(a.get()).st_size == static_cast<off_t>(1 * MiB + far.size()));
    const struct stat before = stat_or_throw(m / "f");
    CHECK(before.st_size == static_cast<off_t>(1 * MiB + far.size()));

    std::this_thread::sleep_for(20ms);  // past the spill filesystem's timestamp granularity
    write_all(a.get(), "x", 10);
    const struct stat after = stat_or_throw(m / "f");
    CHECK(later(after.st_mtim, before.st_mtim));
    CHECK(later(after.st_ctim, before.st_ctim));

    a.reset();
    b.reset();
    Fd c = open_or_throw(m / "f", O_RDONLY);
    CHECK(read_at(c.get(), 11) == std::string("hello") + std::string(5, '\0') + "x");
    CHECK(read_at(c.get(), far.size(), 1 * MiB) == far);
    CHECK(read_at(c.get(), 10, 512 * KiB) == std::string(10, '\0'));
    CHECK(stat_or_throw(m / "f").st_size == static_cast<off_t>(1 * MiB + far.size()));
}

TEST_CASE("passthrough: truncate, holes, SEEK_DATA and O_APPEND") {
    Mount m("lifetime=mount");
    Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
    write_all(fd.get(), pattern(256 * KiB, 3));
    REQUIRE(ftruncate(fd.get(), 100000) == 0);
    CHECK(fstat_or_throw(fd.get()).st_size == 100000);
    CHECK(read_at(fd.get(), 10, 100000).empty());
    REQUIRE(truncate((m / "f").c_str(), 1 * MiB) == 0);  // by path: a SETATTR without handle
    CHECK(fstat_or_throw(fd.get()).st_size == static_cast<off_t>(1 * MiB));
    CHECK(read_at(fd.get(), 10, 500000) == std::string(10, '\0'));
    CHECK(read_at(fd.get(), 100000) == pattern(256 * KiB, 3).substr(0, 100000));

    REQUIRE(fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 64 * KiB) == 0);
    CHECK(read_at(fd.get(), 10) == std::string(10, '\0'));
    CHECK(lseek(fd.get(), 0, SEEK_DATA) == static_cast<off_t>(64 * KiB));
    CHECK(lseek(fd.get(), 64 * KiB, SEEK_HOLE) >= 100000);
    CHECK(fstat_or_throw(fd.get()).st_size == static_cast<off_t>(1 * MiB));

    Fd append = open_or_throw(m / "f", O_WRONLY | O_APPEND);
    REQUIRE(::write(append.get(), "tail", 4) == 4);
    CHECK(fstat_or_throw(fd.get()).st_size == static_cast<off_t>(1 * MiB + 4));
    CHECK(read_at(fd.get(), 4, 1 * MiB) == "tail");

    // O_TRUNC empties the file, and it stays as usable.
    append.reset();
    fd.reset();
    Fd again = open_or_throw(m / "f", O_RDWR | O_TRUNC);
    CHECK(fstat_or_throw(again.get()).st_size == 0);
    write_all(again.get(), "new");
    CHECK(read_file(m / "f") == "new");
}

TEST_CASE("passthrough: times set explicitly hold until the next write") {
    Mount m("lifetime=mount");
    Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
    write_all(fd.get(), "data");
    const timespec times[2] = {{1000000000, 5}, {1000000000, 7}};
    REQUIRE(utimensat(AT_FDCWD, (m / "f").c_str(), times, 0) == 0);
    struct stat st = stat_or_throw(m / "f");
    CHECK(st.st_mtim.tv_sec == 1000000000);
    CHECK(st.st_mtim.tv_nsec == 7);
    CHECK(st.st_atim.tv_nsec == 5);
    write_all(fd.get(), "more", 4);
    st = stat_or_throw(m / "f");
    CHECK(st.st_mtim.tv_sec > 1000000000);
    CHECK(st.st_size == 8);
}

TEST_CASE("passthrough: shared mappings write through to every reader") {
    Mount m("lifetime=mount");
    Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
    REQUIRE(ftruncate(fd.get(), 8192) == 0);
    auto* map =
        static_cast<char*>(mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0));
    REQUIRE(map != MAP_FAILED);
    map[0] = 'M';
    map[8191] = 'Z';
    REQUIRE(msync(map, 8192, MS_SYNC) == 0);
    Fd reader = open_or_throw(m / "f", O_RDONLY);
    CHECK(read_at(reader.get(), 1) == "M");
    CHECK(read_at(reader.get(), 1, 8191) == "Z");
    write_all(fd.get(), "W", 1);
    CHECK(map[1] == 'W');
    REQUIRE(munmap(map, 8192) == 0);
}

TEST_CASE(
    "passthrough, lifetime=close: the name goes at the last close, a mapping keeps the data") {
    Mount m;
    Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT | O_EXCL, 0600);
    write_all(fd.get(), pattern(8192, 4));
    auto* map =
        static_cast<char*>(mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0));
    REQUIRE(map != MAP_FAILED);
    REQUIRE(fd.close() == 0);
    if (served_directly(m)) {
        // The mapping holds the spill file, not the kernel's file of the mount: as with
        // Python's NamedTemporaryFile, close() takes the name, not the mapped data.
        CHECK(lstat_errno(m / "f") == ENOENT);
        CHECK(run_child([&] { return lstat_errno(m / "f"); }) == ENOENT);
    } else {
        CHECK(lstat_errno(m / "f") == 0);
    }
    map[0] = 'M';
    CHECK(map[1] == pattern(8192, 4)[1]);
    REQUIRE(munmap(map, 8192) == 0);
    CHECK(eventually([&] { return lstat_errno(m / "f") == ENOENT; }));
}

TEST_CASE("passthrough: copy_file_range between a direct and a plain file") {
    Mount m("lifetime=mount");
    // A set-id file stays on the plain path: the daemon must see its writes.
    const std::string data = pattern(300 * KiB, 5);
    Fd plain = open_or_throw(m / "plain", O_RDWR | O_CREAT, 04755);
    write_all(plain.get(), data);
    Fd direct = open_or_throw(m / "direct", O_RDWR | O_CREAT);
    CHECK(stat_of(m, "files_passthrough") == (served_directly(m) ? 1 : 0));

    loff_t in = 0, out = 0;
    size_t copied = 0;
    while (copied < data.size()) {
        ssize_t n = copy_file_range(plain.get(), &in, direct.get(), &out, data.size() - copied, 0);
        REQUIRE(n > 0);
        copied += static_cast<size_t>(n);
    }
    CHECK(read_at(direct.get(), data.size()) == data);
    write_all(direct.get(), "changed");
    in = 0;
    out = 0;
    REQUIRE(copy_file_range(direct.get(), &in, plain.get(), &out, 7, 0) == 7);
    CHECK(read_at(plain.get(), 8) == "changed" + data.substr(7, 1));
    CHECK(stat_or_throw(m / "plain").st_mode & S_ISUID);
}

TEST_CASE("passthrough: handles switching between direct and plain never read stale pages") {
    Mount m("lifetime=mount,spool=1");  // spool=1: the plain path spills at once
    const std::string old_data(8192, 'A'), new_data(8192, 'B');
    {
        Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT, 04600);  // set-id: plain
        write_all(fd.get(), old_data);
        CHECK(read_at(fd.get(), 8192) == old_data);  // now in the kernel's page cache
        CHECK(stat_of(m, "files_passthrough") == 0);
    }
    REQUIRE(chmod((m / "f").c_str(), 0600) == 0);
    {
        Fd fd = open_or_throw(m / "f", O_RDWR);
        CHECK(stat_of(m, "files_passthrough") == (served_directly(m) ? 1 : 0));
        write_all(fd.get(), new_data);
    }
    REQUIRE(eventually([&] { return stat_of(m, "files_passthrough") == 0; }));
    REQUIRE(chmod((m / "f").c_str(), 04600) == 0);
    Fd fd = open_or_throw(m / "f", O_RDONLY);
    CHECK(read_at(fd.get(), 8192) == new_data);
}

TEST_CASE("passthrough: ram= is not charged for what the kernel writes to disk") {
    // ram=4M: too small for a RAM store, so new files go to disk.
    Mount m("lifetime=mount,ram=4M");
    const std::string data = pattern(32 * MiB, 6);
    {
        Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
        write_all(fd.get(), data);
        CHECK(stat_of(m, "ram_bytes") <= 4 * MiB);
        if (served_directly(m)) CHECK(stat_of(m, "ram_bytes") == 0);
    }
    CHECK(eventually([&] { return stat_of(m, "spilled_bytes") >= 32 * MiB; }));
    CHECK(read_file(m / "f") == data);
}

TEST_CASE("passthrough: a full spill filesystem is ENOSPC at the write, keeping what was written") {
    SpillFs spill("4M");
    const std::uint64_t free_before = spill.free_bytes();
    {
        Mount m("lifetime=mount,ram=1M,spill_dir=" + spill.path());
        Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
        const std::string data = pattern(8 * MiB, 7);
        const auto [written, error] = fill(fd.get(), data, 256 * KiB);
        CHECK(error == ENOSPC);
        CHECK(written >= 2 * MiB);
        CHECK(written < 8 * MiB);
        CHECK(read_at(fd.get(), written) == data.substr(0, written));
        fd.reset();
        REQUIRE(unlink((m / "f").c_str()) == 0);
        CHECK(eventually([&] { return spill.free_bytes() == free_before; }));
    }
}

TEST_CASE("passthrough: SIGKILL of the daemon leaves nothing on the spill filesystem") {
    SpillFs spill("64M");
    const std::uint64_t free_before = spill.free_bytes();
    {
        Mount m("lifetime=mount,ram=4M,spill_dir=" + spill.path());
        Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
        write_all(fd.get(), pattern(8 * MiB, 8));
        CHECK(spill.free_bytes() <= free_before - 8 * MiB);
        REQUIRE(kill(m.pid(), SIGKILL) == 0);
        CHECK(m.wait_exit(5s).has_value());
    }  // unmounted: the kernel drops its references to the backing files
    CHECK(eventually([&] { return spill.free_bytes() == free_before; }));
}

TEST_CASE("passthrough: at the last close small files return to RAM, large ones stay on disk") {
    Mount m("lifetime=mount,ram=4M");
    if (!served_directly(m)) return;  // the plain path keeps new files in RAM anyway
    write_file(m / "small", pattern(100 * KiB, 9));
    write_file(m / "large", pattern(2 * MiB, 10));
    CHECK(eventually([&] { return stat_of(m, "files_passthrough") == 0; }));
    CHECK(eventually([&] { return stat_of(m, "files_in_ram") == 1; }));
    CHECK(stat_of(m, "files_spilled") == 1);
    CHECK(stat_of(m, "ram_bytes") >= 100 * KiB);
    CHECK(stat_of(m, "ram_bytes") < 1 * MiB);
    CHECK(read_file(m / "small") == pattern(100 * KiB, 9));
    CHECK(read_file(m / "large") == pattern(2 * MiB, 10));
}

TEST_CASE("passthrough: past the eager spill limit new files stay on the plain path") {
    Mount m("lifetime=mount,ram=4M");
    constexpr unsigned files = 300;  // more than Storage::eager_spill_limit (256)
    std::vector<Fd> open_files;
    for (unsigned i = 0; i < files; ++i) {
        open_files.push_back(open_or_throw(m / std::to_string(i), O_RDWR | O_CREAT));
        write_all(open_files.back().get(), pattern(1000, i));
    }
    CHECK(stat_of(m, "files_passthrough") <= 256);
    if (served_directly(m)) CHECK(stat_of(m, "files_passthrough") == 256);
    for (unsigned i = 0; i < files; ++i)
        CHECK(read_at(open_files[i].get(), 1000) == pattern(1000, i));
    open_files.clear();
    CHECK(eventually([&] { return stat_of(m, "files_spilled") == 0; }));
    for (unsigned i = 0; i < files; ++i)
        CHECK(read_file(m / std::to_string(i)) == pattern(1000, i));
}

TEST_CASE("passthrough: the RAM store holds new files within three quarters of ram=") {
    Mount m("lifetime=mount,ram=1G");
    if (!served_directly(m)) return;
    const std::string data = pattern(64 * MiB, 11);
    {
        Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
        write_all(fd.get(), data);
    }
    CHECK(eventually([&] { return stat_of(m, "files_passthrough") == 0; }));
    CHECK(stat_of(m, "files_in_ram") == 1);
    CHECK(stat_of(m, "files_spilled") == 0);
    CHECK(stat_of(m, "ram_bytes") >= 64 * MiB);
    CHECK(read_file(m / "f") == data);

    // One open file past the store's room: the kernel refuses the write (the file cannot
    // roll over while the kernel writes it), keeping what was written; the total stays
    // within ram=.
    Fd big = open_or_throw(m / "big", O_RDWR | O_CREAT);
    const std::string piece = pattern(16 * MiB, 12);
    const auto [written, error] = fill(big.get(), piece, piece.size(), 1024 * MiB / piece.size());
    CHECK(error == ENOSPC);
    CHECK(written + 64 * MiB <= 768 * MiB);
    CHECK(written + 64 * MiB >= 700 * MiB);
    CHECK(read_at(big.get(), piece.size(), static_cast<off_t>(written - piece.size())).size() ==
          piece.size());
    big.reset();
    REQUIRE(unlink((m / "big").c_str()) == 0);

    // Gone, the file gives its room back, and new files are served again.
    CHECK(eventually([&] { return stat_of(m, "ram_bytes") < 128 * MiB; }));
    write_file(m / "after", pattern(2 * MiB, 13));
    CHECK(read_file(m / "after") == pattern(2 * MiB, 13));
}

// Shmem in /proc/meminfo: what tmpfs instances hold, the RAM store among them.
TEST_CASE("passthrough: SIGKILL of the daemon frees the RAM store") {
    const std::uint64_t before = proc_kib_field("/proc/meminfo", "Shmem");
    {
        Mount m("lifetime=mount,ram=1G");
        Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
        write_all(fd.get(), pattern(128 * MiB, 14));
        if (served_directly(m))
            CHECK(proc_kib_field("/proc/meminfo", "Shmem") >= before + 100 * MiB);
        REQUIRE(kill(m.pid(), SIGKILL) == 0);
        CHECK(m.wait_exit(5s).has_value());
    }
    CHECK(eventually([&] { return proc_kib_field("/proc/meminfo", "Shmem") < before + 32 * MiB; }));
}

TEST_CASE("passthrough: without CAP_SYS_ADMIN (a user namespace) the plain path serves all") {
    // The mount lives in the child's own mount namespace and dies with it; the whole
    // process group is killed at the deadline.
    TempDir dir("spoolfs-userns-");
    const std::string script = R"(
        mnt=$1
        "$SPOOLFS" -f -o lifetime=mount "$mnt" & daemon=$!
        for i in $(seq 200); do grep -q " $mnt " /proc/self/mountinfo && break; sleep 0.05; done
        printf 'some data' > "$mnt/f"
        exec 3<"$mnt/f"
        "$SPOOLFS" --stats "$mnt"
        cat <&3; echo
        exec 3<&-
        umount "$mnt"
        wait $daemon
    )";
    const auto r = run_process(
        {"unshare", "--user", "--map-root-user", "--mount", "sh", "-ec", script, "sh", dir.path()},
        20s);
    INFO(r.describe() << "\n" << r.out);
    REQUIRE(r.exited_with(0));
    CHECK_THAT(r.out, Catch::Contains("some data"));
    CHECK_THAT(r.out, Catch::Matches("(.|\n)*passthrough +0\n(.|\n)*"));
    CHECK_THAT(r.out, Catch::Matches("(.|\n)*files_in_ram +1\n(.|\n)*"));
}

TEST_CASE("passthrough: another user writing drops the set-id bit set while the kernel serves") {
    Mount m("lifetime=mount,allow_other,mode=1777");
    Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT, 0666);
    write_all(fd.get(), "x");
    REQUIRE(chmod((m / "f").c_str(), 04777) == 0);  // while this handle is served directly
    CHECK(run_as(23456, 23456, [&] {
              Fd w(open((m / "f").c_str(), O_WRONLY | O_APPEND));
              if (!w) return errno;
              return write(w.get(), "y", 1) == 1 ? 0 : errno;
          }) == 0);
    CHECK((stat_or_throw(m / "f").st_mode & S_ISUID) == 0);
    CHECK(read_file(m / "f") == "xy");
}

TEST_CASE("passthrough: a nearly full RAM store moves closed cold files to disk for new ones") {
    Mount m("lifetime=mount,ram=1G");  // a store of 768 MiB, new files while 192 MiB are free
    if (!served_directly(m)) return;
    const std::string piece = pattern(8 * MiB, 15);
    for (const char* name : {"old1", "old2", "old3"}) {
        Fd fd = open_or_throw(m / name, O_RDWR | O_CREAT);
        const auto [written, error] = fill(fd.get(), piece, piece.size(), 25);  // 200 MiB
        REQUIRE(error == 0);
    }
    REQUIRE(eventually([&] { return stat_of(m, "files_passthrough") == 0; }));
    CHECK(stat_of(m, "files_spilled") == 0);

    Fd fresh = open_or_throw(m / "new", O_RDWR | O_CREAT);
    write_all(fresh.get(), "new data");
    CHECK(stat_of(m, "files_passthrough") == 1);
    // 168 MiB free: the two oldest went to disk (until half was free), "new" to the store.
    CHECK(stat_of(m, "files_spilled") == 2);
    CHECK(stat_of(m, "files_in_ram") == 2);
    CHECK(stat_of(m, "ram_bytes") <= 768 * MiB);
    fresh.reset();
    for (const char* name : {"old1", "old2", "old3"}) {
        Fd fd = open_or_throw(m / name, O_RDONLY);
        for (size_t at = 0; at < 200 * MiB; at += 48 * MiB)
            CHECK(read_at(fd.get(), piece.size(), static_cast<off_t>(at)) == piece);
    }
    CHECK(read_file(m / "new") == "new data");
}

TEST_CASE("passthrough: a shared mapping outliving its descriptor keeps writing to the file") {
    // ram=4M: new files go to disk, where a small one would return to the heap at its
    // last close; a mapping still holds its backing file then.
    Mount m("lifetime=mount,ram=4M");
    Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
    write_all(fd.get(), pattern(8192, 16));
    auto* map =
        static_cast<char*>(mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0));
    REQUIRE(map != MAP_FAILED);
    REQUIRE(fd.close() == 0);
    REQUIRE(eventually([&] { return stat_of(m, "files_passthrough") == 0; }));
    map[0] = 'M';
    map[8191] = 'Z';
    REQUIRE(msync(map, 8192, MS_SYNC) == 0);
    REQUIRE(munmap(map, 8192) == 0);
    const std::string seen = read_file(m / "f");
    REQUIRE(seen.size() == 8192);
    CHECK(seen[0] == 'M');
    CHECK(seen[8191] == 'Z');
}

TEST_CASE("passthrough: with spool= a large file the kernel writes is on disk, as spool= says") {
    Mount m("lifetime=mount,spool=1M");  // no RAM store: it could not honour spool=
    {
        Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT);
        write_all(fd.get(), pattern(4 * MiB, 17));
    }
    REQUIRE(eventually([&] { return stat_of(m, "files_passthrough") == 0; }));
    CHECK(stat_of(m, "files_spilled") == 1);
    CHECK(stat_of(m, "spilled_bytes") >= 4 * MiB);
    CHECK(stat_of(m, "ram_bytes") < 1 * MiB);
    CHECK(read_file(m / "f") == pattern(4 * MiB, 17));
}
