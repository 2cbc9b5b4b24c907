#include "cpu_latency.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <string>

namespace spoolfs {

bool idle_cpus_can_poll() {
    std::ifstream state("/sys/devices/system/cpu/cpu0/cpuidle/state0/name");
    std::string name;
    return std::getline(state, name) && name == "POLL";
}

void CpuLatencyRequest::take() {
    if (!checked_) {
        checked_ = true;
        if (!idle_cpus_can_poll()) {
            enabled_ = false;
            return;
        }
    }
    tempfile::FileDescriptor fd(::open("/dev/cpu_dma_latency", O_WRONLY | O_CLOEXEC));
    const std::int32_t no_latency = 0;
    if (fd && ::write(fd.get(), &no_latency, sizeof no_latency) == sizeof no_latency) {
        fd_ = std::move(fd);
        return;
    }
    // Not root, or no PM QoS here: asking again would only cost a system call each time.
    // Out of descriptors is for now only.
    if (errno != EMFILE && errno != ENFILE && errno != EINTR) enabled_ = false;
}

}  // namespace spoolfs
