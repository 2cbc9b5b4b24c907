// Helpers shared by the libtempfile tests: Python's nameCheck, scoped process state
// (umask, environment, the tempdir override) and running a check without root's
// permission bypass.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace tempfile_test {

// Python's nameCheck: `path` is absolute dir / (prefix + 8 name characters + suffix).
// Returns an empty string if so, else what is wrong.
std::string name_problem(const std::filesystem::path& path, const std::filesystem::path& dir,
                         const std::string& prefix, const std::string& suffix);

// Sorted entry names of `dir`.
std::vector<std::string> list_dir(const std::filesystem::path& dir);

// Permission bits of `path` (not following a final symlink).
mode_t mode_of(const std::filesystem::path& path);

// Python's os.path.lexists: lstat succeeds (a dangling symlink exists).
bool lexists(const std::filesystem::path& path);

void write_file(const std::filesystem::path& path, const std::string& content);

// The error code of the std::system_error that `call` throws; none if it throws nothing.
std::error_code error_of(const std::function<void()>& call);

// A plain directory for a test, made with mkdir(2) and removed with `rm -rf` after
// restoring permissions: independent of the code under test.
class Scratch {
  public:
    Scratch();
    ~Scratch();
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

class ScopedUmask {
  public:
    explicit ScopedUmask(mode_t mask);
    ~ScopedUmask();
    ScopedUmask(const ScopedUmask&) = delete;
    ScopedUmask& operator=(const ScopedUmask&) = delete;

  private:
    mode_t previous_;
};

// Changes the working directory; restores it when destroyed.
class ScopedCwd {
  public:
    explicit ScopedCwd(const std::filesystem::path& dir);
    ~ScopedCwd();
    ScopedCwd(const ScopedCwd&) = delete;
    ScopedCwd& operator=(const ScopedCwd&) = delete;

  private:
    std::filesystem::path previous_;
};

// Sets (or with std::nullopt unsets) an environment variable; restores it when destroyed.
class ScopedEnv {
  public:
    ScopedEnv(std::string name, std::optional<std::string> value);
    ~ScopedEnv();
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

  private:
    std::string name_;
    std::optional<std::string> previous_;
};

// Sets tempfile::set_tempdir(dir); restores the previous value when destroyed.
class ScopedTempdir {
  public:
    explicit ScopedTempdir(std::optional<std::filesystem::path> dir);
    ~ScopedTempdir();
    ScopedTempdir(const ScopedTempdir&) = delete;
    ScopedTempdir& operator=(const ScopedTempdir&) = delete;

  private:
    std::optional<std::filesystem::path> previous_;
};

// Root passes every permission check, so permission handling is only exercised without
// it: as root, gives `path` and everything below it to the unprivileged user that
// run_unprivileged uses; otherwise does nothing.
void hand_to_unprivileged(const std::filesystem::path& path);

// Runs `check` as an unprivileged user: in a forked child that drops to nobody when
// running as root (call hand_to_unprivileged first), directly otherwise. Returns what
// `check` returns (an exit status: 0 for success), or -1 if it threw or the child died.
int run_unprivileged(const std::function<int()>& check);

}  // namespace tempfile_test
