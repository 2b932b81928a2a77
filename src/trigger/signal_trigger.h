// The report signal (MEMTRACE_SIGNAL, default SIGUSR2). Our handler only asks
// the flusher for a report (an atomic store and an eventfd write, both
// async-signal-safe) and then calls the handler the program installed, before
// or after us:
//  - the program's sigaction()/signal() calls for our signal are intercepted
//    (interpose/signal_hooks.cc): they set and read the *chained* handler, and
//    ours stays installed;
//  - runtimes that install handlers with raw system calls (Go) replace ours
//    unseen: the flusher checks every 100 ms, takes their handler as the chained
//    one and re-installs ours with their flags (SA_ONSTACK, ...), so the
//    runtime keeps receiving the signal exactly as before.
// A program with no handler (SIG_DFL, which would terminate) just gets the
// report. Bursts of signals coalesce into one report.
#pragma once

#include <signal.h>

namespace memtrace {

class Flusher;

namespace signal_trigger {

// Installs our handler for `signo`; the previous action becomes the chained one.
bool Install(int signo, Flusher* flusher);
// Our signal, or 0.
int Signal();
// For the sigaction hook: if `signo` is our signal, reads (oact) and sets (act)
// the chained action instead of the real one and returns true.
bool Intercept(int signo, const struct sigaction* act, struct sigaction* oact);
// From the flusher: re-installs our handler if something replaced it.
void CheckInstalled();
// The real sigaction (the next one after ours).
int RealSigaction(int signo, const struct sigaction* act, struct sigaction* oact);

}  // namespace signal_trigger
}  // namespace memtrace
