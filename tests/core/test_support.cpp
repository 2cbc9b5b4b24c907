#include "test_support.hpp"

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "tempfile/names.hpp"
#include "tempfile/tempdir.hpp"

namespace tempfile_test {
namespace {

constexpr uid_t nobody = 65534;

// chmod u+rwx and remove, recursively, without following symlinks.
void force_remove(const std::filesystem::path& path) {
    std::error_code error;
    if (std::filesystem::is_directory(std::filesystem::symlink_status(path, error))) {
        ::chmod(path.c_str(), 0700);
        std::vector<std::filesystem::path> entries;
        for (const auto& entry : std::filesystem::directory_iterator(path, error))
            entries.push_back(entry.path());
        for (const auto& entry : entries) force_remove(entry);
    }
    std::filesystem::remove(path, error);
}

}  // namespace

std::string name_problem(const std::filesystem::path& path, const std::filesystem::path& dir,
                         const std::string& prefix, const std::string& suffix) {
    if (!path.is_absolute()) return path.string() + " is not absolute";
    if (path.parent_path() != std::filesystem::absolute(dir).lexically_normal())
        return path.string() + " is not in " + dir.string();
    std::string base = path.filename().string();
    if (base.size() != prefix.size() + tempfile::name_length + suffix.size())
        return base + " has the wrong length";
    if (!base.starts_with(prefix)) return base + " lacks prefix " + prefix;
    if (!base.ends_with(suffix)) return base + " lacks suffix " + suffix;
    std::string middle = base.substr(prefix.size(), tempfile::name_length);
    if (middle.find_first_not_of(tempfile::name_characters) != std::string::npos)
        return middle + " has a character outside the alphabet";
    return "";
}

std::vector<std::string> list_dir(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

mode_t mode_of(const std::filesystem::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return static_cast<mode_t>(-1);
    return st.st_mode & 07777;
}

bool lexists(const std::filesystem::path& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

void write_file(const std::filesystem::path& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
}

Scratch::Scratch() {
    std::string pattern = std::filesystem::temp_directory_path() / "tempfile-test-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
    // Searchable by the unprivileged user of run_unprivileged.
    ::chmod(path_.c_str(), 0755);
}

Scratch::~Scratch() {
    force_remove(path_);
}

ScopedUmask::ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
ScopedUmask::~ScopedUmask() {
    ::umask(previous_);
}

ScopedCwd::ScopedCwd(const std::filesystem::path& dir)
    : previous_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
}

ScopedCwd::~ScopedCwd() {
    std::filesystem::current_path(previous_);
}

ScopedEnv::ScopedEnv(std::string name, std::optional<std::string> value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) previous_ = old;
    if (value)
        ::setenv(name_.c_str(), value->c_str(), 1);
    else
        ::unsetenv(name_.c_str());
}

ScopedEnv::~ScopedEnv() {
    if (previous_)
        ::setenv(name_.c_str(), previous_->c_str(), 1);
    else
        ::unsetenv(name_.c_str());
}

ScopedTempdir::ScopedTempdir(std::optional<std::filesystem::path> dir)
    : previous_(tempfile::tempdir()) {
    tempfile::set_tempdir(std::move(dir));
}

ScopedTempdir::~ScopedTempdir() {
    tempfile::set_tempdir(std::move(previous_));
}

void hand_to_unprivileged(const std::filesystem::path& path) {
    if (::geteuid() != 0) return;
    if (::lchown(path.c_str(), nobody, nobody) != 0) throw std::runtime_error("lchown failed");
    if (!std::filesystem::is_directory(std::filesystem::symlink_status(path))) return;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path))
        if (::lchown(entry.path().c_str(), nobody, nobody) != 0)
            throw std::runtime_error("lchown failed");
}

int run_unprivileged(const std::function<int()>& check) {
    auto guarded = [&check] {
        try {
            return check();
        } catch (...) {
            return -1;
        }
    };
    if (::geteuid() != 0) return guarded();
    pid_t child = ::fork();
    if (child < 0) return -1;
    if (child == 0) {
        // _exit: the child must not run the parent's destructors or Catch2's reporting.
        if (::setgroups(0, nullptr) != 0 || ::setgid(nobody) != 0 || ::setuid(nobody) != 0)
            ::_exit(125);
        ::_exit(guarded() & 0xff);
    }
    int status = 0;
    if (::waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
    int code = WEXITSTATUS(status);
    return code == 0xff ? -1 : code;
}

std::error_code error_of(const std::function<void()>& call) {
    try {
        call();
    } catch (const std::system_error& error) {
        return error.code();
    }
    return {};
}

}  // namespace tempfile_test
