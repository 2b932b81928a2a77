// The CFI unwinder against libunwind, frame by frame, on code built without
// frame pointers: deep recursion, big and variable-size frames, a qsort
// callback through libc, std::sort, a second thread, and many call paths.
#define UNW_LOCAL_ONLY
#include "src/capture/cfi_unwinder.h"
#include "src/capture/stack_bounds.h"
#include "src/capture/stack_depot.h"
#include "src/capture/stack_memo.h"

#include <gtest/gtest.h>
#include <libunwind.h>
#include <pthread.h>
#include <stdlib.h>

#include <algorithm>
#include <thread>
#include <vector>

namespace memtrace {
namespace {

// A thread not started through the preload's pthread_create hook has no
// recorded bounds (stack_bounds.h); the test records them as the trampoline
// would (here from pthread_getattr_np: a test is not a hook).
void RecordStackOfThisThread() {
  pthread_attr_t attr;
  void* addr = nullptr;
  size_t size = 0;
  ASSERT_EQ(pthread_getattr_np(pthread_self(), &attr), 0);
  pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  RecordThreadStack(reinterpret_cast<uintptr_t>(addr), size, reinterpret_cast<uintptr_t>(__builtin_frame_address(0)));
}

struct Compared {
  int cfi = 0, unw = 0, matched = 0;
};

__attribute__((noinline)) Compared CompareHere() {
  uintptr_t cfi[128];
  void* unw[128];
  Compared c;
  c.cfi = g_cfi_unwinder.Capture(cfi, 128);
  c.unw = unw_backtrace(unw, 128);
  // Frame 0 differs (two call sites in this function); compare the callers.
  for (int i = 1; i < c.cfi && i < c.unw; ++i) {
    if (cfi[i] != reinterpret_cast<uintptr_t>(unw[i])) break;
    ++c.matched;
  }
  return c;
}

std::vector<Compared> g_results;

__attribute__((noinline)) int Leaf(int x) {
  g_results.push_back(CompareHere());
  asm volatile("" ::: "memory");
  return x + 1;
}

__attribute__((noinline)) int BigFrame(int x) {
  volatile char buf[70000];
  buf[x % 100] = static_cast<char>(x);
  return Leaf(buf[x % 100]) + 1;
}

__attribute__((noinline)) int Alloca(int x) {
  volatile char* p = static_cast<volatile char*>(alloca(static_cast<size_t>(100 + x % 50)));
  p[0] = 1;
  return BigFrame(x + p[0]) + 1;
}

__attribute__((noinline)) int Recurse(int depth, int x);
__attribute__((noinline)) int PathA(int depth, int x) { return Recurse(depth - 1, (x * 3) % 1000) + 2; }
__attribute__((noinline)) int PathB(int depth, int x) {
  volatile int pad[17] = {x};
  return Recurse(depth - 1, pad[0] + 1) + pad[16];
}

__attribute__((noinline)) int Recurse(int depth, int x) {
  if (depth <= 0) return (x & 1) ? Alloca(x) : Leaf(x);
  int r = (x % 3 == 0) ? PathA(depth, x) : PathB(depth, x);
  asm volatile("" ::: "memory");
  return r + 1;
}

int CompareInts(const void* a, const void* b) {
  static bool done = false;
  if (!done) {
    done = true;
    Recurse(5, 1);
  }
  return *static_cast<const int*>(a) - *static_cast<const int*>(b);
}

void CheckAll() {
  ASSERT_FALSE(g_results.empty());
  for (const Compared& c : g_results) {
    ASSERT_GT(c.cfi, 0) << "the CFI unwinder fell back";
    EXPECT_GE(c.matched, 6);
    // Identical up to the outermost frame (which libunwind may report once more).
    EXPECT_GE(c.matched + 2, std::min(c.cfi, c.unw)) << "cfi " << c.cfi << " unw " << c.unw;
  }
  g_results.clear();
}

TEST(CfiUnwinderTest, MatchesLibunwindOnManyPaths) {
  ASSERT_TRUE(g_cfi_unwinder.Init());
  for (int i = 0; i < 300; ++i) Recurse(2 + i % 23, i);  // cache misses first, then hits
  for (int i = 0; i < 300; ++i) Recurse(2 + i % 23, i);
  CheckAll();
  EXPECT_EQ(g_cfi_unwinder.fallbacks(), 0u);
}

TEST(CfiUnwinderTest, MatchesThroughLibcCallback) {
  ASSERT_TRUE(g_cfi_unwinder.Init());
  int v[64];
  for (int i = 0; i < 64; ++i) v[i] = (i * 37) % 64;
  qsort(v, 64, sizeof(int), CompareInts);  // the callback's stack runs through libc's qsort
  CheckAll();
}

TEST(CfiUnwinderTest, MatchesInStdSortOnAnotherThread) {
  ASSERT_TRUE(g_cfi_unwinder.Init());
  std::thread t([] {
    RecordStackOfThisThread();  // what our pthread_create trampoline does for the program's threads
    std::vector<int> v(100);
    for (int i = 0; i < 100; ++i) v[i] = (i * 31) % 100;
    bool once = false;
    std::sort(v.begin(), v.end(), [&once](int a, int b) {
      if (!once) {
        once = true;
        Recurse(3, a);
      }
      return a < b;
    });
  });
  t.join();
  CheckAll();
}

// The walk memo (stack_memo.h) must return exactly what a fresh walk
// returns, also when different call paths reach the allocation at the same
// stack depth with the same frame shapes -- the case where the starting
// frame address is the same and only the words further up differ.
int g_memo_hits = 0;

// Both walk from their own frame, as a hook does (capture.h).
__attribute__((noinline)) const StackRecord* MemoWalk(StackMemo& memo) {
  uintptr_t raw[128];
  auto fp0 = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  if (const StackRecord* hit = memo.Find(fp0, 0)) {
    ++g_memo_hits;
    return hit;
  }
  int n = g_cfi_unwinder.Walk(fp0, raw, 128, &memo, 0);
  if (n < 0) return nullptr;
  const StackRecord* r = g_depot.Intern(raw, static_cast<uint32_t>(n));
  memo.Commit(r);
  asm volatile("" ::: "memory");
  return r;
}

__attribute__((noinline)) const StackRecord* PlainWalk() {
  uintptr_t raw[128];
  auto fp0 = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  int n = g_cfi_unwinder.Walk(fp0, raw, 128);
  const StackRecord* r = n < 0 ? nullptr : g_depot.Intern(raw, static_cast<uint32_t>(n));
  asm volatile("" ::: "memory");
  return r;
}

struct WalkPair {
  const StackRecord* memo;
  const StackRecord* plain;
};

__attribute__((noinline)) WalkPair BothWalks(StackMemo& memo, int x) {
  WalkPair w{MemoWalk(memo), nullptr};
  asm volatile("" ::: "memory");
  w.plain = PlainWalk();
  asm volatile("" ::: "memory");
  (void)x;
  return w;
}

// Eight identical frames between the walk and where the paths differ.
__attribute__((noinline)) WalkPair Chain(StackMemo& memo, int depth, int x) {
  WalkPair w = depth == 0 ? BothWalks(memo, x) : Chain(memo, depth - 1, x);
  asm volatile("" ::: "memory");
  return w;
}

// Two functions of identical shape: the same frame size, so BothWalks runs
// at the same depth from either.
__attribute__((noinline)) WalkPair ShapeA(StackMemo& memo, int x) {
  WalkPair w = Chain(memo, 8, x + 1);
  asm volatile("" ::: "memory");
  return w;
}
__attribute__((noinline)) WalkPair ShapeB(StackMemo& memo, int x) {
  WalkPair w = Chain(memo, 8, x + 2);
  asm volatile("" ::: "memory");
  return w;
}
__attribute__((noinline)) WalkPair Outer1(StackMemo& memo, int x) {
  WalkPair w = (x & 1) ? ShapeA(memo, x) : ShapeB(memo, x);
  asm volatile("" ::: "memory");
  return w;
}
__attribute__((noinline)) WalkPair Outer2(StackMemo& memo, int x) {  // not foldable into Outer1
  WalkPair w = (x & 1) ? ShapeA(memo, x * 3) : ShapeB(memo, x * 5);
  asm volatile("" ::: "memory");
  return w;
}

TEST(StackMemoTest, SameDepthDifferentCallersNeverShareAStack) {
  ASSERT_TRUE(g_cfi_unwinder.Init());
  ASSERT_TRUE(g_depot.Init());
  static StackMemo memo;
  memo.Clear();
  g_memo_hits = 0;
  std::vector<const StackRecord*> seen;
  for (int i = 0; i < 400; ++i) {
    WalkPair w = (i / 2) % 2 ? Outer1(memo, i) : Outer2(memo, i);
    ASSERT_NE(w.memo, nullptr);
    ASSERT_NE(w.plain, nullptr);
    // Frame 0 is the return into BothWalks (two call sites); from there on
    // the stacks must be identical. They first differ nine frames up, in
    // ShapeA/ShapeB and Outer1/Outer2.
    ASSERT_EQ(w.memo->depth, w.plain->depth) << "iteration " << i;
    std::vector<uintptr_t> memo_frames, plain_frames;
    w.memo->ForEachFrame([&](uintptr_t a) { memo_frames.push_back(a); });
    w.plain->ForEachFrame([&](uintptr_t a) { plain_frames.push_back(a); });
    for (uint32_t f = 1; f < w.memo->depth; ++f) {
      ASSERT_EQ(memo_frames[f], plain_frames[f]) << "iteration " << i << " frame " << f;
    }
    if (std::find(seen.begin(), seen.end(), w.memo) == seen.end()) seen.push_back(w.memo);
  }
  EXPECT_EQ(seen.size(), 4u);        // {Outer1, Outer2} x {ShapeA, ShapeB}
  EXPECT_GE(g_memo_hits, 400 - 8);   // and after the first of each, all hits
}

}  // namespace
}  // namespace memtrace
