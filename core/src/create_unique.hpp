// The one retry loop behind every named creation (Python's _mkstemp_inner loop):
// mkstemp, mkdtemp, mktemp, NamedTemporaryFile, TemporaryFile's create-then-unlink
// fallback and gettempdir's probe all call create_unique. Internal to libtempfile.
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

#include "tempfile/names.hpp"

namespace tempfile::detail {

// Calls create(dir / (prefix + random_name() + suffix)) until it returns without throwing
// and returns that path. A std::system_error with EEXIST means "name taken": the next
// name is tried. Any other exception propagates at once. After `tries` names were taken,
// throws std::system_error(EEXIST). A NUL byte in dir, prefix or suffix throws
// std::invalid_argument naming it, before anything is created.
std::filesystem::path create_unique(const std::filesystem::path& dir, std::string_view prefix,
                                    std::string_view suffix,
                                    const std::function<void(const std::filesystem::path&)>& create,
                                    int tries = max_tries);

}  // namespace tempfile::detail
