// What the program hands its watcher at the fork (src/watcher/spawn.cc ->
// src/watcher/watcher.cc). The watcher's code lives in its own shared object
// (libmemtrace_watcher.so), loaded only in the watcher process, so the
// program never maps libdw, abseil or the report code; that object has its
// own copies of the tracer's globals, which it sets from this. Pointers here
// are valid in the watcher because it is a fork of the program: those into
// the shared region stay live, the others are the program's state as of the
// fork (the configuration, which never changes after start-up).
#pragma once

#include <cstddef>
#include <cstdint>

#include "src/capture/os_memory.h"

namespace memtrace {

struct Config;
class SlotTable;
class StackDepot;
struct StartInfo;
class CallerModules;
class Predating;

inline constexpr uint32_t kHandoffVersion = 1;

struct WatcherHandoff {
  uint32_t version = kHandoffVersion;
  uint32_t size = sizeof(WatcherHandoff);  // a watcher object from another build refuses it
  const Config* config = nullptr;
  uintptr_t region_base = 0;
  size_t region_size = 0;
  SlotTable* slots = nullptr;  // the program's slot table (its state lives in the region)
  StackDepot* depot = nullptr;
  int clock_kind = 0;
  uint64_t clock_start_ts = 0, clock_start_ns = 0;
  bool light_busy_stamp = false;
  bool gate = false;  // MEMTRACE_LEAK_EXIT_CODE applies to this process
  bool owns_report_names = true;  // else outputs without %p get ".PID" (report_writer.h)
  int pidfd = -1;     // the program's, opened before the fork
  const char* clock_name = "";
  const char* fence_name = "";
  const char* unwinder_name = "";
  // The tracer's own memory in the program (never counted or followed by a
  // leak scan): its private pages, the bootstrap arena, libmemtrace's
  // writable segments.
  OsRange own_ranges[kOsRangesKept + 8] = {};
  int own_range_count = 0;
  uint64_t private_bytes = 0;  // the tracer's private pages in the program, at start-up
  // The start-up's facts (start_info.h: in the region), libmemtrace's
  // dependency closure, and what predated tracing (the program's copies).
  StartInfo* start_info = nullptr;
  const CallerModules* tracer_modules = nullptr;
  const Predating* predating = nullptr;
};

}  // namespace memtrace
