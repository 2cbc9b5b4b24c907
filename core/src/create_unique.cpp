#include "create_unique.hpp"

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

namespace tempfile::detail {
namespace {

// The kernel ends a path at its first NUL: "a\0b" would silently create "a", without the
// random part that makes the name safe. Python raises ValueError.
void reject_nul(std::string_view value, const char* argument) {
    if (value.find('\0') != std::string_view::npos)
        throw std::invalid_argument(std::string(argument) + ": embedded null byte");
}

}  // namespace

std::filesystem::path create_unique(const std::filesystem::path& dir, std::string_view prefix,
                                    std::string_view suffix,
                                    const std::function<void(const std::filesystem::path&)>& create,
                                    int tries) {
    reject_nul(prefix, "prefix");
    reject_nul(suffix, "suffix");
    reject_nul(dir.native(), "dir");
    for (int attempt = 0; attempt < tries; ++attempt) {
        std::string name(prefix);
        name += random_name();
        name += suffix;
        std::filesystem::path candidate = dir / name;
        try {
            create(candidate);
            return candidate;
        } catch (const std::system_error& error) {
            if (error.code() != std::errc::file_exists) throw;
        }
    }
    throw std::system_error(EEXIST, std::generic_category(),
                            "no usable temporary name found in " + dir.string());
}

}  // namespace tempfile::detail
