// Issue 10, item 5: SIGKILL of the daemon (as root, default options: passthrough on, and
// auto_unmount the daemon's default) while a process writes a file. The mount leaves
// /proc/self/mountinfo within a bound; the writer's descriptor behaves as one on a tmpfs
// lazily unmounted with the file open (it writes on and reads back what it wrote); after
// its close the memory (Shmem) and the spill directory's space come back within a bound.
#include <signal.h>

#include <catch2/catch.hpp>

#include "hostile_fixture.hpp"

using namespace hostile;

namespace {

constexpr size_t kData = 64 * MiB, kMore = 1 * MiB;

const std::string& data() {
    static const std::string d = pattern(kData, 21);
    return d;
}
const std::string& more() {
    static const std::string d = pattern(kMore, 22);
    return d;
}

// What the writer sees once its file system is gone from under it.
Record after_loss(int fd) {
    Record r;
    r.result(::pwrite(fd, more().data(), more().size(), kData), "write on");
    r.add(read_at(fd, 4 * MiB, 0) == data().substr(0, 4 * MiB), "reads back the old data");
    r.add(read_at(fd, kMore, kData) == more(), "reads back the new data");
    struct stat st {};
    r.result(::fstat(fd, &st), "fstat");
    r.add(st.st_size, "size");
    r.result(::fsync(fd), "fsync");
    r.result(::ftruncate(fd, kData), "ftruncate");
    return r;
}

}  // namespace

TEST_CASE("hostile: SIGKILL of the daemon: the mount goes, the writer goes on as on a lazily "
          "unmounted tmpfs, and the space comes back",
          "[sigkill]") {
    // The oracle first, and gone before Shmem is measured.
    Record tm;
    {
        Tmpfs tmpfs;
        Fd fd = open_or_throw(tmpfs.path() + "/f", O_RDWR | O_CREAT);
        write_all(fd.get(), data());
        REQUIRE(::umount2(tmpfs.path().c_str(), MNT_DETACH) == 0);
        tm = after_loss(fd.get());
    }

    SpillFs spill("256M");
    const std::uint64_t spill_free = spill.free_bytes();
    const std::uint64_t shmem_before = proc_kib_field("/proc/meminfo", "Shmem");
    Mount m("allow_other,mode=1777,spill_dir=" + spill.path());
    Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT, 0600);
    write_all(fd.get(), data());
    const bool direct = stat_of(m, "files_passthrough") >= 1;
    const std::uint64_t shmem_full = proc_kib_field("/proc/meminfo", "Shmem");
    REQUIRE(::kill(m.pid(), SIGKILL) == 0);
    CHECK(m.wait_exit(5s).has_value());

    // The mount goes away by itself, as after a lazy unmount.
    CHECK(eventually([&] { return !find_mount(m.path()).has_value(); }, 20s));  // a hang detector

    const Record sp = after_loss(fd.get());
    INFO("tmpfs:   " << tm.str());
    INFO("spoolfs: " << sp.str());
    INFO("differences:\n" << tm.differences(sp));
    REQUIRE(tm.v[0] == static_cast<long long>(kMore));
    if (direct) {
        // The kernel serves the file itself: the writer can go on as on tmpfs.
        CHECK(sp.v[0] == tm.v[0]);  // write on
        CHECK(sp.v[1] == 1);        // old data
        CHECK(sp.v[2] == 1);        // new data
        if (!(sp == tm)) WARN("after SIGKILL spoolfs differs from a lazily unmounted tmpfs:\n" << tm.differences(sp));
    } else {
        WARN("the file was not served by kernel passthrough: its data died with the daemon\n"
             << "tmpfs:   " << tm.str() << "\nspoolfs: " << sp.str());
    }

    // Closed, everything comes back, with the dead mount still attached or not.
    fd.reset();
    INFO("Shmem before " << shmem_before / KiB << " KiB, with the file " << shmem_full / KiB
                         << " KiB, now " << proc_kib_field("/proc/meminfo", "Shmem") / KiB
                         << " KiB; spill free before " << spill_free << ", now "
                         << spill.free_bytes());
    CHECK(eventually([&] { return proc_kib_field("/proc/meminfo", "Shmem") < shmem_before + 32 * MiB; },
                     10s));
    CHECK(eventually([&] { return spill.free_bytes() == spill_free; }, 10s));
}

TEST_CASE("hostile: SIGKILL of the daemon with passthrough=off: the mount goes and the space "
          "comes back",
          "[sigkill]") {
    SpillFs spill("256M");
    const std::uint64_t spill_free = spill.free_bytes();
    Mount m("allow_other,mode=1777,passthrough=off,ram=8M,spill_dir=" + spill.path());
    Fd fd = open_or_throw(m / "f", O_RDWR | O_CREAT, 0600);
    write_all(fd.get(), data());  // past ram=: most of it spilled
    CHECK(spill.free_bytes() < spill_free);
    REQUIRE(::kill(m.pid(), SIGKILL) == 0);
    CHECK(m.wait_exit(5s).has_value());
    CHECK(eventually([&] { return !find_mount(m.path()).has_value(); }, 20s));  // a hang detector
    // The data lived in the daemon: what the descriptor still reads comes from the page
    // cache, and nothing is promised about it. Closing it must free the spill space.
    fd.reset();
    CHECK(eventually([&] { return spill.free_bytes() == spill_free; }, 10s));
}
