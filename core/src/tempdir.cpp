#include "tempfile/tempdir.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <string>
#include <system_error>

#include "create_unique.hpp"
#include "default_tempdir.hpp"
#include "open_flags.hpp"
#include "sys.hpp"

namespace tempfile {
namespace {

// Python tries only a few names per directory before calling it unusable.
constexpr int probe_tries = 100;

struct Override {
    std::mutex mutex;
    std::optional<std::filesystem::path> dir;
};

Override& override_dir() {
    static Override instance;
    return instance;
}

void probe(const std::filesystem::path& file) {
    FileDescriptor fd = sys::open(file, detail::create_flags, 0600);
    try {
        sys::write_all(fd.get(), std::as_bytes(std::span("blat", 4)));
    } catch (...) {
        ::unlink(file.c_str());
        throw;
    }
    sys::unlink(file);
}

}  // namespace

namespace detail {

std::filesystem::path absolute_path(const std::filesystem::path& path) {
    std::filesystem::path normal = std::filesystem::absolute(path).lexically_normal();
    if (!normal.has_filename() && normal != normal.root_path()) normal = normal.parent_path();
    return normal;
}

std::filesystem::path directory_for(const std::filesystem::path& dir) {
    return absolute_path(dir.empty() ? gettempdir() : dir);
}

std::vector<std::filesystem::path> candidate_tempdir_list() {
    std::vector<std::filesystem::path> candidates;
    for (const char* variable : {"TMPDIR", "TEMP", "TMP"}) {
        const char* value = std::getenv(variable);
        if (value && *value) candidates.emplace_back(value);
    }
    for (const char* dir : {"/tmp", "/var/tmp", "/usr/tmp"}) candidates.emplace_back(dir);
    std::error_code error;
    std::filesystem::path cwd = std::filesystem::current_path(error);
    candidates.push_back(error ? std::filesystem::path(".") : cwd);
    return candidates;
}

std::filesystem::path default_tempdir(std::span<const std::filesystem::path> candidates) {
    std::string tried;
    for (const std::filesystem::path& candidate : candidates) {
        tried += (tried.empty() ? "" : ", ") + candidate.string();
        try {
            std::filesystem::path dir = absolute_path(candidate);
            create_unique(dir, "", "", probe, probe_tries);
            return dir;
        } catch (const std::system_error&) {
            // Unusable for whatever reason: try the next candidate.
        }
    }
    throw std::system_error(ENOENT, std::generic_category(),
                            "no usable temporary directory found in " + tried);
}

}  // namespace detail

std::filesystem::path gettempdir() {
    Override& current = override_dir();
    std::lock_guard lock(current.mutex);
    if (!current.dir) current.dir = detail::default_tempdir(detail::candidate_tempdir_list());
    return *current.dir;
}

std::optional<std::filesystem::path> tempdir() {
    Override& current = override_dir();
    std::lock_guard lock(current.mutex);
    return current.dir;
}

void set_tempdir(std::optional<std::filesystem::path> dir) {
    Override& current = override_dir();
    std::lock_guard lock(current.mutex);
    current.dir = std::move(dir);
}

}  // namespace tempfile
