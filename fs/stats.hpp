// Statistics of a mount: RAM in use, bytes spilled, files in RAM and spilled, files per
// lifetime, whether the kernel serves files directly (passthrough.hpp) and how many now,
// how many inodes expired (expiry.hpp), the RAM budget in force under memory pressure
// (pressure.hpp), and whether FUSE over io_uring serves the mount (ring_io.hpp: its
// queues and the requests they served).
// Served as the xattrs user.spoolfs.stats.<name> of the mount root (computed, never
// stored), and printed by `spoolfs --stats MOUNTPOINT` as a table, as JSON (--json) or in
// Prometheus's text exposition format (--prometheus, for node_exporter's textfile
// collector).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "options.hpp"

namespace spoolfs {

class Filesystem;

inline constexpr std::string_view stats_xattr_prefix = "user.spoolfs.stats.";

// One statistic: its name and what it counts, in the order the outputs show them.
struct StatInfo {
    std::string_view name;
    std::string_view help;  // one line, for Prometheus's HELP
};
const std::vector<StatInfo>& stat_infos();

// One statistic of a mount; nullopt for an unknown name.
std::optional<std::uint64_t> stat_value(Filesystem& fs, std::string_view name);

// `text` as a JSON string or a Prometheus label value, quotes included.
std::string escaped_literal(std::string_view text);

// Reads the xattrs of a mounted spoolfs and prints them in `format`; returns the exit
// status (1, with a message on stderr, when MOUNTPOINT is no spoolfs mount).
int print_stats(const std::filesystem::path& mountpoint, Options::StatsFormat format);

}  // namespace spoolfs
