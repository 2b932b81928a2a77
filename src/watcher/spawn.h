// Starting the watcher (the program's side; watcher.h says what it does).
//
// The watcher is a fork of the program, made with a raw clone and no exit
// signal (the program's wait(), waitpid(-1) and SIGCHLD never see it), at
// the first safe point of tracing's start (src/startup.cc; in a fork child,
// of the child's).
// In the child, before anything else, it stops being traced, blocks every
// signal, leaves the program's process group and drops every descriptor but
// stderr; then it loads libmemtrace_watcher.so -- libdw, abseil and the
// report code, which the program itself never maps -- and runs it on the
// state the program hands over (src/capture/handoff.h).
#pragma once

#include <string>

#include "src/capture/handoff.h"

namespace memtrace::watcher {

// Where the watcher object is: next to libmemtrace.so (as built and as
// installed), as an absolute path. Empty (with one line on stderr) if
// it is not there: tracing cannot start.
std::string FindWatcherObject();

// Forks the watcher for the current region with `handoff` (the fields the
// program fills once; this adds the per-spawn ones). Returns its pid, or -1
// (tracing must then stop: no one would drain the rings).
int Spawn(const WatcherHandoff& handoff, const std::string& object) noexcept;

// True if watcher `pid`, still starting (loading its object, running the
// constructors of it and its libraries), sleeps on a private futex with no
// timeout: it can never wake. It is one thread, and a private futex is woken
// only by a thread of its own process: it waits for a lock that another
// thread of the program held when the program forked, which the copy
// inherited held. glibc resets its malloc, stdio and loader locks in a fork
// child, not all: the atexit list's lock (taken by __cxa_atexit in every
// C++ library's constructors, and held by __cxa_finalize during a dlclose)
// stays held in a child forked while another thread was inside dlclose.
// Raw system calls only: asked from hooks.
bool StuckStarting(int pid) noexcept;

// True in a watcher process (from its first instruction as one). Read by the
// __cxa_atexit hook (interpose/exit_hooks.cc): the constructors of the
// libraries the watcher loads register exit handlers it will never run (it
// leaves with _exit), so it skips glibc's list -- and its lock, which a fork
// child's watcher may have inherited held (see StuckStarting).
bool InWatcherProcess() noexcept;

}  // namespace memtrace::watcher
