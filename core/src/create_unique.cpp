#include "create_unique.hpp"

#include <cerrno>
#include <string>
#include <system_error>

namespace tempfile::detail {

std::filesystem::path create_unique(const std::filesystem::path& dir, std::string_view prefix,
                                    std::string_view suffix,
                                    const std::function<void(const std::filesystem::path&)>& create,
                                    int tries) {
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
