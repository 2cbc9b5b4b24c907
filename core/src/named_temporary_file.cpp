#include "tempfile/named_temporary_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <utility>

#include "sys.hpp"
#include "tempfile/mkstemp.hpp"

namespace tempfile {

NamedTemporaryFile::NamedTemporaryFile() : NamedTemporaryFile(Options{}) {}

NamedTemporaryFile::NamedTemporaryFile(const Options& options)
    : delete_(options.delete_), delete_on_close_(options.delete_on_close) {
    MkstempResult created = mkstemp({options.suffix, options.prefix, options.dir});
    file_ = File(std::move(created.fd));
    name_ = std::move(created.path);
}

NamedTemporaryFile::NamedTemporaryFile(NamedTemporaryFile&& other) noexcept
    : file_(std::move(other.file_)),
      name_(std::move(other.name_)),
      delete_(other.delete_),
      delete_on_close_(other.delete_on_close_),
      removed_(std::exchange(other.removed_, true)) {}

NamedTemporaryFile& NamedTemporaryFile::operator=(NamedTemporaryFile&& other) noexcept {
    if (this != &other) {
        cleanup();
        file_ = std::move(other.file_);
        name_ = std::move(other.name_);
        delete_ = other.delete_;
        delete_on_close_ = other.delete_on_close_;
        removed_ = std::exchange(other.removed_, true);
    }
    return *this;
}

NamedTemporaryFile::~NamedTemporaryFile() {
    cleanup();
}

void NamedTemporaryFile::close() {
    if (file_.closed()) return;
    file_.close();
    if (delete_ && delete_on_close_) remove_name();
}

void NamedTemporaryFile::cleanup() noexcept {
    file_.close();
    if (!delete_) return;
    try {
        remove_name();
    } catch (const std::system_error&) {
        // A destructor cannot report it; close() does.
    }
}

void NamedTemporaryFile::remove_name() {
    if (removed_) return;
    removed_ = true;
    if (::unlink(name_.c_str()) != 0 && errno != ENOENT)
        sys::throw_errno("unlink " + name_.string());
}

}  // namespace tempfile
