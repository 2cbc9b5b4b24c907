// Command line of spoolfs: parsing (libfuse's fuse_opt), validation and defaults.
//
// parse_options() never mounts anything and never exits the process: it returns either
// the validated Options or the exit status the caller must exit with (0 after --help or
// --version, 2 after a one-line error on stderr naming the bad option or argument).
// Every -o option is checked here, against spoolfs's own names and a table of the libfuse
// options passed through, so an unknown one never reaches fuse_session_new().
// Not thread-safe: it reads the environment and the file system once, at startup.
#pragma once

#include <fuse_opt.h>  // fuse_args alone: no FUSE_USE_VERSION needed by includers
#include <sys/types.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

namespace spoolfs {

enum class Lifetime { close, mount };

struct Options {
    std::filesystem::path mountpoint;  // canonical, an existing directory
    std::string source = "spoolfs";    // first of two positional arguments (mount(8))

    std::optional<std::uint64_t> size;  // size=: bytes of file data, RAM + spill; nullopt: no limit
    std::optional<std::uint64_t> nr_inodes;   // nr_inodes=: nullopt: no limit (nr_inodes=0)
    mode_t root_mode = 01777;                 // mode=
    uid_t uid = 0;                            // uid=: default the mounting user
    gid_t gid = 0;                            // gid=
    std::uint64_t ram = 0;                    // ram=: RAM budget in bytes; default 50% of RAM
    std::uint64_t spool = 0;                  // spool=: per-file rollover size; 0: budget only
    std::filesystem::path spill_dir;          // spill_dir=: canonical, a writable directory
    Lifetime lifetime = Lifetime::close;      // lifetime=
    bool passthrough = true;                  // passthrough=on|off: kernel passthrough if possible
    std::chrono::microseconds busy_poll{50};  // busy_poll=: how long to poll for the next request
    bool idle_poll = false;  // idle_poll=on|off: idle CPUs poll while requests stream
    enum class Uring { automatic, on, off };
    Uring uring = Uring::automatic;  // uring=auto|on|off: FUSE over io_uring (ring_io.hpp)
    std::chrono::seconds expire{0};  // expire=: remove what is unused this long; 0: never
    bool pressure = true;  // pressure=on|off: the RAM budget gives way under memory pressure
    // usrquota, grpquota and their default hard limits (quota.hpp); 0: none.
    bool usrquota = false;
    bool grpquota = false;
    std::uint64_t usrquota_block_hardlimit = 0;
    std::uint64_t usrquota_inode_hardlimit = 0;
    std::uint64_t grpquota_block_hardlimit = 0;
    std::uint64_t grpquota_inode_hardlimit = 0;

    bool foreground = false;     // -f (also set by -d)
    bool debug = false;          // -d, -o debug
    bool single_thread = false;  // -s

    // fuse_loop_config for the multi-threaded loop: libfuse parses these only in
    // fuse_parse_cmdline(), which spoolfs does not use, and fuse_session_new() rejects them.
    std::optional<unsigned> max_threads;       // -o max_threads=; nullopt: libfuse's default
    std::optional<unsigned> max_idle_threads;  // -o max_idle_threads=
    bool clone_fd = false;                     // -o clone_fd

    // --stats MOUNTPOINT: print the statistics of a mounted spoolfs instead of mounting.
    // Only `mountpoint` is filled in then.
    bool show_stats = false;
    enum class StatsFormat { table, json, prometheus };
    StatsFormat stats_format = StatsFormat::table;  // --json, --prometheus (with --stats)
    bool by_user = false;                           // --by-user (with --stats)

    bool allow_other = false;  // -o allow_other (passed on to libfuse)

    // What goes on to fuse_session_new(): argv[0], -d, and one -o with libfuse's own
    // options (allow_other, auto_unmount, ro, ...), fsname= (default SOURCE) and
    // subtype=spoolfs unless given. Never spoolfs's own options nor default_permissions
    // (the driver adds that). Owned; freed with the Options.
    struct FuseArgs {
        fuse_args args = FUSE_ARGS_INIT(0, nullptr);
        FuseArgs() = default;
        FuseArgs(FuseArgs&& other) noexcept : args(other.args) {
            other.args = FUSE_ARGS_INIT(0, nullptr);
        }
        FuseArgs& operator=(FuseArgs&& other) noexcept;
        FuseArgs(const FuseArgs&) = delete;
        FuseArgs& operator=(const FuseArgs&) = delete;
        ~FuseArgs() { fuse_opt_free_args(&args); }
    } fuse;
};

// Either the options to mount with, or the status to exit with.
using ParseResult = std::variant<Options, int>;

ParseResult parse_options(int argc, char** argv);

// The whole of `text` as a decimal (or, with base 8, octal) number; no sign, no spaces.
template <typename T>
std::optional<T> parse_number(std::string_view text, int base = 10) {
    T value{};
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value, base);
    if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
    return value;
}

// "512M", "2G", "4096", "25%" (of physical RAM) -> bytes; nullopt if malformed or if it
// does not fit in 64 bits. Suffixes K, M, G, T (or k, m, g, t) are powers of 1024.
std::optional<std::uint64_t> parse_size(const std::string& text);

// "1000", "64K", "2M": a count with an optional K/M/G/T suffix (powers of 1024), as
// nr_inodes= takes it; nullopt if malformed or past 64 bits.
std::optional<std::uint64_t> parse_count(const std::string& text);

// "30s", "10m", "12h", "10d" or a number of seconds -> seconds; "0" and "off" -> 0 (never).
// nullopt if malformed or longer than max_expire. A trailing NUL is allowed (setfattr).
std::optional<std::chrono::seconds> parse_duration(std::string_view text);
// The other way: "off", or the largest unit that divides the duration ("90s", "2h").
std::string format_duration(std::chrono::seconds duration);
inline constexpr std::chrono::seconds max_expire = std::chrono::hours(24 * 36500);  // 100 years

// The --help text: every option with its default. parse_options() prints it for -h.
void print_help(std::FILE* out);

// The --version text: spoolfs's and libfuse's versions.
void print_version(std::FILE* out);

}  // namespace spoolfs
