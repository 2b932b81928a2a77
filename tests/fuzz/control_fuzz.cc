// Fuzz target: the control-file protocol (src/trigger/control_protocol.h),
// the bytes `memtrace dump` writes and the watcher reads (and the
// acknowledgement back). Whatever is accepted is encoded again and must read
// back the same; nothing accepted may carry a NUL or a relative path.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "src/trigger/control_protocol.h"

namespace control = memtrace::control;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<control::DumpRequest> request = control::ParseRequest(bytes);
  if (request.ok()) {
    if (!control::ValidToken(request->token)) __builtin_trap();
    if (request->output.find('\0') != std::string::npos) __builtin_trap();
    if (!request->output.empty() && request->output[0] != '/') __builtin_trap();
    absl::StatusOr<std::string> again = control::EncodeRequest(*request);
    if (!again.ok() || *again != bytes) __builtin_trap();
  }
  absl::StatusOr<control::Ack> ack = control::ParseAck(bytes);
  if (ack.ok()) {
    absl::StatusOr<std::string> again = control::EncodeAck(*ack);
    if (!again.ok() || *again != bytes) __builtin_trap();
  }
  // The encoders with the input as a path: refuse or round-trip.
  std::string path(bytes);
  absl::StatusOr<std::string> enc = control::EncodeRequest(control::DumpRequest{"123-4.5", path});
  if (enc.ok()) {
    absl::StatusOr<control::DumpRequest> back = control::ParseRequest(*enc);
    if (!back.ok() || back->output != path) __builtin_trap();
  }
  absl::StatusOr<std::string> enc_ack = control::EncodeAck(control::Ack{control::kNoToken, path});
  if (!enc_ack.ok() || !control::ParseAck(*enc_ack).ok()) __builtin_trap();
  return 0;
}
