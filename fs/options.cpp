#include "options.hpp"

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "preflight.hpp"
#include "tempfile/tempdir.hpp"

#ifndef SPOOLFS_VERSION
#define SPOOLFS_VERSION "0.1.0"
#endif

namespace spoolfs {

Options::FuseArgs& Options::FuseArgs::operator=(FuseArgs&& other) noexcept {
    if (this != &other) {
        fuse_opt_free_args(&args);
        args = other.args;
        other.args = FUSE_ARGS_INIT(0, nullptr);
    }
    return *this;
}

namespace {

using namespace std::string_view_literals;

// libfuse 3.14 options that fuse_session_new() itself accepts (lib/fuse_lowlevel.c and
// lib/mount.c), passed on untouched. A trailing '=' means the option takes a value.
// blkdev and blksize= are left out: they need a block device, which spoolfs has not.
constexpr std::array kFuseOptions = {
    "allow_other"sv,  "allow_root"sv, "auto_unmount"sv, "fsname="sv,    "subtype="sv,
    "max_read="sv,    "user="sv,      "context="sv,     "fscontext="sv, "defcontext="sv,
    "rootcontext="sv, "ro"sv,         "rw"sv,           "suid"sv,       "nosuid"sv,
    "dev"sv,          "nodev"sv,      "exec"sv,         "noexec"sv,     "atime"sv,
    "noatime"sv,      "sync"sv,       "async"sv,        "dirsync"sv};

// Accepted and dropped. mount(8) and fstab hand these to every file system; libfuse 3.14
// rejects them, and the kernel leaves access times of a FUSE mount to the file system
// anyway. default_permissions is always on: the driver adds it.
constexpr std::array kIgnoredOptions = {"relatime"sv,
                                        "norelatime"sv,
                                        "strictatime"sv,
                                        "nostrictatime"sv,
                                        "lazytime"sv,
                                        "nolazytime"sv,
                                        "diratime"sv,
                                        "nodiratime"sv,
                                        "defaults"sv,
                                        "auto"sv,
                                        "noauto"sv,
                                        "nofail"sv,
                                        "_netdev"sv,
                                        "user"sv,
                                        "nouser"sv,
                                        "users"sv,
                                        "default_permissions"sv};

constexpr std::string_view kSizeSyntax = "bytes, K/M/G/T, or % of RAM";

std::uint64_t physical_pages() {
    const long pages = sysconf(_SC_PHYS_PAGES);
    return pages > 0 ? static_cast<std::uint64_t>(pages) : 0;
}

std::uint64_t physical_ram() {
    const long page = sysconf(_SC_PAGESIZE);
    return physical_pages() * static_cast<std::uint64_t>(page > 0 ? page : 4096);
}

// busy_poll= beyond this would hold a CPU for nothing: no client is that slow to ask again.
constexpr unsigned max_busy_poll_us = 10000;

// `text` as a number with an optional K/M/G/T suffix (powers of 1024), as tmpfs's memparse.
std::optional<std::uint64_t> parse_scaled(std::string_view text) {
    constexpr std::string_view kSuffixes = "KMGT";
    unsigned shift = 0;
    if (!text.empty()) {
        const char upper = static_cast<char>(text.back() & ~0x20);  // ASCII letter to upper case
        if (const auto i = kSuffixes.find(upper); i != std::string_view::npos) {
            shift = 10 * static_cast<unsigned>(i + 1);
            text.remove_suffix(1);
        }
    }
    const auto number = parse_number<std::uint64_t>(text);
    if (!number || *number > (std::numeric_limits<std::uint64_t>::max() >> shift)) {
        return std::nullopt;
    }
    return *number << shift;
}

std::string errno_text(int error) {
    return std::generic_category().message(error);
}

// Where spill files go unless spill_dir= says: /var/tmp (on disk by convention, where
// /tmp may be a tmpfs), else libtempfile's gettempdir(), which honours $TMPDIR.
std::vector<std::filesystem::path> default_spill_dirs() {
    std::vector<std::filesystem::path> dirs = {"/var/tmp"};
    try {
        dirs.push_back(tempfile::gettempdir());
    } catch (const std::system_error&) {
        // No usable temporary directory at all: /var/tmp is the only candidate.
    }
    return dirs;
}

std::string quote(std::string_view text) {
    return "'" + std::string(text) + "'";
}

// Everything one pass over the command line collects; validated afterwards.
struct Collected {
    Options options;
    std::string error;  // the first problem, without the "spoolfs: " prefix
    bool help = false;
    bool version = false;
    std::string spill_dir;  // as given; resolved after the mount point
    std::string ram_text;   // as given, for error messages
    std::string size_text;
    std::string spool_text;
    bool ram_given = false;
    std::vector<std::string> positionals;
    std::vector<std::string> fuse_options;  // passed through, unescaped
    bool fsname_given = false;
    bool subtype_given = false;
    bool allow_other = false;
    bool allow_root = false;
    bool auto_unmount = false;
    bool no_auto_unmount = false;
    std::string stats_format_given;  // --json or --prometheus

    void fail(std::string message) {
        if (error.empty()) error = std::move(message);
    }
};

std::optional<std::uint64_t> size_option(Collected& c, std::string_view name,
                                         std::string_view value) {
    auto bytes = parse_size(std::string(value));
    if (!bytes) {
        c.fail(std::string(name) + "=" + std::string(value) + ": not a size (" +
               std::string(kSizeSyntax) + ")");
    }
    return bytes;
}

template <typename Id>
std::optional<Id> id_option(Collected& c, std::string_view name, std::string_view value,
                            std::string_view what) {
    const auto id = parse_number<Id>(value);
    // (Id)-1 means "unchanged" to chown(2): it can own nothing.
    if (!id || *id == static_cast<Id>(-1)) {
        c.fail(std::string(name) + "=" + std::string(value) + ": not a numeric " +
               std::string(what) + " id");
        return std::nullopt;
    }
    return id;
}

std::optional<unsigned> thread_option(Collected& c, std::string_view name, std::string_view value) {
    const auto n = parse_number<unsigned>(value);
    if (!n || *n == 0) {
        c.fail(std::string(name) + "=" + std::string(value) + ": not a positive number");
        return std::nullopt;
    }
    return n;
}

// An on|off option.
std::optional<bool> switch_option(Collected& c, std::string_view name, std::string_view value) {
    if (value == "on" || value == "off") return value == "on";
    c.fail(std::string(name) + "=" + std::string(value) + ": must be on or off");
    return std::nullopt;
}

// usrquota, grpquota and their *_hardlimit= (quota.hpp), with tmpfs's values: a size as
// size= or a count as nr_inodes=, never 0, at most 2^63-1 (SHMEM_QUOTA_MAX_*_LIMIT).
// Returns whether `name` was one of them.
bool take_quota_option(Collected& c, std::string_view arg, std::string_view name,
                       std::string_view value) {
    Options& o = c.options;
    if (arg == "usrquota" || arg == "grpquota") {
        (arg == "usrquota" ? o.usrquota : o.grpquota) = true;
        return true;
    }
    const std::pair<std::string_view, std::uint64_t*> limits[] = {
        {"usrquota_block_hardlimit", &o.usrquota_block_hardlimit},
        {"usrquota_inode_hardlimit", &o.usrquota_inode_hardlimit},
        {"grpquota_block_hardlimit", &o.grpquota_block_hardlimit},
        {"grpquota_inode_hardlimit", &o.grpquota_inode_hardlimit},
    };
    for (const auto& [option, field] : limits) {
        if (name != option) continue;
        const bool bytes = option.find("block") != std::string_view::npos;
        const auto n = bytes ? parse_size(std::string(value)) : parse_count(std::string(value));
        if (!n || *n == 0 || *n > static_cast<std::uint64_t>(INT64_MAX)) {
            c.fail(std::string(arg) + ": not " +
                   (bytes ? "a size (" + std::string(kSizeSyntax) + ")"
                          : std::string("a count (K/M/G/T suffix allowed)")) +
                   " from 1 to 2^63-1");
        } else {
            *field = *n;
        }
        return true;
    }
    return false;
}

// A hard limit without its quota would enforce nothing (tmpfs ignores it silently).
void check_quota_options(Collected& c) {
    const Options& o = c.options;
    if (!o.usrquota && o.usrquota_block_hardlimit)
        c.fail("usrquota_block_hardlimit= needs usrquota (-o usrquota,usrquota_block_hardlimit=...)");
    if (!o.usrquota && o.usrquota_inode_hardlimit)
        c.fail("usrquota_inode_hardlimit= needs usrquota (-o usrquota,usrquota_inode_hardlimit=...)");
    if (!o.grpquota && o.grpquota_block_hardlimit)
        c.fail("grpquota_block_hardlimit= needs grpquota (-o grpquota,grpquota_block_hardlimit=...)");
    if (!o.grpquota && o.grpquota_inode_hardlimit)
        c.fail("grpquota_inode_hardlimit= needs grpquota (-o grpquota,grpquota_inode_hardlimit=...)");
}

// One -o option (or one unrecognised command-line flag).
void take_option(Collected& c, std::string_view arg) {
    if (arg.empty()) return;  // "-o rw,,noexec" or "-o ''": nothing asked for
    Options& o = c.options;
    const auto eq = arg.find('=');
    const std::string_view name = arg.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : arg.substr(eq + 1);
    const bool has_value = eq != std::string_view::npos;

    constexpr std::array kValued = {"size"sv,        "nr_inodes"sv,   "mode"sv,
                                    "uid"sv,         "gid"sv,         "ram"sv,
                                    "spool"sv,       "spill_dir"sv,   "lifetime"sv,
                                    "passthrough"sv, "max_threads"sv, "max_idle_threads"sv,
                                    "busy_poll"sv,   "idle_poll"sv,   "expire"sv,
                                    "pressure"sv,
                                    "usrquota_block_hardlimit"sv, "usrquota_inode_hardlimit"sv,
                                    "grpquota_block_hardlimit"sv, "grpquota_inode_hardlimit"sv, "uring"sv};
    const bool ours = std::find(kValued.begin(), kValued.end(), name) != kValued.end();
    if (ours && !has_value) {
        c.fail("option " + quote(name) + " needs a value (" + std::string(name) + "=...)");
        return;
    }

    if (take_quota_option(c, arg, name, value)) return;
    if (name == "size") {
        c.size_text = value;
        if (auto bytes = size_option(c, name, value)) {
            // tmpfs: size=0 is no limit, and a size counts whole pages (size=1 holds a byte).
            constexpr std::uint64_t page = 4096;
            if (*bytes == 0)
                o.size = std::nullopt;
            else
                o.size = *bytes > UINT64_MAX - (page - 1) ? *bytes & ~(page - 1)
                                                          : (*bytes + page - 1) & ~(page - 1);
        }
    } else if (name == "nr_inodes") {
        const auto n = parse_scaled(value);
        if (!n) {
            c.fail("nr_inodes=" + std::string(value) + ": not a number (K/M/G/T suffix allowed)");
        } else {
            o.nr_inodes = *n == 0 ? std::nullopt : n;
        }
    } else if (name == "mode") {
        const auto mode = parse_number<unsigned>(value, 8);
        if (!mode || *mode > 07777) {
            c.fail("mode=" + std::string(value) + ": not an octal mode of at most 7777");
        } else {
            o.root_mode = static_cast<mode_t>(*mode);
        }
    } else if (name == "uid") {
        if (auto id = id_option<uid_t>(c, name, value, "user")) o.uid = *id;
    } else if (name == "gid") {
        if (auto id = id_option<gid_t>(c, name, value, "group")) o.gid = *id;
    } else if (name == "ram") {
        c.ram_text = value;
        c.ram_given = true;
        if (auto bytes = size_option(c, name, value)) {
            if (*bytes == 0) {
                c.fail("ram=" + std::string(value) + ": the RAM budget must be more than 0");
            } else {
                o.ram = *bytes;
            }
        }
    } else if (name == "expire") {
        if (auto duration = parse_duration(value)) {
            o.expire = *duration;
        } else {
            c.fail("expire=" + std::string(value) +
                   ": not a duration (30s, 10m, 12h, 10d; 0 or off: never; at most 36500d)");
        }
    } else if (name == "spool") {
        c.spool_text = value;
        if (auto bytes = size_option(c, name, value)) o.spool = *bytes;
    } else if (name == "spill_dir") {
        if (value.empty()) {
            c.fail("option 'spill_dir' needs a value (spill_dir=...)");
        } else {
            c.spill_dir = value;
        }
    } else if (name == "lifetime") {
        if (value == "close") {
            o.lifetime = Lifetime::close;
        } else if (value == "mount") {
            o.lifetime = Lifetime::mount;
        } else {
            c.fail("lifetime=" + std::string(value) + ": must be close or mount");
        }
    } else if (name == "passthrough") {
        if (auto on = switch_option(c, name, value)) o.passthrough = *on;
    } else if (name == "idle_poll") {
        if (auto on = switch_option(c, name, value)) o.idle_poll = *on;
    } else if (name == "pressure") {
        if (auto on = switch_option(c, name, value)) o.pressure = *on;
    } else if (name == "uring") {
        if (value == "auto") {
            o.uring = Options::Uring::automatic;
        } else if (value == "on" || value == "off") {
            o.uring = value == "on" ? Options::Uring::on : Options::Uring::off;
        } else {
            c.fail("uring=" + std::string(value) + ": must be auto, on or off");
        }
    } else if (name == "busy_poll") {
        const auto us = parse_number<unsigned>(value);
        if (!us || *us > max_busy_poll_us) {
            c.fail("busy_poll=" + std::string(value) + ": not a number of microseconds up to " +
                   std::to_string(max_busy_poll_us));
        } else {
            o.busy_poll = std::chrono::microseconds(*us);
        }
    } else if (name == "max_threads") {
        if (auto n = thread_option(c, name, value)) o.max_threads = n;
    } else if (name == "max_idle_threads") {
        if (auto n = thread_option(c, name, value)) o.max_idle_threads = n;
    } else if (arg == "clone_fd") {
        o.clone_fd = true;
    } else if (arg == "noauto_unmount") {
        c.no_auto_unmount = true;
    } else if (arg == "-h" || arg == "--help") {
        c.help = true;
    } else if (arg == "-V" || arg == "--version") {
        c.version = true;
    } else if (arg == "-f") {
        o.foreground = true;
    } else if (arg == "-d" || arg == "--debug" || arg == "debug") {
        o.debug = true;
        o.foreground = true;
    } else if (arg == "-s") {
        o.single_thread = true;
    } else if (arg == "--stats") {
        o.show_stats = true;
    } else if (arg == "--by-user") {
        o.by_user = true;
    } else if (arg == "--json" || arg == "--prometheus") {
        c.stats_format_given = arg;
        o.stats_format = arg == "--json" ? Options::StatsFormat::json
                                         : Options::StatsFormat::prometheus;
    } else if (std::find(kIgnoredOptions.begin(), kIgnoredOptions.end(), arg) !=
                   kIgnoredOptions.end() ||
               arg.starts_with("x-")) {  // x-*: fstab comments for userspace tools
    } else {
        const auto known = std::find_if(kFuseOptions.begin(), kFuseOptions.end(), [&](auto opt) {
            return opt.ends_with('=') ? has_value && opt.substr(0, opt.size() - 1) == name
                                      : opt == arg;
        });
        if (known == kFuseOptions.end()) {
            c.fail("unknown option " + quote(arg));
            return;
        }
        if (known->ends_with('=') && value.empty()) {
            c.fail("option " + quote(name) + " needs a value (" + std::string(name) + "=...)");
            return;
        }
        if (name == "max_read" && !parse_number<unsigned>(value)) {
            c.fail("max_read=" + std::string(value) + ": not a number of bytes");
            return;
        }
        c.fsname_given |= name == "fsname";
        c.subtype_given |= name == "subtype";
        c.allow_other |= arg == "allow_other";
        c.allow_root |= arg == "allow_root";
        c.auto_unmount |= arg == "auto_unmount";
        c.fuse_options.emplace_back(arg);
    }
}

int fuse_opt_callback(void* data, const char* arg, int key, fuse_args*) {
    auto& c = *static_cast<Collected*>(data);
    if (key == FUSE_OPT_KEY_NONOPT) {
        c.positionals.emplace_back(arg);
    } else {
        take_option(c, arg);
    }
    return 0;  // consumed: nothing is left for libfuse to see
}

// `inner` is `outer` or lies somewhere below it; both canonical.
bool is_within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
    auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
    return o == outer.end();
}

// A directory spill files can be created in, or the reason it cannot serve.
std::optional<std::string> unusable_dir(const std::filesystem::path& dir) {
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) return errno_text(errno);
    if (!S_ISDIR(st.st_mode)) return errno_text(ENOTDIR);
    if (faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0) return errno_text(errno);
    return std::nullopt;
}

// The canonical path, or the reason there is none.
std::variant<std::filesystem::path, std::string> resolve(const std::filesystem::path& path) {
    std::error_code ec;
    auto result = std::filesystem::canonical(path, ec);
    if (ec) return ec.message();
    return result;
}

// A daemon killed with SIGKILL must not leave its mount behind holding the files' space
// (the kernel keeps backing files registered for passthrough until the unmount): the
// mount is unmounted lazily when the daemon dies, where fusermount3 can watch for it.
void choose_auto_unmount(Collected& c) {
    if (c.auto_unmount && c.no_auto_unmount)
        return c.fail("auto_unmount and noauto_unmount exclude each other");
    if (c.auto_unmount || c.no_auto_unmount || !fusermount_found()) return;
    c.fuse_options.emplace_back("auto_unmount");
}

// Checks that need the file system, in the order a user fixes them: mount point first.
void validate(Collected& c) {
    Options& o = c.options;
    // libfuse would quietly let allow_root narrow allow_other down to root.
    if (c.allow_other && c.allow_root)
        return c.fail("allow_other and allow_root exclude each other");
    choose_auto_unmount(c);
    if (!c.error.empty()) return;
    o.allow_other = c.allow_other;
    if (!c.stats_format_given.empty() && !o.show_stats)
        return c.fail(c.stats_format_given + " goes with --stats");
    if (o.by_user && !o.show_stats) return c.fail("--by-user goes with --stats");
    check_quota_options(c);
    if (!c.error.empty()) return;
    if (c.positionals.empty())
        return c.fail("no mount point given (usage: spoolfs [options] [SOURCE] MOUNTPOINT)");
    const std::size_t most = o.show_stats ? 1 : 2;
    if (c.positionals.size() > most)
        return c.fail("unexpected argument " + quote(c.positionals[most]));
    if (c.positionals.size() == 2) o.source = c.positionals[0];

    const std::string& given = c.positionals.back();
    struct stat st {};
    if (stat(given.c_str(), &st) != 0)
        return c.fail("mount point " + given + ": " + errno_text(errno));
    if (!S_ISDIR(st.st_mode)) return c.fail("mount point " + given + ": " + errno_text(ENOTDIR));
    auto mountpoint = resolve(given);
    if (auto* why = std::get_if<std::string>(&mountpoint)) {
        return c.fail("mount point " + given + ": " + *why);
    }
    o.mountpoint = std::get<std::filesystem::path>(std::move(mountpoint));
    if (o.show_stats) return;

    if (!c.ram_given) o.ram = std::max<std::uint64_t>(physical_ram() / 2, 1);
    if (o.size && o.spool > *o.size) {
        return c.fail("spool=" + c.spool_text + " is larger than size=" + c.size_text);
    }

    if (!c.spill_dir.empty()) {
        const std::string name = "spill_dir=" + c.spill_dir;
        if (auto why = unusable_dir(c.spill_dir)) return c.fail(name + ": " + *why);
        auto spill = resolve(c.spill_dir);
        if (auto* why = std::get_if<std::string>(&spill)) return c.fail(name + ": " + *why);
        o.spill_dir = std::get<std::filesystem::path>(std::move(spill));
        if (is_within(o.spill_dir, o.mountpoint)) {
            return c.fail(name + ": lies inside the mount point " + o.mountpoint.string());
        }
        return;
    }
    // The defaults give way to the mount point: `spoolfs /var/tmp` spills elsewhere.
    std::string tried;
    for (const std::filesystem::path& candidate : default_spill_dirs()) {
        tried += (tried.empty() ? "" : ", ") + candidate.string();
        if (unusable_dir(candidate)) continue;
        const auto spill = resolve(candidate);
        const auto* path = std::get_if<std::filesystem::path>(&spill);
        if (path && !is_within(*path, o.mountpoint)) {
            o.spill_dir = *path;
            return;
        }
    }
    c.fail("no usable spill directory outside " + o.mountpoint.string() + " (tried " + tried +
           "): give one with -o spill_dir=DIR");
}

struct FreeDeleter {
    void operator()(char* p) const noexcept { std::free(p); }
};

// argv[0], -d, then one -o with every passed-through option, escaped for fuse_opt.
bool build_fuse_args(const Collected& c, const char* argv0, fuse_args& out) {
    std::vector<std::string> opts = c.fuse_options;
    if (!c.fsname_given) opts.push_back("fsname=" + c.options.source);
    if (!c.subtype_given) opts.emplace_back("subtype=spoolfs");

    char* joined = nullptr;
    for (const auto& opt : opts) {
        if (fuse_opt_add_opt_escaped(&joined, opt.c_str()) != 0) {
            std::free(joined);
            return false;
        }
    }
    const std::unique_ptr<char, FreeDeleter> owner(joined);
    return fuse_opt_add_arg(&out, argv0) == 0 &&
           (!c.options.debug || fuse_opt_add_arg(&out, "-d") == 0) &&
           fuse_opt_add_arg(&out, "-o") == 0 && fuse_opt_add_arg(&out, joined) == 0;
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "spoolfs: %s\n", message.c_str());
    std::fflush(stderr);
    return 2;
}

}  // namespace

std::optional<std::uint64_t> parse_size(const std::string& text) {
    std::string_view view = text;
    if (view.ends_with('%')) {
        view.remove_suffix(1);
        const auto percent = parse_number<std::uint64_t>(view);
        const std::uint64_t ram = physical_ram();
        if (!percent || (ram != 0 && *percent > std::numeric_limits<std::uint64_t>::max() / ram)) {
            return std::nullopt;
        }
        return *percent * ram / 100;
    }
    return parse_scaled(view);
}

std::optional<std::uint64_t> parse_count(const std::string& text) {
    return parse_scaled(text);
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
    if (text.ends_with('\0')) text.remove_suffix(1);
    if (text == "off") return std::chrono::seconds(0);
    constexpr std::string_view kUnits = "smhd";
    constexpr std::uint64_t kUnitSeconds[] = {1, 60, 3600, 86400};
    std::uint64_t unit = 1;  // a bare number is seconds
    if (const auto i = text.empty() ? std::string_view::npos : kUnits.find(text.back());
        i != std::string_view::npos) {
        unit = kUnitSeconds[i];
        text.remove_suffix(1);
    }
    const auto number = parse_number<std::uint64_t>(text);
    const auto most = static_cast<std::uint64_t>(max_expire.count());
    if (!number || *number > most / unit) return std::nullopt;
    return std::chrono::seconds(static_cast<std::int64_t>(*number * unit));
}

std::string format_duration(std::chrono::seconds duration) {
    const std::int64_t s = duration.count();
    if (s <= 0) return "off";
    for (auto [unit, suffix] : {std::pair{86400, 'd'}, {3600, 'h'}, {60, 'm'}}) {
        if (s % unit == 0) return std::to_string(s / unit) + suffix;
    }
    return std::to_string(s) + 's';
}

ParseResult parse_options(int argc, char** argv) {
    Collected c;
    c.options.uid = getuid();
    c.options.gid = getgid();
    const std::uint64_t half_the_pages = physical_pages() / 2;  // tmpfs's default
    if (half_the_pages != 0) c.options.nr_inodes = half_the_pages;

    // fuse_opt_parse() would print its own message for a trailing -o; ours names it.
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--") == 0) break;
        if (std::strcmp(argv[i], "-o") == 0 && i + 1 == argc) {
            return usage_error("option '-o' needs an argument");
        }
    }

    static const fuse_opt no_templates[] = {FUSE_OPT_END};
    Options::FuseArgs parsed;
    parsed.args = FUSE_ARGS_INIT(argc, argv);
    if (fuse_opt_parse(&parsed.args, &c, no_templates, fuse_opt_callback) != 0) {
        return usage_error("cannot parse the command line");
    }

    if (c.help) {
        print_help(stdout);
        return 0;
    }
    if (c.version) {
        print_version(stdout);
        return 0;
    }
    if (c.error.empty()) validate(c);
    if (!c.error.empty()) return usage_error(c.error);

    if (!c.options.show_stats &&
        !build_fuse_args(c, argc > 0 ? argv[0] : "spoolfs", c.options.fuse.args)) {
        throw std::bad_alloc();
    }
    return std::move(c.options);
}

void print_help(std::FILE* out) {
    const double half_ram_gib = static_cast<double>(physical_ram() / 2) / (1u << 30);
    std::fprintf(out, R"(usage: spoolfs [options] [SOURCE] MOUNTPOINT
       spoolfs --stats [--by-user] [--json | --prometheus] MOUNTPOINT
       spoolfs --set-limit MOUNTPOINT user|group ID|default
                           [block=SIZE] [inodes=N]

A FUSE file system with Python's tempfile semantics. By default (lifetime=close)
a file vanishes when its last handle closes, like a tempfile.TemporaryFile.
For tmpfs behaviour, where files live until unlinked or unmounted:
    spoolfs -o lifetime=mount MOUNTPOINT

General options:
    -h, --help             print this help and exit
    -V, --version          print the version and exit
    -f                     stay in the foreground (default: daemonize)
    -d, -o debug           print every request; implies -f
    -s                     one request thread (default: several)
    --stats                print the statistics of the spoolfs on MOUNTPOINT
    --json                 with --stats: as one JSON object
    --prometheus           with --stats: in Prometheus's text format (for
                           node_exporter's textfile collector)
    --by-user              with --stats: per user, bytes and files held named,
                           lifetime=close and unlinked but open, and the limits
                           (root sees every user, others their own line)
    --set-limit            change a user's or group's hard limits (or the
                           default) on a mounted spoolfs; 0 removes a limit;
                           needs CAP_SYS_ADMIN and usrquota or grpquota
    -o OPT[,OPT...]        mount options, below

spoolfs options (tmpfs's names where tmpfs has the knob):
    -o size=SIZE           total file data, RAM + spill; 0 means no limit
                           (default: 0, no limit)
    -o nr_inodes=N         most inodes, K/M/G/T suffix allowed; 0 means no limit
                           (default: half the pages of RAM, as tmpfs: %llu)
    -o mode=OCTAL          mode of the root directory (default: 1777)
    -o uid=N               owner of the root directory
                           (default: the mounting user)
    -o gid=N               group of the root directory
                           (default: the mounting user's)
    -o ram=SIZE            RAM budget for file data; more spills to disk
                           (default: 50%% of RAM, %.1fG)
    -o spool=SIZE          a single file larger than this rolls over to disk
                           (default: 0, only the RAM budget decides)
    -o spill_dir=DIR       where rolled-over data goes, as anonymous files;
                           never inside MOUNTPOINT (default: /var/tmp if usable,
                           else the temporary directory: $TMPDIR, /tmp, ...)
    -o lifetime=close|mount
                           close: a file vanishes when its last handle closes;
                           mount: it lives until unlinked or unmounted
                           (default: close)
    -o passthrough=on|off  on: the kernel reads and writes files itself, new
                           ones in a private tmpfs of 3/4 of ram= (ENOSPC when
                           full), spilled ones on disk; needs CAP_SYS_ADMIN and
                           FUSE passthrough (Linux 6.9); off with size=
                           (default: on)
    -o busy_poll=US        after a request, poll for the next one for up to US
                           microseconds before sleeping (0: never); stops while
                           the mount is idle (default: 50, at most 10000)
    -o idle_poll=on|off    on: while requests stream, idle CPUs poll instead of
                           halting, so a reply wakes its caller at once (a CPU
                           latency request, root only; dropped 1 ms after the
                           last request); needs busy_poll. Costs every CPU of
                           the host its idle sleep while requests stream: an
                           opt-in for a dedicated machine (default: off)
    -o uring=auto|on|off   FUSE over io_uring (Linux 6.14+; root sets
                           fuse.enable_uring=Y): requests served by a thread
                           pinned to the caller's CPU; auto: when the kernel
                           offers it; on: refuse to mount without it; off:
                           /dev/fuse only (default: auto)
    -o expire=DURATION     remove a file or symlink not read, written or changed
                           for DURATION (30s, 10m, 12h, 10d) and not open, and
                           an empty directory as old; never an open file: its
                           age starts at its last close. A directory's xattr
                           user.spoolfs.expire overrides it for what is made
                           in it later (default: 0, never)
    -o pressure=on|off     on: under memory pressure (the machine's or the
                           memory cgroup's: little MemAvailable or headroom,
                           PSI stalls) the RAM budget shrinks below ram=:
                           files move to disk, cold and large first, and the
                           freed memory goes back; it grows back when the
                           pressure ends (default: on)
    -o usrquota            per-user hard limits, as tmpfs's: past one, EDQUOT;
                           callers with CAP_SYS_RESOURCE pass (default: off)
    -o grpquota            the same per group (default: off)
    -o usrquota_block_hardlimit=SIZE
                           each user's limit on file data (in RAM or spilled)
                           and xattrs; root's files excepted; needs usrquota;
                           their files are never served by passthrough
                           (default: none)
    -o usrquota_inode_hardlimit=N
                           each user's limit on inodes; needs usrquota
                           (default: none)
    -o grpquota_block_hardlimit=SIZE, grpquota_inode_hardlimit=N
                           the same per group; need grpquota (default: none)
    -o max_threads=N       most request threads (default: libfuse's, 10)
    -o max_idle_threads=N  most idle request threads (default: libfuse's)
    -o clone_fd            one /dev/fuse descriptor per thread (default: off)
    -o noauto_unmount      leave the mount in place if spoolfs dies (default:
                           auto_unmount wherever fusermount3 is installed)
  SIZE is bytes with an optional K, M, G or T suffix (powers of 1024, k/m/g/t
  too), or N%% of physical RAM.

FUSE options, passed to libfuse (default: off unless stated):
    -o allow_other         let every user access the mount (unless root, needs
                           user_allow_other in /etc/fuse.conf)
    -o allow_root          let root access the mount too (not with allow_other)
    -o auto_unmount        unmount when the spoolfs process dies (default: on
                           where fusermount3 is installed; noauto_unmount: off)
    -o fsname=NAME         source shown in mount tables (default: SOURCE)
    -o subtype=NAME        type shown as fuse.NAME (default: spoolfs)
    -o max_read=N          largest read request in bytes (default: the kernel's)
    -o ro, rw              read-only or read-write (default: rw)
    -o nosuid, suid        ignore set-user-id bits (default: nosuid)
    -o nodev, dev          ignore device files (default: nodev)
    -o noexec, exec        forbid executing programs (default: exec)
    -o noatime, atime      access time updates (default: the kernel's)
    -o sync, async         synchronous writes (default: async)
    -o dirsync             synchronous directory changes
    -o context=, fscontext=, defcontext=, rootcontext=
                           SELinux contexts
  default_permissions is always on: the kernel checks permissions. relatime,
  strictatime, lazytime, diratime, their no- forms, defaults, auto, noauto,
  nofail, _netdev, user, users, nouser and x-* are accepted for mount(8) and
  fstab, and ignored.
)",
                 static_cast<unsigned long long>(physical_pages() / 2), half_ram_gib);
    std::fflush(out);
}

void print_version(std::FILE* out) {
    std::fprintf(out, "spoolfs version %s\nFUSE library version %s\n", SPOOLFS_VERSION,
                 fuse_pkgversion());
    std::fflush(out);
}

}  // namespace spoolfs
