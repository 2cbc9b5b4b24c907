#include "tempfile/temporary_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>

#include "anonymous_file.hpp"
#include "create_unique.hpp"
#include "default_tempdir.hpp"
#include "open_flags.hpp"
#include "sys.hpp"

namespace tempfile {
namespace detail {
namespace {

// A kernel older than 3.11 reads O_TMPFILE as O_DIRECTORY and answers EISDIR; it will
// answer so every time.
std::atomic<bool> o_tmpfile_works{true};

}  // namespace

std::optional<FileDescriptor> open_tmpfile(const std::filesystem::path& dir) {
    if (!o_tmpfile_works.load(std::memory_order_relaxed)) return std::nullopt;
    try {
        return sys::open(dir, (create_flags | O_TMPFILE) & ~O_CREAT, 0600);
    } catch (const std::system_error& error) {
        if (error.code() == std::errc::is_a_directory)
            o_tmpfile_works.store(false, std::memory_order_relaxed);
        return std::nullopt;
    }
}

FileDescriptor create_then_unlink(const std::filesystem::path& dir, const NameOptions& options) {
    FileDescriptor fd;
    std::filesystem::path path = create_unique(dir, options.prefix, options.suffix,
                                               [&fd](const std::filesystem::path& candidate) {
                                                   fd = sys::open(candidate, create_flags, 0600);
                                               });
    sys::unlink(path);
    return fd;
}

}  // namespace detail

File TemporaryFile(const NameOptions& options) {
    std::filesystem::path dir = detail::directory_for(options.dir);
    if (std::optional<FileDescriptor> fd = detail::open_tmpfile(dir)) return File(std::move(*fd));
    return File(detail::create_then_unlink(dir, options));
}

}  // namespace tempfile
