// Removes a directory tree the way TemporaryDirectory needs (Python's
// TemporaryDirectory._rmtree on top of shutil.rmtree's descriptor-based walk). Internal.
#pragma once

#include <filesystem>

namespace tempfile::detail {

// Removes `root` and everything below it without following symlinks, fixing
// permissions that block removal (chmod 0700, retry). Already-missing entries are no
// error. Removes all it can; then, unless ignore_errors, throws std::system_error for the
// first failure.
void remove_tree(const std::filesystem::path& root, bool ignore_errors);

}  // namespace tempfile::detail
