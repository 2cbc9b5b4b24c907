#include "tempfile/mkstemp.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <system_error>

#include "create_unique.hpp"
#include "default_tempdir.hpp"
#include "open_flags.hpp"
#include "sys.hpp"

namespace tempfile {
namespace {

// mktemp's stand-in for creating: only looks (lstat, as Python's _exists does).
void throw_if_taken(const std::filesystem::path& candidate) {
    struct stat st {};
    if (::lstat(candidate.c_str(), &st) == 0)
        throw std::system_error(EEXIST, std::generic_category(), candidate.string());
}

}  // namespace

MkstempResult mkstemp(const NameOptions& options) {
    FileDescriptor fd;
    std::filesystem::path path =
        detail::create_unique(detail::directory_for(options.dir), options.prefix, options.suffix,
                              [&fd](const std::filesystem::path& candidate) {
                                  fd = sys::open(candidate, detail::create_flags, 0600);
                              });
    return {std::move(fd), std::move(path)};
}

std::filesystem::path mkdtemp(const NameOptions& options) {
    return detail::create_unique(
        detail::directory_for(options.dir), options.prefix, options.suffix,
        [](const std::filesystem::path& candidate) { sys::make_directory(candidate, 0700); });
}

std::filesystem::path mktemp(const NameOptions& options) {
    return detail::create_unique(detail::directory_for(options.dir), options.prefix, options.suffix,
                                 throw_if_taken);
}

}  // namespace tempfile
