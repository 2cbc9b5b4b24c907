#include "preflight.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "tempfile/fd.hpp"

namespace spoolfs {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view field) {
    std::string out;
    for (std::size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && field.size() - i >= 4) {
            out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                     (field[i + 3] - '0'));
            i += 3;
        } else {
            out += field[i];
        }
    }
    return out;
}

bool fuse_conf_allows_other() {
    std::ifstream conf("/etc/fuse.conf");
    for (std::string line; std::getline(conf, line);) {
        std::istringstream words(line.substr(0, line.find('#')));
        std::string word;
        if (words >> word && word == "user_allow_other") return true;
    }
    return false;
}

}  // namespace

bool fusermount_found() {
    if (::access("/usr/bin/fusermount3", X_OK) == 0) return true;
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        if (!dir.empty() && ::access((dir + "/fusermount3").c_str(), X_OK) == 0) return true;
    }
    return false;
}

std::optional<std::string> mounted_type(const std::string& path) {
    std::ifstream mountinfo("/proc/self/mountinfo");
    std::optional<std::string> found;
    // id parent major:minor root mountpoint options [optional...] - fstype source super
    for (std::string line; std::getline(mountinfo, line);) {
        std::istringstream fields(line);
        std::string id, parent, device, root, mountpoint;
        if (!(fields >> id >> parent >> device >> root >> mountpoint)) continue;
        if (unescape(mountpoint) != path) continue;
        std::string word;
        while (fields >> word && word != "-") {
        }
        std::string fstype;
        if (fields >> fstype) found = fstype;  // later lines are mounted on top
    }
    return found;
}

std::optional<std::string> preflight(const Options& options) {
    const std::string mountpoint = options.mountpoint.string();
    if (mounted_type(mountpoint) == "fuse.spoolfs")
        return mountpoint + ": already a spoolfs mount (unmount it first: fusermount3 -u " +
               mountpoint + ")";

    tempfile::FileDescriptor device(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
    if (!device) {
        const int err = errno;
        std::string why = "/dev/fuse: " + std::string(std::strerror(err));
        if (err == ENOENT) return why + " (load the fuse module: modprobe fuse)";
        if (err == EACCES && ::geteuid() != 0)
            return why + " (a plain user needs it mode 0666, as Debian's udev rules make it)";
        return why;
    }

    if (::geteuid() == 0) return std::nullopt;  // root mounts without fusermount3
    if (!fusermount_found())
        return "fusermount3 not found: a plain user mounts through it (Debian package fuse3)";
    if (!::getpwuid(::getuid()))
        return "uid " + std::to_string(::getuid()) +
               " has no entry in the user database: fusermount3 mounts only for known users";
    if (options.allow_other && !fuse_conf_allows_other())
        return "allow_other: only root may use it unless /etc/fuse.conf has the line "
               "user_allow_other";
    return std::nullopt;
}

}  // namespace spoolfs
