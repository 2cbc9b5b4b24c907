// spoolfs: a FUSE filesystem with Python's tempfile semantics. See docs/spoolfs.8.
#include <variant>

#include "options.hpp"
#include "session.hpp"
#include "stats.hpp"

int main(int argc, char** argv) {
    auto parsed = spoolfs::parse_options(argc, argv);
    if (auto* status = std::get_if<int>(&parsed)) return *status;
    auto& options = std::get<spoolfs::Options>(parsed);
    if (options.show_stats) return spoolfs::print_stats(options.mountpoint);
    return spoolfs::serve(options);
}
