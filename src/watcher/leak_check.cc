// The leak check in the watcher (see leak_check.h).
#include "src/watcher/leak_check.h"

#include <dlfcn.h>
#include <link.h>

#include <string>
#include <vector>

#include "src/config/config.h"
#include "src/flush/flusher.h"
#include "src/log.h"
#include "src/report/module_map.h"
#include "src/report/symbolizer.h"
#include "src/scan/scan.h"

namespace memtrace {
namespace {

uint64_t StaticTlsSize() {
  // glibc's static TLS is fixed at start-up; the watcher, a fork of the
  // program, has the same.
  auto info = reinterpret_cast<void (*)(size_t*, size_t*)>(dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info"));
  if (info == nullptr) return 0;
  size_t size = 0, align = 0;
  info(&size, &align);
  return size;
}

LeakCount* CountOf(LeakKinds& k, int kind) {
  switch (static_cast<scan::LeakKind>(kind)) {
    case scan::LeakKind::kDefinite: return &k.definite;
    case scan::LeakKind::kIndirect: return &k.indirect;
    case scan::LeakKind::kPossible: return &k.possible;
    case scan::LeakKind::kReachable: return &k.reachable;
  }
  return &k.reachable;
}

// The heap's or the tracked mappings' index in the gate's totals; -1: not
// counted by the gate (files, CUDA).
int GateSpace(Space space) {
  if (space == Space::kHeap) return 0;
  if (space == Space::kAnonMmap) return 1;
  return -1;
}

}  // namespace

LeakCheck::LeakCheck(const Config& config, std::vector<scan::AddressRange> own) : config_(config), own_(std::move(own)) {
  std::vector<std::string> errors;
  if (config.default_suppressions) suppressions_.AddBuiltIn();
  if (!config.suppressions.empty()) suppressions_.LoadFile(config.suppressions, &errors);
  for (const std::string& e : errors) MT_LOG_ERROR("%s", e.c_str());
  gate_.exit_code = config.leak_exit_code;
  gate_.threshold = config.leak_threshold;
  gate_.kinds = config.leak_kinds;
}

bool LeakCheck::Scan(pid_t pid, Flusher& flusher, pid_t exit_floor_tid, uint64_t exit_floor_sp) {
  absl::StatusOr<std::unique_ptr<scan::StoppedWorld>> world = scan::StoppedWorld::Stop(pid);
  if (!world.ok()) {
    MT_LOG_WARN("leak check skipped: %s", std::string(world.status().message()).c_str());
    return false;
  }
  // What the stopped threads published up to the watermark; a thread stopped
  // inside a hook holds the watermark at its stamp, so nothing is delivered
  // out of order when it resumes.
  flusher.Round();
  std::vector<scan::Block> blocks = flusher.LiveBlocks();
  scan::ScanTarget target;
  target.pid = pid;
  target.tracer_ranges = own_;
  target.static_tls_size = StaticTlsSize();
  if (exit_floor_tid > 0 && exit_floor_sp != 0) target.stack_floors.push_back({exit_floor_tid, exit_floor_sp});
  scan::ScanOptions options;
  absl::StatusOr<scan::ScanResult> result = scan::ScanStopped(**world, target, blocks, options);
  (*world)->Resume();
  if (!result.ok()) {
    MT_LOG_WARN("leak check failed: %s", std::string(result.status().message()).c_str());
    return false;
  }
  LeakScanInfo info;
  info.paused_ms = static_cast<double>(result->paused_ns) / 1e6;
  info.stop_latency_ms = static_cast<double>(result->stop_latency_ns) / 1e6;
  info.threads_stopped = result->threads_stopped;
  info.threads_not_stopped = result->threads_not_stopped;
  info.root_bytes = result->root_bytes;
  info.block_bytes = result->block_bytes;
  info.unreadable_bytes = result->unreadable_bytes;
  for (const std::string& n : result->notes) info.notes += (info.notes.empty() ? "" : "; ") + n;
  flusher.SetScanResult(blocks, *result, std::move(info));
  return true;
}

scan::GateVerdict LeakCheck::Finish(Snapshot& s, const std::vector<LoadedModule>& modules, bool libc_lines,
                                    bool gate) {
  scan::LeakTotals totals;
  scan::Suppressions suppressions = suppressions_;  // counts are per report
  if (s.totals.leak_kinds) {
    std::unique_ptr<Symbolizer> symbolizer;
    std::vector<SuppressionUse> used;
    LeakKinds all;
    for (SiteEntry& e : s.sites) {
      if (!e.leak_kinds) continue;
      LeakKinds& k = *e.leak_kinds;
      uint64_t lost = k.definite.bytes + k.indirect.bytes + k.possible.bytes;
      if (lost > 0 && !suppressions.empty()) {
        if (symbolizer == nullptr) {
          symbolizer = modules.empty() ? Symbolizer::ForProcess(s.pid, Symbolizer::Options{libc_lines})
                                       : std::make_unique<Symbolizer>(modules, Symbolizer::Options{libc_lines}, s.pid);
        }
        std::vector<scan::SymbolizedFrame> frames;
        for (const Frame& f : SymbolizeStack(e.stack, *symbolizer)) frames.push_back({f.function, f.file, f.module});
        int match = suppressions.Match(frames);
        if (match >= 0) {
          // Lost blocks of a suppressed site: counted apart, not dropped.
          for (LeakCount* c : {&k.definite, &k.indirect, &k.possible}) {
            k.suppressed.bytes += c->bytes;
            k.suppressed.blocks += c->blocks;
            for (uint64_t b = 0; b < c->blocks; ++b) suppressions.Count(match, b == 0 ? c->bytes : 0);
            *c = LeakCount{};
          }
        }
      }
      int sp = GateSpace(e.space);
      for (int kind = 0; kind < scan::kLeakKinds; ++kind) {
        const LeakCount& c = *CountOf(k, kind);
        LeakCount& a = *CountOf(all, kind);
        a.bytes += c.bytes;
        a.blocks += c.blocks;
        if (sp >= 0) {
          totals.by_space[sp][kind].bytes += c.bytes;
          totals.by_space[sp][kind].blocks += c.blocks;
        }
      }
      all.suppressed.bytes += k.suppressed.bytes;
      all.suppressed.blocks += k.suppressed.blocks;
    }
    totals.suppressed = {all.suppressed.bytes, all.suppressed.blocks};
    s.totals.leak_kinds = all;
    for (const scan::Suppression& sup : suppressions.list()) {
      if (sup.matched.blocks == 0) continue;
      SuppressionUse u;
      u.pattern = "leak:" + sup.pattern;
      u.bytes = sup.matched.bytes;
      u.blocks = sup.matched.blocks;
      used.push_back(u);
    }
    s.suppressions_used = std::move(used);
  }
  if (!s.totals.leak_kinds) return GateWithoutScan(s, config_, gate);
  scan::GateConfig g = gate_;
  if (!gate) g.exit_code.reset();
  scan::GateVerdict v = scan::DecideGate(totals, g);
  if (s.leak_scan) s.leak_scan->gate = v.line;
  return v;
}

scan::GateVerdict GateWithoutScan(const Snapshot& s, const Config& config, bool gate) {
  scan::GateVerdict v;
  uint64_t bytes = s.totals.spaces[static_cast<int>(Space::kHeap)].live_bytes +
                   s.totals.spaces[static_cast<int>(Space::kAnonMmap)].live_bytes;
  v.bytes = bytes;
  std::string what = std::to_string(bytes) +
                     " bytes live in the heap and tracked anonymous mappings (not classified: no leak check ran)";
  if (!gate || !config.leak_exit_code) {
    v.line = "memtrace: " + what;
    return v;
  }
  v.fire = bytes > config.leak_threshold;
  v.line = "memtrace: " + what + (v.fire ? " exceed" : " within") + " MEMTRACE_LEAK_THRESHOLD=" +
           std::to_string(config.leak_threshold) +
           (v.fire ? "; exit status " + std::to_string(*config.leak_exit_code) : "; exit status kept");
  return v;
}

}  // namespace memtrace
