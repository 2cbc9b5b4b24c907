// The runner: each operation on both sides, then a comparison of the results and of
// every object the operation touched; at the end of a sequence, of the whole tree.
#include "fuzzer.hpp"

#include <dirent.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>

#include "file_util.hpp"

namespace fuzz {
namespace {

using mount_test::Fd;

constexpr std::size_t kBuf = std::size_t{4} << 20;  // the I/O buffers; no transfer exceeds them
constexpr std::size_t kXattrBuf = 70000;             // the largest xattr value passed
constexpr int kSlots = 6;
constexpr int kChain = 5;        // directories between a mount's root and a sequence's directory
constexpr int kMaxDiffs = 12;    // differences reported per step
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr off_t kHead = 4096;  // always compared: the start and end of a file
constexpr off_t kRegionCap = 2 * 1024 * 1024;  // of a longer data region, its two ends
constexpr off_t kContentCap = 24 * 1024 * 1024;  // bytes compared per file and check
constexpr int kMaxRegions = 64;

// a + b for b >= 0, at most INT64_MAX: offsets near 2^63 are the point of the exercise.
off_t sat_add(off_t a, off_t b) {
    return a > kMax - b ? kMax : a + b;
}

std::string errname(int e) {
    const char* n = strerrorname_np(e);
    return n ? n : "errno " + std::to_string(e);
}

// A buffer followed by an inaccessible page: should a transfer ever be longer than the
// runner meant, the kernel faults on the guard instead of scribbling over the heap.
class GuardBuf {
  public:
    explicit GuardBuf(std::size_t size) : size_(size) {
        void* p = mmap(nullptr, size + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) mount_test::throw_errno("mmap");
        data_ = static_cast<char*>(p);
        if (mprotect(data_ + size, 4096, PROT_NONE) != 0) {
            munmap(data_, size + 4096);
            mount_test::throw_errno("mprotect");
        }
    }
    ~GuardBuf() { munmap(data_, size_ + 4096); }
    GuardBuf(const GuardBuf&) = delete;
    GuardBuf& operator=(const GuardBuf&) = delete;
    char* data() { return data_; }
    std::size_t size() const { return size_; }

  private:
    char* data_;
    std::size_t size_;
};

// The bytes of a data seed: cheap to make, different at every position.
void fill(char* out, std::size_t n, std::uint64_t seed) {
    std::uint64_t x = seed | 1;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        x += 0x9e3779b97f4a7c15ull;
        std::uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        std::memcpy(out + i, &z, 8);
    }
    for (; i < n; ++i) out[i] = static_cast<char>(x >> (i % 8 * 8));
}

std::string show_bytes(const std::string& s, std::size_t from = 0, std::size_t n = 24) {
    std::string out;
    for (std::size_t i = from; i < s.size() && i < from + n; ++i) {
        const char c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += c;
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
            out += buf;
        }
    }
    if (s.size() > from + n) out += "...";
    return out;
}

// Where two byte strings first differ, readably.
std::string first_difference(const std::string& a, const std::string& b) {
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    return "sizes " + std::to_string(a.size()) + "/" + std::to_string(b.size()) + ", first difference at byte " +
           std::to_string(i) + ": tmpfs \"" + show_bytes(a, i) + "\" spoolfs \"" + show_bytes(b, i) + "\"";
}

struct Outcome {
    long long ret = 0;
    int err = 0;
    std::string data;
};

std::string result_text(const Outcome& o) {
    if (o.err) return errname(o.err);
    std::string s = std::to_string(o.ret);
    if (!o.data.empty()) {
        if (o.data.size() <= 60)
            s += " \"" + show_bytes(o.data, 0, 60) + "\"";
        else
            s += " [" + std::to_string(o.data.size()) + " bytes]";
    }
    return s;
}

time_t g_start = std::time(nullptr);

// A timestamp as a check compares it: one set by hand (far from now, as the generator
// makes them) exactly, one set by the clock only as "now": the two clocks tick apart.
std::string time_class(const timespec& t) {
    if (t.tv_sec >= g_start - 86400 && t.tv_sec <= std::time(nullptr) + 86400) return "now";
    return std::to_string(t.tv_sec) + "." + std::to_string(t.tv_nsec);
}

std::string stat_text(const struct stat& st) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "0%o", st.st_mode);
    std::string s = std::string("mode ") + mode + " nlink " + std::to_string(st.st_nlink) + " uid " +
                    std::to_string(st.st_uid) + " gid " + std::to_string(st.st_gid);
    // A directory's st_size is the file system's own measure (tmpfs: 20 bytes per entry);
    // POSIX leaves it unspecified and no program reads it.
    if (!S_ISDIR(st.st_mode)) s += " size " + std::to_string(st.st_size);
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        s += " rdev " + std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
    // st_ino, st_dev, st_blksize and st_blocks are each file system's own (allocation
    // granularity: tmpfs pages, spoolfs 64 KiB chunks); ctime cannot be set by hand.
    // A symlink's atime: the checker's own readlink touches it.
    if (!S_ISLNK(st.st_mode)) s += " atime " + time_class(st.st_atim);
    s += " mtime " + time_class(st.st_mtim);
    return s;
}

// The entries of an open directory but . and .., as (name, d_type), read with getdents64
// from the start (the descriptor's position is moved).
int read_entries(int dirfd, std::vector<std::pair<std::string, unsigned>>& out) {
    if (lseek(dirfd, 0, SEEK_SET) < 0) return errno;
    alignas(8) char buf[32768];
    for (;;) {
        const long n = syscall(SYS_getdents64, dirfd, buf, sizeof buf);
        if (n < 0) return errno;
        if (n == 0) return 0;
        // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, d_name
        for (long at = 0; at < n;) {
            unsigned short reclen = 0;
            std::memcpy(&reclen, buf + at + 16, sizeof reclen);
            const auto type = static_cast<unsigned char>(buf[at + 18]);
            const std::string name(buf + at + 19);
            if (name != "." && name != "..") out.emplace_back(name, type);
            if (reclen == 0) return EIO;
            at += reclen;
        }
        if (out.size() > 10000) return 0;
    }
}

// Names and types of a directory's entries, sorted: readdir's order is each file
// system's own.
std::string entries_text(int dirfd, int& err) {
    std::vector<std::pair<std::string, unsigned>> entries;
    err = read_entries(dirfd, entries);
    std::vector<std::string> names;
    for (const auto& [name, type] : entries) names.push_back(name + " (type " + std::to_string(type) + ")");
    std::sort(names.begin(), names.end());
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    if (err) out += " then " + errname(err);
    return out;
}

std::vector<std::string> entry_names(int dirfd) {
    std::vector<std::pair<std::string, unsigned>> entries;
    read_entries(dirfd, entries);
    std::vector<std::string> names;
    for (const auto& e : entries) names.push_back(e.first);
    std::sort(names.begin(), names.end());
    return names;
}

std::string names_text(const char* list, std::size_t n) {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < n;) {
        const std::size_t len = strnlen(list + i, n - i);
        names.emplace_back(list + i, len);
        i += len + 1;
    }
    // listxattr's order is each file system's own
    std::sort(names.begin(), names.end());
    std::string out;
    for (const auto& name : names) out += name + '\n';
    return out;
}

struct Side {
    const char* label;
    std::string mnt;
    Fd mnt_fd;
    Fd root;  // the sequence's directory, at a fixed descriptor number on each side
    std::array<Fd, kSlots> slots;

    int fd(int slot) const { return slots[static_cast<std::size_t>(slot)].get(); }
    // A path to `rel` that the calls without an *at() form can take. The sequence's
    // directory is at descriptor 700 on one side and 800 on the other, so the two paths
    // are equally long.
    std::string proc(const std::string& rel) const {
        if (rel.empty()) return "";
        return "/proc/self/fd/" + std::to_string(root.get()) + "/" + rel;
    }
};

using Fields = std::map<std::string, std::string>;

// Everything a user sees of one object but its data: stat, a symlink's target, a
// directory's entries, the xattrs. `stat_ok` tells whether it exists.
Fields fields_of_path(int dirfd, const std::string& name, const std::string& proc_path, struct stat& st,
                      bool& stat_ok) {
    Fields f;
    stat_ok = fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!stat_ok) {
        f["lstat"] = errname(errno);
        return f;
    }
    f["lstat"] = stat_text(st);
    if (S_ISLNK(st.st_mode)) {
        char buf[8192];
        const ssize_t n = readlinkat(dirfd, name.c_str(), buf, sizeof buf);
        f["target"] = n < 0 ? errname(errno) : std::string(buf, static_cast<std::size_t>(n));
    }
    if (S_ISDIR(st.st_mode)) {
        Fd d(openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC));
        int err = 0;
        f["entries"] = d ? entries_text(d.get(), err) : "open: " + errname(errno);
    }
    static thread_local std::vector<char> list(70000), value(70000);
    const ssize_t n = llistxattr(proc_path.c_str(), list.data(), list.size());
    if (n < 0) {
        f["xattrs"] = errname(errno);
    } else {
        const std::string names = names_text(list.data(), static_cast<std::size_t>(n));
        f["xattrs"] = names;
        for (std::size_t i = 0; i < static_cast<std::size_t>(n);) {
            const std::string xname(list.data() + i);
            i += xname.size() + 1;
            const ssize_t m = lgetxattr(proc_path.c_str(), xname.c_str(), value.data(), value.size());
            f["xattr " + xname] = m < 0 ? errname(errno) : std::string(value.data(), static_cast<std::size_t>(m));
        }
    }
    return f;
}

Fields fields_of_fd(int fd, struct stat& st, bool& stat_ok) {
    Fields f;
    stat_ok = fstat(fd, &st) == 0;
    if (!stat_ok) {
        f["fstat"] = errname(errno);
        return f;
    }
    f["fstat"] = stat_text(st);
    const off_t pos = lseek(fd, 0, SEEK_CUR);
    f["position"] = pos < 0 ? errname(errno) : std::to_string(pos);
    if (S_ISDIR(st.st_mode)) {
        Fd d(openat(fd, ".", O_RDONLY | O_DIRECTORY | O_NOATIME | O_CLOEXEC));
        int err = 0;
        f["entries"] = d ? entries_text(d.get(), err) : "open: " + errname(errno);
    }
    static thread_local std::vector<char> list(70000), value(70000);
    const ssize_t n = flistxattr(fd, list.data(), list.size());
    if (n < 0) {
        f["xattrs"] = errname(errno);
    } else {
        f["xattrs"] = names_text(list.data(), static_cast<std::size_t>(n));
        for (std::size_t i = 0; i < static_cast<std::size_t>(n);) {
            const std::string xname(list.data() + i);
            i += xname.size() + 1;
            const ssize_t m = fgetxattr(fd, xname.c_str(), value.data(), value.size());
            f["xattr " + xname] = m < 0 ? errname(errno) : std::string(value.data(), static_cast<std::size_t>(m));
        }
    }
    return f;
}

void compare_fields(const std::string& what, const Fields& a, const Fields& b, std::vector<std::string>& diffs,
                    std::string& first_field) {
    std::set<std::string> keys;
    for (const auto& [k, v] : a) keys.insert(k);
    for (const auto& [k, v] : b) keys.insert(k);
    for (const auto& k : keys) {
        const auto ia = a.find(k);
        const auto ib = b.find(k);
        const std::string va = ia == a.end() ? "(none)" : ia->second;
        const std::string vb = ib == b.end() ? "(none)" : ib->second;
        if (va == vb) continue;
        if (first_field.empty()) first_field = k.starts_with("xattr ") ? "xattr value" : k;
        if (va.size() + vb.size() < 400 && va.find('\0') == std::string::npos && vb.find('\0') == std::string::npos)
            diffs.push_back(what + ": " + k + ": tmpfs [" + show_bytes(va, 0, 200) + "] spoolfs [" +
                            show_bytes(vb, 0, 200) + "]");
        else
            diffs.push_back(what + ": " + k + ": " + first_difference(va, vb));
    }
}

using Ranges = std::vector<std::pair<off_t, off_t>>;  // [from, to)

Ranges data_regions(int fd, off_t size) {
    Ranges r;
    off_t pos = 0;
    for (int i = 0; i < kMaxRegions && pos < size; ++i) {
        const off_t d = lseek(fd, pos, SEEK_DATA);
        if (d < 0 || d >= size) break;
        off_t h = lseek(fd, d, SEEK_HOLE);
        if (h <= d || h > size) h = size;
        r.emplace_back(d, h);
        pos = h;
    }
    return r;
}

// What of a file of `size` a check reads on both sides: its start and end, and every
// data region either side reports (the ends of a long one), so that data misplaced by
// either side is seen. Merged and sorted.
Ranges ranges_to_compare(off_t size, const Ranges& a, const Ranges& b) {
    Ranges want;
    auto add = [&](off_t from, off_t to) {
        from = std::max<off_t>(from, 0);
        to = std::min(to, size);
        if (from < to) want.emplace_back(from, to);
    };
    add(0, kHead);
    add(size - kHead, size);
    for (const Ranges* rs : {&a, &b}) {
        for (const auto& [d, h] : *rs) {
            if (h - d <= 2 * kRegionCap) {
                add(d, h);
            } else {
                add(d, sat_add(d, kRegionCap));
                add(h - kRegionCap, h);
            }
        }
    }
    std::sort(want.begin(), want.end());
    Ranges merged;
    for (const auto& r : want) {
        if (!merged.empty() && r.first <= merged.back().second)
            merged.back().second = std::max(merged.back().second, r.second);
        else
            merged.push_back(r);
    }
    return merged;
}

std::string read_range(int fd, off_t from, off_t to, int& err) {
    std::string out(static_cast<std::size_t>(to - from), '\0');
    std::size_t done = 0;
    err = 0;
    while (done < out.size()) {
        const ssize_t n = pread(fd, out.data() + done, out.size() - done, from + static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            err = errno;
            break;
        }
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    out.resize(done);
    return out;
}

// Compares the data of two regular files of the same size, `size`.
void compare_content(const std::string& what, int fa, int fb, off_t size, std::vector<std::string>& diffs,
                     std::string& first_field) {
    const Ranges ra = data_regions(fa, size), rb = data_regions(fb, size);
    off_t budget = kContentCap;
    for (const auto& [from, to0] : ranges_to_compare(size, ra, rb)) {
        const off_t to = std::min(to0, sat_add(from, budget));
        if (to <= from) break;
        budget -= to - from;
        int ea = 0, eb = 0;
        const std::string a = read_range(fa, from, to, ea);
        const std::string b = read_range(fb, from, to, eb);
        if (ea != eb || a != b) {
            if (first_field.empty()) first_field = "data";
            diffs.push_back(what + ": data in [" + std::to_string(from) + ", " + std::to_string(to) +
                            "): " + (ea != eb ? "read: tmpfs " + errname(ea) + " spoolfs " + errname(eb) + "; " : "") +
                            first_difference(a, b) + " (at file offset " + std::to_string(from) + " + that)");
            return;
        }
    }
}

// Every byte of [from, to) that a data region of either side covers reads as zero on `fd`.
bool zeros_in(int fd, off_t from, off_t to, const Ranges& regions) {
    for (const auto& [d, h] : regions) {
        const off_t a = std::max(d, from), b = std::min({h, to, sat_add(a, kRegionCap)});
        if (a >= b) continue;
        int err = 0;
        const std::string bytes = read_range(fd, a, b, err);
        if (err || bytes.find_first_not_of('\0') != std::string::npos) return false;
    }
    return true;
}

std::string parent_of(std::string p) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    const auto slash = p.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return p.substr(0, slash);
}

// Removes `name` in `dirfd` with everything under it; the first error, or "".
std::string remove_tree(int dirfd, const std::string& name, int depth) {
    struct stat st {};
    if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? "" : "lstat " + name + ": " + errname(errno);
    if (S_ISDIR(st.st_mode)) {
        if (depth > 300) return "too deep: " + name;
        Fd d(openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!d) return "open " + name + ": " + errname(errno);
        for (const auto& child : entry_names(d.get())) {
            std::string err = remove_tree(d.get(), child, depth + 1);
            if (!err.empty()) return err;
        }
        if (unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0) {
            const int e = errno;
            std::string left;
            for (const auto& child : entry_names(d.get())) left += " " + child.substr(0, 40);
            return "rmdir " + name.substr(0, 40) + ": " + errname(e) + (left.empty() ? "" : "; still listed:" + left);
        }
        return "";
    }
    if (unlinkat(dirfd, name.c_str(), 0) != 0) return "unlink " + name.substr(0, 40) + ": " + errname(errno);
    return "";
}

struct FdInfo {
    bool valid = false;
    int access = 0;
    bool append = false;
    mode_t type = 0;
    off_t size = 0;
    off_t pos = 0;
};

FdInfo info_of(int fd) {
    FdInfo i;
    if (fd < 0) return i;
    const int fl = fcntl(fd, F_GETFL);
    struct stat st {};
    if (fl < 0 || fstat(fd, &st) != 0) return i;
    i.valid = true;
    i.access = fl & O_ACCMODE;
    i.append = fl & O_APPEND;
    i.type = st.st_mode & S_IFMT;
    i.size = st.st_size;
    const off_t p = lseek(fd, 0, SEEK_CUR);
    i.pos = p < 0 ? 0 : p;
    return i;
}

const char* kind_name(Kind k) {
    static const char* const names[] = {
        "open",     "close",     "pread",   "pwrite",      "read",     "write",    "ftruncate", "truncate",
        "fallocate", "lseek",    "copy_file_range", "fsync", "fstat",  "mkdir",    "mkdir -p",  "rmdir",
        "unlink",   "rename",    "link",    "link O_TMPFILE", "symlink", "readlink", "mknod",    "chmod",
        "fchmod",   "chown",     "utimensat", "futimens",  "setxattr", "getxattr", "listxattr", "removexattr",
        "statfs",   "readdir",   "stat",    "access",
    };
    return names[static_cast<int>(k)];
}

}  // namespace

struct Runner::Impl {
    std::array<Side, 2> sides;  // [0] tmpfs, the oracle; [1] spoolfs
    GuardBuf rbuf{kBuf};
    GuardBuf wbuf{kBuf};
    std::vector<char> xvalue = std::vector<char>(kXattrBuf);
    std::function<void()> hook;
    std::function<void(bool)> beat = [](bool) {};

    Side& oracle() { return sides[0]; }
    Side& spool() { return sides[1]; }

    std::string setup(Side& s, int fixed_fd) {
        s.mnt_fd = Fd(open(s.mnt.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!s.mnt_fd) return "open " + s.mnt + ": " + errname(errno);
        if (std::string err = remove_tree(s.mnt_fd.get(), "r", 0); !err.empty()) return "clean: " + err;
        std::string rel;
        for (int i = 0; i <= kChain; ++i) {
            rel += (i ? "/" : "") + std::string(i == kChain ? "s" : "r");
            if (mkdirat(s.mnt_fd.get(), rel.c_str(), 0755) != 0) return "mkdir " + rel + ": " + errname(errno);
        }
        Fd root(openat(s.mnt_fd.get(), rel.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!root) return "open " + rel + ": " + errname(errno);
        s.root = Fd(fcntl(root.get(), F_DUPFD_CLOEXEC, fixed_fd));
        if (s.root.get() != fixed_fd) return "descriptor " + std::to_string(fixed_fd) + " is taken";
        return "";
    }

    std::string teardown(Side& s) {
        for (auto& f : s.slots) f.reset();
        s.root.reset();
        if (!s.mnt_fd) return "";
        std::string err = remove_tree(s.mnt_fd.get(), "r", 0);
        if (err.empty()) {
            Fd d(openat(s.mnt_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            const auto left = d ? entry_names(d.get()) : std::vector<std::string>{};
            if (!left.empty()) err = "left in the mount's root: " + left.front().substr(0, 60);
        }
        s.mnt_fd.reset();
        return err;
    }

    // The operation as both sides run it: a length the kernel would really transfer is cut
    // to the buffers' size, unless every side's kernel rejects or clips it first.
    Op prepare(Op op) {
        if (op.len <= kBuf) return op;
        const FdInfo a = info_of(oracle().fd(op.slot)), b = info_of(spool().fd(op.slot));
        switch (op.kind) {
            case Kind::Pread:
            case Kind::Read: {
                if (op.len <= kBuf) break;
                auto safe = [&](const FdInfo& i) {
                    if (!i.valid || i.access == O_WRONLY || i.access == O_ACCMODE) return true;  // EBADF
                    if (static_cast<std::int64_t>(op.len) < 0) return true;                      // EINVAL
                    if (i.type == S_IFDIR) return true;                                           // EISDIR
                    if (i.type == S_IFIFO) return true;  // ESPIPE, or at most the pipe's 64 KiB
                    if (i.type != S_IFREG) return false;
                    const off_t from = op.kind == Kind::Pread ? op.off : i.pos;
                    return from < 0 || i.size - from <= static_cast<off_t>(kBuf);
                };
                if (!safe(a) || !safe(b)) {
                    op.len = kBuf;
                    op.note = "length cut to 4 MiB: the file has more";
                }
                break;
            }
            case Kind::Pwrite:
            case Kind::Write: {
                if (op.len <= kBuf) break;
                auto safe = [&](const FdInfo& i) {
                    if (!i.valid || (i.access != O_WRONLY && i.access != O_RDWR)) return true;  // EBADF
                    if (static_cast<std::int64_t>(op.len) < 0) return true;                    // EINVAL
                    if (i.type == S_IFDIR) return true;
                    if (i.type == S_IFIFO) return true;  // ESPIPE, or at most the pipe's 64 KiB
                    if (i.type != S_IFREG) return false;
                    if (op.kind == Kind::Pwrite && op.off < 0) return true;
                    const off_t at = i.append ? i.size : op.kind == Kind::Pwrite ? op.off : i.pos;
                    // the kernel clips a write at the largest file size (EFBIG beyond)
                    return at >= kMax - static_cast<off_t>(kBuf);
                };
                if (!safe(a) || !safe(b)) {
                    op.len = kBuf;
                    op.note = "length cut to 4 MiB: the kernel would write it";
                }
                break;
            }
            case Kind::CopyRange: {
                if (op.len <= kBuf) break;
                const FdInfo a2 = info_of(oracle().fd(op.slot2)), b2 = info_of(spool().fd(op.slot2));
                auto safe = [&](const FdInfo& in, const FdInfo& out) {
                    if (!in.valid || !out.valid || in.type != S_IFREG) return true;
                    const off_t from = op.null_offsets ? in.pos : op.off;
                    return from < 0 || in.size - from <= static_cast<off_t>(kBuf);
                };
                if (!safe(a, a2) || !safe(b, b2)) {
                    op.len = kBuf;
                    op.note = "length cut to 4 MiB: the source has more";
                }
                break;
            }
            default:
                break;
        }
        return op;
    }

    // A read the kernel serves without asking the daemon (from its page cache, or at or
    // past the end of file, which transfers nothing) cannot move atime on spoolfs: the
    // kernel leaves a FUSE inode's atime to its server. Where tmpfs's relatime moved it,
    // carry that over, so that later checks compare what follows.
    void carry_read_atime(int slot) {
        struct stat a {}, b {};
        const int fa = oracle().fd(slot), fb = spool().fd(slot);
        if (fa < 0 || fb < 0 || fstat(fa, &a) != 0 || fstat(fb, &b) != 0) return;
        if (time_class(a.st_atim) == "now" && time_class(b.st_atim) != "now") {
            const timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
            futimens(fb, times);
        }
    }

    // The same for a directory listing the kernel serves from its cache of the directory
    // (it keeps one for a mount without OPENDIR, such as spoolfs).
    void carry_listing_atime(const std::string& path) {
        struct stat a {}, b {};
        if (fstatat(oracle().root.get(), path.c_str(), &a, AT_SYMLINK_NOFOLLOW) != 0 ||
            fstatat(spool().root.get(), path.c_str(), &b, AT_SYMLINK_NOFOLLOW) != 0)
            return;
        if (time_class(a.st_atim) == "now" && time_class(b.st_atim) != "now") {
            const timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
            utimensat(spool().root.get(), path.c_str(), times, AT_SYMLINK_NOFOLLOW);
        }
    }

    // lseek(2) on a directory is the kernel's: tmpfs refuses SEEK_END, SEEK_DATA and
    // SEEK_HOLE (EINVAL), FUSE's directories take them as on a file. Neither side's answer
    // is the daemon's; the oracle's position is carried over. True when that was the case.
    bool directory_lseek(const Op& op) {
        const int fa = oracle().fd(op.slot), fb = spool().fd(op.slot);
        struct stat st {};
        if (fa < 0 || fb < 0 || fstat(fa, &st) != 0 || !S_ISDIR(st.st_mode)) return false;
        if (op.flags != SEEK_END && op.flags != SEEK_DATA && op.flags != SEEK_HOLE) return false;
        const off_t p = lseek(fa, 0, SEEK_CUR);
        if (p >= 0) lseek(fb, p, SEEK_SET);
        return true;
    }

    Outcome exec(Side& s, const Op& op) {
        Outcome o;
        auto done = [&](long long r) {
            if (r < 0) {
                o.err = errno;
                o.ret = -1;
            } else {
                o.ret = r;
            }
        };
        const int fd = s.fd(op.slot);
        const int root = s.root.get();
        const char* path = op.path.c_str();
        const char* path2 = op.path2.c_str();
        char* buf = rbuf.data();
        switch (op.kind) {
            case Kind::Open: {
                s.slots[static_cast<std::size_t>(op.slot)].reset();
                const int f = openat(root, path, op.flags | O_NONBLOCK | O_CLOEXEC, op.mode);
                done(f < 0 ? -1 : 0);
                if (f >= 0) s.slots[static_cast<std::size_t>(op.slot)].reset(f);
                break;
            }
            case Kind::Close: {
                auto& slot = s.slots[static_cast<std::size_t>(op.slot)];
                if (!slot) {
                    errno = EBADF;
                    done(-1);
                } else if (const int e = slot.close(); e != 0) {
                    errno = e;
                    done(-1);
                }
                break;
            }
            case Kind::Pread:
                done(pread(fd, buf, op.len, op.off));
                if (o.ret > 0) o.data.assign(buf, static_cast<std::size_t>(o.ret));
                break;
            case Kind::Read:
                done(read(fd, buf, op.len));
                if (o.ret > 0) o.data.assign(buf, static_cast<std::size_t>(o.ret));
                break;
            case Kind::Pwrite: done(pwrite(fd, wbuf.data(), op.len, op.off)); break;
            case Kind::Write: done(write(fd, wbuf.data(), op.len)); break;
            case Kind::Ftruncate: done(ftruncate(fd, op.off)); break;
            case Kind::Truncate: done(truncate(s.proc(op.path).c_str(), op.off)); break;
            case Kind::Fallocate: done(fallocate(fd, op.flags, op.off, static_cast<off_t>(op.len))); break;
            case Kind::Lseek: done(lseek(fd, op.off, op.flags)); break;
            case Kind::CopyRange: {
                loff_t in = op.off, out = op.off2;
                done(copy_file_range(fd, op.null_offsets ? nullptr : &in, s.fd(op.slot2),
                                     op.null_offsets ? nullptr : &out, op.len, static_cast<unsigned>(op.flags)));
                if (!op.null_offsets) o.data = "offsets after: " + std::to_string(in) + ", " + std::to_string(out);
                break;
            }
            case Kind::Fsync: done(op.mode ? fdatasync(fd) : fsync(fd)); break;
            case Kind::Fstat: {
                struct stat st {};
                done(fstat(fd, &st));
                if (o.ret == 0) o.data = stat_text(st);
                break;
            }
            case Kind::Mkdir: done(mkdirat(root, path, op.mode)); break;
            case Kind::MkdirP: {
                for (std::size_t i = 0; i <= op.path.size(); ++i) {
                    if (i < op.path.size() && op.path[i] != '/') continue;
                    const std::string prefix = op.path.substr(0, i);
                    o.data += (mkdirat(root, prefix.c_str(), op.mode) == 0 ? std::string("ok") : errname(errno)) + " ";
                }
                break;
            }
            case Kind::Rmdir: done(unlinkat(root, path, AT_REMOVEDIR)); break;
            case Kind::Unlink: done(unlinkat(root, path, 0)); break;
            case Kind::Rename: done(renameat2(root, path, root, path2, static_cast<unsigned>(op.flags))); break;
            case Kind::Link: done(linkat(root, path, root, path2, op.flags)); break;
            case Kind::LinkTmpfile:
                if (op.flags == AT_EMPTY_PATH)
                    done(linkat(fd, "", root, path2, AT_EMPTY_PATH));
                else
                    done(linkat(AT_FDCWD, ("/proc/self/fd/" + std::to_string(fd)).c_str(), root, path2,
                                AT_SYMLINK_FOLLOW));
                break;
            case Kind::Symlink: done(symlinkat(path2, root, path)); break;
            case Kind::Readlink:
                done(readlinkat(root, path, buf, op.len));
                if (o.ret > 0) o.data.assign(buf, static_cast<std::size_t>(o.ret));
                break;
            case Kind::Mknod:
                done(mknodat(root, path, op.mode, S_ISCHR(op.mode) ? makedev(1, 3) : 0));
                break;
            case Kind::Chmod: done(fchmodat(root, path, op.mode, 0)); break;
            case Kind::Fchmod: done(fchmod(fd, op.mode)); break;
            case Kind::Chown:
                done(fchownat(root, path, static_cast<uid_t>(op.uid), static_cast<gid_t>(op.gid), op.flags));
                break;
            case Kind::Utimens: done(utimensat(root, path, op.null_times ? nullptr : op.times, op.flags)); break;
            case Kind::Futimens: done(futimens(fd, op.null_times ? nullptr : op.times)); break;
            case Kind::Setxattr: {
                const std::string p = s.proc(op.path);
                const char* n = op.name.c_str();
                const char* v = xvalue.data();
                switch (op.target) {
                    case Target::Nofollow: done(lsetxattr(p.c_str(), n, v, op.len, op.flags)); break;
                    case Target::Follow: done(setxattr(p.c_str(), n, v, op.len, op.flags)); break;
                    case Target::Slot: done(fsetxattr(fd, n, v, op.len, op.flags)); break;
                }
                break;
            }
            case Kind::Getxattr: {
                const std::string p = s.proc(op.path);
                const char* n = op.name.c_str();
                switch (op.target) {
                    case Target::Nofollow: done(lgetxattr(p.c_str(), n, buf, op.len)); break;
                    case Target::Follow: done(getxattr(p.c_str(), n, buf, op.len)); break;
                    case Target::Slot: done(fgetxattr(fd, n, buf, op.len)); break;
                }
                if (o.ret > 0 && op.len > 0) o.data.assign(buf, static_cast<std::size_t>(o.ret));
                break;
            }
            case Kind::Listxattr: {
                const std::string p = s.proc(op.path);
                switch (op.target) {
                    case Target::Nofollow: done(llistxattr(p.c_str(), buf, op.len)); break;
                    case Target::Follow: done(listxattr(p.c_str(), buf, op.len)); break;
                    case Target::Slot: done(flistxattr(fd, buf, op.len)); break;
                }
                if (o.ret > 0 && op.len > 0) o.data = names_text(buf, static_cast<std::size_t>(o.ret));
                break;
            }
            case Kind::Removexattr: {
                const std::string p = s.proc(op.path);
                const char* n = op.name.c_str();
                switch (op.target) {
                    case Target::Nofollow: done(lremovexattr(p.c_str(), n)); break;
                    case Target::Follow: done(removexattr(p.c_str(), n)); break;
                    case Target::Slot: done(fremovexattr(fd, n)); break;
                }
                break;
            }
            case Kind::Statfs: {
                struct statfs sf {};
                done(statfs(s.proc(op.path).c_str(), &sf));
                if (o.ret == 0) {
                    // The figures are each file system's own; the longest name must agree
                    // (pathconf's NAME_MAX), and the figures must make sense.
                    o.data = "namelen " + std::to_string(sf.f_namelen);
                    if (sf.f_bfree > sf.f_blocks || sf.f_bavail > sf.f_bfree) o.data += " (free > total)";
                    if (sf.f_ffree > sf.f_files) o.data += " (free inodes > total)";
                    if (sf.f_bsize <= 0) o.data += " (no block size)";
                }
                break;
            }
            case Kind::Readdir: {
                Fd d(openat(root, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
                done(d ? 0 : -1);
                if (d) {
                    int err = 0;
                    o.data = entries_text(d.get(), err);
                }
                break;
            }
            case Kind::Stat: {
                struct stat st {};
                done(fstatat(root, path, &st, op.flags));
                if (o.ret == 0) o.data = stat_text(st);
                break;
            }
            case Kind::Access: done(faccessat(root, path, static_cast<int>(op.mode), op.flags)); break;
        }
        return o;
    }

    // SEEK_DATA and SEEK_HOLE answer at each file system's granularity (tmpfs pages,
    // spoolfs 64 KiB chunks), so each answer is checked against the data read back:
    // it lies in [offset, size], what it calls a hole reads as zeros.
    void compare_seek(const Op& op, const Outcome& t, const Outcome& s, std::vector<std::string>& diffs) {
        const bool data = op.flags == SEEK_DATA;
        Fd ra, rb;
        const int fa = oracle().fd(op.slot), fb = spool().fd(op.slot);
        const FdInfo ia = info_of(fa), ib = info_of(fb);
        const bool judged = ia.valid && ib.valid && ia.type == S_IFREG && ib.type == S_IFREG && ia.size == ib.size &&
                            op.off >= 0 && op.off < ia.size;
        if (!judged) {
            if (t.ret != s.ret || t.err != s.err)
                diffs.push_back("result: tmpfs " + result_text(t) + ", spoolfs " + result_text(s));
            return;
        }
        ra = Fd(open(("/proc/self/fd/" + std::to_string(fa)).c_str(), O_RDONLY | O_NOATIME | O_NONBLOCK | O_CLOEXEC));
        rb = Fd(open(("/proc/self/fd/" + std::to_string(fb)).c_str(), O_RDONLY | O_NOATIME | O_NONBLOCK | O_CLOEXEC));
        if (!ra || !rb) {
            diffs.push_back("reopen for reading: " + errname(errno));
            return;
        }
        const off_t size = ia.size;
        Ranges regions = data_regions(ra.get(), size);
        const Ranges more = data_regions(rb.get(), size);
        regions.insert(regions.end(), more.begin(), more.end());
        auto judge = [&](const char* label, const Outcome& o, int reader) {
            const std::string what = std::string(label) + " answered " + result_text(o);
            if (o.err == ENXIO && data) {
                if (!zeros_in(reader, op.off, size, regions)) diffs.push_back(what + " but there is data after the offset");
            } else if (o.err) {
                diffs.push_back(what + " for an offset inside the file");
            } else if (o.ret < op.off || o.ret > size || (data && o.ret == size)) {
                diffs.push_back(what + ", outside [offset, size" + (data ? ")" : "]"));
            } else if (data && !zeros_in(reader, op.off, o.ret, regions)) {
                diffs.push_back(what + " but the bytes before it are not all zero");
            } else if (!data && o.ret < size && !zeros_in(reader, o.ret, sat_add(o.ret, 1), regions)) {
                diffs.push_back(what + " but the byte there is not zero");
            }
        };
        // Only spoolfs's answer is judged: tmpfs's own can be wrong. On this kernel its
        // SEEK_DATA says ENXIO anywhere in a file whose size lies in the last page below
        // 2^63 (mapping_seek_hole_data rounds the size up past LLONG_MAX).
        judge("spoolfs", s, rb.get());
    }

    void check_path(const std::string& rel, std::vector<std::string>& diffs, std::string& first) {
        struct stat sa {}, sb {};
        bool oka = false, okb = false;
        const Fields a = fields_of_path(oracle().root.get(), rel, oracle().proc(rel), sa, oka);
        const Fields b = fields_of_path(spool().root.get(), rel, spool().proc(rel), sb, okb);
        const std::string what = "\"" + show_bytes(rel, 0, 60) + "\"";
        compare_fields(what, a, b, diffs, first);
        if (oka && okb && S_ISREG(sa.st_mode) && S_ISREG(sb.st_mode) && sa.st_size == sb.st_size) {
            const int flags = O_RDONLY | O_NOFOLLOW | O_NOATIME | O_NONBLOCK | O_CLOEXEC;
            Fd fa(openat(oracle().root.get(), rel.c_str(), flags));
            const int ea = fa ? 0 : errno;
            Fd fb(openat(spool().root.get(), rel.c_str(), flags));
            const int eb = fb ? 0 : errno;
            if (fa && fb)
                compare_content(what, fa.get(), fb.get(), sa.st_size, diffs, first);
            else if (ea != eb)
                diffs.push_back(what + ": open for reading: tmpfs " + errname(ea) + " spoolfs " + errname(eb));
        }
    }

    void check_slot(int slot, std::vector<std::string>& diffs, std::string& first) {
        const int fa = oracle().fd(slot), fb = spool().fd(slot);
        const std::string what = "slot " + std::to_string(slot);
        if ((fa < 0) != (fb < 0)) {
            diffs.push_back(what + ": open on one side only");
            return;
        }
        if (fa < 0) return;
        struct stat sa {}, sb {};
        bool oka = false, okb = false;
        const Fields a = fields_of_fd(fa, sa, oka);
        const Fields b = fields_of_fd(fb, sb, okb);
        compare_fields(what, a, b, diffs, first);
        if (oka && okb && S_ISREG(sa.st_mode) && S_ISREG(sb.st_mode) && sa.st_size == sb.st_size) {
            const int flags = O_RDONLY | O_NOATIME | O_NONBLOCK | O_CLOEXEC;
            Fd ra(open(("/proc/self/fd/" + std::to_string(fa)).c_str(), flags));
            const int ea = ra ? 0 : errno;
            Fd rb(open(("/proc/self/fd/" + std::to_string(fb)).c_str(), flags));
            const int eb = rb ? 0 : errno;
            if (ra && rb)
                compare_content(what, ra.get(), rb.get(), sa.st_size, diffs, first);
            else if (ea != eb)
                diffs.push_back(what + ": reopen for reading: tmpfs " + errname(ea) + " spoolfs " + errname(eb));
        }
    }

    // After an operation: the objects it named, their directories, its descriptors.
    void check_touched(const Op& op, std::vector<std::string>& diffs, std::string& first) {
        std::vector<std::string> paths;
        std::vector<int> slots;
        auto path_and_parent = [&](const std::string& p) {
            paths.push_back(p);
            paths.push_back(parent_of(p));
        };
        switch (op.kind) {
            case Kind::Open:
                path_and_parent(op.path);
                slots.push_back(op.slot);
                break;
            case Kind::Close:
            case Kind::Statfs:
                break;
            case Kind::Pread: case Kind::Read: case Kind::Pwrite: case Kind::Write: case Kind::Ftruncate:
            case Kind::Fallocate: case Kind::Lseek: case Kind::Fsync: case Kind::Fstat: case Kind::Fchmod:
            case Kind::Futimens:
                slots.push_back(op.slot);
                break;
            case Kind::CopyRange:
                slots.push_back(op.slot);
                if (op.slot2 != op.slot) slots.push_back(op.slot2);
                break;
            case Kind::Truncate: case Kind::Chmod: case Kind::Chown: case Kind::Utimens: case Kind::Readlink:
            case Kind::Stat: case Kind::Access: case Kind::Readdir:
                paths.push_back(op.path);
                break;
            case Kind::Setxattr: case Kind::Getxattr: case Kind::Listxattr: case Kind::Removexattr:
                if (op.target == Target::Slot)
                    slots.push_back(op.slot);
                else
                    paths.push_back(op.path);
                break;
            case Kind::Mkdir: case Kind::Rmdir: case Kind::Unlink: case Kind::Mknod: case Kind::Symlink:
            case Kind::MkdirP:
                path_and_parent(op.path);
                break;
            case Kind::Rename:
            case Kind::Link:
                path_and_parent(op.path);
                path_and_parent(op.path2);
                break;
            case Kind::LinkTmpfile:
                path_and_parent(op.path2);
                slots.push_back(op.slot);
                break;
        }
        std::set<std::string> seen;
        for (const auto& p : paths) {
            if (p.size() > 4096 || !seen.insert(p).second) continue;
            check_path(p, diffs, first);
            if (diffs.size() > kMaxDiffs) return;
        }
        for (int s : slots) check_slot(s, diffs, first);
    }

    // The whole tree of the sequence, and which names and descriptors share a file.
    void check_tree(std::vector<std::string>& diffs, std::string& first) {
        std::map<std::string, std::pair<ino_t, ino_t>> ids;  // name -> inode on each side
        check_path(".", diffs, first);
        walk(oracle().root.get(), spool().root.get(), "", 0, ids, diffs, first);
        for (int slot = 0; slot < kSlots; ++slot) {
            check_slot(slot, diffs, first);
            struct stat sa {}, sb {};
            if (oracle().fd(slot) >= 0 && spool().fd(slot) >= 0 && fstat(oracle().fd(slot), &sa) == 0 &&
                fstat(spool().fd(slot), &sb) == 0 && !S_ISDIR(sa.st_mode))
                ids["slot " + std::to_string(slot)] = {sa.st_ino, sb.st_ino};
        }
        // hard links: two names (or descriptors) are one file on tmpfs iff on spoolfs
        for (auto i = ids.begin(); i != ids.end() && diffs.size() < kMaxDiffs; ++i) {
            for (auto j = std::next(i); j != ids.end(); ++j) {
                const bool same_a = i->second.first == j->second.first;
                const bool same_b = i->second.second == j->second.second;
                if (same_a != same_b) {
                    if (first.empty()) first = "hard links";
                    diffs.push_back("\"" + show_bytes(i->first, 0, 60) + "\" and \"" + show_bytes(j->first, 0, 60) +
                                    "\": one file on " + (same_a ? "tmpfs" : "spoolfs") + ", two on " +
                                    (same_a ? "spoolfs" : "tmpfs"));
                    break;
                }
            }
        }
    }

    void walk(int da, int db, const std::string& rel, int depth, std::map<std::string, std::pair<ino_t, ino_t>>& ids,
              std::vector<std::string>& diffs, std::string& first) {
        if (depth > 64 || diffs.size() > kMaxDiffs || ids.size() > 5000) return;
        const auto na = entry_names(da), nb = entry_names(db);
        std::vector<std::string> common;
        std::set_intersection(na.begin(), na.end(), nb.begin(), nb.end(), std::back_inserter(common));
        for (const auto& name : common) {
            const std::string path = rel.empty() ? name : rel + "/" + name;
            struct stat sa {}, sb {};
            bool oka = false, okb = false;
            const Fields a = fields_of_path(da, name, "/proc/self/fd/" + std::to_string(da) + "/" + name, sa, oka);
            const Fields b = fields_of_path(db, name, "/proc/self/fd/" + std::to_string(db) + "/" + name, sb, okb);
            const std::string what = "\"" + show_bytes(path, 0, 60) + "\"";
            compare_fields(what, a, b, diffs, first);
            if (!oka || !okb) continue;
            if (S_ISREG(sa.st_mode) && S_ISREG(sb.st_mode) && sa.st_size == sb.st_size) {
                const int flags = O_RDONLY | O_NOFOLLOW | O_NOATIME | O_NONBLOCK | O_CLOEXEC;
                Fd fa(openat(da, name.c_str(), flags)), fb(openat(db, name.c_str(), flags));
                if (fa && fb) compare_content(what, fa.get(), fb.get(), sa.st_size, diffs, first);
            }
            if (!S_ISDIR(sa.st_mode)) ids[path] = {sa.st_ino, sb.st_ino};
            if (S_ISDIR(sa.st_mode) && S_ISDIR(sb.st_mode)) {
                const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC;
                Fd ca(openat(da, name.c_str(), flags)), cb(openat(db, name.c_str(), flags));
                if (ca && cb) walk(ca.get(), cb.get(), path, depth + 1, ids, diffs, first);
            }
            if (diffs.size() > kMaxDiffs) return;
        }
    }

    RunResult run(const std::vector<Op>& ops, bool verbose) {
        RunResult result;
        auto fail = [&](std::size_t step, std::vector<std::string> diffs, const std::string& kind) {
            Failure f;
            f.step = step;
            for (const auto& d : diffs) f.what += d + "\n";
            f.kind = kind;
            result.failure = f;
        };
        beat(true);
        struct Idle {
            std::function<void(bool)>& beat;
            ~Idle() { beat(false); }
        } idle{beat};
        for (int i = 0; i < 2; ++i) {
            if (std::string err = setup(sides[static_cast<std::size_t>(i)], i == 0 ? 700 : 800); !err.empty()) {
                fail(0, {std::string(sides[static_cast<std::size_t>(i)].label) + " setup: " + err}, "setup");
                result.connection_lost = i == 1;  // a spoolfs that cannot mkdir is remounted
                teardown(sides[0]);
                teardown(sides[1]);
                return result;
            }
        }
        for (std::size_t i = 0; i < ops.size() && !result.failure; ++i) {
            beat(true);
            const Op op = prepare(ops[i]);
            if (op.kind == Kind::Pwrite || op.kind == Kind::Write)
                fill(wbuf.data(), std::min<std::uint64_t>(op.len, kBuf), op.seed);
            if (op.kind == Kind::Setxattr)
                fill(xvalue.data(), std::min<std::uint64_t>(op.len, kXattrBuf), op.seed);
            const Outcome t = exec(oracle(), op);
            const Outcome s = exec(spool(), op);
            if ((op.kind == Kind::Pread || op.kind == Kind::Read) && t.err == 0)
                carry_read_atime(op.slot);
            if (op.kind == Kind::Readdir && t.err == 0) carry_listing_atime(op.path);
            const bool same = t.ret == s.ret && t.err == s.err && t.data == s.data;
            std::string line = "#" + std::to_string(i) + " " + describe(op) + " -> tmpfs " + result_text(t);
            if (!same) line += ", spoolfs " + result_text(s);
            result.log.push_back(line);
            if (verbose) std::cerr << line << "\n";
            if (op.kind == Kind::Lseek && directory_lseek(op)) continue;
            if (s.err == ENOTCONN) result.connection_lost = true;

            std::vector<std::string> diffs;
            std::string first;
            if (op.kind == Kind::Lseek && (op.flags == SEEK_DATA || op.flags == SEEK_HOLE)) {
                compare_seek(op, t, s, diffs);
                if (!diffs.empty()) first = "result";
                // the two positions may differ by the granularity: carry the oracle's over
                const int fa = oracle().fd(op.slot), fb = spool().fd(op.slot);
                if (fa >= 0 && fb >= 0) {
                    const off_t p = lseek(fa, 0, SEEK_CUR);
                    if (p >= 0) lseek(fb, p, SEEK_SET);
                }
            } else if (!same) {
                first = "result";
                if (t.ret != s.ret || t.err != s.err)
                    diffs.push_back("result: tmpfs " + result_text(t) + ", spoolfs " + result_text(s));
                else
                    diffs.push_back("returned data: " + first_difference(t.data, s.data));
            }
            check_touched(op, diffs, first);
            if (!diffs.empty()) {
                if (diffs.size() > kMaxDiffs) diffs.resize(kMaxDiffs);
                fail(i, diffs, std::string(kind_name(op.kind)) + ": " + first);
            }
        }
        if (!result.failure) {
            beat(true);
            std::vector<std::string> diffs;
            std::string first;
            check_tree(diffs, first);
            if (!diffs.empty()) {
                if (diffs.size() > kMaxDiffs) diffs.resize(kMaxDiffs);
                fail(ops.size(), diffs, "final tree: " + first);
            }
        }
        beat(true);
        if (hook) hook();
        const std::string ea = teardown(oracle()), eb = teardown(spool());
        if (!ea.empty() || !eb.empty()) {
            if (!eb.empty() && ea.empty() && !result.failure)
                fail(ops.size(), {"removing the sequence's tree: tmpfs ok, spoolfs " + eb}, "cleanup");
            else if (!ea.empty())
                throw std::runtime_error("cannot clean the tmpfs oracle: " + ea);
        }
        return result;
    }
};

Runner::Runner(std::string spool, std::string oracle) : impl_(std::make_unique<Impl>()) {
    impl_->sides[0].label = "tmpfs";
    impl_->sides[0].mnt = std::move(oracle);
    impl_->sides[1].label = "spoolfs";
    impl_->sides[1].mnt = std::move(spool);
}

Runner::~Runner() = default;

void Runner::before_teardown(std::function<void()> hook) {
    impl_->hook = std::move(hook);
}

void Runner::on_step(std::function<void(bool)> hook) {
    impl_->beat = std::move(hook);
}

RunResult Runner::run(const std::vector<Op>& ops, bool verbose) {
    return impl_->run(ops, verbose);
}

std::vector<Op> minimize(std::vector<Op> ops, Runner& runner, const Failure& original, int budget) {
    if (original.step < ops.size()) ops.resize(original.step + 1);
    auto still_fails = [&](const std::vector<Op>& candidate) {
        const RunResult r = runner.run(candidate);
        return r.failure && r.failure->kind == original.kind && !r.connection_lost;
    };
    std::size_t chunk = std::max<std::size_t>(ops.size() / 2, 1);
    while (budget > 0) {
        bool removed = false;
        for (std::size_t i = 0; i < ops.size() && budget > 0;) {
            std::vector<Op> candidate;
            candidate.reserve(ops.size());
            for (std::size_t j = 0; j < ops.size(); ++j)
                if (j < i || j >= i + chunk) candidate.push_back(ops[j]);
            --budget;
            if (!candidate.empty() && still_fails(candidate)) {
                ops = std::move(candidate);
                removed = true;
            } else {
                i += chunk;
            }
        }
        if (!removed) {
            if (chunk == 1) break;
            chunk = std::max<std::size_t>(chunk / 2, 1);
        }
    }
    return ops;
}

}  // namespace fuzz
