// The CFI unwinder against libunwind, frame by frame, on code built without
// frame pointers: deep recursion, big and variable-size frames, a qsort
// callback through libc, std::sort, a second thread, and many call paths.
#define UNW_LOCAL_ONLY
#include "src/capture/cfi_unwinder.h"

#include <gtest/gtest.h>
#include <libunwind.h>
#include <stdlib.h>

#include <algorithm>
#include <thread>
#include <vector>

namespace memtrace {
namespace {

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

}  // namespace
}  // namespace memtrace
