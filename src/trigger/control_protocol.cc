// The control directory's two small file formats (see control_protocol.h).
#include "src/trigger/control_protocol.h"

#include "absl/strings/str_cat.h"

namespace memtrace::control {
namespace {

constexpr std::string_view kRequestMagic = "memtrace-dump 1 ";
constexpr std::string_view kAckMagic = "memtrace-ack 1 ";

// "MAGIC TOKEN[ OPTIONS]\n" then the payload; the token may be "-" only in
// an ack; `options` (null: none allowed) gets what follows the token.
absl::Status Split(std::string_view bytes, std::string_view magic, bool allow_no_token, std::string* token,
                   std::string_view* options, std::string_view* payload) {
  if (bytes.size() > kMaxFileBytes) return absl::InvalidArgumentError(absl::StrCat("larger than ", kMaxFileBytes, " bytes"));
  if (bytes.substr(0, magic.size()) != magic) {
    return absl::InvalidArgumentError(absl::StrCat("does not start with \"", std::string(magic), "\""));
  }
  bytes.remove_prefix(magic.size());
  size_t eol = bytes.find('\n');
  if (eol == std::string_view::npos) return absl::InvalidArgumentError("no end of line after the token");
  std::string_view t = bytes.substr(0, eol);
  if (size_t space = t.find(' '); space != std::string_view::npos) {
    if (options == nullptr) return absl::InvalidArgumentError("bad token");
    *options = t.substr(space + 1);
    // One canonical form: a space is followed by an option.
    if (options->empty()) return absl::InvalidArgumentError("empty option after the token");
    t = t.substr(0, space);
  }
  if (!(ValidToken(t) || (allow_no_token && t == kNoToken))) return absl::InvalidArgumentError("bad token");
  *token = std::string(t);
  *payload = bytes.substr(eol + 1);
  if (payload->size() > kMaxPayloadBytes) return absl::InvalidArgumentError("payload too long");
  if (payload->find('\0') != std::string_view::npos) return absl::InvalidArgumentError("NUL byte in the payload");
  return absl::OkStatus();
}

}  // namespace

bool ValidToken(std::string_view token) {
  if (token.empty() || token.size() > kMaxTokenBytes) return false;
  for (char c : token) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok) return false;
  }
  return token != kNoToken;
}

absl::StatusOr<std::string> EncodeRequest(const DumpRequest& request) {
  if (!ValidToken(request.token)) return absl::InvalidArgumentError("bad token");
  if (request.output.size() > kMaxPayloadBytes) return absl::InvalidArgumentError("output path too long");
  if (request.output.find('\0') != std::string::npos) return absl::InvalidArgumentError("NUL byte in the output path");
  if (!request.output.empty() && request.output[0] != '/') {
    return absl::InvalidArgumentError("the output path must be absolute");
  }
  return absl::StrCat(std::string(kRequestMagic), request.token, request.leaks ? " leaks" : "", "\n", request.output);
}

absl::StatusOr<DumpRequest> ParseRequest(std::string_view bytes) {
  DumpRequest r;
  std::string_view payload, options;
  if (absl::Status s = Split(bytes, kRequestMagic, /*allow_no_token=*/false, &r.token, &options, &payload); !s.ok()) {
    return s;
  }
  if (options == "leaks") r.leaks = true;
  else if (!options.empty()) return absl::InvalidArgumentError("unknown request option");
  if (!payload.empty() && payload[0] != '/') return absl::InvalidArgumentError("the output path is not absolute");
  r.output = std::string(payload);
  return r;
}

absl::StatusOr<std::string> EncodeAck(const Ack& ack) {
  if (!(ValidToken(ack.token) || ack.token == kNoToken)) return absl::InvalidArgumentError("bad token");
  std::string where = ack.where.substr(0, kMaxPayloadBytes);
  for (char& c : where) {
    if (c == '\0') c = '?';
  }
  return absl::StrCat(std::string(kAckMagic), ack.token, "\n", where);
}

absl::StatusOr<Ack> ParseAck(std::string_view bytes) {
  Ack a;
  std::string_view payload;
  if (absl::Status s = Split(bytes, kAckMagic, /*allow_no_token=*/true, &a.token, nullptr, &payload); !s.ok()) {
    return s;
  }
  a.where = std::string(payload);
  return a;
}

}  // namespace memtrace::control
