// Python's read(size) on top of a read(span) that may return short: loops until `size`
// bytes or end of file. Shared by File and SpooledTemporaryFile. Internal.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>

namespace tempfile::detail {

template <typename ReadSome>
std::string read_up_to(std::size_t size, ReadSome read_some) {
    constexpr std::size_t block = 64 * 1024;
    std::string result;
    while (result.size() < size) {
        std::size_t want = std::min(block, size - result.size());
        std::size_t old_size = result.size();
        result.resize(old_size + want);
        std::size_t got = read_some(std::as_writable_bytes(std::span(result)).subspan(old_size));
        result.resize(old_size + got);
        if (got == 0) break;
    }
    return result;
}

}  // namespace tempfile::detail
