// memtrace_version(): the C API's view of the version CMake defines once
// (project(VERSION) -> MEMTRACE_VERSION). A file of its own so the preload's
// other sources need not know it.
#include "include/memtrace/memtrace.h"

extern "C" __attribute__((visibility("default"))) const char* memtrace_version(void) { return MEMTRACE_VERSION; }
