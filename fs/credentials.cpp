#include "credentials.hpp"

#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace spoolfs {
namespace {

bool same_user_namespace(pid_t pid) {
    struct stat ours {}, theirs {};
    const std::string path = "/proc/" + std::to_string(pid) + "/ns/user";
    if (::stat("/proc/self/ns/user", &ours) != 0 || ::stat(path.c_str(), &theirs) != 0)
        return false;
    return ours.st_ino == theirs.st_ino && ours.st_dev == theirs.st_dev;
}

// The texts after "Field:" of /proc/PID/status for each of `fields`, in one read; empty
// where it cannot be read (the process is gone).
template <std::size_t N>
std::array<std::string, N> status_fields(pid_t pid, const std::array<std::string_view, N>& fields) {
    std::array<std::string, N> values;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
        for (std::size_t i = 0; i < N; ++i) {
            const std::string_view field = fields[i];
            if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
                line[field.size()] == ':')
                values[i] = line.substr(field.size() + 1);
        }
    }
    return values;
}

std::uint64_t hex_or_zero(const std::string& text) {
    try {
        return std::stoull(text, nullptr, 16);
    } catch (const std::exception&) {
        return 0;
    }
}

}  // namespace

bool has_capability(pid_t pid, uid_t uid, int capability) {
    // A caller the daemon cannot see (another pid namespace) proves nothing.
    if (pid <= 0) return false;
    const auto [capabilities, uids] =
        status_fields<2>(pid, {std::string_view("CapEff"), std::string_view("Uid")});
    if ((hex_or_zero(capabilities) >> capability & 1) == 0) return false;
    // The process behind that pid now must be the requester (not one that reused its id):
    // its file-system uid, the fourth of "Uid:", is the one FUSE gave.
    std::istringstream ids(uids);
    uid_t real, effective, saved, fs = static_cast<uid_t>(-1);
    if (!(ids >> real >> effective >> saved >> fs) || fs != uid) return false;
    return same_user_namespace(pid);
}

bool in_group(const Requester& requester, gid_t gid) {
    if (requester.gid == gid) return true;
    if (requester.pid <= 0) return false;
    std::istringstream groups(status_fields<1>(requester.pid, {std::string_view("Groups")})[0]);
    for (gid_t group; groups >> group;)
        if (group == gid) return true;
    return false;
}

}  // namespace spoolfs
