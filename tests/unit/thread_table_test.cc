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

}  // namespace
}  // namespace memtrace
