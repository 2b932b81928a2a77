// The scan's driver: stop, roots, read (pointer graph), mark, resume, cliques,
// totals. Each step lives in its own file; this one only orders them and
// measures.
#include "src/scan/scan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/scan/block_index.h"
#include "src/scan/marker.h"
#include "src/scan/pointer_graph.h"

namespace memtrace::scan {

const char* LeakKindName(LeakKind kind) {
  switch (kind) {
    case LeakKind::kReachable: return "reachable";
    case LeakKind::kPossible: return "possible";
    case LeakKind::kIndirect: return "indirect";
    case LeakKind::kDefinite: return "definite";
  }
  return "?";
}

const char* HeuristicName(Heuristic h) {
  switch (h) {
    case kHeuristicNone: return "none";
    case kHeuristicStdString: return "stdstring";
    case kHeuristicLength64: return "length64";
    case kHeuristicNewArray: return "newarray";
    case kHeuristicMultipleInheritance: return "multipleinheritance";
  }
  return "?";
}

ScanResult ClassifyMemory(std::span<const Block> blocks, const std::vector<Mapping>& maps,
                          std::span<const ThreadSnapshot> threads, MemoryReader& reader, const ScanTarget& target,
                          const ScanOptions& options, const std::function<void()>& resume) {
  ScanResult result;
  uint64_t t0 = MonotonicNs();
  BlockIndex index;
  std::vector<uint32_t> excluded;
  index.Build(blocks, &excluded);
  result.excluded_blocks = excluded.size();
  result.index_ns = MonotonicNs() - t0;

  RootOptions root_options;
  root_options.untracked_mappings_are_roots = options.untracked_mappings_are_roots;
  root_options.static_tls_size = target.static_tls_size;
  std::vector<ThreadSnapshot> adjusted;
  if (!target.stack_floors.empty()) {
    adjusted.assign(threads.begin(), threads.end());
    for (ThreadSnapshot& t : adjusted) {
      for (const auto& f : target.stack_floors) {
        if (f.tid == t.tid) t.scan_from = f.sp;
      }
    }
    threads = adjusted;
  }
  RootPlan plan = PlanRoots(maps, threads, blocks, index, target.tracer_ranges, reader, root_options);
  result.threads = plan.threads;
  result.notes = plan.notes;

  GraphBuilder builder(index, blocks, reader, options.read_chunk_bytes, options.read_threads);
  if (!options.explain.empty()) {
    std::vector<uint32_t> targets;
    for (uint64_t addr : options.explain) {
      uint32_t t = index.Find(addr);
      if (t != kNoBlock) targets.push_back(t);
    }
    std::sort(targets.begin(), targets.end());
    builder.Explain(std::move(targets));
  }
  for (const RootRange& r : plan.ranges) {
    builder.AddRootRange(r.start, r.end, options.attribute_holders ? r.holder : kHolderShared);
  }
  for (const auto& [value, holder] : plan.registers) {
    builder.AddRegister(value, options.attribute_holders ? holder : kHolderShared);
  }
  result.roots_ns = MonotonicNs() - t0 - result.index_ns;
  builder.ScanBlocks();
  PointerGraph& graph = builder.graph();
  result.read_ns = MonotonicNs() - t0;

  // Marking reads the target only for the multiple-inheritance heuristic:
  // it runs before the target resumes.
  MappingIndex mindex(&maps);
  VtableCheck vtables(mindex, reader);
  Marker marker(index, blocks, graph, options.heuristics, &vtables, &reader);
  uint64_t mark_start = MonotonicNs();
  marker.MarkFromRoots();
  result.mark_ns = MonotonicNs() - mark_start;
  if (resume) resume();
  uint64_t t1 = MonotonicNs();
  marker.FindCliques();

  result.blocks.assign(blocks.size(), BlockResult{});
  for (uint32_t i = 0; i < index.size(); ++i) {
    uint32_t j = index.input(i);
    BlockResult& b = result.blocks[j];
    b.classified = true;
    switch (marker.state(i)) {
      case Marker::kReachable: b.kind = LeakKind::kReachable; break;
      case Marker::kPossible: b.kind = LeakKind::kPossible; break;
      case Marker::kIndirect: b.kind = LeakKind::kIndirect; break;
      case Marker::kUnreached: b.kind = LeakKind::kDefinite; break;
    }
    b.heuristic = b.kind == LeakKind::kReachable ? marker.heuristic(i) : kHeuristicNone;
    b.holder = (b.kind == LeakKind::kReachable || b.kind == LeakKind::kPossible) ? marker.holder(i) : kHolderNone;
    b.leader = index.input(marker.leader(i));
    KindTotals& t = result.totals[static_cast<int>(blocks[j].space)][static_cast<int>(b.kind)];
    t.bytes += blocks[j].size;
    ++t.blocks;
    if (b.heuristic != kHeuristicNone) {
      result.via_heuristic[b.heuristic].bytes += blocks[j].size;
      ++result.via_heuristic[b.heuristic].blocks;
    }
    if (b.holder >= 0) {
      auto it = std::find_if(result.held_by_thread.begin(), result.held_by_thread.end(),
                             [&](const HeldByThread& h) { return h.thread == b.holder; });
      if (it == result.held_by_thread.end()) {
        result.held_by_thread.push_back({b.holder, {}, {}});
        it = result.held_by_thread.end() - 1;
      }
      KindTotals& k = b.kind == LeakKind::kReachable ? it->reachable : it->possible;
      k.bytes += blocks[j].size;
      ++k.blocks;
    }
  }
  std::sort(result.held_by_thread.begin(), result.held_by_thread.end(),
            [](const HeldByThread& a, const HeldByThread& b) { return a.reachable.bytes > b.reachable.bytes; });
  result.explained = std::move(builder.explained());
  result.root_bytes = graph.root_bytes;
  result.block_bytes = graph.block_bytes;
  result.unreadable_bytes = graph.unreadable_bytes;
  result.absent_bytes = graph.absent_bytes;
  result.unscanned_bytes = graph.unscanned_bytes;
  result.pointers = graph.edges.size() + graph.root_edges.size();
  result.scan_memory_bytes = index.MemoryBytes() + graph.MemoryBytes() + marker.MemoryBytes() +
                             options.read_chunk_bytes * std::max(options.read_threads, 1) +
                             plan.ranges.capacity() * sizeof(RootRange);
  result.classify_ns = MonotonicNs() - t1;
  if (result.unscanned_bytes) {
    result.notes.push_back(absl::StrCat(result.unscanned_bytes >> 30, " GiB in ranges over 256 GiB not scanned (a ",
                                        "reservation such as a sanitizer's shadow): a pointer held only there is missed"));
  }
  if (result.unreadable_bytes) {
    result.notes.push_back(absl::StrCat(result.unreadable_bytes, " bytes could not be read (unmapped or protected)"));
  }
  return result;
}

absl::StatusOr<ScanResult> ScanStopped(StoppedWorld& world, const ScanTarget& target, std::span<const Block> blocks,
                                       const ScanOptions& options) {
  auto reader = ProcessMemoryReader::Open(target.pid, options.read_method);
  if (!reader.ok()) {
    world.Resume();
    return reader.status();
  }
  auto maps = ReadMaps(target.pid);
  if (!maps.ok()) {
    world.Resume();
    return maps.status();
  }
  uint64_t resumed_at = 0;
  ScanResult result = ClassifyMemory(blocks, *maps, world.threads(), **reader, target, options, [&] {
    world.Resume();
    resumed_at = MonotonicNs();
  });
  result.threads_stopped = world.stopped();
  result.threads_not_stopped = world.not_stopped();
  result.stop_latency_ns = world.stop_latency_ns();
  result.paused_ns = resumed_at - world.started_ns();
  if (result.threads_not_stopped) {
    result.notes.push_back(absl::StrCat(result.threads_not_stopped, " threads did not stop in time: their stacks were "
                                        "scanned whole, without registers"));
  }
  return result;
}

absl::StatusOr<ScanResult> Scan(const ScanTarget& target, std::span<const Block> blocks, const ScanOptions& options) {
  auto world = StoppedWorld::Stop(target.pid, options.stop);
  if (!world.ok()) return world.status();
  return ScanStopped(**world, target, blocks, options);
}

}  // namespace memtrace::scan
