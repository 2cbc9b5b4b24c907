// Tests of the spoolfs command line: defaults, every option, sizes, every error path
// (exit status 2 and one line on stderr naming the problem), and what reaches libfuse.
// Nothing is mounted; mount points and spill directories are fresh temporary directories.
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "options.hpp"
#include "tempfile/fd.hpp"
#include "tempfile/tempdir.hpp"

namespace fs = std::filesystem;
using spoolfs::Lifetime;
using spoolfs::Options;
using spoolfs::parse_options;
using spoolfs::parse_size;

namespace {

std::uint64_t ram_bytes() {
    return static_cast<std::uint64_t>(sysconf(_SC_PHYS_PAGES)) *
           static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

// A directory from mkdtemp(3), removed with everything in it at the end of the test.
class TempDir {
  public:
    TempDir() {
        std::string templ = (fs::temp_directory_path() / "options_test.XXXXXX").string();
        if (mkdtemp(templ.data()) == nullptr) {
            throw std::system_error(errno, std::generic_category(), "mkdtemp");
        }
        path_ = templ;
    }
    ~TempDir() {
        std::error_code ec;
        fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const fs::path& path() const { return path_; }
    // A new subdirectory.
    fs::path dir(const std::string& name) const {
        fs::create_directory(path_ / name);
        return path_ / name;
    }

  private:
    fs::path path_;
};

// What parse_options returned and what it wrote on stdout and stderr.
struct Run {
    spoolfs::ParseResult result;
    std::string out;
    std::string err;

    bool ok() const { return std::holds_alternative<Options>(result); }
    int status() const { return std::get<int>(result); }
    Options& options() { return std::get<Options>(result); }
};

// Points `fd` at a fresh memfd while alive, then back where it pointed before.
class Redirect {
  public:
    explicit Redirect(int fd)
        : fd_(fd), saved_(dup(fd)), capture_(memfd_create("options_test", MFD_CLOEXEC)) {
        REQUIRE(saved_);
        REQUIRE(capture_);
        std::fflush(nullptr);
        REQUIRE(dup2(capture_.get(), fd_) == fd_);
    }
    ~Redirect() { restore(); }
    Redirect(const Redirect&) = delete;
    Redirect& operator=(const Redirect&) = delete;

    std::string text() {
        restore();
        std::string result;
        char buffer[4096];
        ssize_t n;
        off_t offset = 0;
        while ((n = pread(capture_.get(), buffer, sizeof buffer, offset)) > 0) {
            result.append(buffer, static_cast<std::size_t>(n));
            offset += n;
        }
        return result;
    }

  private:
    void restore() {
        if (!saved_) return;
        std::fflush(nullptr);
        dup2(saved_.get(), fd_);
        saved_.reset();
    }

    int fd_;
    tempfile::FileDescriptor saved_;
    tempfile::FileDescriptor capture_;
};

Run run(std::vector<std::string> args) {
    args.insert(args.begin(), "spoolfs");
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);

    Redirect out(STDOUT_FILENO);
    Redirect err(STDERR_FILENO);
    auto result = parse_options(static_cast<int>(args.size()), argv.data());
    std::string out_text = out.text();
    std::string err_text = err.text();
    return Run{std::move(result), std::move(out_text), std::move(err_text)};
}

Options parse_ok(std::vector<std::string> args) {
    Run r = run(std::move(args));
    INFO("stderr: " << r.err);
    REQUIRE(r.ok());
    CHECK(r.err.empty());
    return std::move(r.options());
}

// Exit status 2, nothing on stdout, exactly one line on stderr that contains `names`.
void check_usage_error(std::vector<std::string> args, const std::string& names) {
    std::string joined;
    for (const auto& arg : args) joined += " " + arg;
    INFO("spoolfs" << joined);
    Run r = run(std::move(args));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status() == 2);
    CHECK(r.out.empty());
    INFO("stderr: " << r.err);
    CHECK(r.err.rfind("spoolfs: ", 0) == 0);
    CHECK(r.err.find('\n') == r.err.size() - 1);
    CHECK(r.err.find(names) != std::string::npos);
}

std::vector<std::string> fuse_argv(const Options& o) {
    return {o.fuse.args.argv, o.fuse.args.argv + o.fuse.args.argc};
}

// The single -o argument given to libfuse ("" if none).
std::string fuse_opts(const Options& o) {
    const auto argv = fuse_argv(o);
    for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
        if (argv[i] == "-o") return argv[i + 1];
    }
    return "";
}

bool has_fuse_opt(const Options& o, const std::string& opt) {
    return ("," + fuse_opts(o) + ",").find("," + opt + ",") != std::string::npos;
}

// Some option in the -o for libfuse is `name` or `name=...`.
bool has_fuse_opt_named(const Options& o, const std::string& name) {
    const std::string opts = "," + fuse_opts(o);
    return opts.find("," + name + "=") != std::string::npos || has_fuse_opt(o, name);
}

// Euid 65534 while alive if we are root, so that permission bits apply to faccessat().
class NotRoot {
  public:
    NotRoot() : was_root_(geteuid() == 0) {
        if (was_root_) REQUIRE(seteuid(65534) == 0);
    }
    ~NotRoot() {
        if (was_root_ && seteuid(0) != 0) std::abort();  // the rest of the suite needs root
    }
    NotRoot(const NotRoot&) = delete;
    NotRoot& operator=(const NotRoot&) = delete;

  private:
    bool was_root_;
};

// libtempfile's tempdir (Python's tempfile.tempdir) is `dir` while alive.
class TempdirOverride {
  public:
    explicit TempdirOverride(const fs::path& dir) { tempfile::set_tempdir(dir); }
    ~TempdirOverride() { tempfile::set_tempdir(std::nullopt); }
    TempdirOverride(const TempdirOverride&) = delete;
    TempdirOverride& operator=(const TempdirOverride&) = delete;
};

// The working directory is `dir` while alive.
class ChangeDir {
  public:
    explicit ChangeDir(const fs::path& dir) : saved_(fs::current_path()) { fs::current_path(dir); }
    ~ChangeDir() {
        std::error_code ec;
        fs::current_path(saved_, ec);
    }
    ChangeDir(const ChangeDir&) = delete;
    ChangeDir& operator=(const ChangeDir&) = delete;

  private:
    fs::path saved_;
};

}  // namespace

TEST_CASE("defaults: tmpfs's where tmpfs has the knob") {
    TempDir tmp;
    const Options o = parse_ok({tmp.path()});

    CHECK(o.mountpoint == fs::canonical(tmp.path()));
    CHECK(o.source == "spoolfs");
    CHECK_FALSE(o.size.has_value());
    REQUIRE(o.nr_inodes.has_value());
    CHECK(*o.nr_inodes == static_cast<std::uint64_t>(sysconf(_SC_PHYS_PAGES)) / 2);
    CHECK(o.root_mode == 01777);
    CHECK(o.uid == getuid());
    CHECK(o.gid == getgid());
    CHECK(o.ram == ram_bytes() / 2);
    CHECK(o.spool == 0);
    CHECK(o.lifetime == Lifetime::close);
    CHECK(o.passthrough);
    CHECK(o.busy_poll == std::chrono::microseconds(50));
    CHECK_FALSE(o.idle_poll);
    CHECK(o.pressure);
    CHECK(o.uring == Options::Uring::automatic);
    CHECK_FALSE(o.foreground);
    CHECK_FALSE(o.debug);
    CHECK_FALSE(o.single_thread);
    CHECK_FALSE(o.max_threads.has_value());
    CHECK_FALSE(o.max_idle_threads.has_value());
    CHECK_FALSE(o.clone_fd);
    CHECK_FALSE(o.show_stats);
    if (fs::is_directory("/var/tmp") && access("/var/tmp", W_OK | X_OK) == 0) {
        CHECK(o.spill_dir == fs::canonical("/var/tmp"));
    }
    CHECK(o.spill_dir.is_absolute());
    CHECK(fs::is_directory(o.spill_dir));
}

TEST_CASE("every spoolfs option parses") {
    TempDir tmp;
    const fs::path mnt = tmp.dir("mnt");
    const fs::path spill = tmp.dir("spill");
    const Options o = parse_ok({"-o",
                                "size=2G,nr_inodes=10k,mode=0755,uid=123,gid=456,ram=1G,"
                                "spool=1M,lifetime=mount,passthrough=off,busy_poll=0,idle_poll=on,"
                                "pressure=off,uring=off",
                                "-o", "spill_dir=" + spill.string(), "-o",
                                "max_threads=4,max_idle_threads=2,clone_fd", "-f", "-s", mnt});
    CHECK(o.size == 2ull << 30);
    CHECK(o.nr_inodes == 10u * 1024);
    CHECK(o.root_mode == 0755);
    CHECK(o.uid == 123u);
    CHECK(o.gid == 456u);
    CHECK(o.ram == 1ull << 30);
    CHECK(o.spool == 1u << 20);
    CHECK(o.spill_dir == fs::canonical(spill));
    CHECK(o.lifetime == Lifetime::mount);
    CHECK_FALSE(o.passthrough);
    CHECK(o.busy_poll == std::chrono::microseconds(0));
    CHECK(o.idle_poll);
    CHECK_FALSE(o.pressure);
    CHECK(o.uring == Options::Uring::off);
    CHECK(o.max_threads == 4u);
    CHECK(o.max_idle_threads == 2u);
    CHECK(o.clone_fd);
    CHECK(o.foreground);
    CHECK(o.single_thread);
    CHECK_FALSE(o.debug);
}

TEST_CASE("options in -oOPT form, and the last of a repeated option wins") {
    TempDir tmp;
    const Options o = parse_ok(
        {"-olifetime=mount", "-o", "lifetime=close", "-omode=700", "-o", "mode=1700", tmp.path()});
    CHECK(o.lifetime == Lifetime::close);
    CHECK(o.root_mode == 01700);
}

TEST_CASE("-d and -o debug mean debug in the foreground, and reach libfuse as -d") {
    TempDir tmp;
    for (const char* flag : {"-d", "--debug"}) {
        const Options o = parse_ok({flag, tmp.path()});
        CHECK(o.debug);
        CHECK(o.foreground);
        const auto argv = fuse_argv(o);
        CHECK(std::find(argv.begin(), argv.end(), "-d") != argv.end());
    }
    const Options o = parse_ok({"-o", "debug", tmp.path()});
    CHECK(o.debug);
    CHECK(o.foreground);
}

TEST_CASE("zero means no limit for size and nr_inodes, as tmpfs") {
    TempDir tmp;
    const Options o = parse_ok({"-o", "size=0,nr_inodes=0", tmp.path()});
    CHECK_FALSE(o.size.has_value());
    CHECK_FALSE(o.nr_inodes.has_value());
}

TEST_CASE("nr_inodes takes K/M/G suffixes but not a percentage") {
    TempDir tmp;
    CHECK(parse_ok({"-o", "nr_inodes=2M", tmp.path()}).nr_inodes == 2u << 20);
    CHECK(parse_ok({"-o", "nr_inodes=1g", tmp.path()}).nr_inodes == 1u << 30);
    CHECK(parse_ok({"-o", "nr_inodes=5000", tmp.path()}).nr_inodes == 5000u);
    check_usage_error({"-o", "nr_inodes=10%", tmp.path()}, "nr_inodes=10%");
    check_usage_error({"-o", "nr_inodes=many", tmp.path()}, "nr_inodes=many");
}

TEST_CASE("sizes: bytes, K/M/G/T in either case, percent of RAM") {
    CHECK(parse_size("0") == 0u);
    CHECK(parse_size("4096") == 4096u);
    CHECK(parse_size("1k") == 1024u);
    CHECK(parse_size("1K") == 1024u);
    CHECK(parse_size("3m") == 3u << 20);
    CHECK(parse_size("512M") == 512u << 20);
    CHECK(parse_size("2G") == 2ull << 30);
    CHECK(parse_size("2g") == 2ull << 30);
    CHECK(parse_size("1T") == 1ull << 40);
    CHECK(parse_size("3t") == 3ull << 40);
    CHECK(parse_size("0K") == 0u);
    CHECK(parse_size("16777215T") == 16777215ull << 40);
    CHECK(parse_size("18446744073709551615") == 18446744073709551615ull);

    CHECK(parse_size("50%") == ram_bytes() * 50 / 100);
    CHECK(parse_size("25%") == ram_bytes() * 25 / 100);
    CHECK(parse_size("100%") == ram_bytes());
    CHECK(parse_size("0%") == 0u);
}

TEST_CASE("sizes: overflow and garbage are not sizes") {
    for (const char* bad : {"",          "12Q",          "G",
                            "%",         "x%",           "-1",
                            "+1",        " 1",           "1 ",
                            "1.5G",      "1KB",          "1KiB",
                            "1e6",       "0x10",         "1,000",
                            "2G%",       "10%%",         "18446744073709551616",
                            "16777216T", "17179869184G", "18446744073709551615%"}) {
        INFO("size '" << bad << "'");
        CHECK_FALSE(parse_size(bad).has_value());
    }
}

TEST_CASE("sizes in options go through parse_size") {
    TempDir tmp;
    const Options o = parse_ok({"-o", "size=10%,ram=5%,spool=64k", tmp.path()});
    CHECK(o.size == (ram_bytes() * 10 / 100 + 4095) / 4096 * 4096);
    CHECK(o.ram == ram_bytes() * 5 / 100);
    CHECK(o.spool == 64u * 1024);
}

TEST_CASE("size= counts whole pages, as tmpfs's does") {
    TempDir tmp;
    CHECK(parse_ok({"-o", "size=1", tmp.path()}).size == 4096u);
    CHECK(parse_ok({"-o", "size=4096", tmp.path()}).size == 4096u);
    CHECK(parse_ok({"-o", "size=4097", tmp.path()}).size == 8192u);
    CHECK(parse_ok({"-o", "size=16383T", tmp.path()}).size == 16383ull << 40);
}

TEST_CASE("spool may equal size, and any spool goes when size is unlimited") {
    TempDir tmp;
    CHECK(parse_ok({"-o", "size=1G,spool=1G", tmp.path()}).spool == 1ull << 30);
    CHECK(parse_ok({"-o", "size=0,spool=1T", tmp.path()}).spool == 1ull << 40);
}

TEST_CASE("bad option values: exit status 2, one line naming the option") {
    TempDir tmp;
    const std::string mnt = tmp.path();
    check_usage_error({"-o", "foo=1", mnt}, "unknown option 'foo=1'");
    check_usage_error({"-o", "nosuch", mnt}, "unknown option 'nosuch'");
    check_usage_error({"--bogus", mnt}, "unknown option '--bogus'");
    check_usage_error({"-x", mnt}, "unknown option '-x'");
    check_usage_error({"-o", "allow_other=1", mnt}, "unknown option 'allow_other=1'");
    check_usage_error({"-o", "size=12Q", mnt},
                      "size=12Q: not a size (bytes, K/M/G/T, or % of RAM)");
    check_usage_error({"-o", "size=16777216T", mnt}, "size=16777216T");
    check_usage_error({"-o", "size", mnt}, "option 'size' needs a value");
    check_usage_error({"-o", "ram=0", mnt}, "ram=0");
    check_usage_error({"-o", "ram=0%", mnt}, "ram=0%");
    check_usage_error({"-o", "ram=lots", mnt}, "ram=lots");
    check_usage_error({"-o", "spool=1.5M", mnt}, "spool=1.5M");
    check_usage_error({"-o", "size=1G,spool=2G", mnt}, "spool=2G is larger than size=1G");
    check_usage_error({"-o", "mode=10000", mnt}, "mode=10000");
    check_usage_error({"-o", "mode=8", mnt}, "mode=8");
    check_usage_error({"-o", "mode=rwx", mnt}, "mode=rwx");
    check_usage_error({"-o", "mode=", mnt}, "mode=");
    check_usage_error({"-o", "uid=root", mnt}, "uid=root");
    check_usage_error({"-o", "uid=-1", mnt}, "uid=-1");
    check_usage_error({"-o", "uid=4294967295", mnt}, "uid=4294967295");
    check_usage_error({"-o", "uid=4294967296", mnt}, "uid=4294967296");
    check_usage_error({"-o", "gid=wheel", mnt}, "gid=wheel");
    check_usage_error({"-o", "lifetime=forever", mnt}, "lifetime=forever");
    check_usage_error({"-o", "lifetime", mnt}, "option 'lifetime' needs a value");
    check_usage_error({"-o", "passthrough=yes", mnt}, "passthrough=yes");
    check_usage_error({"-o", "passthrough", mnt}, "option 'passthrough' needs a value");
    check_usage_error({"-o", "pressure=maybe", mnt}, "pressure=maybe");
    check_usage_error({"-o", "pressure", mnt}, "option 'pressure' needs a value");
    check_usage_error({"-o", "max_threads=0", mnt}, "max_threads=0");
    check_usage_error({"-o", "busy_poll=-1", mnt}, "busy_poll=-1");
    check_usage_error({"-o", "busy_poll=10001", mnt}, "busy_poll=10001");
    check_usage_error({"-o", "busy_poll=50us", mnt}, "busy_poll=50us");
    check_usage_error({"-o", "busy_poll", mnt}, "option 'busy_poll' needs a value");
    check_usage_error({"-o", "idle_poll=1", mnt}, "idle_poll=1: must be on or off");
    check_usage_error({"-o", "idle_poll", mnt}, "option 'idle_poll' needs a value");
    check_usage_error({"-o", "uring=yes", mnt}, "uring=yes: must be auto, on or off");
    check_usage_error({"-o", "uring", mnt}, "option 'uring' needs a value");
    check_usage_error({"-o", "max_idle_threads=x", mnt}, "max_idle_threads=x");
    check_usage_error({"-o", "fsname=", mnt}, "option 'fsname' needs a value");
    check_usage_error({"-o", "max_read=big", mnt}, "max_read=big");
    check_usage_error({"-o", "spill_dir=", mnt}, "option 'spill_dir' needs a value");
    check_usage_error({"-o", "allow_other,allow_root", mnt}, "allow_other and allow_root");
    check_usage_error({mnt, "-o"}, "'-o'");
}

TEST_CASE("the first of several problems is the one reported") {
    TempDir tmp;
    check_usage_error({"-o", "size=x,mode=9", tmp.path()}, "size=x");
}

TEST_CASE("mount point: must exist and be a directory") {
    TempDir tmp;
    const fs::path missing = tmp.path() / "missing";
    check_usage_error({missing}, "mount point " + missing.string() + ": No such file or directory");
    const fs::path file = tmp.path() / "file";
    std::ofstream(file).put('x');
    check_usage_error({file}, "mount point " + file.string() + ": Not a directory");
    check_usage_error({"spoolfs", missing}, "mount point " + missing.string());
}

TEST_CASE("positional arguments: one or two") {
    TempDir tmp;
    check_usage_error({}, "no mount point");
    check_usage_error({"-o", "size=1G"}, "no mount point");
    check_usage_error({"a", "b", tmp.path()}, "unexpected argument '" + tmp.path().string() + "'");

    const Options o = parse_ok({"scratch", tmp.path()});
    CHECK(o.source == "scratch");
    CHECK(o.mountpoint == fs::canonical(tmp.path()));
}

TEST_CASE("a relative mount point becomes canonical") {
    TempDir tmp;
    const fs::path relative = fs::relative(tmp.path(), fs::current_path());
    REQUIRE(relative.is_relative());
    const Options o = parse_ok({relative});
    CHECK(o.mountpoint == fs::canonical(tmp.path()));
    CHECK(o.mountpoint.is_absolute());
}

TEST_CASE("-- ends the options: a mount point may start with a dash") {
    TempDir tmp;
    tmp.dir("-dashed");
    const ChangeDir into(tmp.path());
    check_usage_error({"-dashed"}, "unknown option '-dashed'");
    const Options o = parse_ok({"--", "-dashed"});
    CHECK(o.mountpoint == fs::canonical(tmp.path() / "-dashed"));
}

TEST_CASE("mount.fuse3's form: source, mount point, then mount(8)'s options") {
    TempDir tmp;
    const Options o = parse_ok(
        {"spoolfs", tmp.path(), "-o",
         "rw,nosuid,nodev,noexec,relatime,noatime,dev,suid,exec,atime,strictatime,lazytime,"
         "nodiratime,defaults,noauto,nofail,_netdev,x-systemd.automount,lifetime=mount,"
         "size=2G,allow_other"});
    CHECK(o.source == "spoolfs");
    CHECK(o.lifetime == Lifetime::mount);
    CHECK(o.size == 2ull << 30);
    for (const char* kept :
         {"rw", "nosuid", "nodev", "noexec", "noatime", "dev", "suid", "exec", "atime"}) {
        INFO(kept);
        CHECK(has_fuse_opt(o, kept));
    }
    // libfuse 3.14 rejects these; the kernel leaves a FUSE mount's atimes alone anyway.
    for (const char* dropped : {"relatime", "strictatime", "lazytime", "nodiratime", "defaults",
                                "noauto", "nofail", "_netdev", "x-systemd.automount"}) {
        INFO(dropped);
        CHECK_FALSE(has_fuse_opt(o, dropped));
    }
}

TEST_CASE("libfuse's options go to fuse.args, spoolfs's do not") {
    TempDir tmp;
    const fs::path spill = tmp.dir("spill");
    const fs::path mnt = tmp.dir("mnt");
    const std::vector<std::string> libfuse = {
        "allow_other", "auto_unmount", "fsname=scratch", "subtype=spool", "max_read=131072",
        "ro",          "nosuid",       "nodev",          "noexec",        "noatime",
        "sync",        "dirsync",      "user=someone"};
    std::string joined;
    for (const auto& opt : libfuse) joined += opt + ",";
    joined +=
        "size=1G,nr_inodes=1000,mode=700,uid=1,gid=2,ram=512M,spool=1M,lifetime=mount,"
        "busy_poll=10000,idle_poll=on,uring=on,max_threads=3,clone_fd,default_permissions,"
        "spill_dir=" +
        spill.string();
    const Options o = parse_ok({"-o", joined, mnt});

    const auto argv = fuse_argv(o);
    REQUIRE(argv.size() == 3);
    CHECK(argv[0] == "spoolfs");
    CHECK(argv[1] == "-o");
    for (const auto& opt : libfuse) {
        INFO(opt);
        CHECK(has_fuse_opt(o, opt));
    }
    for (const char* ours : {"size", "nr_inodes", "mode", "uid", "gid", "ram", "spool", "lifetime",
                             "busy_poll", "idle_poll", "max_threads", "clone_fd", "spill_dir",
                             "uring"}) {
        INFO(ours);
        CHECK_FALSE(has_fuse_opt_named(o, ours));
    }
    // The driver adds it itself; once is enough.
    CHECK_FALSE(has_fuse_opt_named(o, "default_permissions"));
}

TEST_CASE("auto_unmount is on by default where fusermount3 is, noauto_unmount turns it off") {
    TempDir tmp;
    const bool fusermount = ::access("/usr/bin/fusermount3", X_OK) == 0;
    CHECK(has_fuse_opt(parse_ok({tmp.path()}), "auto_unmount") == fusermount);
    CHECK(has_fuse_opt(parse_ok({tmp.path(), "-o", "auto_unmount"}), "auto_unmount"));
    CHECK_FALSE(has_fuse_opt(parse_ok({tmp.path(), "-o", "noauto_unmount"}), "auto_unmount"));
    check_usage_error({"-o", "auto_unmount,noauto_unmount", tmp.path()},
                      "auto_unmount and noauto_unmount exclude each other");
}

TEST_CASE("fsname defaults to SOURCE and subtype to spoolfs") {
    TempDir tmp;
    const Options plain = parse_ok({tmp.path(), "-o", "noauto_unmount"});
    CHECK(fuse_opts(plain) == "fsname=spoolfs,subtype=spoolfs");

    const Options sourced = parse_ok({"scratch", tmp.path()});
    CHECK(has_fuse_opt(sourced, "fsname=scratch"));

    const Options named = parse_ok({"scratch", tmp.path(), "-o", "fsname=mine,subtype=x"});
    CHECK(has_fuse_opt(named, "fsname=mine"));
    CHECK_FALSE(has_fuse_opt(named, "fsname=scratch"));
    CHECK(has_fuse_opt(named, "subtype=x"));
    CHECK_FALSE(has_fuse_opt(named, "subtype=spoolfs"));

    // fuse_opt splits -o on commas: one in the source must arrive escaped.
    const Options comma = parse_ok({"a,b", tmp.path()});
    CHECK(fuse_opts(comma).find("fsname=a\\,b") != std::string::npos);
}

TEST_CASE("libfuse 3.14 accepts everything that is passed through") {
    TempDir tmp;
    Options o = parse_ok({"a,b", tmp.path(), "-o",
                          "allow_other,auto_unmount,max_read=65536,ro,rw,suid,nosuid,dev,nodev,"
                          "exec,noexec,atime,noatime,sync,async,dirsync,relatime,"
                          "context=system_u:object_r:tmp_t:s0,size=1G"});
    const fuse_lowlevel_ops ops{};
    // Creating a session parses the options but mounts nothing.
    fuse_session* session = fuse_session_new(&o.fuse.args, &ops, sizeof ops, nullptr);
    CHECK(session != nullptr);
    if (session != nullptr) fuse_session_destroy(session);
}

TEST_CASE("spill_dir: must exist, be a writable directory, outside the mount point") {
    TempDir tmp;
    const fs::path mnt = tmp.dir("mnt");
    const auto spill_error = [&](const fs::path& spill, const std::string& why) {
        check_usage_error({"-o", "spill_dir=" + spill.string(), mnt},
                          "spill_dir=" + spill.string() + ": " + why);
    };
    spill_error(tmp.path() / "missing", "No such file or directory");
    const fs::path file = tmp.path() / "file";
    std::ofstream(file).put('x');
    spill_error(file, "Not a directory");

    spill_error(mnt, "lies inside the mount point");
    spill_error(tmp.dir("mnt/inner"), "lies inside the mount point");
    fs::create_directory_symlink(mnt, tmp.path() / "link");
    spill_error(tmp.path() / "link", "lies inside the mount point");
    spill_error(mnt / ".." / "mnt" / "inner", "lies inside the mount point");

    // A sibling that shares the mount point's name as a prefix is outside it.
    const fs::path sibling = tmp.dir("mnt2");
    CHECK(parse_ok({"-o", "spill_dir=" + sibling.string(), mnt}).spill_dir ==
          fs::canonical(sibling));
}

TEST_CASE("spill_dir: refused when not writable") {
    TempDir tmp;
    fs::permissions(tmp.path(),
                    fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    const fs::path mnt = tmp.dir("mnt");
    const fs::path locked = tmp.dir("locked");
    fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                fs::perms::group_exec | fs::perms::others_read |
                                fs::perms::others_exec);
    const NotRoot not_root;
    check_usage_error({"-o", "spill_dir=" + locked.string(), mnt},
                      "spill_dir=" + locked.string() + ": Permission denied");
}

TEST_CASE("the default spill_dir gives way to a mount point over it") {
    // `spoolfs /var/tmp`: /var/tmp is hidden by the mount, so spill in gettempdir().
    if (!fs::is_directory("/var/tmp")) return;
    TempDir tmp;
    const TempdirOverride override(tmp.path());
    CHECK(parse_ok({"/var/tmp"}).spill_dir == fs::canonical(tmp.path()));
    CHECK(parse_ok({"/var"}).spill_dir == fs::canonical(tmp.path()));

    // Mounted on /, every candidate is inside the mount point.
    check_usage_error(
        {"/"}, "no usable spill directory outside / (tried /var/tmp, " + tmp.path().string() + ")");
}

TEST_CASE("--stats MOUNTPOINT asks for statistics, not a mount") {
    TempDir tmp;
    const Options o = parse_ok({"--stats", tmp.path()});
    CHECK(o.show_stats);
    CHECK(o.mountpoint == fs::canonical(tmp.path()));
    CHECK(o.fuse.args.argc == 0);
    check_usage_error({"--stats"}, "no mount point");
    check_usage_error({"--stats", "spoolfs", tmp.path()}, "unexpected argument");
}

TEST_CASE("--help and -h print every option with its default, exit 0") {
    for (const char* flag : {"--help", "-h"}) {
        Run r = run({flag});
        REQUIRE_FALSE(r.ok());
        CHECK(r.status() == 0);
        CHECK(r.err.empty());
        CHECK(r.out.find("usage: spoolfs [options] [SOURCE] MOUNTPOINT") == 0);
        for (const char* option : {"size=",         "nr_inodes=",   "mode=",
                                   "uid=",          "gid=",         "ram=",
                                   "spool=",        "spill_dir=",   "lifetime=close|mount",
                                   "busy_poll=",    "max_threads=", "max_idle_threads=",
                                   "clone_fd",      "allow_other",  "allow_root",
                                   "auto_unmount",  "fsname=",      "subtype=",
                                   "max_read=",     "ro, rw",       "nosuid",
                                   "nodev",         "noexec",       "noatime",
                                   "sync",          "dirsync",      "default_permissions",
                                   "-f ",           "-d, ",         "-s ",
                                   "-V, --version", "--stats",      "uring=auto|on|off",
                                   "idle_poll=on|off"}) {
            INFO(option);
            CHECK(r.out.find(option) != std::string::npos);
        }
        CHECK(r.out.find("-o lifetime=mount") != std::string::npos);
        CHECK(r.out.find("(default: close)") != std::string::npos);
        CHECK(r.out.find("(default: 1777)") != std::string::npos);
        char half_ram[64];
        std::snprintf(half_ram, sizeof half_ram, "(default: 50%% of RAM, %.1fG)",
                      static_cast<double>(ram_bytes() / 2) / (1u << 30));
        CHECK(r.out.find(half_ram) != std::string::npos);
        std::istringstream lines(r.out);
        for (std::string line; std::getline(lines, line);) {
            INFO(line);
            CHECK(line.size() <= 80);
        }
    }
}

TEST_CASE("--help wins over errors elsewhere on the line") {
    Run r = run({"-o", "bogus", "--help"});
    REQUIRE_FALSE(r.ok());
    CHECK(r.status() == 0);
    CHECK(r.err.empty());
    CHECK_FALSE(r.out.empty());
}

TEST_CASE("--version and -V print the versions, exit 0") {
    for (const char* flag : {"--version", "-V"}) {
        Run r = run({flag});
        REQUIRE_FALSE(r.ok());
        CHECK(r.status() == 0);
        CHECK(r.err.empty());
        CHECK(r.out.rfind("spoolfs version ", 0) == 0);
        CHECK(r.out.find(std::string("FUSE library version ") + fuse_pkgversion()) !=
              std::string::npos);
    }
}

TEST_CASE("Options move with their fuse arguments") {
    TempDir tmp;
    Options a = parse_ok({"-o", "allow_other", tmp.path()});
    const int argc = a.fuse.args.argc;
    REQUIRE(argc > 0);
    Options b = std::move(a);
    CHECK(b.fuse.args.argc == argc);
    CHECK(a.fuse.args.argc == 0);  // NOLINT(bugprone-use-after-move): moved-from is empty
    Options c = parse_ok({tmp.path()});
    c = std::move(b);
    CHECK(c.fuse.args.argc == argc);
    CHECK(has_fuse_opt(c, "allow_other"));
}

TEST_CASE("expire= takes a duration, 0 or off; off by default") {
    using namespace std::chrono_literals;
    using spoolfs::format_duration;
    using spoolfs::parse_duration;
    TempDir tmp;
    CHECK(parse_ok({tmp.path()}).expire == 0s);
    CHECK(parse_ok({"-o", "expire=2s", tmp.path()}).expire == 2s);
    CHECK(parse_ok({"-o", "expire=10m", tmp.path()}).expire == 10min);
    CHECK(parse_ok({"-o", "expire=12h", tmp.path()}).expire == 12h);
    CHECK(parse_ok({"-o", "expire=10d", tmp.path()}).expire == 240h);
    CHECK(parse_ok({"-o", "expire=90", tmp.path()}).expire == 90s);
    CHECK(parse_ok({"-o", "expire=0", tmp.path()}).expire == 0s);
    CHECK(parse_ok({"-o", "expire=off", tmp.path()}).expire == 0s);
    CHECK_FALSE(has_fuse_opt_named(parse_ok({"-o", "expire=1h", tmp.path()}), "expire"));
    for (const char* bad : {"expire=5x", "expire=-1", "expire=1.5h", "expire=s", "expire=",
                            "expire=36501d", "expire=99999999999999999999"}) {
        INFO(bad);
        check_usage_error({"-o", bad, tmp.path()}, bad);
    }
    check_usage_error({"-o", "expire", tmp.path()}, "option 'expire' needs a value");

    CHECK(parse_duration(std::string_view("10m\0", 4)) == 10min);  // as setfattr may send it
    CHECK(parse_duration("36500d") == spoolfs::max_expire);
    CHECK_FALSE(parse_duration("on").has_value());
    CHECK(format_duration(0s) == "off");
    CHECK(format_duration(90s) == "90s");
    CHECK(format_duration(120s) == "2m");
    CHECK(format_duration(12h) == "12h");
    CHECK(format_duration(240h) == "10d");
}

TEST_CASE("--help shows expire=") {
    Run r = run({"--help"});
    CHECK(r.out.find("-o expire=DURATION") != std::string::npos);
    CHECK(r.out.find("user.spoolfs.expire") != std::string::npos);
}

TEST_CASE("usrquota, grpquota and their hard limits, as tmpfs names them") {
    TempDir tmp;
    const Options off = parse_ok({tmp.path()});
    CHECK_FALSE(off.usrquota);
    CHECK_FALSE(off.grpquota);
    CHECK(off.usrquota_block_hardlimit == 0);
    const Options o = parse_ok({"-o",
                                "usrquota,grpquota,usrquota_block_hardlimit=1M,"
                                "usrquota_inode_hardlimit=2K,grpquota_block_hardlimit=3G,"
                                "grpquota_inode_hardlimit=100",
                                tmp.path()});
    CHECK(o.usrquota);
    CHECK(o.grpquota);
    CHECK(o.usrquota_block_hardlimit == 1u << 20);
    CHECK(o.usrquota_inode_hardlimit == 2048);
    CHECK(o.grpquota_block_hardlimit == 3ull << 30);
    CHECK(o.grpquota_inode_hardlimit == 100);
    for (const char* name : {"usrquota", "grpquota", "usrquota_block_hardlimit"}) {
        INFO(name);
        CHECK_FALSE(has_fuse_opt_named(o, name));
    }
}

TEST_CASE("quota options: bad values exit 2 naming the option") {
    TempDir tmp;
    const std::string mnt = tmp.path();
    // As tmpfs: 0 is no limit value, and a limit past 2^63-1 is too large.
    for (const char* bad : {"usrquota_block_hardlimit=0", "usrquota_block_hardlimit=1Q",
                            "usrquota_block_hardlimit=9223372036854775808",
                            "usrquota_inode_hardlimit=0", "usrquota_inode_hardlimit=10%",
                            "usrquota_inode_hardlimit=x"}) {
        INFO(bad);
        check_usage_error({"-o", std::string("usrquota,") + bad, mnt}, bad);
    }
    for (const char* bad : {"grpquota_block_hardlimit=-1", "grpquota_inode_hardlimit=1.5K"}) {
        INFO(bad);
        check_usage_error({"-o", std::string("grpquota,") + bad, mnt}, bad);
    }
    check_usage_error({"-o", "usrquota,usrquota_block_hardlimit", mnt},
                      "option 'usrquota_block_hardlimit' needs a value");
    // A limit without its quota would enforce nothing.
    check_usage_error({"-o", "usrquota_block_hardlimit=1M", mnt},
                      "usrquota_block_hardlimit= needs usrquota");
    check_usage_error({"-o", "grpquota,usrquota_inode_hardlimit=5", mnt},
                      "usrquota_inode_hardlimit= needs usrquota");
    check_usage_error({"-o", "usrquota,grpquota_block_hardlimit=1M", mnt},
                      "grpquota_block_hardlimit= needs grpquota");
    check_usage_error({"-o", "grpquota_inode_hardlimit=5", mnt},
                      "grpquota_inode_hardlimit= needs grpquota");
}

TEST_CASE("--by-user goes with --stats") {
    TempDir tmp;
    const Options o = parse_ok({"--stats", "--by-user", "--json", tmp.path()});
    CHECK(o.show_stats);
    CHECK(o.by_user);
    CHECK(o.stats_format == Options::StatsFormat::json);
    check_usage_error({"--by-user", tmp.path()}, "--by-user goes with --stats");
}

TEST_CASE("--help shows the quota options and --set-limit") {
    Run r = run({"--help"});
    for (const char* text : {"-o usrquota", "-o grpquota", "usrquota_block_hardlimit=SIZE",
                             "usrquota_inode_hardlimit=N", "grpquota_block_hardlimit=SIZE",
                             "grpquota_inode_hardlimit=N", "--by-user", "--set-limit"}) {
        INFO(text);
        CHECK(r.out.find(text) != std::string::npos);
    }
}
