// Report facts that other parts of the tracer produce and every report
// carries: leak kinds (the reachability scan), what a mapping costs
// (reserved / committed / resident), how the process ended, and the tracer's
// own degradations. A leaf header: the snapshot (what the tracer measured)
// and the report document (what renderers read) both hold these types, so a
// producer fills a plain struct and never touches a renderer.
//
// Every field here is optional in a report: absent (std::nullopt) means "not
// measured", which renderers print as nothing rather than as zero.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace memtrace {

struct LeakCount {
  uint64_t bytes = 0;
  uint64_t blocks = 0;
};

// The reachability classification of live blocks, as Valgrind memcheck
// names it. The five kinds partition the live bytes of what was classified:
// a suppressed block counts only as suppressed.
struct LeakKinds {
  LeakCount definite;    // no pointer to the block anywhere
  LeakCount indirect;    // reached only from lost blocks
  LeakCount possible;    // only interior pointers reach it
  LeakCount reachable;   // a root or a reachable block points to its start
  LeakCount suppressed;  // lost, but matched a suppression
};

// A suppression pattern that matched, and what it hid (LSan's
// "Suppressions used").
struct SuppressionUse {
  std::string pattern;  // as written, e.g. "leak:libfoo.so"
  uint64_t bytes = 0;
  uint64_t blocks = 0;
};

// What mappings cost: address space reserved, committed (not PROT_NONE), and
// resident (pages in memory at the snapshot).
struct MappingCost {
  uint64_t reserved_bytes = 0;
  uint64_t committed_bytes = 0;
  uint64_t resident_bytes = 0;
};

// How the traced process ended (final reports only).
struct ProcessEnd {
  std::string how = "unknown";  // exit | _exit | exit_group | signal | killed | exec | unknown
  std::optional<int> status;    // the exit status, when it exited
  std::optional<int> signal;    // the signal that ended it
  std::optional<bool> core_dumped;  // with the signal: the kernel wrote a core dump
  uint64_t events_in_flight = 0;   // events published but not yet merged when it died
  uint64_t events_recovered = 0;   // of those, merged into this report
  uint64_t events_lost = 0;        // of those, lost
};

// The reachability scan behind the leak kinds: how long the program was
// stopped and what was read (a report carries it when a scan ran).
struct LeakScanInfo {
  double paused_ms = 0;              // the program's threads were stopped this long
  double stop_latency_ms = 0;        // of which: until every thread had stopped
  uint32_t threads_stopped = 0;
  uint32_t threads_not_stopped = 0;  // did not stop in time: their stacks were scanned whole
  uint64_t root_bytes = 0;           // roots scanned (stacks, registers, TLS, module data, untracked memory)
  uint64_t block_bytes = 0;          // blocks scanned
  uint64_t unreadable_bytes = 0;     // skipped: unmapped when read
  std::string notes;                 // what was approximated, and why ("; "-separated)
  std::string gate;                  // the gate's line: which kinds and spaces it counted (exit reports)
};

// Where the tracer could not do all its work (e.g. out of memory inside the
// tracer): the report is still written, with these counted.
struct DegradedReason {
  std::string reason;  // e.g. "out_of_memory"
  uint64_t count = 0;
};

// A library the program opened with RTLD_DEEPBIND: it binds to the C
// library's allocator directly (interpose/deepbind.h).
struct DeepbindLibrary {
  std::string path;      // as the program passed it to dlopen
  uint64_t redirected = 0;  // its relocations pointed back at the tracer's hooks
  bool caught_up = false;   // false: the program made no dl* call since; its calls still bypass the tracer
};

// The recognised values of ProcessEnd::how.
inline constexpr const char* kProcessEndHows[] = {"exit",   "_exit", "exit_group", "signal",
                                                  "killed", "exec",  "unknown"};

}  // namespace memtrace
