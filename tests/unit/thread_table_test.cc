// Thread lifetimes: origin, join/detach by handle (handles are reused), names,
// re-registration during exit.
#include "src/flush/thread_table.h"

#include <gtest/gtest.h>

namespace memtrace {
namespace {

TEST(ThreadTableTest, OriginFateAndHandleReuse) {
  ThreadTable t;
  uint32_t main_t = t.OnStart(/*slot=*/0, /*tid=*/100, /*serial=*/1, /*handle=*/0xaaa, 1);
  // The creator records the new thread before the thread itself runs.
  t.OnCreated(/*handle=*/0xbbb, /*serial=*/2, /*parent_serial=*/1, 2);
  t.OnOrigin(2, 0x4000, nullptr);
  t.OnAttr(2, 8 << 20, false);
  t.OnDetach(0xccc);  // unknown handle: ignored
  uint32_t a = t.OnStart(1, 101, 2, 0xbbb, 3);
  EXPECT_EQ(t.threads()[a].parent, main_t);
  EXPECT_TRUE(t.threads()[a].created_by_hook);
  EXPECT_EQ(t.threads()[a].stack_size, 8u << 20);
  t.OnName(0xbbb, "worker-1");
  EXPECT_EQ(t.threads()[a].name, "worker-1");
  t.OnExit(1, 3);
  t.OnJoin(0xbbb);
  EXPECT_TRUE(t.threads()[a].exited);
  EXPECT_TRUE(t.threads()[a].joined);
  // The handle is reused by the next thread; detaching it is about the new one.
  t.OnCreated(0xbbb, 3, 1, 4);
  t.OnDetach(0xbbb);  // before the new thread's own first event
  uint32_t b = t.OnStart(1, 102, 3, 0xbbb, 5);
  EXPECT_TRUE(t.threads()[b].detached);
  EXPECT_FALSE(t.threads()[a].detached);
  EXPECT_EQ(t.ThreadOfSlot(1), b);
}

TEST(ThreadTableTest, ReRegistrationKeepsTheRecord) {
  ThreadTable t;
  uint32_t a = t.OnStart(2, 555, 7, 0x1, 1);
  t.OnExit(2, 2);
  // The same thread (serial 7) allocates again after its TLS destructors ran.
  EXPECT_EQ(t.OnStart(5, 555, 7, 0x1, 3), a);
  t.Account(a, 64, 1, 64);
  EXPECT_EQ(t.threads()[a].live_bytes, 64u);
  EXPECT_EQ(t.threads().size(), 2u);
}

// A thread per request: records of exited, joined (or detached) threads that
// hold no memory are folded into counts, and their indices reused, so the
// table stays bounded; what holds memory or was never joined stays listed.
TEST(ThreadTableTest, FoldsFinishedThreadsAndStaysBounded) {
  static StackDepot depot;
  ASSERT_TRUE(depot.Init());
  uintptr_t frames[] = {0xc0ffee};
  const StackRecord* creator = depot.Intern(frames, 1);
  ThreadTable t;
  t.OnStart(0, 100, 1, 0xaaa, 1);  // main, serial 1
  const uint32_t kThreads = 20000;
  uint32_t holder = 0, unjoined = 0;
  for (uint32_t i = 0; i < kThreads; ++i) {
    uint32_t serial = 2 + i;
    uint64_t handle = 0x1000 + (i % 8) * 0x100;  // glibc reuses handles
    t.OnCreated(handle, serial, 1, 10 + i);
    t.OnOrigin(serial, 0x4000, creator);
    uint32_t idx = t.OnStart(1 + i % 4, 1000 + i, serial, handle, 10 + i);
    if (i == 5) {
      t.Account(idx, 64, 1, 64);  // still holds a block: kept
      holder = serial;
    }
    t.OnExit(1 + i % 4, 11 + i);
    if (i == 7) {
      unjoined = serial;  // never joined: kept
      continue;
    }
    t.OnJoin(handle);
  }
  t.Fold();
  t.Fold();  // records exited before the previous pass fold
  EXPECT_LT(t.threads().size(), 10000u);  // 20,001 without folding
  EXPECT_EQ(t.seen(), kThreads + 1);
  ASSERT_NE(t.BySerial(holder), nullptr);
  EXPECT_EQ(t.BySerial(holder)->live_bytes, 64u);
  ASSERT_NE(t.BySerial(unjoined), nullptr);
  EXPECT_FALSE(t.BySerial(unjoined)->joined);
  EXPECT_EQ(t.folded().count, kThreads - 2);
  EXPECT_EQ(t.folded().by_creator.at(creator), kThreads - 2);
  const FoldedThreads::Group& g = t.folded().by_group.at(std::make_pair(uint64_t{0x4000}, uint32_t{1}));
  EXPECT_EQ(g.threads, kThreads - 2);
  EXPECT_EQ(g.parent_tid, 100u);
  // A reused handle names the newest thread, not a folded one.
  t.OnCreated(0x1000, 99999, 1, 50000);
  t.OnName(0x1000, "fresh");
  ASSERT_NE(t.BySerial(99999), nullptr);
  EXPECT_EQ(t.BySerial(99999)->name, "fresh");
}

// A parent folded while its child lives on: the child keeps the parent's tid
// and knows it exited (an orphan).
TEST(ThreadTableTest, ChildKeepsAFoldedParent) {
  ThreadTable t;
  t.OnStart(0, 100, 1, 0xaaa, 1);
  t.OnCreated(0xb, 2, 1, 2);        // P
  t.OnStart(1, 200, 2, 0xb, 3);
  t.OnCreated(0xc, 3, 2, 4);        // C, created by P
  uint32_t c = t.OnStart(2, 300, 3, 0xc, 5);
  t.OnExit(1, 6);                   // P exits, joined by main
  t.OnJoin(0xb);
  t.Fold();
  t.Fold();
  EXPECT_EQ(t.BySerial(2), nullptr);
  const ThreadRecord& child = t.threads()[c];
  EXPECT_TRUE(child.parent_folded);
  EXPECT_EQ(child.parent_tid_folded, 200u);
  EXPECT_EQ(child.parent, 0u);
  EXPECT_EQ(child.parent_serial, 2u);
  EXPECT_EQ(t.seen(), 3u);
}

}  // namespace
}  // namespace memtrace
