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
  t.OnTracerAlloc(0x500);
  t.OnFree(0x500);
  EXPECT_EQ(t.counters().tracer_frees, 1u);
  EXPECT_EQ(t.counters().unmatched_frees, 1u);
}

}  // namespace
}  // namespace memtrace
