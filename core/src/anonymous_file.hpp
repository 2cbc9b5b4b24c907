// TemporaryFile()'s two ways to an unnamed file, each callable alone so tests can check
// the fallback on a filesystem that has O_TMPFILE. Internal.
#pragma once

#include <filesystem>
#include <optional>

#include "tempfile/fd.hpp"
#include "tempfile/mkstemp.hpp"

namespace tempfile::detail {

// open(dir, O_TMPFILE); std::nullopt where that fails (the caller falls back).
std::optional<FileDescriptor> open_tmpfile(const std::filesystem::path& dir);

// Creates a file as mkstemp does and unlinks it before returning.
FileDescriptor create_then_unlink(const std::filesystem::path& dir, const NameOptions& options);

}  // namespace tempfile::detail
