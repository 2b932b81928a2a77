// The report signal (MEMTRACE_SIGNAL, default SIGUSR2), and who owns it.
//
// The signal is ours only while the program has not claimed it: a plain
// `kill -USR2 PID` then asks the watcher for a report (the handler increments
// a counter in the shared region and wakes the watcher with a futex: both
// async-signal-safe, no descriptor involved). The moment the program claims
// it -- a handler installed through sigaction()/signal(), SIG_IGN or SIG_DFL
// set explicitly, or SIG_IGN inherited across exec -- a plain signal is the
// program's alone, delivered exactly as the program asked (its handler, its
// mask, its SA_* flags, SA_RESETHAND included), and the first time someone
// else sends it we say once on stderr how to ask for a report instead
// (`memtrace dump PID`, which uses the control
// file; or a signal queued with our cookie, which our handler still
// recognises while it sits in front of the program's handler).
//
// The program's sigaction()/signal() calls for the signal are intercepted
// (interpose/signal_hooks.cc): they read and set the program's action, and
// `oact` shows the program what it would have seen without us. Runtimes that
// install a handler for every signal at start-up (Go: through cgo's
// x_cgo_sigaction, or a raw system call) are not claiming it: we stay (or, at
// the next thread's registration, get back) in front and chain every signal
// to theirs.
#pragma once

#include <signal.h>

namespace memtrace::signal_trigger {

// The si_value a queued report request carries (sigqueue(pid, sig, {kCookie})).
inline constexpr int kCookie = 0x6d656d74;  // "memt"

// Takes `signo` for reports unless the program already owns it (a handler or
// SIG_IGN in place, e.g. inherited across exec). `request` is called from the
// handler (async-signal-safe) for each report request. False if not taken.
bool Install(int signo, void (*request)());
// Our signal, or 0.
int Signal();
// From a new thread's registration (any hook's slow path): if a raw system
// call replaced our handler behind our back, put it back in front, chaining.
void RetakeIfReplaced();
// For the sigaction hook: if `signo` is our signal, reads (oact) and sets (act)
// the program's action and returns true. `caller`: the hook's return address
// (the Go runtime's blanket installation is recognised by it).
bool Intercept(int signo, const struct sigaction* act, struct sigaction* oact, const void* caller);
// The real sigaction (the next one after ours).
int RealSigaction(int signo, const struct sigaction* act, struct sigaction* oact);

}  // namespace memtrace::signal_trigger
