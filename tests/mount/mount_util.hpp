// Helpers for tests that look at a mount's storage: a spill filesystem of the test's
// own, and the mount's statistics.
#pragma once

#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

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

// The number on a line "Name:   N" of a /proc file such as /proc/PID/status.
inline std::uint64_t proc_field(const std::string& file, const std::string& name) {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(name + ":", 0) == 0) return std::stoull(line.substr(name.size() + 1));
    }
    throw std::runtime_error("no " + name + " in " + file);
}

// A line "Name:   N kB" of a /proc file such as /proc/meminfo or /proc/PID/status, in
// bytes.
inline std::uint64_t proc_kib_field(const std::string& file, const std::string& name) {
    return proc_field(file, name) * 1024;
}

// What fill() managed: the bytes written, and the errno of the write that failed (0: none).
struct Filled {
    size_t written = 0;
    int error = 0;
};

// Writes `data` `times` over, end to end from offset 0, in pieces of at most `piece`
// bytes, until all of it is written or a write fails.
inline Filled fill(int fd, std::string_view data, size_t piece, size_t times = 1) {
    Filled f;
    const size_t total = data.size() * times;
    while (f.written < total) {
        const size_t at = f.written % data.size();
        const size_t n = std::min({piece, data.size() - at, total - f.written});
        const ssize_t done = ::pwrite(fd, data.data() + at, n, static_cast<off_t>(f.written));
        if (done < 0) {
            f.error = errno;
            break;
        }
        f.written += static_cast<size_t>(done);
    }
    return f;
}

// An environment variable set for a scope (the daemons a test starts inherit it), then
// put back as it was.
class ScopedEnv {
  public:
    ScopedEnv(const char* name, const std::string& value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        ::setenv(name, value.c_str(), 1);
    }
    ~ScopedEnv() {
        if (old_)
            ::setenv(name_, old_->c_str(), 1);
        else
            ::unsetenv(name_);
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

  private:
    const char* name_;
    std::optional<std::string> old_;
};

}  // namespace mount_test
