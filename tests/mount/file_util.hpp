// Small file helpers for the mount tests: an owning descriptor, whole-file reads and
// writes that throw std::system_error (Catch2 reports the message), directory listings.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace mount_test {

// The errno of a failed system call, 0 when it succeeded: CHECK(errno_of(f()) == EEXIST).
inline int errno_of(long result) {
    return result < 0 ? errno : 0;
}

[[noreturn]] inline void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        reset(std::exchange(o.fd_, -1));
        return *this;
    }
    ~Fd() { reset(); }
    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    // Closes now and returns close()'s errno (0 on success).
    int close() { return errno_of(::close(std::exchange(fd_, -1))); }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

  private:
    int fd_ = -1;
};

// open() that throws: for setup steps whose failure is not what the test is about.
inline Fd open_or_throw(const std::string& path, int flags, mode_t mode = 0644) {
    Fd fd(::open(path.c_str(), flags | O_CLOEXEC, mode));
    if (!fd) throw_errno("open " + path);
    return fd;
}

inline void write_all(int fd, std::string_view data, off_t offset = 0) {
    while (!data.empty()) {
        const ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw_errno("pwrite");
        data.remove_prefix(static_cast<size_t>(n));
        offset += n;
    }
}

inline std::string read_at(int fd, size_t length, off_t offset = 0) {
    std::string out(length, '\0');
    size_t done = 0;
    while (done < length) {
        const ssize_t n = ::pread(fd, out.data() + done, length - done, offset + done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_errno("pread");
        if (n == 0) break;
        done += static_cast<size_t>(n);
    }
    out.resize(done);
    return out;
}

inline void write_file(const std::string& path, std::string_view data, mode_t mode = 0644) {
    Fd fd = open_or_throw(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    write_all(fd.get(), data);
    if (fd.close() != 0) throw_errno("close " + path);
}

inline std::string read_file(const std::string& path) {
    Fd fd = open_or_throw(path, O_RDONLY);
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) throw_errno("fstat " + path);
    return read_at(fd.get(), static_cast<size_t>(st.st_size) + 1);
}

inline struct stat stat_or_throw(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) throw_errno("lstat " + path);
    return st;
}

// lstat's errno: 0 if the name exists, ENOENT if it does not.
inline int lstat_errno(const std::string& path) {
    struct stat st {};
    return errno_of(::lstat(path.c_str(), &st));
}

// Every name in a directory but "." and "..", in readdir order.
inline std::vector<std::string> list_dir(const std::string& path) {
    DIR* d = ::opendir(path.c_str());
    if (!d) throw_errno("opendir " + path);
    std::vector<std::string> names;
    errno = 0;
    while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") names.push_back(name);
    }
    const int err = errno;
    ::closedir(d);
    if (err != 0) throw std::system_error(err, std::generic_category(), "readdir " + path);
    return names;
}

// A fresh directory /tmp/<prefix>XXXXXX, removed with its contents when the test ends,
// whether it passed or not.
class TempDir {
  public:
    explicit TempDir(const std::string& prefix) {
        std::string templ = "/tmp/" + prefix + "XXXXXX";
        if (!::mkdtemp(templ.data())) throw_errno("mkdtemp " + templ);
        path_ = templ;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

// Deterministic non-repeating-looking bytes, so a misplaced block shows up.
inline std::string pattern(size_t length, unsigned seed) {
    std::string out(length, '\0');
    unsigned x = seed * 2654435761u + 1;
    for (auto& c : out) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = static_cast<char>(x);
    }
    return out;
}

}  // namespace mount_test
