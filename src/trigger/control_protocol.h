// The bytes `memtrace dump` and a traced process's watcher exchange through
// the control directory (control_file.h). Both files are written whole
// (safe_file.h) and read bounded; these functions are pure, so the fuzzer
// (tests/fuzz/control_fuzz.cc) feeds them anything.
//
//   <dir>/<pid>.dump   "memtrace-dump 1 TOKEN\n" (or "... TOKEN leaks\n": with
//                      a leak check) then the output path (may be
//                      empty: the configured outputs). The path is absolute
//                      (the command makes it so: the watcher's working
//                      directory is not the user's), has no NUL and at most
//                      kMaxPayloadBytes bytes; several outputs are separated
//                      by commas, as in MEMTRACE_OUTPUT.
//   <dir>/<pid>.ack.TOKEN  the answer to one request, and
//   <dir>/<pid>.last   the record of the latest report, both
//                      "memtrace-ack 1 TOKEN\n" then where the report went
//                      ("stderr", or the paths, comma-separated; empty if it
//                      failed; cut to kMaxPayloadBytes). TOKEN is the
//                      request's, or "-" for a report
//                      nobody asked for through the directory (the signal,
//                      an interval).
// TOKEN: 1 to 64 characters of [A-Za-z0-9._-]; `memtrace dump` makes it from
// its pid and the time, so it knows which answer is its own.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace memtrace::control {

inline constexpr size_t kMaxPayloadBytes = 16384;
inline constexpr size_t kMaxTokenBytes = 64;
// Upper bound on either file; a larger one is refused.
inline constexpr size_t kMaxFileBytes = 96 + kMaxPayloadBytes;
inline constexpr char kNoToken[] = "-";

struct DumpRequest {
  std::string token;
  std::string output;  // empty: the configured outputs
  bool leaks = false;  // the report carries leak kinds (a reachability scan)
};

struct Ack {
  std::string token;  // kNoToken when no request was answered
  std::string where;
};

bool ValidToken(std::string_view token);

// Encoders refuse what the parser would refuse; EncodeAck cuts `where`.
absl::StatusOr<std::string> EncodeRequest(const DumpRequest& request);
absl::StatusOr<DumpRequest> ParseRequest(std::string_view bytes);
absl::StatusOr<std::string> EncodeAck(const Ack& ack);
absl::StatusOr<Ack> ParseAck(std::string_view bytes);

}  // namespace memtrace::control
