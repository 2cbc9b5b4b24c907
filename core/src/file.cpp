#include "tempfile/file.hpp"

#include "read_all.hpp"
#include "sys.hpp"

namespace tempfile {

std::size_t File::read(std::span<std::byte> buffer) {
    return sys::read(fd_.get(), buffer);
}

std::string File::read(std::size_t size) {
    return detail::read_up_to(size, [this](std::span<std::byte> buffer) { return read(buffer); });
}

std::size_t File::write(std::span<const std::byte> data) {
    sys::write_all(fd_.get(), data);
    return data.size();
}

std::uint64_t File::seek(std::int64_t offset, int whence) {
    return sys::seek(fd_.get(), offset, whence);
}

std::uint64_t File::tell() {
    return seek(0, SEEK_CUR);
}

std::uint64_t File::truncate(std::optional<std::uint64_t> size) {
    std::uint64_t new_size = size ? *size : tell();
    sys::truncate(fd_.get(), new_size);
    return new_size;
}

}  // namespace tempfile
