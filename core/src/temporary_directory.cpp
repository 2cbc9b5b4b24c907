#include "tempfile/temporary_directory.hpp"

#include <sys/stat.h>

#include <utility>

#include "remove_tree.hpp"
#include "tempfile/mkstemp.hpp"

namespace tempfile {
namespace {

bool exists_without_following(const std::filesystem::path& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

TemporaryDirectory::TemporaryDirectory() : TemporaryDirectory(Options{}) {}

TemporaryDirectory::TemporaryDirectory(const Options& options)
    : name_(mkdtemp({options.suffix, options.prefix, options.dir})),
      ignore_cleanup_errors_(options.ignore_cleanup_errors),
      delete_(options.delete_) {}

TemporaryDirectory::TemporaryDirectory(TemporaryDirectory&& other) noexcept
    : name_(std::move(other.name_)),
      ignore_cleanup_errors_(other.ignore_cleanup_errors_),
      delete_(other.delete_),
      cleaned_(std::exchange(other.cleaned_, true)) {
    other.name_.clear();
}

TemporaryDirectory& TemporaryDirectory::operator=(TemporaryDirectory&& other) noexcept {
    if (this != &other) {
        remove_if_owned();
        name_ = std::move(other.name_);
        other.name_.clear();
        ignore_cleanup_errors_ = other.ignore_cleanup_errors_;
        delete_ = other.delete_;
        cleaned_ = std::exchange(other.cleaned_, true);
    }
    return *this;
}

TemporaryDirectory::~TemporaryDirectory() {
    remove_if_owned();
}

void TemporaryDirectory::remove_if_owned() noexcept {
    if (!delete_ || cleaned_ || name_.empty()) return;
    cleaned_ = true;
    try {
        detail::remove_tree(name_, /*ignore_errors=*/true);
    } catch (...) {
        // Only allocation can fail here; a destructor cannot report it.
    }
}

void TemporaryDirectory::cleanup() {
    if (name_.empty() || (cleaned_ && !exists_without_following(name_))) return;
    cleaned_ = true;
    detail::remove_tree(name_, ignore_cleanup_errors_);
}

}  // namespace tempfile
