// Command line of spoolfs: parsing (libfuse's fuse_opt), validation and defaults.
//
// parse_options() never mounts anything and never exits the process: it returns either
// the validated Options or the exit status the caller must exit with (0 after --help or
// --version, 2 after a one-line error on stderr naming the bad option or argument).
#pragma once

#include <fuse_lowlevel.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>

namespace spoolfs {

enum class Lifetime { close, mount };

struct Options {
    std::filesystem::path mountpoint;      // absolute, an existing directory
    std::string source = "spoolfs";        // first of two positional arguments (mount(8))

    std::optional<std::uint64_t> size;       // size=: bytes of file data, RAM + spill; nullopt: no limit
    std::optional<std::uint64_t> nr_inodes;  // nr_inodes=: nullopt: no limit (nr_inodes=0)
    mode_t root_mode = 01777;                // mode=
    uid_t uid = 0;                           // uid=: default the mounting user
    gid_t gid = 0;                           // gid=
    std::uint64_t ram = 0;                   // ram=: RAM budget in bytes; default 50% of RAM
    std::uint64_t spool = 0;                 // spool=: per-file rollover size; 0: budget only
    std::filesystem::path spill_dir;         // spill_dir=: absolute, an existing directory
    Lifetime lifetime = Lifetime::close;     // lifetime=

    bool foreground = false;     // -f
    bool debug = false;          // -d
    bool single_thread = false;  // -s

    // What goes on to fuse_session_new(): argv[0], libfuse's own -o options
    // (allow_other, auto_unmount, fsname=, ...) and -d. Owned; freed with the Options.
    struct FuseArgs {
        fuse_args args = FUSE_ARGS_INIT(0, nullptr);
        FuseArgs() = default;
        FuseArgs(FuseArgs&& other) noexcept : args(other.args) { other.args = FUSE_ARGS_INIT(0, nullptr); }
        FuseArgs& operator=(FuseArgs&& other) noexcept;
        FuseArgs(const FuseArgs&) = delete;
        FuseArgs& operator=(const FuseArgs&) = delete;
        ~FuseArgs() { fuse_opt_free_args(&args); }
    } fuse;
};

// Either the options to mount with, or the status to exit with.
using ParseResult = std::variant<Options, int>;

ParseResult parse_options(int argc, char** argv);

// "512M", "2G", "4096", "25%" (of physical RAM) -> bytes; nullopt if malformed.
std::optional<std::uint64_t> parse_size(const std::string& text);

}  // namespace spoolfs
