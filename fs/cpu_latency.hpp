// CpuLatencyRequest: keeps this machine's idle CPUs polling instead of halting, while held.
//
// A client waiting for a reply sleeps, and its CPU goes idle. If the idle CPU halts (on a
// VM: exits to the host), the reply's wakeup is an IPI that costs 10-30 us, as much as
// the rest of the round trip. If it polls, the wakeup is a flag it sees at once. A PM QoS
// CPU latency request of 0 (/dev/cpu_dma_latency) makes the cpuidle governor pick its
// polling state, where the driver has one (idle_cpus_can_poll(); else nothing is asked).
// The request lives as long as the descriptor: the kernel drops it when it is closed,
// even when the process is killed. Only root may write the device; for anyone else
// nothing is held and nothing else changes.
#pragma once

#include "tempfile/fd.hpp"

namespace spoolfs {

// Whether idle CPUs here have a polling state to go to (cpuidle state 0 is POLL: x86
// drivers such as haltpoll, intel_idle, acpi_idle). Without one the request is of no use.
bool idle_cpus_can_poll();

class CpuLatencyRequest {
  public:
    explicit CpuLatencyRequest(bool enabled) : enabled_(enabled) {}

    // Takes the request unless held, disabled, refused once already, or of no use here.
    void hold() {
        if (!fd_ && enabled_) take();
    }
    void release() { fd_.reset(); }
    bool held() const { return static_cast<bool>(fd_); }

  private:
    void take();

    bool enabled_;          // false after a refusal too
    bool checked_ = false;  // whether idle CPUs can poll here
    tempfile::FileDescriptor fd_;
};

}  // namespace spoolfs
