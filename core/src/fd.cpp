#include "tempfile/fd.hpp"

#include <unistd.h>

namespace tempfile {

void FileDescriptor::reset(int fd) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

}  // namespace tempfile
