// Helpers for tests that look at a mount's storage: a spill filesystem of the test's
// own, and the mount's statistics.
#pragma once

#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <cstdint>
#include <string>

#include "file_util.hpp"
#include "mount_fixture.hpp"

namespace mount_test {

// A tmpfs of `size` on a fresh directory, unmounted (lazily, so even a busy one goes) and
// removed when the test ends. Declare it before the Mount that spills into it, so that
// the daemon is gone before it is.
class SpillFs {
  public:
    explicit SpillFs(const std::string& size) : dir_("spoolfs-spillfs-") {
        const std::string opts = "size=" + size + ",mode=0700";
        if (::mount("spoolfs-test", dir_.path().c_str(), "tmpfs", 0, opts.c_str()) != 0)
            throw_errno("mount tmpfs on " + dir_.path());
    }
    ~SpillFs() { ::umount2(dir_.path().c_str(), MNT_DETACH); }
    SpillFs(const SpillFs&) = delete;
    SpillFs& operator=(const SpillFs&) = delete;

    const std::string& path() const { return dir_.path(); }
    std::uint64_t free_bytes() const {
        struct statvfs st {};
        if (::statvfs(path().c_str(), &st) != 0) throw_errno("statvfs " + path());
        return static_cast<std::uint64_t>(st.f_bfree) * st.f_frsize;
    }

  private:
    TempDir dir_;  // destroyed after the unmount above
};

// One statistic of the mount, from the root's user.spoolfs.stats.<name>.
inline std::uint64_t stat_of(const Mount& m, const std::string& name) {
    const std::string attr = "user.spoolfs.stats." + name;
    char value[32];
    const ssize_t n = ::getxattr(m.path().c_str(), attr.c_str(), value, sizeof(value) - 1);
    if (n < 0) throw_errno("getxattr " + attr);
    return std::stoull(std::string(value, static_cast<size_t>(n)));
}

}  // namespace mount_test
