// pprof output: a report as a gzipped profile.proto
// (github.com/google/pprof/proto/profile.proto), what go tool pprof,
// Pyroscope, Parca and Grafana read.
//
// Sample types are those of Go's heap profiles: alloc_objects, alloc_space,
// inuse_objects, inuse_space (the default). One sample per site (per leak
// kind once sites are classified), its locations leaf first; a location is
// one return address with its inlined calls as lines, innermost first.
// Labels carry what pprof has no field for: `space`, `device`, `leak_kind`,
// and, for the threads that allocated a site's live bytes, `thread_state`
// and `creator` when they all share one, and `threads` (their number).
//
// Mappings: one per module, with its path and build-id, spanning the whole
// address space at offset 0, and location addresses that are the module's
// own ELF addresses (the `offset` of the JSON frames). pprof treats such a
// mapping as already adjusted (elfexec.GetBase), so `-symbolize=force`
// re-symbolizes offline against the same binary or its debug file.
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "src/report/proto_writer.h"
#include "src/report/report_doc.h"

namespace memtrace {

class PprofBuilder {
 public:
  PprofBuilder();
  // Adds every site of `doc` (and its remainders), values times `sign`;
  // `base` marks the samples with the label pprof::base=true, as
  // `go tool pprof -diff_base` does for the profile it subtracts.
  void Add(const ReportDoc& doc, int sign, bool base);
  // The serialized profile; `gzip`: compressed as .pb.gz.
  std::string Finish(const ReportDoc& latest, bool gzip);

 private:
  int64_t Str(const std::string& s);
  uint64_t MappingFor(const ReportDoc& doc, const std::string& module);
  uint64_t FunctionFor(const std::string& name, const std::string& file);
  uint64_t LocationFor(const ReportDoc& doc, std::span<const uint32_t> group);
  uint64_t PseudoLocation(const std::string& name);

  std::vector<std::string> strings_;
  absl::flat_hash_map<std::string, int64_t> string_index_;
  proto::Writer samples_, mappings_, locations_, functions_;
  absl::flat_hash_map<std::string, uint64_t> mapping_ids_;
  absl::flat_hash_map<std::string, uint64_t> function_ids_;
  absl::flat_hash_map<std::string, uint64_t> location_ids_;
  struct MappingFlags {
    bool functions = false, files = false, lines = false, inlines = false;
  };
  std::vector<std::string> mapping_paths_;
  std::vector<std::string> mapping_build_ids_;
  std::vector<MappingFlags> mapping_flags_;
  uint64_t next_location_ = 1;
};

// gzip (RFC 1952) of `data`.
std::string Gzip(const std::string& data);

}  // namespace memtrace
