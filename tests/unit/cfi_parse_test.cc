// The .eh_frame evaluator (cfi_parse.h) on records it must read right, on
// every truncation and corruption of them (never a read outside the given
// bytes: the ASan build checks), and on the real .eh_frame of this test.
#include "src/capture/cfi_parse.h"

#include <gtest/gtest.h>
#include <link.h>

#include <cstdint>
#include <cstring>
#include <vector>

// libgcc's lookup, as the unwinder calls it.
struct EhBases {
  void* tbase;
  void* dbase;
  void* func;
};
extern "C" const void* _Unwind_Find_FDE(const void* pc, EhBases* bases);

namespace memtrace {
namespace {

// A GCC-style CIE ("zR", code 1, data -8, RA r16, pcrel sdata4; CFA=rsp+8,
// RA at CFA-8) and an FDE for a function at `func`: push rbp (1 byte), mov
// rbp,rsp (3 bytes), then CFA=rbp+16 with RBP saved at CFA-16.
std::vector<uint8_t> Section() {
  return {
      20, 0, 0, 0,  0, 0, 0, 0,  1,  'z', 'R', 0,  1, 0x78, 16, 1, 0x1b,  // CIE header
      0x0c, 7, 8,  0x90, 1,  0, 0,                                        // def_cfa rsp+8; r16 at cfa-8; nops
      24, 0, 0, 0,  28, 0, 0, 0,  0, 0, 0, 0,  0x20, 0, 0, 0,  0,         // FDE: CIE back 28, begin, range, aug 0
      0x41, 0x0e, 16, 0x86, 2, 0x43, 0x0d, 6,  0, 0, 0,                   // advance 1; cfa+16; rbp@-16; advance 3; cfa=rbp
  };
}

constexpr uintptr_t kFunc = 0x1000;

CfiRule At(const std::vector<uint8_t>& s, size_t fde_offset, uintptr_t pc) {
  // A heap copy of exactly the bytes: ASan reports any read outside.
  std::vector<uint8_t> copy(s);
  uintptr_t lo = reinterpret_cast<uintptr_t>(copy.data());
  return ComputeCfiRule(lo, lo + copy.size(), lo + fde_offset, kFunc, pc);
}

TEST(CfiParseTest, EvaluatesTheRowAtEachAddress) {
  std::vector<uint8_t> s = Section();
  CfiRule entry = At(s, 24, kFunc);
  EXPECT_TRUE(entry.ok);
  EXPECT_FALSE(entry.cfa_rbp);
  EXPECT_EQ(entry.cfa_off, 8);
  EXPECT_EQ(entry.rbp_off, 0);
  CfiRule pushed = At(s, 24, kFunc + 1);
  EXPECT_TRUE(pushed.ok);
  EXPECT_FALSE(pushed.cfa_rbp);
  EXPECT_EQ(pushed.cfa_off, 16);
  EXPECT_EQ(pushed.rbp_off, -16);
  CfiRule framed = At(s, 24, kFunc + 10);
  EXPECT_TRUE(framed.ok);
  EXPECT_TRUE(framed.cfa_rbp);
  EXPECT_EQ(framed.cfa_off, 16);
  EXPECT_EQ(framed.rbp_off, -16);
}

TEST(CfiParseTest, EveryTruncationIsRefusedInsideTheBytes) {
  std::vector<uint8_t> s = Section();
  for (size_t n = 0; n < s.size(); ++n) {
    std::vector<uint8_t> cut(s.begin(), s.begin() + static_cast<long>(n));
    if (n >= 28) {
      EXPECT_FALSE(At(cut, 24, kFunc + 10).ok) << n;
    }
    for (size_t at = 0; at < n; ++at) At(cut, at, kFunc + 10);  // any start: no crash, no read outside
  }
}

TEST(CfiParseTest, CorruptRecordsAreNotOk) {
  std::vector<uint8_t> s = Section();
  auto with = [&](size_t at, uint8_t v) {
    std::vector<uint8_t> c = s;
    c[at] = v;
    return At(c, 24, kFunc + 10);
  };
  EXPECT_FALSE(with(28, 100).ok);   // the CIE pointer points before the section
  EXPECT_FALSE(with(28, 0).ok);     // 0: the FDE would be a CIE
  EXPECT_FALSE(with(24, 200).ok);   // the FDE claims to go past the end
  EXPECT_FALSE(with(0, 200).ok);    // so does the CIE
  EXPECT_FALSE(with(4, 1).ok);      // the CIE's id is not 0
  EXPECT_FALSE(with(10, 'S').ok);   // a signal frame
  EXPECT_FALSE(with(10, 'X').ok);   // an augmentation we do not know
  // An augmentation string with no NUL inside the CIE.
  std::vector<uint8_t> c = s;
  for (size_t i = 9; i < 24; ++i) c[i] = 'z';
  EXPECT_FALSE(At(c, 24, kFunc + 10).ok);
  // A LEB128 that never ends, and offsets far out of range: no overflow trap.
  c = s;
  c[16] = 0xff;  // the R encoding byte
  At(c, 24, kFunc + 10);
  std::vector<uint8_t> big = s;
  big[41] = 0x0e;
  EXPECT_FALSE(At(big, 24, kFunc + 10).ok && At(big, 24, kFunc + 10).cfa_off < 0);
}

TEST(CfiParseTest, PackedRuleRoundTrips) {
  CfiRule r;
  r.ok = r.cfa_rbp = true;
  r.cfa_off = 16;
  r.rbp_off = -16;
  bool packable = false;
  CfiRule back = UnpackCfiRule(PackCfiRule(r, &packable));
  EXPECT_TRUE(packable);
  EXPECT_TRUE(back.ok && back.cfa_rbp && !back.end);
  EXPECT_EQ(back.cfa_off, 16);
  EXPECT_EQ(back.rbp_off, -16);
  r.rbp_off = INT64_MAX;  // wraps nowhere: simply not packable, so not ok
  EXPECT_FALSE(UnpackCfiRule(PackCfiRule(r, &packable)).ok);
  EXPECT_FALSE(packable);
}

// This test's own .eh_frame, found as the unwinder finds it, bounded by the
// segment that holds it: the same rule as unbounded, and ok for plain code.
struct Segment {
  uintptr_t addr, lo, hi;
};

int FindSegment(dl_phdr_info* info, size_t, void* data) {
  auto* seg = static_cast<Segment*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && seg->addr >= start && seg->addr < start + ph.p_memsz) {
      seg->lo = start;
      seg->hi = start + ph.p_memsz;
      return 1;
    }
  }
  return 0;
}

__attribute__((noinline)) int PlainFunction(int x) { return x * 3 + 1; }

TEST(CfiParseTest, RealEhFrameBoundedByItsSegment) {
  uintptr_t pc = reinterpret_cast<uintptr_t>(&PlainFunction) + 1;
  EhBases bases{};
  const void* fde = _Unwind_Find_FDE(reinterpret_cast<const void*>(pc), &bases);
  ASSERT_NE(fde, nullptr);
  Segment seg{reinterpret_cast<uintptr_t>(fde), 0, 0};
  ASSERT_EQ(dl_iterate_phdr(&FindSegment, &seg), 1);
  uintptr_t func = reinterpret_cast<uintptr_t>(bases.func);
  CfiRule bounded = ComputeCfiRule(seg.lo, seg.hi, reinterpret_cast<uintptr_t>(fde), func, pc);
  CfiRule open = ComputeCfiRule(0, UINTPTR_MAX, reinterpret_cast<uintptr_t>(fde), func, pc);
  EXPECT_TRUE(bounded.ok);
  EXPECT_EQ(bounded.cfa_off, open.cfa_off);
  EXPECT_EQ(bounded.cfa_rbp, open.cfa_rbp);
  EXPECT_EQ(bounded.rbp_off, open.rbp_off);
  EXPECT_EQ(PlainFunction(2), 7);
}

}  // namespace
}  // namespace memtrace
