// Fuzz target: the .eh_frame evaluator (src/capture/cfi_parse.h), which runs
// inside every traced program on the unwind tables of every module it loads.
// Input: 8 bytes of parameters (pc offset, FDE offset) then a section. Every
// FDE the section's record chain reaches is evaluated at a few addresses, and
// one at the offset the parameters name (any offset: a wrong pointer must
// not read outside either). libFuzzer's buffer is exactly the input, so ASan
// reports any read outside [lo, hi).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "src/capture/cfi_parse.h"

using memtrace::CfiRule;
using memtrace::ComputeCfiRule;

namespace {

void Check(const CfiRule& r) {
  // What the unwinder does next with the rule must be well defined.
  bool packable = false;
  uint64_t v = memtrace::PackCfiRule(r, &packable);
  CfiRule back = memtrace::UnpackCfiRule(v);
  if (packable && (back.ok != r.ok || back.cfa_off != r.cfa_off || back.rbp_off != r.rbp_off)) __builtin_trap();
  if (!packable && back.ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint32_t pc_off, fde_off;
  std::memcpy(&pc_off, data, 4);
  std::memcpy(&fde_off, data + 4, 4);
  // The section in a buffer of its own, exactly sized.
  std::vector<uint8_t> section(data + 8, data + size);
  if (section.empty()) return 0;
  const uintptr_t lo = reinterpret_cast<uintptr_t>(section.data());
  const uintptr_t hi = lo + section.size();
  const uintptr_t func = 0x400000;
  const uintptr_t pcs[] = {func, func + (pc_off & 0xff), func + pc_off, func + 0x10000};
  size_t at = 0;
  for (int records = 0; records < 64 && section.size() - at >= 8; ++records) {
    uint32_t len, id;
    std::memcpy(&len, section.data() + at, 4);
    std::memcpy(&id, section.data() + at + 4, 4);
    if (len == 0 || len == 0xffffffff || len > section.size() - at - 4) break;
    if (id != 0) {
      for (uintptr_t pc : pcs) Check(ComputeCfiRule(lo, hi, lo + at, func, pc));
    }
    at += 4 + len;
  }
  Check(ComputeCfiRule(lo, hi, lo + fde_off % section.size(), func, pcs[2]));
  return 0;
}
