// gettempdir()'s search, split out so tests can give it their own candidates
// (Python's tests swap _candidate_tempdir_list). Internal to libtempfile.
#pragma once

#include <filesystem>
#include <span>
#include <vector>

namespace tempfile::detail {

// $TMPDIR, $TEMP, $TMP (those set and non-empty), /tmp, /var/tmp, /usr/tmp, the current
// directory: Python's _candidate_tempdir_list().
std::vector<std::filesystem::path> candidate_tempdir_list();

// The first candidate, made absolute, where a probe file can be created, written and
// removed; std::system_error(ENOENT) if none. Leaves nothing behind.
std::filesystem::path default_tempdir(std::span<const std::filesystem::path> candidates);

// Where a creation with option `dir` happens: gettempdir() if `dir` is empty, then made
// absolute (Python's _sanitize_params + abspath).
std::filesystem::path directory_for(const std::filesystem::path& dir);

// Python's os.path.abspath: absolute, lexically normal, no trailing separator.
std::filesystem::path absolute_path(const std::filesystem::path& path);

}  // namespace tempfile::detail
