// Live table and per-site aggregates.
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
  HeapTable t;
  t.OnAlloc(0x100, 10, a, 1, 1);
  t.OnAlloc(0x200, 20, a, 1, 2);
  t.OnAlloc(0x300, 300, b, 2, 3);
  t.OnFree(0x200);
  t.OnAlloc(0x200, 7, b, 2, 4);  // address reused by another site
  EXPECT_EQ(t.totals().live_bytes, 10u + 300 + 7);
  EXPECT_EQ(t.totals().live_blocks, 3u);
  EXPECT_EQ(t.totals().allocs, 4u);
  EXPECT_EQ(t.totals().frees, 1u);
  EXPECT_EQ(t.totals().alloc_bytes, 337u);
  EXPECT_EQ(t.totals().peak_live_bytes, 330u);
  ASSERT_EQ(t.site_count(), 3u);  // no-stack site + a + b
  EXPECT_EQ(t.stack_of(1), a);
  EXPECT_EQ(t.site(1).live_bytes, 10u);
  EXPECT_EQ(t.site(1).allocs, 2u);
  EXPECT_EQ(t.site(1).frees, 1u);
  EXPECT_EQ(t.site(1).peak_live_bytes, 30u);
  EXPECT_EQ(t.site(2).live_bytes, 307u);
  EXPECT_EQ(t.live().at(0x200).size, 7u);
  EXPECT_EQ(t.live().at(0x200).thread, 2u);
}

TEST(HeapTableTest, UnmatchedAndReplacedAreCountedNotGuessed) {
  HeapTable t;
  t.OnFree(0x999);
  EXPECT_EQ(t.totals().unmatched_frees, 1u);
  EXPECT_EQ(t.totals().frees, 0u);
  t.OnAlloc(0x100, 10, nullptr, 0, 1);
  t.OnAlloc(0x100, 20, nullptr, 0, 2);  // a free we never saw
  EXPECT_EQ(t.totals().replaced_blocks, 1u);
  EXPECT_EQ(t.totals().live_bytes, 20u);
  EXPECT_EQ(t.totals().live_blocks, 1u);
  EXPECT_EQ(t.totals().frees, 0u);
  EXPECT_EQ(t.site(0).live_bytes, 20u);
}

}  // namespace
}  // namespace memtrace
