// Generation of operation sequences, and their readable form for logs and replays.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <random>
#include <utility>

#include "fuzzer.hpp"

namespace fuzz {
namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t KiB = 1024, MiB = 1024 * KiB;
constexpr std::int64_t kChunk = 64 * KiB;  // spoolfs's chunk: boundaries are interesting
constexpr int kSlots = 6;

class Gen {
  public:
    Gen(std::uint64_t seed, GenConfig config) : rng_(seed), config_(config) {}

    std::vector<Op> sequence(int count) {
        std::vector<Op> ops;
        ops.reserve(static_cast<std::size_t>(count));
        // A prologue that usually succeeds: a file or two open in slots, maybe a
        // directory, so that the random part finds something to work on.
        const int files = static_cast<int>(range(1, 3));
        for (int i = 0; i < files && static_cast<int>(ops.size()) < count; ++i) {
            Op op;
            op.kind = Kind::Open;
            op.path = std::string(1, "abcd"[below(4)]);
            op.slot = static_cast<int>(below(kSlots));
            op.flags = O_RDWR | O_CREAT | (chance(20) ? O_APPEND : 0);
            op.mode = 0644;
            note(op);
            ops.push_back(op);
        }
        if (chance(60) && static_cast<int>(ops.size()) < count) {
            Op op;
            op.kind = Kind::Mkdir;
            op.path = std::string(1, "abcd"[below(4)]);
            op.mode = 0755;
            note(op);
            ops.push_back(op);
        }
        while (static_cast<int>(ops.size()) < count) ops.push_back(next());
        return ops;
    }

  private:
    std::uint64_t below(std::uint64_t n) { return n ? rng_() % n : 0; }
    std::int64_t range(std::int64_t lo, std::int64_t hi) {
        return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
    }
    bool chance(unsigned percent) { return below(100) < percent; }
    template <class T>
    T pick(std::initializer_list<T> values) {
        return std::data(values)[below(values.size())];
    }
    // One of the values, each with its weight.
    template <class T>
    T weighted(std::initializer_list<std::pair<T, unsigned>> choices) {
        unsigned total = 0;
        for (const auto& c : choices) total += c.second;
        auto r = below(total);
        for (const auto& c : choices) {
            if (r < c.second) return c.first;
            r -= c.second;
        }
        return std::data(choices)[0].first;
    }

    // Generation never looks at results (a sequence must replay, and shrink by dropping
    // operations), but it remembers what it asked for: names it created, slots it opened.
    // Most operations then meet an object that exists.
    void remember(std::vector<std::string>& list, const std::string& p) {
        if (p.empty() || p.size() > 1024) return;
        if (list.size() >= 24) list.erase(list.begin() + static_cast<std::ptrdiff_t>(below(list.size())));
        list.push_back(p);
    }
    const std::string& any_of(const std::vector<std::string>& list) { return list[below(list.size())]; }

    int slot() {
        if (!opened_.empty() && chance(90)) return opened_[below(opened_.size())];
        return static_cast<int>(below(kSlots));
    }

    // A small pool of names, so that operations meet existing objects often, plus names
    // of NAME_MAX and NAME_MAX + 1 bytes.
    std::string component() {
        const auto r = below(100);
        if (r < 90) return std::string(1, "abcd"[below(4)]);
        if (r < 95) return std::string(255, 'L');
        return std::string(256, 'L');
    }

    std::string path() {
        const auto pick_from = below(100);
        if (pick_from < 35 && !objects_.empty()) return any_of(objects_);
        if (pick_from < 50 && !dirs_.empty()) return any_of(dirs_);
        if (pick_from < 85) {
            const std::string dir = dirs_.empty() || chance(40) ? std::string() : any_of(dirs_);
            return (dir.empty() ? "" : dir + "/") + component();
        }
        return random_path();
    }

    std::string random_path() {
        const auto r = below(1000);
        if (r < 6) return "";
        if (r < 12) return ".";
        if (r < 16) {  // longer than PATH_MAX: ENAMETOOLONG
            std::string p;
            while (p.size() <= 4200) p += "a/";
            return p + "a";
        }
        const int depth = r < 600 ? 1 : r < 850 ? 2 : r < 950 ? 3 : static_cast<int>(range(4, 8));
        std::string p;
        int below_root = 0;  // ".." never climbs above the sequence's directory by itself
        for (int i = 0; i < depth; ++i) {
            std::string c = component();
            if (chance(3)) c = ".";
            if (below_root > 0 && chance(4)) c = "..";
            if (c == "..")
                --below_root;
            else if (c != ".")
                ++below_root;
            if (i > 0) p += '/';
            p += c;
        }
        if (chance(3)) p += '/';
        return p;
    }

    // A chain of directories, deep enough to cross PATH_MAX sometimes.
    std::string deep_path() {
        const int depth = static_cast<int>(range(5, 24));
        std::string p;
        for (int i = 0; i < depth; ++i) {
            if (i > 0) p += '/';
            p += chance(20) ? std::string(255, 'L') : std::string(1, "ab"[below(2)]);
        }
        return p;
    }

    std::string symlink_target() {
        const auto r = below(100);
        if (r < 3) return "";
        if (r < 6) return std::string(4095, 't');  // the longest target
        if (r < 8) return std::string(4096, 't');  // one over: ENAMETOOLONG
        if (r < 18) return "../" + path();
        return path();
    }

    // File offsets: small, around spoolfs's 64 KiB chunks, up to 16 MiB, near 2^63,
    // negative.
    std::int64_t offset() {
        const auto r = below(100);
        if (r < 20) return 0;
        if (r < 45) return range(0, 8192);
        if (r < 62) return range(1, 64) * kChunk + range(-4, 4);
        if (r < 72) return range(0, 16 * MiB);
        if (r < 92)
            return pick<std::int64_t>({kMax, kMax - 1, kMax - 4095, kMax - kChunk, kMax - kChunk - 1,
                                       kMax - MiB, std::int64_t{1} << 62, (std::int64_t{1} << 62) + 1,
                                       std::int64_t{1} << 40, std::int64_t{1} << 44,
                                       std::int64_t{1} << 32, (std::int64_t{1} << 31) - 1});
        return pick<std::int64_t>({-1, kMin, -4096, -(std::int64_t{1} << 62)});
    }

    // Byte counts of reads and writes: 0, small, up to 1 MiB (3 MiB with big_data), and
    // extremes that the runner passes only where the kernel rejects them or clips them
    // to what its buffer holds.
    std::uint64_t length() {
        const auto r = below(100);
        if (r < 8) return 0;
        if (r < 38) return static_cast<std::uint64_t>(range(1, 100));
        if (r < 62) return static_cast<std::uint64_t>(range(100, 8192));
        if (r < 80) return static_cast<std::uint64_t>(range(8192, 256 * KiB));
        if (r < 88)
            return static_cast<std::uint64_t>(range(256 * KiB, config_.big_data ? 3 * MiB : MiB));
        return pick<std::uint64_t>({static_cast<std::uint64_t>(kMax), SIZE_MAX, std::uint64_t{1} << 63,
                                    std::uint64_t{1} << 62, std::uint64_t{1} << 31,
                                    (std::uint64_t{1} << 32) + 1, std::uint64_t{1} << 40});
    }

    // Sizes for truncate: sparse ones may be huge, as on tmpfs.
    std::int64_t file_size() {
        const auto r = below(100);
        if (r < 10) return 0;
        if (r < 40) return range(0, 8192);
        if (r < 60) return range(1, 64) * kChunk + range(-2, 2);
        if (r < 75) return range(0, config_.big_data ? 8 * MiB : 2 * MiB);
        if (r < 95)
            return pick<std::int64_t>({kMax, kMax - 1, kMax - 4095, std::int64_t{1} << 62,
                                       std::int64_t{1} << 40});
        return pick<std::int64_t>({-1, kMin});
    }

    // fallocate lengths: real allocations stay small; the huge ones are beyond any
    // tmpfs (ENOSPC at once, before any work), never in between.
    std::uint64_t falloc_length() {
        const auto r = below(100);
        if (r < 8) return 0;
        if (r < 45) return static_cast<std::uint64_t>(range(1, kChunk + 100));
        if (r < 65) return static_cast<std::uint64_t>(range(1, 16) * kChunk + range(-2, 2));
        if (r < 80)
            return static_cast<std::uint64_t>(range(kChunk, config_.big_data ? 8 * MiB : 2 * MiB));
        return pick<std::uint64_t>({std::uint64_t{1} << 40, std::uint64_t{1} << 44,
                                    std::uint64_t{1} << 62, static_cast<std::uint64_t>(kMax),
                                    static_cast<std::uint64_t>(kMax) - 4095});
    }

    int falloc_mode() {
        return weighted<int>({{0, 30},
                              {FALLOC_FL_KEEP_SIZE, 15},
                              {FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 25},
                              {FALLOC_FL_PUNCH_HOLE, 3},
                              {FALLOC_FL_ZERO_RANGE, 5},
                              {FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 5},
                              {FALLOC_FL_COLLAPSE_RANGE, 3},
                              {FALLOC_FL_INSERT_RANGE, 3},
                              {FALLOC_FL_UNSHARE_RANGE, 2},
                              {FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE, 2},
                              {0x80, 2},
                              {0xff, 2}});
    }

    unsigned file_mode() {
        const auto r = below(100);
        if (r < 50) return 0644;
        if (r < 65) return 0600;
        if (r < 75) return 0755;
        return static_cast<unsigned>(below(07777 + 1));
    }

    int open_flags() {
        const int access = weighted<int>({{O_RDONLY, 20}, {O_WRONLY, 20}, {O_RDWR, 55}, {O_ACCMODE, 5}});
        if (chance(7)) {
            if (chance(10)) return O_RDONLY | O_TMPFILE;  // EINVAL: O_TMPFILE needs write
            int f = (access == O_RDONLY || access == O_ACCMODE ? O_RDWR : access) | O_TMPFILE;
            if (chance(25)) f |= O_EXCL;  // never linkable
            return f;
        }
        int f = access;
        if (chance(70)) f |= O_CREAT;
        if (chance(15)) f |= O_EXCL;
        if (chance(15)) f |= O_TRUNC;
        if (chance(15)) f |= O_APPEND;
        if (chance(8)) f |= O_DIRECTORY;
        if (chance(10)) f |= O_NOFOLLOW;
        return f;
    }

    std::string xattr_name() {
        const auto r = below(100);
        if (r < 30) return "user.a";
        if (r < 50) return "user.b";
        if (r < 58) return "user.c";
        if (r < 63) return "user." + std::string(250, 'x');  // XATTR_NAME_MAX
        if (r < 67) return "user." + std::string(251, 'x');  // one over: ERANGE
        if (r < 70) return "";
        if (r < 74) return "user.";
        if (r < 80) return "trusted.t";
        if (r < 85) return "security.s";
        if (r < 88) return "foo.bar";
        if (r < 91) return "system.x";
        // Not user.spoolfs.*: those names are spoolfs's documented controls (lifetime,
        // statistics), not stored attributes.
        return "user.a";
    }

    // xattr value sizes, past XATTR_SIZE_MAX (64 KiB) too; a huge size is rejected by the
    // kernel before it reads the buffer.
    std::uint64_t xattr_size() {
        const auto r = below(100);
        if (r < 10) return 0;
        if (r < 45) return static_cast<std::uint64_t>(range(1, 64));
        if (r < 65) return static_cast<std::uint64_t>(range(65, 4096));
        if (r < 77) return static_cast<std::uint64_t>(range(4097, 65535));
        if (r < 83) return 65536;
        if (r < 88) return 65537;
        if (r < 93) return 70000;
        if (r < 96) return pick<std::uint64_t>({SIZE_MAX, std::uint64_t{1} << 40});
        return static_cast<std::uint64_t>(range(1, 16));
    }

    std::uint64_t buffer_size() {
        const auto r = below(100);
        if (r < 25) return 0;
        if (r < 50) return static_cast<std::uint64_t>(range(1, 100));
        if (r < 60) return static_cast<std::uint64_t>(range(100, 5000));
        if (r < 85) return 65536;
        if (r < 95) return 70000;
        return SIZE_MAX;  // the kernel clamps it to XATTR_SIZE_MAX
    }

    Target target() {
        return weighted<Target>({{Target::Nofollow, 50}, {Target::Follow, 25}, {Target::Slot, 25}});
    }

    timespec time_value() {
        const auto r = below(100);
        if (r < 15) return {0, UTIME_NOW};
        if (r < 30) return {0, UTIME_OMIT};
        if (r < 35) return {static_cast<time_t>(range(0, 1000)), pick<long>({1000000000L, -1L})};
        // Explicit times stay far from now, so that a check tells "set by hand" from
        // "set by the clock" without looking at the clock.
        const time_t sec = pick<time_t>({static_cast<time_t>(range(0, 1300000000)),
                                         static_cast<time_t>(range(5000000000, 6000000000)),
                                         static_cast<time_t>(-range(1, 2000000000)),
                                         static_cast<time_t>(std::int64_t{1} << 40)});
        return {sec, static_cast<long>(below(1000000000))};
    }

    long long id() { return pick<long long>({-1, 0, 1000, 65534}); }

    Op next() {
        Op op;
        op.kind = weighted<Kind>({
            {Kind::Open, 12},      {Kind::Close, 4},       {Kind::Pread, 6},     {Kind::Pwrite, 10},
            {Kind::Read, 2},       {Kind::Write, 3},       {Kind::Ftruncate, 3}, {Kind::Truncate, 2},
            {Kind::Fallocate, 6},  {Kind::Lseek, 5},       {Kind::CopyRange, 3}, {Kind::Fsync, 1},
            {Kind::Fstat, 1},      {Kind::Mkdir, 6},       {Kind::MkdirP, 1},    {Kind::Rmdir, 3},
            {Kind::Unlink, 4},     {Kind::Rename, 6},      {Kind::Link, 3},      {Kind::LinkTmpfile, 2},
            {Kind::Symlink, 3},    {Kind::Readlink, 2},    {Kind::Mknod, 2},     {Kind::Chmod, 2},
            {Kind::Fchmod, 1},     {Kind::Chown, 1},       {Kind::Utimens, 3},   {Kind::Futimens, 1},
            {Kind::Setxattr, 7},   {Kind::Getxattr, 3},    {Kind::Listxattr, 2}, {Kind::Removexattr, 2},
            {Kind::Statfs, 1},     {Kind::Readdir, 2},     {Kind::Stat, 2},      {Kind::Access, 1},
        });
        switch (op.kind) {
            case Kind::Open:
                op.path = path();
                op.slot = slot();
                op.flags = open_flags();
                op.mode = file_mode();
                break;
            case Kind::Close:
            case Kind::Fstat:
                op.slot = slot();
                break;
            case Kind::Pread:
            case Kind::Read:
                op.slot = slot();
                op.off = offset();
                op.len = length();
                break;
            case Kind::Pwrite:
            case Kind::Write:
                op.slot = slot();
                op.off = offset();
                op.len = length();
                op.seed = rng_();
                break;
            case Kind::Ftruncate:
                op.slot = slot();
                op.off = file_size();
                break;
            case Kind::Truncate:
                op.path = path();
                op.off = file_size();
                break;
            case Kind::Fallocate:
                op.slot = slot();
                op.flags = falloc_mode();
                op.off = chance(70) ? range(0, 4 * kChunk) : offset();
                op.len = falloc_length();
                break;
            case Kind::Lseek:
                op.slot = slot();
                op.flags = weighted<int>({{SEEK_SET, 15},
                                          {SEEK_CUR, 10},
                                          {SEEK_END, 15},
                                          {SEEK_DATA, 25},
                                          {SEEK_HOLE, 25},
                                          {5, 5}});
                op.off = chance(40) ? range(-70000, 70000) : offset();
                break;
            case Kind::CopyRange:
                op.slot = slot();
                op.slot2 = chance(30) ? op.slot : slot();
                op.off = chance(60) ? range(0, 3 * kChunk) : offset();
                op.off2 = chance(60) ? range(0, 3 * kChunk) : offset();
                op.len = length();
                op.flags = chance(95) ? 0 : 1;
                op.null_offsets = chance(10);
                break;
            case Kind::Fsync:
                op.slot = slot();
                op.mode = static_cast<unsigned>(below(2));
                break;
            case Kind::Mkdir:
                op.path = path();
                op.mode = chance(60) ? 0755 : chance(50) ? 0700 : static_cast<unsigned>(below(07777 + 1));
                break;
            case Kind::MkdirP:
                op.path = deep_path();
                op.mode = 0755;
                break;
            case Kind::Rmdir:
            case Kind::Unlink:
            case Kind::Readdir:
            case Kind::Statfs:
                op.path = path();
                break;
            case Kind::Rename:
                op.path = path();
                op.path2 = path();
                op.flags = weighted<int>({{0, 60},
                                          {RENAME_NOREPLACE, 15},
                                          {RENAME_EXCHANGE, 15},
                                          {RENAME_WHITEOUT, 3},
                                          {RENAME_NOREPLACE | RENAME_EXCHANGE, 3},
                                          {RENAME_WHITEOUT | RENAME_NOREPLACE, 2},
                                          {1 << 5, 2}});
                break;
            case Kind::Link:
                op.path = path();
                op.path2 = path();
                op.flags = weighted<int>({{0, 85}, {AT_SYMLINK_FOLLOW, 10}, {0x10000, 5}});
                break;
            case Kind::LinkTmpfile:
                op.slot = slot();
                op.path2 = path();
                op.flags = chance(70) ? AT_SYMLINK_FOLLOW : AT_EMPTY_PATH;
                break;
            case Kind::Symlink:
                op.path = path();
                op.path2 = symlink_target();
                break;
            case Kind::Readlink:
                op.path = path();
                op.len = pick<std::uint64_t>({0, static_cast<std::uint64_t>(range(1, 8)), 4096, 4096,
                                              SIZE_MAX, (std::uint64_t{1} << 32) + 5});
                break;
            case Kind::Mknod:
                op.path = path();
                op.mode = weighted<unsigned>({{S_IFIFO, 40}, {S_IFSOCK, 20}, {S_IFREG, 20}, {S_IFCHR, 10},
                                              {S_IFDIR, 5}, {0, 5}}) |
                          (chance(70) ? 0644u : static_cast<unsigned>(below(07777 + 1)));
                break;
            case Kind::Chmod:
                op.path = path();
                op.mode = static_cast<unsigned>(chance(50) ? below(07777 + 1) : pick<unsigned>({0644, 0755, 04755, 02755, 0}));
                break;
            case Kind::Fchmod:
                op.slot = slot();
                op.mode = static_cast<unsigned>(below(07777 + 1));
                break;
            case Kind::Chown:
                op.path = path();
                op.uid = id();
                op.gid = id();
                op.flags = chance(50) ? 0 : AT_SYMLINK_NOFOLLOW;
                break;
            case Kind::Utimens:
            case Kind::Futimens:
                if (op.kind == Kind::Utimens) op.path = path();
                op.slot = slot();
                op.times[0] = time_value();
                op.times[1] = time_value();
                op.null_times = chance(5);
                op.flags = op.kind == Kind::Utimens && chance(30) ? AT_SYMLINK_NOFOLLOW : 0;
                break;
            case Kind::Setxattr:
                op.target = target();
                op.path = path();
                op.slot = slot();
                op.name = xattr_name();
                op.len = xattr_size();
                op.seed = rng_();
                op.flags = weighted<int>({{0, 60}, {XATTR_CREATE, 15}, {XATTR_REPLACE, 15},
                                          {XATTR_CREATE | XATTR_REPLACE, 5}, {4, 5}});
                break;
            case Kind::Getxattr:
            case Kind::Listxattr:
                op.target = target();
                op.path = path();
                op.slot = slot();
                if (op.kind == Kind::Getxattr) op.name = xattr_name();
                op.len = buffer_size();
                break;
            case Kind::Removexattr:
                op.target = target();
                op.path = path();
                op.slot = slot();
                op.name = xattr_name();
                break;
            case Kind::Stat:
                op.path = path();
                op.flags = chance(50) ? 0 : AT_SYMLINK_NOFOLLOW;
                break;
            case Kind::Access:
                op.path = path();
                op.mode = pick<unsigned>({F_OK, R_OK, W_OK, X_OK, R_OK | W_OK | X_OK, 8});
                op.flags = pick<int>({0, 0, AT_EACCESS, AT_SYMLINK_NOFOLLOW});
                break;
        }
        note(op);
        return op;
    }

    void note(const Op& op) {
        switch (op.kind) {
            case Kind::Open:
                if (std::find(opened_.begin(), opened_.end(), op.slot) == opened_.end()) opened_.push_back(op.slot);
                if ((op.flags & O_CREAT) && (op.flags & O_TMPFILE) != O_TMPFILE) remember(objects_, op.path);
                break;
            case Kind::Mkdir:
                remember(dirs_, op.path);
                break;
            case Kind::MkdirP:
                for (std::size_t i = 0; i < op.path.size() && i < 1024; ++i)
                    if (op.path[i] == '/' && chance(30)) remember(dirs_, op.path.substr(0, i));
                break;
            case Kind::Mknod:
            case Kind::Symlink:
                remember(objects_, op.path);
                break;
            case Kind::Rename:
            case Kind::Link:
            case Kind::LinkTmpfile:
                remember(objects_, op.path2);
                break;
            default:
                break;
        }
    }

    std::mt19937_64 rng_;
    GenConfig config_;
    std::vector<std::string> dirs_;     // directories asked for (beside the sequence's own)
    std::vector<std::string> objects_;  // other names asked for
    std::vector<int> opened_;           // slots opened
};

// A path or value for a log line: long runs of one character shortened, bytes outside
// printable ASCII escaped.
std::string show(const std::string& s) {
    std::string out = "\"";
    for (std::size_t i = 0; i < s.size();) {
        std::size_t j = i;
        while (j < s.size() && s[j] == s[i]) ++j;
        const char c = s[i];
        if (j - i > 8) {
            out += c;
            out += "{" + std::to_string(j - i) + "}";
            i = j;
            continue;
        }
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += c;
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
            out += buf;
        }
        ++i;
    }
    return out + "\"";
}

std::string num(std::int64_t v) {
    constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
    if (v == max) return "INT64_MAX";
    if (v > max - (std::int64_t{1} << 24)) return "INT64_MAX-" + std::to_string(max - v);
    if (v == std::numeric_limits<std::int64_t>::min()) return "INT64_MIN";
    return std::to_string(v);
}

std::string unum(std::uint64_t v) {
    if (v == SIZE_MAX) return "SIZE_MAX";
    if (v >= std::uint64_t{1} << 63) return "2^63+" + std::to_string(v - (std::uint64_t{1} << 63));
    return num(static_cast<std::int64_t>(v));
}

std::string octal(unsigned v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0%o", v);
    return buf;
}

std::string hexflags(int v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", static_cast<unsigned>(v));
    return buf;
}

std::string open_flags_text(int f) {
    std::string s;
    switch (f & O_ACCMODE) {
        case O_RDONLY: s = "O_RDONLY"; break;
        case O_WRONLY: s = "O_WRONLY"; break;
        case O_RDWR: s = "O_RDWR"; break;
        default: s = "O_ACCMODE"; break;
    }
    if ((f & O_TMPFILE) == O_TMPFILE) {
        s += "|O_TMPFILE";
        f &= ~O_TMPFILE;
    }
    const std::pair<int, const char*> names[] = {{O_CREAT, "O_CREAT"},     {O_EXCL, "O_EXCL"},
                                                 {O_TRUNC, "O_TRUNC"},     {O_APPEND, "O_APPEND"},
                                                 {O_DIRECTORY, "O_DIRECTORY"}, {O_NOFOLLOW, "O_NOFOLLOW"}};
    for (const auto& [bit, name] : names)
        if (f & bit) s += std::string("|") + name;
    return s;
}

std::string falloc_text(int m) {
    if (m == 0) return "0";
    std::string s;
    const std::pair<int, const char*> names[] = {
        {FALLOC_FL_KEEP_SIZE, "KEEP_SIZE"},       {FALLOC_FL_PUNCH_HOLE, "PUNCH_HOLE"},
        {FALLOC_FL_ZERO_RANGE, "ZERO_RANGE"},     {FALLOC_FL_COLLAPSE_RANGE, "COLLAPSE_RANGE"},
        {FALLOC_FL_INSERT_RANGE, "INSERT_RANGE"}, {FALLOC_FL_UNSHARE_RANGE, "UNSHARE_RANGE"}};
    int rest = m;
    for (const auto& [bit, name] : names) {
        if (m & bit) {
            s += (s.empty() ? "" : "|") + std::string(name);
            rest &= ~bit;
        }
    }
    if (rest) s += (s.empty() ? "" : "|") + hexflags(rest);
    return s;
}

std::string time_text(const timespec& t) {
    if (t.tv_nsec == UTIME_NOW) return "NOW";
    if (t.tv_nsec == UTIME_OMIT) return "OMIT";
    return std::to_string(t.tv_sec) + "." + std::to_string(t.tv_nsec);
}

std::string target_text(const Op& op) {
    switch (op.target) {
        case Target::Nofollow: return "l, " + show(op.path);
        case Target::Follow: return show(op.path);
        case Target::Slot: return "f, slot " + std::to_string(op.slot);
    }
    return "";
}

}  // namespace

std::uint64_t sequence_seed(std::uint64_t base, unsigned variant, std::uint64_t index) {
    // splitmix64 of the three, so that neighbouring sequences share nothing
    std::uint64_t z = base * 0x9e3779b97f4a7c15ull ^ (std::uint64_t{variant} << 56) ^ index;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

std::vector<Op> generate(std::uint64_t seed, int count, const GenConfig& config) {
    return Gen(seed, config).sequence(count);
}

std::string describe(const Op& op) {
    const std::string slot = "slot " + std::to_string(op.slot);
    std::string s;
    switch (op.kind) {
        case Kind::Open:
            s = "open(" + show(op.path) + ", " + open_flags_text(op.flags) + ", " + octal(op.mode) +
                ") -> " + slot;
            break;
        case Kind::Close: s = "close(" + slot + ")"; break;
        case Kind::Pread: s = "pread(" + slot + ", len " + unum(op.len) + ", off " + num(op.off) + ")"; break;
        case Kind::Read: s = "read(" + slot + ", len " + unum(op.len) + ")"; break;
        case Kind::Pwrite:
            s = "pwrite(" + slot + ", len " + unum(op.len) + ", off " + num(op.off) + ", data " +
                std::to_string(op.seed % 100000) + ")";
            break;
        case Kind::Write:
            s = "write(" + slot + ", len " + unum(op.len) + ", data " + std::to_string(op.seed % 100000) + ")";
            break;
        case Kind::Ftruncate: s = "ftruncate(" + slot + ", " + num(op.off) + ")"; break;
        case Kind::Truncate: s = "truncate(" + show(op.path) + ", " + num(op.off) + ")"; break;
        case Kind::Fallocate:
            s = "fallocate(" + slot + ", " + falloc_text(op.flags) + ", off " + num(op.off) + ", len " +
                unum(op.len) + ")";
            break;
        case Kind::Lseek: {
            static const char* const whence[] = {"SEEK_SET", "SEEK_CUR", "SEEK_END", "SEEK_DATA", "SEEK_HOLE"};
            s = "lseek(" + slot + ", " + num(op.off) + ", " +
                (op.flags >= 0 && op.flags < 5 ? whence[op.flags] : std::to_string(op.flags)) + ")";
            break;
        }
        case Kind::CopyRange:
            s = "copy_file_range(slot " + std::to_string(op.slot) + ", " +
                (op.null_offsets ? std::string("NULL") : "off " + num(op.off)) + ", slot " +
                std::to_string(op.slot2) + ", " + (op.null_offsets ? std::string("NULL") : "off " + num(op.off2)) +
                ", len " + unum(op.len) + ", flags " + std::to_string(op.flags) + ")";
            break;
        case Kind::Fsync: s = (op.mode ? "fdatasync(" : "fsync(") + slot + ")"; break;
        case Kind::Fstat: s = "fstat(" + slot + ")"; break;
        case Kind::Mkdir: s = "mkdir(" + show(op.path) + ", " + octal(op.mode) + ")"; break;
        case Kind::MkdirP: s = "mkdir -p " + show(op.path); break;
        case Kind::Rmdir: s = "rmdir(" + show(op.path) + ")"; break;
        case Kind::Unlink: s = "unlink(" + show(op.path) + ")"; break;
        case Kind::Rename:
            s = "renameat2(" + show(op.path) + ", " + show(op.path2) + ", " + hexflags(op.flags) + ")";
            break;
        case Kind::Link:
            s = "linkat(" + show(op.path) + ", " + show(op.path2) + ", " + hexflags(op.flags) + ")";
            break;
        case Kind::LinkTmpfile:
            s = op.flags == AT_EMPTY_PATH ? "linkat(" + slot + ", \"\", " + show(op.path2) + ", AT_EMPTY_PATH)"
                                          : "linkat(/proc/self/fd/<" + slot + ">, " + show(op.path2) +
                                                ", AT_SYMLINK_FOLLOW)";
            break;
        case Kind::Symlink: s = "symlink(" + show(op.path2) + ", " + show(op.path) + ")"; break;
        case Kind::Readlink: s = "readlink(" + show(op.path) + ", bufsize " + unum(op.len) + ")"; break;
        case Kind::Mknod: s = "mknod(" + show(op.path) + ", " + octal(op.mode) + ")"; break;
        case Kind::Chmod: s = "chmod(" + show(op.path) + ", " + octal(op.mode) + ")"; break;
        case Kind::Fchmod: s = "fchmod(" + slot + ", " + octal(op.mode) + ")"; break;
        case Kind::Chown:
            s = "fchownat(" + show(op.path) + ", " + std::to_string(op.uid) + ", " + std::to_string(op.gid) +
                (op.flags ? ", AT_SYMLINK_NOFOLLOW)" : ", 0)");
            break;
        case Kind::Utimens:
        case Kind::Futimens:
            s = (op.kind == Kind::Utimens ? "utimensat(" + show(op.path) : "futimens(" + slot) + ", " +
                (op.null_times ? std::string("NULL") : "[" + time_text(op.times[0]) + ", " + time_text(op.times[1]) + "]") +
                (op.flags ? ", AT_SYMLINK_NOFOLLOW)" : ")");
            break;
        case Kind::Setxattr:
            s = "setxattr(" + target_text(op) + ", " + show(op.name) + ", size " + unum(op.len) + ", data " +
                std::to_string(op.seed % 100000) + ", flags " + std::to_string(op.flags) + ")";
            break;
        case Kind::Getxattr:
            s = "getxattr(" + target_text(op) + ", " + show(op.name) + ", bufsize " + unum(op.len) + ")";
            break;
        case Kind::Listxattr: s = "listxattr(" + target_text(op) + ", bufsize " + unum(op.len) + ")"; break;
        case Kind::Removexattr: s = "removexattr(" + target_text(op) + ", " + show(op.name) + ")"; break;
        case Kind::Statfs: s = "statfs(" + show(op.path) + ")"; break;
        case Kind::Readdir: s = "readdir(" + show(op.path) + ")"; break;
        case Kind::Stat: s = (op.flags ? "lstat(" : "stat(") + show(op.path) + ")"; break;
        case Kind::Access:
            s = "faccessat(" + show(op.path) + ", " + std::to_string(op.mode) + ", " + hexflags(op.flags) + ")";
            break;
    }
    if (!op.note.empty()) s += " [" + op.note + "]";
    return s;
}

}  // namespace fuzz
