// Credentials: what the daemon may know of the process behind a request beyond its uid
// and gid, namely whether it holds a capability (CAP_FOWNER, CAP_SYS_ADMIN) over this
// mount's files.
//
// FUSE tells the daemon a request's uid, gid and pid only. The capability is read from
// /proc/PID/status (CapEff) and counts only for a process in the daemon's own user
// namespace: a container's root holds its capabilities over its own namespace, not over
// ours. A request whose pid the daemon cannot see (another pid namespace: pid 0) has no
// capability, and the process found behind a pid must have the request's uid. Thread-safe; reads /proc, so callers ask only where
// the answer matters (a non-owner's change, a privileged listing).
#pragma once

#include <sys/types.h>

namespace spoolfs {

// Who asks: the ids and the pid FUSE gives with a request.
struct Requester {
    uid_t uid = 0;
    gid_t gid = 0;
    pid_t pid = 0;
};

// Whether the process `pid` (a thread id, as FUSE gives it) with user id `uid` has the
// effective capability `capability` (CAP_* from <linux/capability.h>) in our namespace.
bool has_capability(pid_t pid, uid_t uid, int capability);

// Whether `requester` is in group `gid`: its own gid, or one of the supplementary groups
// of /proc/PID/status.
bool in_group(const Requester& requester, gid_t gid);

}  // namespace spoolfs
