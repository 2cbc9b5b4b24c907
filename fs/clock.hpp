// The wall clock as file timestamps want it: nanoseconds, CLOCK_REALTIME.
#pragma once

#include <ctime>

namespace spoolfs {

inline timespec now() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts;
}

}  // namespace spoolfs
