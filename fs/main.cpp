// spoolfs: a FUSE filesystem with Python's tempfile semantics. See docs/spoolfs.8.
#include <cstdio>
#include <variant>

#include "options.hpp"
#include "preflight.hpp"
#include "quota_report.hpp"
#include "session.hpp"
#include "stats.hpp"

int main(int argc, char** argv) {
    if (spoolfs::is_set_limit_command(argc, argv)) return spoolfs::set_limit_command(argc, argv);
    auto parsed = spoolfs::parse_options(argc, argv);
    if (auto* status = std::get_if<int>(&parsed)) return *status;
    auto& options = std::get<spoolfs::Options>(parsed);
    if (options.show_stats && options.by_user)
        return spoolfs::print_usage_by_user(options.mountpoint, options.stats_format);
    if (options.show_stats) return spoolfs::print_stats(options.mountpoint, options.stats_format);
    if (auto why = spoolfs::preflight(options)) {
        std::fprintf(stderr, "spoolfs: %s\n", why->c_str());
        return 1;
    }
    return spoolfs::serve(options);
}
