// JSON report -> ReportDoc (see report_reader.h), with nlohmann/json.
#include "src/cli/report_reader.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace memtrace {
namespace {

using nlohmann::json;

uint64_t U(const json& j, const char* key) { return j.contains(key) && j[key].is_number() ? j[key].get<uint64_t>() : 0; }
int64_t I(const json& j, const char* key) { return j.contains(key) && j[key].is_number() ? j[key].get<int64_t>() : 0; }
std::string S(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

SiteStats Stats(const json& j) {
  SiteStats s;
  s.live_bytes = U(j, "live_bytes");
  s.live_blocks = U(j, "live_blocks");
  s.allocs = U(j, "allocs");
  s.frees = U(j, "frees");
  s.alloc_bytes = U(j, "alloc_bytes");
  s.peak_live_bytes = U(j, "peak_live_bytes");
  return s;
}

}  // namespace

absl::StatusOr<ReportDoc> ParseJsonReport(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("not a JSON object");
  if (S(j, "schema") != "memtrace/1") return absl::InvalidArgumentError("not a memtrace/1 report");
  ReportDoc d;
  d.pid = static_cast<int>(I(j, "pid"));
  d.reason = S(j, "reason");
  d.sequence = U(j, "sequence");
  d.time_unix_ms = U(j, "time_unix_ms");
  if (j.contains("sampling")) {
    d.tracer.sample_bytes = U(j["sampling"], "period_bytes");
    d.tracer.sample_overflows = U(j["sampling"], "overflows");
  }
  if (j.contains("totals")) {
    const json& t = j["totals"];
    d.rss_bytes = U(t, "rss_bytes");
    d.totals.live_bytes = U(t, "live_bytes");
    d.totals.live_blocks = U(t, "live_blocks");
    d.totals.allocs = U(t, "allocs");
    d.totals.frees = U(t, "frees");
    d.totals.alloc_bytes = U(t, "alloc_bytes");
    d.totals.peak_live_bytes = U(t, "peak_live_bytes");
    d.totals.heap.unmatched_frees = U(t, "unmatched_frees");
    d.totals.heap.replaced_blocks = U(t, "replaced_blocks");
    d.totals.untracked_unmap_bytes = U(t, "untracked_unmap_bytes");
    if (t.contains("process_maps")) {
      d.totals.process_anon_bytes = U(t["process_maps"], "anon_bytes");
      d.totals.process_file_bytes = U(t["process_maps"], "file_bytes");
    }
    if (t.contains("spaces")) {
      for (int sp = 0; sp < kSpaceCount; ++sp) {
        const char* name = SpaceName(static_cast<Space>(sp));
        if (t["spaces"].contains(name)) d.totals.spaces[sp] = Stats(t["spaces"][name]);
      }
    }
  }
  for (const json& s : j.value("sites", json::array())) {
    DocSite site;
    site.stats = Stats(s);
    site.space = s.contains("space") ? S(s, "space") : "heap";
    site.stack_id = s.contains("stack_id") ? I(s, "stack_id") : -1;
    site.device = s.contains("device") && s["device"].is_number() ? static_cast<int>(I(s, "device")) : -1;
    site.growth_bytes = I(s, "growth_bytes");
    site.growth_blocks = I(s, "growth_blocks");
    for (const json& f : s.value("files", json::array())) site.files.push_back(FileShare{S(f, "path"), U(f, "live_bytes")});
    for (const json& t : s.value("threads", json::array())) site.threads.emplace_back(U(t, "tid"), U(t, "live_bytes"));
    for (const json& f : s.value("frames", json::array())) {
      Frame fr;
      fr.function = S(f, "function");
      fr.file = S(f, "file");
      fr.line = static_cast<int>(I(f, "line"));
      fr.module = S(f, "module");
      fr.offset = U(f, "offset");
      fr.inlined = f.contains("inlined") && f["inlined"].is_boolean() && f["inlined"].get<bool>();
      site.frames.push_back(std::move(fr));
    }
    d.sites.push_back(std::move(site));
  }
  for (const json& m : j.value("modules", json::array())) d.modules.push_back(ModuleInfo{S(m, "path"), S(m, "build_id")});
  for (const json& dv : j.value("devices", json::array())) {
    d.devices.push_back(DeviceTotals{static_cast<int>(I(dv, "ordinal")), U(dv, "live_bytes"), U(dv, "live_blocks")});
  }
  if (j.contains("cuda")) {
    d.cuda.runtime_hooks = j["cuda"].value("runtime_hooks", false);
    d.cuda.cupti = j["cuda"].value("cupti", false);
    d.cuda.reason = S(j["cuda"], "reason");
  }
  for (const json& p : j.value("timeline", json::array())) {
    TimelinePoint tp;
    tp.t = p.contains("t") && p["t"].is_number() ? p["t"].get<double>() : 0;
    tp.live_bytes = U(p, "live_bytes");
    tp.space_bytes[0] = U(p, "heap_bytes");
    tp.space_bytes[1] = U(p, "anon_mmap_bytes");
    tp.space_bytes[2] = U(p, "file_mmap_bytes");
    tp.space_bytes[3] = U(p, "cuda_device_bytes");
    tp.space_bytes[4] = U(p, "cuda_host_pinned_bytes");
    tp.space_bytes[5] = U(p, "cuda_managed_bytes");
    tp.rss_bytes = U(p, "rss_bytes");
    tp.glibc_known = p.contains("glibc_free_bytes") && p["glibc_free_bytes"].is_number();
    tp.glibc_free_bytes = U(p, "glibc_free_bytes");
    tp.glibc_mmapped_bytes = U(p, "glibc_mmapped_bytes");
    tp.glibc_arenas = U(p, "glibc_arenas");
    tp.mark = S(p, "mark");
    d.timeline.push_back(std::move(tp));
  }
  if (j.contains("tracer")) {
    const json& t = j["tracer"];
    d.tracer.events = U(t, "events");
    d.tracer.ring_stalls = U(t, "ring_stalls");
    d.tracer.dropped_events = U(t, "dropped_events");
    d.tracer.memory_bytes = U(t, "memory_bytes");
    d.tracer.stacks = U(t, "stacks");
    d.tracer.threads_seen = U(t, "threads");
    d.tracer.untraced_threads = U(t, "untraced_threads");
    d.totals.heap.tracer_frees = U(t, "own_block_frees");
    d.tracer.live_table_bytes = U(t, "live_table_bytes");
    d.tracer.clock = S(t, "clock");
    d.tracer.fence = S(t, "fence");
    d.tracer.unwinder = S(t, "unwinder");
  }
  return d;
}

absl::StatusOr<ReportDoc> ReadJsonReport(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<ReportDoc> d = ParseJsonReport(ss.str());
  if (!d.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", d.status().message()));
  return d;
}

}  // namespace memtrace
