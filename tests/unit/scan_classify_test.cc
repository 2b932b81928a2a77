// memcheck's classification on synthetic memory (scan_fake_process.h): every
// kind, chains, cycles, interior pointers, heuristics, and the root set's
// rules (stacks from sp, TLS, cached stacks, glibc heap, tracer memory).
#include <gtest/gtest.h>

#include "src/scan/scan.h"
#include "tests/unit/scan_fake_process.h"

namespace memtrace::scan {
namespace {

constexpr uint64_t kData = 0x400000;    // a module's writable data: globals
constexpr uint64_t kText = 0x401000;    // its code
constexpr uint64_t kRodata = 0x402000;  // its read-only data (vtables)
constexpr uint64_t kHeap = 0x10000000;  // [heap]
constexpr uint64_t kStack = 0x7f0000000000;
constexpr uint64_t kStackSize = 0x10000;
constexpr uint64_t kStaticTls = 5184;

ScanOptions NoHeuristics() {
  ScanOptions o;
  o.heuristics = 0;
  return o;
}

class ScanClassifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    p_.Map(kData, 0x1000, "/bin/prog", /*file=*/true);
    p_.Map(kText, 0x1000, "/bin/prog", true, /*write=*/false, /*exec=*/true);
    p_.Map(kRodata, 0x1000, "/bin/prog", true, /*write=*/false);
    p_.Map(kHeap, 1 << 20, "[heap]");
  }
  // A heap block; returns its address.
  uint64_t Block(uint64_t offset, uint64_t size) {
    p_.AddBlock(kHeap + offset, size);
    return kHeap + offset;
  }
  const BlockResult& Of(uint64_t addr) {
    for (size_t i = 0; i < p_.blocks().size(); ++i) {
      if (p_.blocks()[i].addr == addr) return result_.blocks[i];
    }
    static BlockResult none;
    ADD_FAILURE() << "no block at " << std::hex << addr;
    return none;
  }
  LeakKind KindOf(uint64_t addr) { return Of(addr).kind; }
  void Run(ScanOptions options = {}) {
    ScanTarget target;
    target.static_tls_size = kStaticTls;
    target.tracer_ranges = tracer_;
    bool resumed = false;
    result_ = ClassifyMemory(p_.blocks(), p_.maps(), p_.threads(), p_, target, options, [&] { resumed = true; });
    EXPECT_TRUE(resumed);
  }

  FakeProcess p_;
  ScanResult result_;
  std::vector<AddressRange> tracer_;
};

TEST_F(ScanClassifyTest, GlobalStartPointerIsReachableAndTheRestDefinite) {
  uint64_t a = Block(0x100, 64), b = Block(0x200, 64);
  p_.Put(kData + 8, a);
  Run();
  EXPECT_EQ(KindOf(a), LeakKind::kReachable);
  EXPECT_EQ(Of(a).holder, kHolderShared);
  EXPECT_EQ(KindOf(b), LeakKind::kDefinite);
  EXPECT_EQ(result_.Total(LeakKind::kReachable).bytes, 64u);
  EXPECT_EQ(result_.Total(LeakKind::kDefinite).blocks, 1u);
}

TEST_F(ScanClassifyTest, ChainBelowALostBlockIsIndirect) {
  uint64_t a = Block(0x1000, 32), b = Block(0x100, 32), c = Block(0x3000, 32);  // b below a: order must not matter
  p_.Put(a, b);
  p_.Put(b + 8, c);
  Run();
  EXPECT_EQ(KindOf(a), LeakKind::kDefinite);
  EXPECT_EQ(KindOf(b), LeakKind::kIndirect);
  EXPECT_EQ(KindOf(c), LeakKind::kIndirect);
  size_t ia = 0;
  while (p_.blocks()[ia].addr != a) ++ia;
  EXPECT_EQ(Of(b).leader, ia);
  EXPECT_EQ(Of(c).leader, ia);
}

TEST_F(ScanClassifyTest, ReachableChainStaysReachable) {
  uint64_t a = Block(0x100, 32), b = Block(0x200, 32), c = Block(0x300, 32);
  p_.Put(kData, a);
  p_.Put(a + 16, b);
  p_.Put(b, c);
  Run();
  EXPECT_EQ(KindOf(a), LeakKind::kReachable);
  EXPECT_EQ(KindOf(b), LeakKind::kReachable);
  EXPECT_EQ(KindOf(c), LeakKind::kReachable);
}

TEST_F(ScanClassifyTest, LostCycleKeepsItsLowestBlockDefinite) {
  uint64_t a = Block(0x100, 32), b = Block(0x200, 32);
  p_.Put(a, b);
  p_.Put(b, a);
  Run();
  EXPECT_EQ(KindOf(a), LeakKind::kDefinite);  // memcheck: the first leader in address order
  EXPECT_EQ(KindOf(b), LeakKind::kIndirect);
}

TEST_F(ScanClassifyTest, CycleHangingOffAHigherLostBlockIsIndirect) {
  // c (highest) -> a <-> b: a leads a clique first, then c's clique takes it.
  uint64_t a = Block(0x100, 32), b = Block(0x200, 32), c = Block(0x900, 32);
  p_.Put(a, b);
  p_.Put(b, a);
  p_.Put(c + 8, a);
  Run();
  EXPECT_EQ(KindOf(c), LeakKind::kDefinite);
  EXPECT_EQ(KindOf(a), LeakKind::kIndirect);
  EXPECT_EQ(KindOf(b), LeakKind::kIndirect);
  size_t ic = 0;
  while (p_.blocks()[ic].addr != c) ++ic;
  EXPECT_EQ(Of(a).leader, ic);
  EXPECT_EQ(Of(b).leader, ic);  // followed its old leader into c's clique
}

TEST_F(ScanClassifyTest, AllocationOrderPicksTheDefiniteBlockOfACycle) {
  uint64_t a = Block(0x100, 32), b = Block(0x200, 32);
  p_.Put(a, b);
  p_.Put(b, a);
  p_.blocks()[0].order = 2;  // b, at the higher address, was allocated first
  p_.blocks()[1].order = 1;
  Run();
  EXPECT_EQ(KindOf(b), LeakKind::kDefinite);
  EXPECT_EQ(KindOf(a), LeakKind::kIndirect);
}

TEST_F(ScanClassifyTest, ReachableCycle) {
  uint64_t a = Block(0x100, 32), b = Block(0x200, 32);
  p_.Put(a, b);
  p_.Put(b, a);
  p_.Put(kData, b);
  Run();
  EXPECT_EQ(KindOf(a), LeakKind::kReachable);
  EXPECT_EQ(KindOf(b), LeakKind::kReachable);
}

TEST_F(ScanClassifyTest, InteriorPointerMakesPossibleAndSoDoesWhatItLeadsTo) {
  uint64_t a = Block(0x100, 64), b = Block(0x200, 32), c = Block(0x300, 32);
  p_.Put(kData, a + 16);  // offset 16: no heuristic fits
  p_.Put(a + 32, b);      // a start pointer, but from a possible block
  p_.Put(kData + 8, c + 31);
  Run(NoHeuristics());
  EXPECT_EQ(KindOf(a), LeakKind::kPossible);
  EXPECT_EQ(KindOf(b), LeakKind::kPossible);
  EXPECT_EQ(KindOf(c), LeakKind::kPossible);
}

TEST_F(ScanClassifyTest, PossibleRisesToReachableWhenAStartPointerIsFound) {
  uint64_t a = Block(0x100, 64), b = Block(0x200, 32), c = Block(0x300, 32);
  p_.Put(kData, a + 16);
  p_.Put(a + 32, b);
  p_.Put(b, c);
  p_.Put(kData + 0x800, b);  // b reachable after all: so is c, not a
  Run();
  EXPECT_EQ(KindOf(a), LeakKind::kPossible);
  EXPECT_EQ(KindOf(b), LeakKind::kReachable);
  EXPECT_EQ(KindOf(c), LeakKind::kReachable);
}

TEST_F(ScanClassifyTest, OnePastTheEndIsNotAPointerButAZeroSizedBlockCoversOneByte) {
  uint64_t a = Block(0x100, 32), z = Block(0x200, 0), n = Block(0x240, 16);
  p_.Put(kData, a + 32);
  p_.Put(kData + 8, z);
  p_.Put(kData + 16, n + 16);  // one past n's end: points to nothing
  Run();
  EXPECT_EQ(KindOf(a), LeakKind::kDefinite);
  EXPECT_EQ(KindOf(z), LeakKind::kReachable);
  EXPECT_EQ(KindOf(n), LeakKind::kDefinite);
}

TEST_F(ScanClassifyTest, UnalignedWordsAreNotPointers) {
  uint64_t a = Block(0x100, 32);
  // a's address written at an odd offset: memcheck reads aligned words only.
  unsigned char bytes[16] = {};
  memcpy(bytes + 4, &a, 8);
  uint64_t w0, w1;
  memcpy(&w0, bytes, 8);
  memcpy(&w1, bytes + 8, 8);
  p_.Put(kData, w0);
  p_.Put(kData + 8, w1);
  Run();
  EXPECT_EQ(KindOf(a), LeakKind::kDefinite);
}

TEST_F(ScanClassifyTest, HeuristicsAcceptTheirInteriorPointers) {
  // length64: *start == size - 8, pointer at +8.
  uint64_t l = Block(0x100, 72);
  p_.Put(l, 64);
  p_.Put(kData, l + 8);
  // newarray: *start == element count dividing size - 8, pointer at +8.
  uint64_t na = Block(0x200, 8 + 3 * 16);
  p_.Put(na, 3);
  p_.Put(kData + 8, na + 8);
  // stdstring: {length, capacity, refcount} then capacity + 1 bytes.
  uint64_t s = Block(0x300, 24 + 40 + 1);
  p_.Put(s, 10);
  p_.Put(s + 8, 40);
  p_.Put(kData + 16, s + 24);
  // multiple inheritance: *start and *ptr both point at vtables (two
  // function pointers into executable file memory).
  uint64_t vt1 = kRodata + 0x10, vt2 = kRodata + 0x100;
  p_.Put(vt1, kText + 0x10);
  p_.Put(vt1 + 8, kText + 0x20);
  p_.Put(vt2, 0);  // a null entry is skipped
  p_.Put(vt2 + 8, kText + 0x30);
  p_.Put(vt2 + 16, kText + 0x40);
  uint64_t mi = Block(0x400, 48);
  p_.Put(mi, vt1);
  p_.Put(mi + 16, vt2);
  p_.Put(kData + 24, mi + 16);
  // Not a vtable: points at writable data.
  uint64_t nv = Block(0x500, 48);
  p_.Put(nv, kData + 0x100);
  p_.Put(nv + 16, vt2);
  p_.Put(kData + 32, nv + 16);
  Run();
  EXPECT_EQ(KindOf(l), LeakKind::kReachable);
  EXPECT_EQ(Of(l).heuristic, kHeuristicLength64);
  EXPECT_EQ(KindOf(na), LeakKind::kReachable);
  EXPECT_EQ(Of(na).heuristic, kHeuristicNewArray);
  EXPECT_EQ(KindOf(s), LeakKind::kReachable);
  EXPECT_EQ(Of(s).heuristic, kHeuristicStdString);
  EXPECT_EQ(KindOf(mi), LeakKind::kReachable);
  EXPECT_EQ(Of(mi).heuristic, kHeuristicMultipleInheritance);
  EXPECT_EQ(KindOf(nv), LeakKind::kPossible);
  EXPECT_EQ(result_.via_heuristic[kHeuristicLength64].bytes, 72u);

  Run(NoHeuristics());
  EXPECT_EQ(KindOf(l), LeakKind::kPossible);
  EXPECT_EQ(KindOf(na), LeakKind::kPossible);
  EXPECT_EQ(KindOf(s), LeakKind::kPossible);
  EXPECT_EQ(KindOf(mi), LeakKind::kPossible);
}

TEST_F(ScanClassifyTest, HeuristicStartPointerAlsoSeenClearsTheHeuristic) {
  uint64_t l = Block(0x100, 72);
  p_.Put(l, 64);
  p_.Put(kData, l + 8);
  p_.Put(kData + 8, l);
  Run();
  EXPECT_EQ(KindOf(l), LeakKind::kReachable);
  EXPECT_EQ(Of(l).heuristic, kHeuristicNone);
}

TEST_F(ScanClassifyTest, StackIsARootFromTheRedZoneUpAndNamesItsThread) {
  p_.Map(kStack, kStackSize);
  uint64_t sp = kStack + 0x8000;
  p_.AddThread(100, kStack + 0xf000);  // main thread elsewhere in the same mapping? no: its own
  p_.threads()[0].sp = 0;              // (no sp: not a stack owner here)
  p_.AddThread(101, sp);
  uint64_t above = Block(0x100, 16), redzone = Block(0x200, 16), below = Block(0x300, 16);
  p_.Put(sp + 0x100, above);
  p_.Put(sp - 64, redzone);  // inside the 128-byte red zone: memcheck keeps it addressable
  p_.Put(sp - 0x400, below);  // a dead frame
  Run();
  EXPECT_EQ(KindOf(above), LeakKind::kReachable);
  EXPECT_EQ(Of(above).holder, 1);  // thread index 1: tid 101
  EXPECT_EQ(result_.threads[1].tid, 101);
  EXPECT_EQ(KindOf(redzone), LeakKind::kReachable);
  EXPECT_EQ(KindOf(below), LeakKind::kDefinite);
  ASSERT_EQ(result_.held_by_thread.size(), 1u);
  EXPECT_EQ(result_.held_by_thread[0].thread, 1);
  EXPECT_EQ(result_.held_by_thread[0].reachable.bytes, 32u);
  // Parked in a system call: the red zone is left over, not live.
  p_.threads()[1].in_syscall = true;
  Run();
  EXPECT_EQ(KindOf(above), LeakKind::kReachable);
  EXPECT_EQ(KindOf(redzone), LeakKind::kDefinite);
}

TEST_F(ScanClassifyTest, HoldersJoin) {
  p_.Map(kStack, kStackSize);
  p_.Map(kStack + 0x100000, kStackSize);
  uint64_t sp1 = kStack + 0x8000, sp2 = kStack + 0x100000 + 0x8000;
  p_.AddThread(1, sp1);
  auto& t2 = p_.AddThread(2, sp2);
  uint64_t only1 = Block(0x100, 16), child1 = Block(0x180, 16), both = Block(0x200, 16), global = Block(0x300, 16),
           reg2 = Block(0x400, 16);
  p_.Put(sp1 + 8, only1);
  p_.Put(only1, child1);
  p_.Put(sp1 + 16, both);
  p_.Put(sp2 + 16, both);
  p_.Put(sp2 + 24, global);
  p_.Put(kData, global);
  t2.gp_regs = {0, reg2 + 4};  // an interior pointer in a register: possible, held by thread 2
  Run();
  EXPECT_EQ(Of(only1).holder, 0);
  EXPECT_EQ(Of(child1).holder, 0);
  EXPECT_EQ(Of(both).holder, kHolderShared);
  EXPECT_EQ(Of(global).holder, kHolderShared);
  EXPECT_EQ(KindOf(reg2), LeakKind::kPossible);
  EXPECT_EQ(Of(reg2).holder, 1);
  ScanOptions no_holders;
  no_holders.attribute_holders = false;
  Run(no_holders);
  EXPECT_EQ(Of(only1).holder, kHolderShared);
  EXPECT_TRUE(result_.held_by_thread.empty());
}

TEST_F(ScanClassifyTest, ThreadTlsOutsideItsStackIsHeldByIt) {
  // The main thread's TLS and descriptor live in the loader's memory.
  uint64_t tls_map = 0x7e0000000000;
  p_.Map(tls_map, 0x3000);
  uint64_t tp = tls_map + 0x1b00;
  p_.Map(kStack, kStackSize, "[stack]");
  p_.AddThread(1, kStack + 0x8000, tp);
  uint64_t in_tls = Block(0x100, 16), elsewhere = Block(0x200, 16);
  p_.Put(tp - 0x200, in_tls);
  p_.Put(tls_map + 0x10, elsewhere);  // same mapping, outside the TLS: a global root (memcheck scans all of it)
  Run();
  EXPECT_EQ(KindOf(in_tls), LeakKind::kReachable);
  EXPECT_EQ(Of(in_tls).holder, 0);
  EXPECT_EQ(KindOf(elsewhere), LeakKind::kReachable);
  EXPECT_EQ(Of(elsewhere).holder, kHolderShared);
}

TEST_F(ScanClassifyTest, CachedStackOfAnExitedThreadOnlyItsTlsIsARoot) {
  uint64_t stack = 0x7d0000000000, size = 0x20000;
  p_.Map(stack - 0x1000, 0x1000, "", false, false, false, /*readable=*/false);  // guard page
  p_.Map(stack, size);
  uint64_t tcb = stack + size - 0x900;  // descriptor near the top
  p_.Put(tcb, tcb);
  p_.Put(tcb + 16, tcb);
  uint64_t in_tls = Block(0x100, 16), in_descriptor = Block(0x180, 16), stale = Block(0x200, 16);
  p_.Put(tcb - 0x100, in_tls);        // static TLS, below the descriptor
  p_.Put(tcb + 0x300, in_descriptor);  // e.g. the DTV pointer
  p_.Put(stack + 0x1000, stale);       // an old frame
  Run();
  EXPECT_EQ(KindOf(in_tls), LeakKind::kReachable);
  EXPECT_EQ(KindOf(in_descriptor), LeakKind::kReachable);
  EXPECT_EQ(KindOf(stale), LeakKind::kDefinite);
  EXPECT_EQ(Of(in_tls).holder, kHolderShared);
}

TEST_F(ScanClassifyTest, ThreadThatDidNotStopHasItsStacksScannedWhole) {
  uint64_t stack = 0x7d0000000000, size = 0x20000;
  p_.Map(stack, size);
  uint64_t tcb = stack + size - 0x900;
  p_.Put(tcb, tcb);
  p_.Put(tcb + 16, tcb);
  auto& t = p_.AddThread(7, 0);
  t.stopped = false;
  uint64_t deep = Block(0x200, 16);
  p_.Put(stack + 0x1000, deep);
  Run();
  EXPECT_EQ(KindOf(deep), LeakKind::kReachable);
}

TEST_F(ScanClassifyTest, GlibcHeapTracerMemoryAndDevicesAreNeverRoots) {
  uint64_t a = Block(0x100, 16), b = Block(0x200, 16), c = Block(0x300, 16), d = Block(0x400, 16);
  p_.Put(kHeap + 0x800, a);  // a free chunk in the brk heap
  uint64_t arena = 0x7c0000000000;  // 64 MiB aligned, starts with heap_info
  p_.Map(arena, 0x21000);
  p_.Put(arena, arena + 0x20);
  p_.Put(arena + 16, 0x21000);
  p_.Put(arena + 24, 0x21000);
  p_.Put(arena + 0x5000, b);
  uint64_t tracer = 0x7b0000000000;
  p_.Map(tracer, 0x1000);
  p_.Put(tracer + 8, c);
  tracer_.push_back({tracer, tracer + 0x1000});
  p_.Map(0x7a0000000000, 0x1000, "/dev/nvidia0", true);
  p_.Put(0x7a0000000000, d);
  Run();
  EXPECT_EQ(KindOf(a), LeakKind::kDefinite);
  EXPECT_EQ(KindOf(b), LeakKind::kDefinite);
  EXPECT_EQ(KindOf(c), LeakKind::kDefinite);
  EXPECT_EQ(KindOf(d), LeakKind::kDefinite);
}

TEST_F(ScanClassifyTest, UntrackedAnonymousMemoryIsARootLikeMemcheckUnlessAsked) {
  uint64_t anon = 0x7c0000100000;
  p_.Map(anon, 0x2000);
  uint64_t a = Block(0x100, 16);
  p_.Put(anon + 0x10, a);
  Run();
  EXPECT_EQ(KindOf(a), LeakKind::kReachable);
  ScanOptions lsan;
  lsan.untracked_mappings_are_roots = false;
  Run(lsan);
  EXPECT_EQ(KindOf(a), LeakKind::kDefinite);
}

TEST_F(ScanClassifyTest, ModuleBssIsARootInEitherMode) {
  uint64_t bss = kData + 0x1000 + 0x2000;  // after kRodata: map file rw then anonymous right after
  p_.Map(bss - 0x1000, 0x1000, "/lib/x.so", true);
  p_.Map(bss, 0x1000);
  uint64_t a = Block(0x100, 16);
  p_.Put(bss + 0x10, a);
  ScanOptions lsan;
  lsan.untracked_mappings_are_roots = false;
  Run(lsan);
  EXPECT_EQ(KindOf(a), LeakKind::kReachable);
}

TEST_F(ScanClassifyTest, TrackedMappingsAreBlocksAndFlaggedOnesAreRoots) {
  uint64_t m1 = 0x7c0000200000, m2 = 0x7c0000300000, rt = 0x7c0000400000;
  p_.Map(m1, 0x4000);
  p_.Map(m2, 0x4000);
  p_.Map(rt, 0x4000);
  p_.AddBlock(m1, 0x4000, BlockSpace::kMapping);
  p_.AddBlock(m2, 0x4000, BlockSpace::kMapping);
  p_.AddBlock(rt, 0x4000, BlockSpace::kMapping, kBlockRoot);
  uint64_t in_m1 = Block(0x100, 16), in_m2 = Block(0x200, 16), in_rt = Block(0x300, 16);
  p_.Put(kData, m1);
  p_.Put(m1 + 0x100, in_m1);
  p_.Put(m2 + 0x100, in_m2);
  p_.Put(rt + 0x100, in_rt);
  Run();
  EXPECT_EQ(KindOf(m1), LeakKind::kReachable);
  EXPECT_EQ(KindOf(in_m1), LeakKind::kReachable);
  EXPECT_EQ(KindOf(m2), LeakKind::kDefinite);
  EXPECT_EQ(KindOf(in_m2), LeakKind::kIndirect);
  EXPECT_EQ(KindOf(in_rt), LeakKind::kReachable);
  EXPECT_FALSE(Of(rt).classified);
  EXPECT_EQ(result_.totals[1][static_cast<int>(LeakKind::kDefinite)].bytes, 0x4000u);
  EXPECT_EQ(result_.totals[0][static_cast<int>(LeakKind::kIndirect)].bytes, 16u);
}

TEST_F(ScanClassifyTest, MappingHoldingHeapBlocksIsAnArenaNotABlock) {
  uint64_t m = 0x7c0000200000;
  p_.Map(m, 0x10000);
  p_.AddBlock(m, 0x10000, BlockSpace::kMapping);
  p_.AddBlock(m + 0x100, 32);
  p_.Put(m + 0x800, m + 0x100);  // inside the arena but not in a block: not a root
  Run();
  EXPECT_FALSE(Of(m).classified);
  EXPECT_EQ(result_.excluded_blocks, 1u);
  EXPECT_EQ(KindOf(m + 0x100), LeakKind::kDefinite);
}

TEST_F(ScanClassifyTest, UnreadableMemoryIsSkippedAndCounted) {
  uint64_t m = 0x7c0000200000;
  p_.AddBlock(m, 0x3000, BlockSpace::kMapping);  // mapped nowhere: every read fails
  p_.Put(kData, m);
  Run();
  EXPECT_EQ(KindOf(m), LeakKind::kReachable);
  EXPECT_EQ(result_.unreadable_bytes, 0x3000u);
}

TEST_F(ScanClassifyTest, TwoReadingThreadsFindWhatOneFinds) {
  // 20,000 blocks (enough for the block scan to split between threads): a
  // chain from a global, every tenth link cut.
  std::vector<uint64_t> a;
  for (int i = 0; i < 20000; ++i) a.push_back(Block(0x1000 + i * 48, 40));
  for (int i = 0; i + 1 < 20000; ++i) {
    if ((i + 1) % 10 != 0) p_.Put(a[i] + 8, a[i + 1]);
  }
  p_.Put(kData, a[0]);
  ScanOptions one;
  one.read_threads = 1;
  Run(one);
  std::vector<LeakKind> kinds;
  for (uint64_t x : a) kinds.push_back(KindOf(x));
  uint64_t pointers = result_.pointers;
  ScanOptions two;
  two.read_threads = 2;
  Run(two);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(KindOf(a[i]), kinds[i]) << i;
  EXPECT_EQ(result_.pointers, pointers);
  EXPECT_EQ(KindOf(a[5]), LeakKind::kReachable);
  EXPECT_EQ(KindOf(a[10]), LeakKind::kDefinite);
  EXPECT_EQ(KindOf(a[11]), LeakKind::kIndirect);
  EXPECT_EQ(result_.Total(LeakKind::kDefinite).blocks, 1999u);
}

TEST_F(ScanClassifyTest, LargeReservationsAreReadOnlyWherePagesExist) {
  uint64_t big = 0x7e0000000000, huge = 0x700000000000;
  p_.MapSparse(big, 1ull << 30);    // 1 GiB reserved, two pages touched
  p_.MapSparse(huge, 1ull << 40);   // 1 TiB (a sanitizer's shadow): not even asked
  uint64_t a = Block(0x100, 16), b = Block(0x200, 16), c = Block(0x300, 16);
  p_.Put(big + 0x12340, a);
  p_.Put(big + (1ull << 29), b);
  p_.Put(huge + 0x1000, c);
  Run();
  EXPECT_EQ(KindOf(a), LeakKind::kReachable);
  EXPECT_EQ(KindOf(b), LeakKind::kReachable);
  EXPECT_EQ(KindOf(c), LeakKind::kDefinite);  // missed, and said so
  EXPECT_EQ(result_.absent_bytes, (1ull << 30) - 2 * 4096);
  EXPECT_EQ(result_.unscanned_bytes, 1ull << 40);
  EXPECT_LT(result_.root_bytes, 1ull << 20);
  bool noted = false;
  for (const auto& n : result_.notes) noted |= n.find("not scanned") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST_F(ScanClassifyTest, BlocksAreReadInFewPieces) {
  // 1000 adjacent blocks, each pointing to the next: one read, not 1000.
  std::vector<uint64_t> a;
  for (int i = 0; i < 1000; ++i) a.push_back(Block(0x1000 + i * 64, 48));
  for (int i = 0; i + 1 < 1000; ++i) p_.Put(a[i] + 8, a[i + 1]);
  p_.Put(kData, a[0]);
  int before = p_.reads();
  Run();
  EXPECT_LT(p_.reads() - before, 20);
  for (uint64_t x : a) ASSERT_EQ(KindOf(x), LeakKind::kReachable);
}

}  // namespace
}  // namespace memtrace::scan
