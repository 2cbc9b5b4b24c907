#include "session.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "device_io.hpp"
#include "filesystem.hpp"
#include "loop_signals.hpp"
#include "ops.hpp"

namespace spoolfs {
namespace {

const char* lifetime_in_words(Lifetime lifetime) {
    return lifetime == Lifetime::close
               ? "lifetime=close: files vanish when their last handle closes"
               : "lifetime=mount: files live until unlinked or unmounted";
}

struct SessionDeleter {
    void operator()(fuse_session* se) const { fuse_session_destroy(se); }
};
struct LoopConfigDeleter {
    void operator()(fuse_loop_config* config) const { fuse_loop_cfg_destroy(config); }
};

// The notifier, expiry and pressure threads must not take the signals meant for the main thread's
// loop. The expiry thread pushes to the notifier, so it starts after it.
void start_threads(Filesystem& fs, fuse_session* se) {
    const LoopSignalsBlocked blocked;
    fs.notifier.start(se);
    fs.expiry.start();
    fs.pressure.start();
}

// Each spilled file holds a descriptor: take all the kernel allows (Debian's soft limit
// is 1024, the hard one much more).
void raise_descriptor_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

// The kernel grows a descriptor table by doubling it, and once threads share the table
// each growth waits for an RCU grace period: 9-30 ms here at descriptors 256, 512, ...
// 8192, each stalling the request that opened one (a new file's backing file) and the
// callers queued behind it. Grown now, while this is the only thread, it needs none of
// that later. Up to 65,536 descriptors (512 KiB of table); past that it grows as needed.
void grow_descriptor_table() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur < 2) return;
    constexpr rlim_t most = 65536;
    const int highest = static_cast<int>(std::min(limit.rlim_cur, most) - 1);
    const tempfile::FileDescriptor any(::open("/", O_PATH | O_CLOEXEC));
    if (!any) return;
    // The lowest free descriptor from `highest` on: one inherited there is left alone.
    const tempfile::FileDescriptor high(::fcntl(any.get(), F_DUPFD_CLOEXEC, highest));
}

}  // namespace

int serve(Options& options) {
    raise_descriptor_limit();
    tempfile::FileDescriptor spill_dir(
        ::open(options.spill_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!spill_dir) {
        std::fprintf(stderr, "spoolfs: spill_dir=%s: %s\n", options.spill_dir.c_str(),
                     std::strerror(errno));
        return 1;
    }
    Filesystem fs(options, std::move(spill_dir));
    if (std::string why_not = fs.ring.check(); !why_not.empty()) {
        std::fprintf(stderr, "spoolfs: uring=on: %s\n", why_not.c_str());
        return 1;
    }

    fuse_opt_add_arg(&options.fuse.args, "-odefault_permissions");
    std::unique_ptr<fuse_session, SessionDeleter> se(
        fuse_session_new(&options.fuse.args, &operations(), sizeof(fuse_lowlevel_ops), &fs));
    if (!se) return 1;
    if (fuse_set_signal_handlers(se.get()) != 0) return 1;
    const std::vector<int> sockets_before = open_sockets();
    if (fuse_session_mount(se.get(), options.mountpoint.c_str()) != 0) {
        fuse_remove_signal_handlers(se.get());
        return 1;
    }
    fuse_session_custom_io(se.get(), &device_io(), fuse_session_fd(se.get()));
    fs.passthrough.set_device(fuse_session_fd(se.get()));
    fs.read_turn.watch(se.get());
    fs.ring.watch(fs, se.get(), fuse_session_fd(se.get()));
    std::vector<int> auto_unmount_sockets;
    for (int fd : open_sockets())
        if (std::find(sockets_before.begin(), sockets_before.end(), fd) == sockets_before.end())
            auto_unmount_sockets.push_back(fd);
    fs.ring.hold_until_freed(std::move(auto_unmount_sockets));
    std::fprintf(stderr, "spoolfs: mounted on %s (%s)\n", options.mountpoint.c_str(),
                 lifetime_in_words(options.lifetime));
    std::fflush(stderr);

    fuse_daemonize(options.foreground ? 1 : 0);  // forks: a child gets a table of its own
    grow_descriptor_table();
    start_threads(fs, se.get());

    int status;
    if (options.single_thread) {
        status = fuse_session_loop(se.get());  // ~ReadTurn gives up this thread's turn
    } else {
        std::unique_ptr<fuse_loop_config, LoopConfigDeleter> config(fuse_loop_cfg_create());
        if (options.max_threads) fuse_loop_cfg_set_max_threads(config.get(), *options.max_threads);
        if (options.max_idle_threads)
            fuse_loop_cfg_set_idle_threads(config.get(), *options.max_idle_threads);
        fuse_loop_cfg_set_clone_fd(config.get(), options.clone_fd ? 1 : 0);
        status = fuse_session_loop_mt(se.get(), config.get());
    }
    fs.pressure.stop();
    fs.expiry.stop();
    fs.notifier.stop();
    fuse_session_unmount(se.get());
    fs.ring.stop();  // the unmount ended its requests
    fuse_remove_signal_handlers(se.get());
    return status < 0 ? 1 : 0;
}

}  // namespace spoolfs
