/* libmemtrace public C API.
 *
 * Optional for applications: everything libmemtrace does works through
 * LD_PRELOAD and MEMTRACE_* variables alone. Declare the functions weak (as
 * below) and a program built against this header runs unchanged when the
 * preload is absent:
 *
 *   #include <memtrace/memtrace.h>
 *   if (memtrace_is_active && memtrace_is_active()) { ... }
 */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/* The libmemtrace version, e.g. "0.1.0" (the same string `memtrace
 * --version` prints and every report carries). */
const char* memtrace_version(void) __attribute__((weak));

/* 1 while libmemtrace is loaded and tracing this process, else 0. */
int memtrace_is_active(void) __attribute__((weak));

/* Writes a full report now (reason "api"), including every allocation and
 * mapping the program made, on any thread, before the call. `path`: the
 * report file (%p expands to the pid; the extension picks the format as for
 * MEMTRACE_OUTPUT: ".json", ".pb.gz" (pprof), ".folded", ".html"; any other
 * name gets the configured format), or NULL for MEMTRACE_OUTPUT (stderr if
 * unset). Returns 0, or -1 if the process is not traced or the
 * file could not be written (the report then goes to stderr). */
int memtrace_dump(const char* path) __attribute__((weak));

/* As memtrace_dump, with leak kinds: the watcher stops the program's threads
 * for a reachability scan (docs/leak-kinds.md says how long that takes) and
 * the report classifies every live block as definitely, indirectly, possibly
 * lost or still reachable. */
int memtrace_dump_leaks(const char* path) __attribute__((weak));

/* Marks a phase ("reload 3"): a point on the report's timeline with this
 * label, tracked bytes, RSS and glibc's view at that moment. */
void memtrace_mark(const char* label) __attribute__((weak));

/* Stops / restarts recording the calling thread's allocations and mappings
 * (e.g. around a cache warm-up). Frees and unmaps are still recorded, so
 * memory allocated before the pause and freed during it is not reported as
 * live. Nested calls do not count: one resume undoes any number of pauses. */
void memtrace_pause(void) __attribute__((weak));
void memtrace_resume(void) __attribute__((weak));

#ifdef __cplusplus
}
#endif
