// Live heap table and the per-site / per-space aggregates it feeds.
#include "src/flush/heap_table.h"

#include <gtest/gtest.h>

namespace memtrace {
namespace {

TEST(HeapTableTest, TracksLiveBytesPerSite) {
  static StackDepot depot;
  ASSERT_TRUE(depot.Init());
  uintptr_t fa[] = {0xa}, fb[] = {0xb};
  const StackRecord* a = depot.Intern(fa, 1);
  const StackRecord* b = depot.Intern(fb, 1);
  SiteTable sites;
  ThreadTable threads;
  threads.OnStart(0, 100, 1, 0, 0);
  threads.OnStart(1, 200, 2, 0, 0);
  HeapTable t(&sites, &threads);
  t.OnAlloc(0x100, 10, a, 1);
  t.OnAlloc(0x200, 20, a, 1);
  t.OnAlloc(0x300, 300, b, 2);
  t.OnFree(0x200);
  t.OnAlloc(0x200, 7, b, 2);  // address reused by another site
  const SiteStats& heap = sites.space_totals(Space::kHeap);
  EXPECT_EQ(heap.live_bytes, 10u + 300 + 7);
  EXPECT_EQ(heap.live_blocks, 3u);
  EXPECT_EQ(heap.allocs, 4u);
  EXPECT_EQ(heap.frees, 1u);
  EXPECT_EQ(heap.alloc_bytes, 337u);
  EXPECT_EQ(sites.peak_live_bytes(), 330u);
  ASSERT_EQ(sites.size(), 2u);
  uint32_t sa = sites.SiteFor(a, Space::kHeap);
  EXPECT_EQ(sites.stack_of(sa), a);
  EXPECT_EQ(sites.site(sa).live_bytes, 10u);
  EXPECT_EQ(sites.site(sa).allocs, 2u);
  EXPECT_EQ(sites.site(sa).frees, 1u);
  EXPECT_EQ(sites.site(sa).peak_live_bytes, 30u);
  EXPECT_EQ(sites.site(sites.SiteFor(b, Space::kHeap)).live_bytes, 307u);
  ASSERT_NE(t.live().Find(0x200), nullptr);
  EXPECT_EQ(t.live().Find(0x200)->size, 7u);
  EXPECT_EQ(t.live().Find(0x200)->thread, 2u);
  // Per thread: thread 1 keeps 10 bytes (allocated 30), thread 2 keeps 307.
  EXPECT_EQ(threads.threads()[1].live_bytes, 10u);
  EXPECT_EQ(threads.threads()[1].alloc_bytes, 30u);
  EXPECT_EQ(threads.threads()[2].live_bytes, 307u);
  EXPECT_EQ(threads.threads()[2].live_blocks, 2u);
  // Same stack, other space: another site.
  EXPECT_NE(sites.SiteFor(a, Space::kAnonMmap), sa);
}

TEST(HeapTableTest, UnmatchedReplacedAndTracerBlocksAreCountedNotGuessed) {
  SiteTable sites;
  ThreadTable threads;
  HeapTable t(&sites, &threads);
  t.OnFree(0x999);
  EXPECT_EQ(t.counters().unmatched_frees, 1u);
  t.OnAlloc(0x100, 10, nullptr, 0);
  t.OnAlloc(0x100, 20, nullptr, 0);  // a free we never saw
  EXPECT_EQ(t.counters().replaced_blocks, 1u);
  EXPECT_EQ(sites.space_totals(Space::kHeap).live_bytes, 20u);
  EXPECT_EQ(sites.space_totals(Space::kHeap).live_blocks, 1u);
  t.OnTracerAlloc(0x500, 16);
  t.OnFree(0x500);
  EXPECT_EQ(t.counters().tracer_frees, 1u);
  EXPECT_EQ(t.counters().unmatched_frees, 1u);
}

// The flusher's shortcut for a temporary (alloc, then its free as the very
// next event) must leave every total exactly as OnAlloc + OnFree would.
TEST(HeapTableTest, AllocFreedMatchesAllocThenFree) {
  static StackDepot depot;
  ASSERT_TRUE(depot.Init());
  uintptr_t fa[] = {0xa}, fb[] = {0xb};
  const StackRecord* a = depot.Intern(fa, 1);
  const StackRecord* b = depot.Intern(fb, 1);
  struct World {
    SiteTable sites;
    ThreadTable threads;
    HeapTable heap{&sites, &threads};
  } slow, fast;
  for (World* w : {&slow, &fast}) {
    w->threads.OnStart(0, 100, 1, 0, 0);
    w->heap.OnAlloc(0x100, 50, a, 1);  // already live: the peaks start from 50
    w->heap.OnAlloc(0x200, 5, b, 1);
  }
  slow.heap.OnAlloc(0x300, 40, a, 1);
  slow.heap.OnFree(0x300);
  ASSERT_TRUE(fast.heap.OnAllocFreed(0x300, 40, a, 1));
  // The refusals: a still-live address and a tracer block take the full path.
  EXPECT_FALSE(fast.heap.OnAllocFreed(0x100, 1, a, 1));
  fast.heap.OnTracerAlloc(0x700, 16);
  slow.heap.OnTracerAlloc(0x700, 16);
  EXPECT_FALSE(fast.heap.OnAllocFreed(0x700, 1, a, 1));

  auto same = [](const SiteStats& x, const SiteStats& y) {
    EXPECT_EQ(x.live_bytes, y.live_bytes);
    EXPECT_EQ(x.live_blocks, y.live_blocks);
    EXPECT_EQ(x.allocs, y.allocs);
    EXPECT_EQ(x.frees, y.frees);
    EXPECT_EQ(x.alloc_bytes, y.alloc_bytes);
    EXPECT_EQ(x.peak_live_bytes, y.peak_live_bytes);
  };
  ASSERT_EQ(slow.sites.size(), fast.sites.size());
  for (size_t i = 0; i < slow.sites.size(); ++i) same(slow.sites.site(i), fast.sites.site(i));
  same(slow.sites.space_totals(Space::kHeap), fast.sites.space_totals(Space::kHeap));
  EXPECT_EQ(slow.sites.peak_live_bytes(), fast.sites.peak_live_bytes());
  EXPECT_EQ(fast.sites.peak_live_bytes(), 95u);
  EXPECT_EQ(fast.sites.site(fast.sites.SiteFor(a, Space::kHeap)).peak_live_bytes, 90u);
  EXPECT_EQ(slow.threads.threads()[1].live_bytes, fast.threads.threads()[1].live_bytes);
  EXPECT_EQ(slow.threads.threads()[1].live_blocks, fast.threads.threads()[1].live_blocks);
  EXPECT_EQ(slow.threads.threads()[1].alloc_bytes, fast.threads.threads()[1].alloc_bytes);
  EXPECT_EQ(fast.heap.live().size(), 2u);
}

}  // namespace
}  // namespace memtrace
