// The watcher: the process that drains a traced program's rings and writes
// its reports, including the last one after the program died.
//
// It is a child of the traced process, forked from it (see Spawn) as tracing
// starts (src/startup.cc), sharing only the region (src/capture/region.h). The
// program keeps nothing of the tracer but its hooks, rings and stack depot: no
// thread, no lock a hook could wait on, no descriptor. The watcher
//  - drains the rings in timestamp order into the tables (src/flush/),
//  - answers the program's requests (memtrace_dump, memtrace_mark, the final
//    report at exit or _exit, with the gate's verdict), the report signal,
//    `memtrace dump` (control file), interval reports and timeline samples,
//  - notices the program's death (a pidfd: SIGKILL, the OOM killer, a fatal
//    signal, Go's exit_group) and writes the final report from what reached
//    the rings, saying how the process ended,
//  - notices an exec (the region is no longer mapped there) and leaves
//    silently: the new image starts its own tracer.
// It is invisible to the program: created with no exit signal, so wait(),
// waitpid(-1) and SIGCHLD never see it; in its own process group, so a
// signal to the program's group does not kill it first; it holds none of
// the program's descriptors but stderr. The program reaps it at a normal exit.
// How it is started: spawn.h.
#pragma once

// The watcher's code is in libmemtrace_watcher.so; its entry point is
//   extern "C" int memtrace_watcher_main(const memtrace::WatcherHandoff*);
// which src/watcher/spawn.cc calls in the forked child (see handoff.h).

#include "src/capture/handoff.h"

namespace memtrace::watcher {

// Runs the watcher until the program is gone (or its final report is
// written); the caller (entry.cc) has adopted the program's state.
int RunWatcher(const WatcherHandoff& handoff);

}  // namespace memtrace::watcher
