// Where temporary things go by default: Python's gettempdir(), gettempprefix() and the
// module-level `tempfile.tempdir`.
//
// gettempdir() tries, in order, $TMPDIR, $TEMP, $TMP, /tmp, /var/tmp, /usr/tmp and the
// current directory, and picks the first where a probe file can really be created,
// written and removed. The answer is stored as the override, so the probing happens once:
// set_tempdir(std::nullopt) forgets it and the next gettempdir() probes again. An
// override set with set_tempdir() wins and is returned as is, unprobed. All functions are
// thread-safe; probing holds a lock, so concurrent first callers probe once.
//
// Errors: std::system_error(ENOENT) when no candidate is usable.
//
// # Security
// The directory is only where names are made; every creation in it is exclusive (see
// names.hpp). A world-writable directory such as /tmp should have its sticky bit set, so
// others cannot remove or replace your files.
//
// # Resource leaking
// The probe file has a random name and is removed at once; if the process is killed in
// between, one empty file of 4 bytes ("blat") named by eight random characters remains.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

namespace tempfile {

// The default prefix of temporary names: "tmp".
constexpr std::string_view gettempprefix() noexcept {
    return "tmp";
}

// The default directory for temporary files and directories (see above).
std::filesystem::path gettempdir();

// Python's `tempfile.tempdir`: the override, or the cached answer of gettempdir(), or
// std::nullopt if neither is set yet.
std::optional<std::filesystem::path> tempdir();

// Python's `tempfile.tempdir = dir`: std::nullopt makes gettempdir() probe again.
void set_tempdir(std::optional<std::filesystem::path> dir);

}  // namespace tempfile
