// Statistics of a mount: RAM in use, bytes spilled, files in RAM and spilled, files per
// lifetime, whether the kernel serves files directly (passthrough.hpp) and how many now. Served as
// the xattrs user.spoolfs.stats.<name> of the mount root, and printed as a table by `spoolfs
// --stats MOUNTPOINT`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spoolfs {

class Filesystem;

inline constexpr std::string_view stats_xattr_prefix = "user.spoolfs.stats.";

// The statistic names, in the order the table shows them.
const std::vector<std::string_view>& stat_names();

// One statistic of a mount; nullopt for an unknown name.
std::optional<std::uint64_t> stat_value(Filesystem& fs, std::string_view name);

// Reads the xattrs of a mounted spoolfs and prints them; returns the exit status.
int print_stats(const std::filesystem::path& mountpoint);

}  // namespace spoolfs
