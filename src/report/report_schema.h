// The JSON report, schema "memtrace/2": its one definition.
//
// Each Describe() below lists the fields of one part of the report, in the
// order they are written, with their JSON names and types. It is a template
// over a visitor, and every user of the format is such a visitor:
//   - JsonWriter (json_writer.h) writes a ReportDoc as JSON;
//   - JsonReader (json_reader.h) reads and validates a JSON report into a
//     ReportDoc, naming the offending field when the input does not match;
//   - SchemaLister (tests) lists every field, to check docs/report-format.md.
// So the writer and the reader cannot drift: a field added here is written,
// read, validated and required in the docs at once (LSan declares its flags
// once in the same spirit).
//
// Rules: fields are only added, never renamed or retyped, without a new
// schema name. A plain field is required; a std::optional field is written
// only when set and may be absent or null (it means "not measured"). Readers
// ignore fields they do not know.
//
// A visitor V provides:
//   v.Field(name, value)           value: an lvalue of a supported type, or an adaptor below
//   v.Object(name, fn)             a nested object whose fields fn(v) describes
//   v.Array(name, vector, fn)      an array of objects; fn(v, element) describes one
//   v.Derived(name, fn)            written from fn() only; readers ignore it
// Supported types: integers, double, bool, std::string, std::vector of
// integers, std::optional<T>, and structs with a Describe() overload.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "src/report/report_doc.h"

namespace memtrace::schema {

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

// Adaptors: how a C++ value maps to JSON where it is not one to one.

// `value == sentinel` is written as null; null is read as the sentinel.
template <class T>
struct NullIf {
  T& value;
  T sentinel;
};
// An empty string is written as null; null is read as "".
struct NullIfEmpty {
  std::string& value;
};
// A string that must be one of `values`.
struct OneOf {
  std::string& value;
  std::span<const char* const> values;
};
// The same, kept as a pointer to the matching static string.
struct OneOfStatic {
  const char*& value;
  std::span<const char* const> values;
};
// An array of indices into a table of `limit` entries named `table`.
struct Indices {
  std::vector<uint32_t>& ids;
  size_t limit;
  const char* table;
};
// One index into a table, or null (-1).
struct OptionalIndex {
  int64_t& index;
  size_t limit;
  const char* table;
};
// A module path, written as its index into `modules` (null: no module).
struct ModuleTable {
  std::vector<ModuleInfo>& modules;
  absl::flat_hash_map<std::string, size_t> index;  // built by the writer on first use
};
struct ModuleRef {
  std::string& path;
  ModuleTable& table;
};
// A flag written only when true; absent is false.
struct TrueOrAbsent {
  bool& value;
};
// A constant string that must match exactly (the schema name).
struct Literal {
  const char* value;
};

inline constexpr const char* kSpaces[] = {"heap", "anon_mmap", "file_mmap", "cuda_device", "cuda_host_pinned",
                                          "cuda_managed"};
inline constexpr const char* kThreadStates[] = {"alive", "exited", "exited_unjoined"};
inline constexpr const char* kOpenMPRuntimes[] = {"libgomp", "libomp"};
inline constexpr const char* kSpaceFieldNames[] = {"heap_bytes",        "anon_mmap_bytes",
                                                   "file_mmap_bytes",   "cuda_device_bytes",
                                                   "cuda_host_pinned_bytes", "cuda_managed_bytes"};

// ---- Parts -------------------------------------------------------------

template <class V>
void DescribeStats(V& v, SiteStats& s) {
  v.Field("live_bytes", s.live_bytes);
  v.Field("live_blocks", s.live_blocks);
  v.Field("allocs", s.allocs);
  v.Field("frees", s.frees);
  v.Field("alloc_bytes", s.alloc_bytes);
  v.Field("peak_live_bytes", s.peak_live_bytes);
}

template <class V>
void Describe(V& v, LeakCount& c) {
  v.Field("bytes", c.bytes);
  v.Field("blocks", c.blocks);
}

template <class V>
void Describe(V& v, LeakKinds& k) {
  v.Field("definite", k.definite);
  v.Field("indirect", k.indirect);
  v.Field("possible", k.possible);
  v.Field("reachable", k.reachable);
  v.Field("suppressed", k.suppressed);
}

template <class V>
void Describe(V& v, SuppressionUse& s) {
  v.Field("pattern", s.pattern);
  v.Field("bytes", s.bytes);
  v.Field("blocks", s.blocks);
}

template <class V>
void DescribeCost(V& v, std::optional<MappingCost>& c) {
  // Flattened into the enclosing object: three fields, all set or none.
  if constexpr (V::kReading) {
    std::optional<uint64_t> reserved, committed, resident;
    v.Field("reserved_bytes", reserved);
    v.Field("committed_bytes", committed);
    v.Field("resident_bytes", resident);
    if (reserved || committed || resident) {
      c = MappingCost{reserved.value_or(0), committed.value_or(0), resident.value_or(0)};
    }
  } else {
    std::optional<uint64_t> reserved, committed, resident;
    if (c) {
      reserved = c->reserved_bytes;
      committed = c->committed_bytes;
      resident = c->resident_bytes;
    }
    v.Field("reserved_bytes", reserved);
    v.Field("committed_bytes", committed);
    v.Field("resident_bytes", resident);
  }
}

template <class V>
void Describe(V& v, ModuleInfo& m) {
  v.Field("path", m.path);
  v.Field("build_id", NullIfEmpty{m.build_id});
}

template <class V>
void Describe(V& v, FileShare& f) {
  v.Field("path", f.path);
  v.Field("live_bytes", f.live_bytes);
}

template <class V>
void Describe(V& v, ThreadShare& t) {
  v.Field("tid", t.tid);
  v.Field("live_bytes", t.live_bytes);
}

template <class V>
void Describe(V& v, DeviceTotals& d) {
  v.Field("ordinal", d.ordinal);
  v.Field("live_bytes", d.live_bytes);
  v.Field("live_blocks", d.live_blocks);
}

template <class V>
void Describe(V& v, DegradedReason& r) {
  v.Field("reason", r.reason);
  v.Field("count", r.count);
}

template <class V>
void Describe(V& v, LeakScanInfo& s) {
  v.Field("paused_ms", s.paused_ms);
  v.Field("stop_latency_ms", s.stop_latency_ms);
  v.Field("threads_stopped", s.threads_stopped);
  v.Field("threads_not_stopped", s.threads_not_stopped);
  v.Field("root_bytes", s.root_bytes);
  v.Field("block_bytes", s.block_bytes);
  v.Field("unreadable_bytes", s.unreadable_bytes);
  v.Field("notes", NullIfEmpty{s.notes});
  v.Field("gate", NullIfEmpty{s.gate});
}

template <class V>
void Describe(V& v, DeepbindLibrary& d) {
  v.Field("path", d.path);
  v.Field("redirected", d.redirected);
  v.Field("caught_up", d.caught_up);
}

template <class V>
void Describe(V& v, ProcessEnd& e) {
  v.Field("how", OneOf{e.how, kProcessEndHows});
  v.Field("status", e.status);
  v.Field("signal", e.signal);
  v.Field("core_dumped", e.core_dumped);
  v.Field("events_in_flight", e.events_in_flight);
  v.Field("events_recovered", e.events_recovered);
  v.Field("events_lost", e.events_lost);
}

template <class V>
void Describe(V& v, TimelinePoint& p) {
  v.Field("t", p.t);
  v.Field("live_bytes", p.live_bytes);
  for (int sp = 0; sp < kSpaceCount; ++sp) v.Field(kSpaceFieldNames[sp], p.space_bytes[sp]);
  v.Field("rss_bytes", p.rss_bytes);
  v.Field("glibc_free_bytes", p.glibc_free_bytes);
  v.Field("glibc_mmapped_bytes", p.glibc_mmapped_bytes);
  v.Field("glibc_arenas", p.glibc_arenas);
  v.Field("mark", NullIfEmpty{p.mark});
}

template <class V>
void Describe(V& v, DocOpenMP::Pool& p) {
  v.Field("host_tid", p.host_tid);
  v.Field("host_state", OneOf{p.host_state, kThreadStates});
  v.Field("host_live_bytes", p.host_live_bytes);
  v.Field("workers", p.workers);
  v.Field("workers_alive", p.workers_alive);
  v.Field("worker_live_bytes", p.worker_live_bytes);
  v.Field("runtime", OneOf{p.runtime, kOpenMPRuntimes});
}

template <class V>
void Describe(V& v, DocOmitted& o) {
  v.Field("space", OneOf{o.space, kSpaces});
  v.Field("sites", o.sites);
  v.Field("stacks", o.stacks);
  DescribeStats(v, o.stats);
  v.Field("growth_bytes", o.growth_bytes);
  v.Field("growth_blocks", o.growth_blocks);
  v.Field("leak_kinds", o.leak_kinds);
}

// ---- The report --------------------------------------------------------

template <class V>
void DescribeReport(V& v, ReportDoc& d) {
  v.Field("schema", Literal{kReportSchema});
  v.Field("version", d.version);
  v.Field("pid", d.pid);
  v.Field("reason", d.reason);
  v.Field("sequence", d.sequence);
  v.Field("time_unix_ms", d.time_unix_ms);
  v.Object("sampling", [&](auto& o) {
    o.Field("period_bytes", d.tracer.sample_bytes);
    o.Derived("heap_estimated", [&] { return d.tracer.sample_bytes != 0; });
    o.Field("overflows", d.tracer.sample_overflows);
  });
  v.Field("end", d.end);
  v.Object("totals", [&](auto& o) {
    Totals& t = d.totals;
    o.Field("live_bytes", t.live_bytes);
    o.Field("live_blocks", t.live_blocks);
    o.Field("allocs", t.allocs);
    o.Field("frees", t.frees);
    o.Field("alloc_bytes", t.alloc_bytes);
    o.Field("peak_live_bytes", t.peak_live_bytes);
    o.Field("unmatched_frees", t.heap.unmatched_frees);
    o.Field("replaced_blocks", t.heap.replaced_blocks);
    o.Field("untracked_unmap_bytes", t.untracked_unmap_bytes);
    o.Field("rss_bytes", d.rss_bytes);
    o.Object("process_maps", [&](auto& m) {
      m.Field("anon_bytes", t.process_anon_bytes);
      m.Field("file_bytes", t.process_file_bytes);
      m.Field("predating_anon_bytes", t.predating_anon_bytes);
      m.Field("predating_file_bytes", t.predating_file_bytes);
    });
    o.Object("spaces", [&](auto& spaces) {
      for (int sp = 0; sp < kSpaceCount; ++sp) {
        spaces.Object(kSpaces[sp], [&](auto& s) {
          DescribeStats(s, t.spaces[sp]);
          DescribeCost(s, t.space_cost[sp]);
        });
      }
    });
    o.Field("exited_thread_live_bytes", d.thread_totals.exited_thread_live_bytes);
    o.Object("threads", [&](auto& th) {
      ThreadTotals& tt = d.thread_totals;
      th.Field("seen", tt.seen);
      th.Field("alive", tt.alive);
      th.Field("exited", tt.exited);
      th.Field("exited_unjoined", tt.exited_unjoined);
      th.Field("orphans", tt.orphans);
      th.Field("unjoined_stack_bytes", tt.unjoined_stack_bytes);
      th.Field("listed", tt.listed);
      th.Field("omitted", tt.omitted);
      th.Field("predating", tt.predating);
    });
    o.Field("leak_kinds", t.leak_kinds);
  });
  v.Field("suppressions_used", d.suppressions_used);
  v.Field("leak_scan", d.leak_scan);
  ModuleTable modules{d.modules, {}};
  v.Field("modules", d.modules);
  v.Array("frames", d.frames, [&](auto& o, Frame& f) {
    o.Field("function", NullIfEmpty{f.function});
    o.Field("file", NullIfEmpty{f.file});
    o.Field("line", NullIf<int>{f.line, 0});
    o.Field("module", ModuleRef{f.module, modules});
    o.Field("offset", f.offset);
    o.Field("inlined", f.inlined);
  });
  v.Array("sites", d.sites, [&](auto& o, DocSite& s) {
    DescribeStats(o, s.stats);
    o.Field("growth_bytes", s.growth_bytes);
    o.Field("growth_blocks", s.growth_blocks);
    o.Field("space", OneOf{s.space, kSpaces});
    o.Field("device", NullIf<int>{s.device, -1});
    o.Field("label", NullIfEmpty{s.label});
    o.Field("stack_ids", s.stack_ids);
    o.Field("files", s.files);
    o.Field("threads", s.threads);
    o.Field("leak_kinds", s.leak_kinds);
    DescribeCost(o, s.cost);
    o.Field("frames", Indices{s.frames, d.frames.size(), "frames"});
  });
  v.Object("sites_omitted", [&](auto& o) {
    o.Field("max_sites", d.max_sites);
    o.Field("spaces", d.omitted);
  });
  v.Array("by_creator", d.creators, [&](auto& o, DocCreator& c) {
    o.Field("threads_created", c.created);
    o.Field("threads_alive", c.alive);
    o.Field("threads_exited", c.exited);
    o.Field("threads_exited_unjoined", c.exited_unjoined);
    o.Field("live_bytes", c.live_bytes);
    o.Field("exited_live_bytes", c.exited_live_bytes);
    o.Array("exited_by_site", c.exited_by_site, [&](auto& e, DocCreator::BySite& b) {
      e.Field("site", OptionalIndex{b.site, d.sites.size(), "sites"});
      e.Field("space", OneOf{b.space, kSpaces});
      e.Field("live_bytes", b.live_bytes);
    });
    o.Field("creator_frames", Indices{c.frames, d.frames.size(), "frames"});
  });
  v.Array("threads", d.threads, [&](auto& o, DocThread& t) {
    ThreadEntry& e = t.entry;
    o.Field("tid", e.tid);
    o.Field("serial", e.serial);
    o.Field("name", e.name);
    o.Field("state", OneOfStatic{e.state, kThreadStates});
    o.Field("main", e.main);
    o.Field("parent_tid", NullIf<uint64_t>{e.parent_tid, 0});
    o.Field("orphan", e.orphan);
    o.Field("detached", e.detached);
    o.Field("joined", e.joined);
    o.Field("creator", OptionalIndex{t.creator_index, d.creators.size(), "by_creator"});
    o.Field("start_routine", NullIfEmpty{t.start_routine});
    o.Field("openmp", NullIfEmpty{t.openmp});
    o.Field("stack_size", e.stack_size);
    o.Field("created", e.created_s);
    o.Field("exited", NullIf<double>{e.exited_s, -1});
    o.Field("live_bytes", e.live_bytes);
    o.Field("live_blocks", e.live_blocks);
    o.Field("alloc_bytes", e.alloc_bytes);
    o.Field("predates_tracing", TrueOrAbsent{e.predates_tracing});
    o.Field("holds_reachable", e.holds_reachable);
  });
  v.Object("openmp", [&](auto& o) {
    DocOpenMP& omp = d.openmp;
    o.Derived("pools", [&] { return static_cast<uint64_t>(omp.pools.size()); });
    o.Derived("host_threads", [&] { return static_cast<uint64_t>(omp.pools.size()); });
    o.Field("hosts_exited", omp.hosts_exited);
    o.Field("workers", omp.workers);
    o.Field("workers_alive", omp.workers_alive);
    o.Field("worker_live_bytes", omp.worker_live_bytes);
    o.Field("team_live_bytes", omp.team_live_bytes);
    o.Field("pools_detail", omp.pools);
  });
  v.Field("devices", d.devices);
  v.Object("cuda", [&](auto& o) {
    o.Field("runtime_hooks", d.cuda.runtime_hooks);
    o.Field("cupti", d.cuda.cupti);
    o.Field("reason", d.cuda.reason);
  });
  v.Field("timeline", d.timeline);
  v.Object("tracer", [&](auto& o) {
    TracerStats& tr = d.tracer;
    o.Field("events", tr.events);
    o.Field("ring_stalls", tr.ring_stalls);
    o.Field("dropped_events", tr.dropped_events);
    o.Field("memory_bytes", tr.memory_bytes);
    o.Field("watcher_memory_bytes", tr.watcher_memory_bytes);
    o.Field("live_table_bytes", tr.live_table_bytes);
    o.Field("stacks", tr.stacks);
    o.Field("threads", tr.threads_seen);
    o.Field("untraced_threads", tr.untraced_threads);
    o.Field("own_block_frees", d.totals.heap.tracer_frees);
    o.Field("clock", tr.clock);
    o.Field("fence", tr.fence);
    o.Field("unwinder", tr.unwinder);
    o.Field("degraded", tr.degraded);
    o.Field("deepbind", tr.deepbind);
  });
}

}  // namespace memtrace::schema
