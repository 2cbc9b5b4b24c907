#include "credentials.hpp"

#include <sys/stat.h>

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

// The text after "Field:" in /proc/PID/status; empty when it cannot be read (the
// process is gone).
std::string status_field(pid_t pid, std::string_view field) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
        if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
            line[field.size()] == ':')
            return line.substr(field.size() + 1);
    }
    return {};
}

std::uint64_t effective_capabilities(pid_t pid) {
    try {
        return std::stoull(status_field(pid, "CapEff"), nullptr, 16);
    } catch (const std::exception&) {
        return 0;
    }
}

}  // namespace

bool has_capability(pid_t pid, uid_t uid, int capability) {
    // A caller the daemon cannot see (another pid namespace) proves nothing.
    if (pid <= 0) return false;
    if ((effective_capabilities(pid) >> capability & 1) == 0) return false;
    // The process behind that pid now must be the requester (not one that reused its id):
    // its file-system uid, the fourth of "Uid:", is the one FUSE gave.
    std::istringstream ids(status_field(pid, "Uid"));
    uid_t real, effective, saved, fs = static_cast<uid_t>(-1);
    if (!(ids >> real >> effective >> saved >> fs) || fs != uid) return false;
    return same_user_namespace(pid);
}

bool in_group(const Requester& requester, gid_t gid) {
    if (requester.gid == gid) return true;
    if (requester.pid <= 0) return false;
    std::istringstream groups(status_field(requester.pid, "Groups"));
    for (gid_t group; groups >> group;)
        if (group == gid) return true;
    return false;
}

}  // namespace spoolfs
