// ReportDoc -> profile.proto (see pprof_report.h). Field numbers are those of
// pprof's profile.proto; they are part of that format and never change.
#include "src/report/pprof_report.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "src/report/render.h"

namespace memtrace {
namespace {

// profile.proto field numbers.
namespace profile {
constexpr int kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4, kFunction = 5, kStringTable = 6,
              kTimeNanos = 9, kPeriodType = 11, kPeriod = 12, kComment = 13, kDefaultSampleType = 14;
}
namespace value_type {
constexpr int kType = 1, kUnit = 2;
}
namespace sample {
constexpr int kLocationId = 1, kValue = 2, kLabel = 3;
}
namespace label {
constexpr int kKey = 1, kStr = 2, kNum = 3;
}
namespace mapping {
constexpr int kId = 1, kMemoryStart = 2, kMemoryLimit = 3, kFileOffset = 4, kFilename = 5, kBuildId = 6,
              kHasFunctions = 7, kHasFilenames = 8, kHasLineNumbers = 9, kHasInlineFrames = 10;
}
namespace location {
constexpr int kId = 1, kMappingId = 2, kAddress = 3, kLine = 4;
}
namespace line {
constexpr int kFunctionId = 1, kLine = 2;
}
namespace function {
constexpr int kId = 1, kName = 2, kFilename = 4;
}

constexpr const char* kSampleTypes[][2] = {
    {"alloc_objects", "count"}, {"alloc_space", "bytes"}, {"inuse_objects", "count"}, {"inuse_space", "bytes"}};

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The name pprof shows for a frame: its function, or module+offset.
std::string FunctionName(const Frame& f) {
  if (!f.function.empty()) return f.function;
  return fmt::format("{}+{:#x}", f.module.empty() ? std::string("??") : Basename(f.module), f.offset);
}

}  // namespace

std::string Gzip(const std::string& data) {
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  // 15 + 16: a gzip header and trailer rather than zlib's.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&zs, data.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END ? out : std::string();
}

PprofBuilder::PprofBuilder() { Str(""); }

int64_t PprofBuilder::Str(const std::string& s) {
  auto [it, inserted] = string_index_.try_emplace(s, static_cast<int64_t>(strings_.size()));
  if (inserted) strings_.push_back(s);
  return it->second;
}

uint64_t PprofBuilder::MappingFor(const ReportDoc& doc, const std::string& module) {
  if (module.empty()) return 0;
  auto [it, inserted] = mapping_ids_.try_emplace(module, mapping_paths_.size() + 1);
  if (inserted) {
    std::string build_id;
    for (const ModuleInfo& m : doc.modules) {
      if (m.path == module) build_id = m.build_id;
    }
    mapping_paths_.push_back(module);
    mapping_build_ids_.push_back(build_id);
    mapping_flags_.emplace_back();
  }
  return it->second;
}

uint64_t PprofBuilder::FunctionFor(const std::string& name, const std::string& file) {
  std::string key = name;
  key += '\0';
  key += file;
  auto [it, inserted] = function_ids_.try_emplace(key, function_ids_.size() + 1);
  if (inserted) {
    proto::Writer f;
    f.Int(function::kId, it->second);
    f.SignedInt(function::kName, Str(name));
    // No system_name: pprof would "simplify" a name equal to it (drop C++
    // parameters and template arguments), and the names would no longer be
    // the report's. pprof keeps a name whose system_name differs.
    f.SignedInt(function::kFilename, Str(file));
    functions_.Message(profile::kFunction, f);
  }
  return it->second;
}

// One return address: its frames, inlined calls first, the physical frame
// last (that frame's offset is the address).
uint64_t PprofBuilder::LocationFor(const ReportDoc& doc, std::span<const uint32_t> group) {
  std::string key;  // the frames as read, and the address
  for (uint32_t id : group) key += FrameKey(doc.frame(id)) + '\x1e';
  key += fmt::format("{:x}", doc.frame(group.back()).offset);
  auto [it, inserted] = location_ids_.try_emplace(key, 0);
  if (!inserted) return it->second;
  it->second = next_location_++;
  const Frame& physical = doc.frame(group.back());
  uint64_t mapping_id = MappingFor(doc, physical.module);
  proto::Writer loc;
  loc.Int(location::kId, it->second);
  loc.Int(location::kMappingId, mapping_id);
  loc.Int(location::kAddress, physical.offset);
  for (uint32_t id : group) {
    const Frame& f = doc.frame(id);
    proto::Writer ln;
    ln.Int(line::kFunctionId, FunctionFor(FunctionName(f), f.file));
    ln.SignedInt(line::kLine, f.line);
    loc.Message(location::kLine, ln);
    if (mapping_id != 0) {
      MappingFlags& flags = mapping_flags_[mapping_id - 1];
      flags.functions |= !f.function.empty();
      flags.files |= !f.file.empty();
      flags.lines |= f.line > 0;
      flags.inlines |= group.size() > 1;
    }
  }
  locations_.Message(profile::kLocation, loc);
  return it->second;
}

uint64_t PprofBuilder::PseudoLocation(const std::string& name) {
  auto [it, inserted] = location_ids_.try_emplace("\x1d" + name, 0);
  if (!inserted) return it->second;
  it->second = next_location_++;
  proto::Writer loc;
  loc.Int(location::kId, it->second);
  proto::Writer ln;
  ln.Int(line::kFunctionId, FunctionFor(name, ""));
  loc.Message(location::kLine, ln);
  locations_.Message(profile::kLocation, loc);
  return it->second;
}

void PprofBuilder::Add(const ReportDoc& doc, int sign, bool base) {
  // tid -> thread, for the labels of who allocated a site.
  absl::flat_hash_map<uint64_t, const DocThread*> threads;
  for (const DocThread& t : doc.threads) threads.try_emplace(t.entry.tid, &t);

  struct Labels {
    std::vector<std::pair<std::string, std::string>> str;
    std::vector<std::pair<std::string, int64_t>> num;
  };
  auto emit = [&](const std::vector<uint64_t>& locations, int64_t alloc_objects, int64_t alloc_space,
                  int64_t inuse_objects, int64_t inuse_space, const Labels& labels) {
    proto::Writer s;
    s.Packed<uint64_t>(sample::kLocationId, locations);
    int64_t values[] = {sign * alloc_objects, sign * alloc_space, sign * inuse_objects, sign * inuse_space};
    s.Packed<int64_t>(sample::kValue, values);
    for (const auto& [k, v] : labels.str) {
      proto::Writer l;
      l.SignedInt(label::kKey, Str(k));
      l.SignedInt(label::kStr, Str(v));
      s.Message(sample::kLabel, l);
    }
    for (const auto& [k, v] : labels.num) {
      proto::Writer l;
      l.SignedInt(label::kKey, Str(k));
      l.SignedInt(label::kNum, v);
      s.Message(sample::kLabel, l);
    }
    if (base) {
      proto::Writer l;
      l.SignedInt(label::kKey, Str("pprof::base"));
      l.SignedInt(label::kStr, Str("true"));
      s.Message(sample::kLabel, l);
    }
    samples_.Message(profile::kSample, s);
  };
  // Sites whose kinds are known split into one sample per kind (the
  // allocation counts ride on the first, so every per-function sum holds).
  auto emit_site = [&](const std::vector<uint64_t>& locations, const SiteStats& st,
                       const std::optional<LeakKinds>& kinds, const Labels& labels) {
    auto as = [](uint64_t v) { return static_cast<int64_t>(v); };
    if (!kinds) {
      emit(locations, as(st.allocs), as(st.alloc_bytes), as(st.live_blocks), as(st.live_bytes), labels);
      return;
    }
    const std::pair<const char*, const LeakCount*> parts[] = {{"definite", &kinds->definite},
                                                              {"indirect", &kinds->indirect},
                                                              {"possible", &kinds->possible},
                                                              {"reachable", &kinds->reachable},
                                                              {"suppressed", &kinds->suppressed}};
    bool first = true;
    for (const auto& [name, count] : parts) {
      if (count->bytes == 0 && count->blocks == 0) continue;
      Labels with = labels;
      with.str.emplace_back("leak_kind", name);
      emit(locations, first ? as(st.allocs) : 0, first ? as(st.alloc_bytes) : 0, as(count->blocks),
           as(count->bytes), with);
      first = false;
    }
    if (first) emit(locations, as(st.allocs), as(st.alloc_bytes), 0, 0, labels);
  };

  for (const DocSite& site : doc.sites) {
    std::vector<uint64_t> locations;
    size_t start = 0;
    for (size_t k = 0; k < site.frames.size(); ++k) {
      if (doc.frame(site.frames[k]).inlined && k + 1 < site.frames.size()) continue;
      locations.push_back(LocationFor(doc, std::span<const uint32_t>(site.frames).subspan(start, k + 1 - start)));
      start = k + 1;
    }
    if (locations.empty()) locations.push_back(PseudoLocation("[no stack]"));
    Labels labels;
    labels.str.emplace_back("space", site.space);
    if (site.device >= 0) labels.num.emplace_back("device", site.device);
    if (!site.label.empty()) labels.str.emplace_back("label", site.label);
    if (!site.threads.empty()) {
      labels.num.emplace_back("threads", static_cast<int64_t>(site.threads.size()));
      std::string state, creator;
      bool one_state = true, one_creator = true;
      for (size_t k = 0; k < site.threads.size(); ++k) {
        auto t = threads.find(site.threads[k].tid);
        std::string s = t != threads.end() ? t->second->entry.state : "unknown";
        std::string c;
        if (t != threads.end() && t->second->creator_index >= 0) {
          const DocCreator& dc = doc.creators[static_cast<size_t>(t->second->creator_index)];
          c = dc.frames.empty() ? "(not pthread_create)" : FunctionName(doc.frame(dc.frames[0]));
        }
        if (k == 0) {
          state = s;
          creator = c;
        }
        one_state &= s == state;
        one_creator &= c == creator;
      }
      labels.str.emplace_back("thread_state", one_state ? state : "mixed");
      if (one_creator && !creator.empty()) labels.str.emplace_back("creator", creator);
    }
    emit_site(locations, site.stats, site.leak_kinds, labels);
  }
  for (const DocOmitted& o : doc.omitted) {
    Labels labels;
    labels.str.emplace_back("space", o.space);
    emit_site({PseudoLocation("[sites beyond MEMTRACE_MAX_SITES]")}, o.stats, o.leak_kinds, labels);
  }
}

std::string PprofBuilder::Finish(const ReportDoc& d, bool gzip) {
  proto::Writer p;
  for (const auto& [type, unit] : kSampleTypes) {
    proto::Writer vt;
    vt.SignedInt(value_type::kType, Str(type));
    vt.SignedInt(value_type::kUnit, Str(unit));
    p.Message(profile::kSampleType, vt);
  }
  std::string body = p.data() + samples_.data();
  proto::Writer tail;
  for (size_t i = 0; i < mapping_paths_.size(); ++i) {
    proto::Writer m;
    m.Int(mapping::kId, i + 1);
    m.Int(mapping::kMemoryStart, 0);
    m.Int(mapping::kMemoryLimit, UINT64_MAX);
    m.Int(mapping::kFileOffset, 0);
    m.SignedInt(mapping::kFilename, Str(mapping_paths_[i]));
    m.SignedInt(mapping::kBuildId, Str(mapping_build_ids_[i]));
    m.Bool(mapping::kHasFunctions, mapping_flags_[i].functions);
    m.Bool(mapping::kHasFilenames, mapping_flags_[i].files);
    m.Bool(mapping::kHasLineNumbers, mapping_flags_[i].lines);
    m.Bool(mapping::kHasInlineFrames, mapping_flags_[i].inlines);
    tail.Message(profile::kMapping, m);
  }
  proto::Writer end;
  // A report read back may carry any time: saturate rather than overflow.
  constexpr uint64_t kMaxMs = static_cast<uint64_t>(INT64_MAX) / 1000000;
  end.SignedInt(profile::kTimeNanos, static_cast<int64_t>(std::min(d.time_unix_ms, kMaxMs) * 1000000));
  proto::Writer period_type;
  period_type.SignedInt(value_type::kType, Str("space"));
  period_type.SignedInt(value_type::kUnit, Str("bytes"));
  end.Message(profile::kPeriodType, period_type);
  end.SignedInt(profile::kPeriod, static_cast<int64_t>(d.tracer.sample_bytes));
  end.SignedInt(profile::kComment,
                Str(fmt::format("memtrace {}: report #{} ({}) of pid {}", d.version, d.sequence, d.reason, d.pid)));
  end.SignedInt(profile::kDefaultSampleType, Str("inuse_space"));
  proto::Writer strings;
  for (const std::string& s : strings_) strings.Bytes(profile::kStringTable, s);
  std::string out = body + tail.data() + locations_.data() + functions_.data() + strings.data() + end.data();
  return gzip ? Gzip(out) : out;
}

std::string RenderPprofReport(const ReportDoc& doc) {
  PprofBuilder b;
  b.Add(doc, 1, false);
  return b.Finish(doc, /*gzip=*/true);
}

}  // namespace memtrace
