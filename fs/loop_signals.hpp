// The signals that end the session loop (libfuse's handlers for SIGTERM, SIGINT, SIGHUP,
// SIGQUIT) belong to the main thread. A thread started while a LoopSignalsBlocked lives
// inherits them blocked, so they never land on it.
#pragma once

#include <signal.h>

namespace spoolfs {

class LoopSignalsBlocked {
  public:
    LoopSignalsBlocked() {
        sigset_t blocked;
        sigemptyset(&blocked);
        for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&blocked, sig);
        pthread_sigmask(SIG_BLOCK, &blocked, &old_);
    }
    ~LoopSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
    LoopSignalsBlocked(const LoopSignalsBlocked&) = delete;
    LoopSignalsBlocked& operator=(const LoopSignalsBlocked&) = delete;

  private:
    sigset_t old_;
};

}  // namespace spoolfs
