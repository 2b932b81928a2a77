// The per-thread ring and slot table: FIFO order, back-pressure instead of
// loss, drop-and-count once no consumer exists, slot reuse.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "src/capture/thread_slots.h"

namespace memtrace {
namespace {

Event MakeEvent(uint64_t ts) {
  Event e{};
  e.ts = ts;
  e.addr = ts * 16;
  e.size = ts;
  e.kind = static_cast<uint64_t>(EventKind::kAlloc);
  return e;
}

// Drains everything published in slot `s`, checking FIFO order.
uint64_t DrainChecking(ThreadSlot* s, uint64_t* next_expected) {
  uint64_t head = s->head.load(std::memory_order_relaxed);
  uint64_t tail = s->tail.load(std::memory_order_acquire);
  for (uint64_t k = head; k < tail; ++k) {
    const Event& e = s->events[k & (kRingCapacity - 1)];
    EXPECT_EQ(e.ts, *next_expected);
    EXPECT_EQ(e.addr, *next_expected * 16);
    ++*next_expected;
  }
  s->head.store(tail, std::memory_order_release);
  return tail - head;
}

TEST(RingTest, ProducerWaitsWhenFullAndLosesNothing) {
  static SlotTable table;
  ASSERT_TRUE(table.Init());
  table.SetConsumerActive(true);
  ThreadSlot* s = table.Acquire();
  ASSERT_NE(s, nullptr);
  constexpr uint64_t kEvents = 10 * kRingCapacity + 123;
  std::thread producer([&] {
    for (uint64_t i = 1; i <= kEvents; ++i) table.Push(s, MakeEvent(i));
  });
  // Let the ring fill completely first: the producer's next push must wait.
  while (s->tail.load(std::memory_order_acquire) < kRingCapacity) std::this_thread::yield();
  uint64_t next = 1, got = 0;
  while (got < kEvents) {
    got += DrainChecking(s, &next);
    std::this_thread::yield();
  }
  producer.join();
  EXPECT_EQ(got, kEvents);
  EXPECT_GT(table.counters().ring_stalls.load(), 0u);  // it had to wait
  EXPECT_EQ(table.counters().dropped_events.load(), 0u);
}

TEST(RingTest, DropsAndCountsWithoutConsumer) {
  static SlotTable table;
  ASSERT_TRUE(table.Init());
  table.SetConsumerActive(false);
  ThreadSlot* s = table.Acquire();
  for (uint64_t i = 1; i <= kRingCapacity + 10; ++i) table.Push(s, MakeEvent(i));
  EXPECT_EQ(table.counters().dropped_events.load(), 10u);
  EXPECT_EQ(s->tail.load(), kRingCapacity);
}

TEST(SlotTableTest, RetiredSlotsAreReused) {
  static SlotTable table;
  ASSERT_TRUE(table.Init());
  ThreadSlot* a = table.Acquire();
  ThreadSlot* b = table.Acquire();
  ASSERT_NE(a, b);
  Event* ring = a->events;
  a->state.store(kSlotRetiring);
  // Only the consumer frees a retiring slot, once drained.
  EXPECT_NE(table.Acquire(), a);
  a->state.store(kSlotFree);
  ThreadSlot* c = nullptr;
  for (int i = 0; i < 8192 && c != a; ++i) {
    c = table.Acquire();
    if (c != a && c != nullptr) c->state.store(kSlotActive);
  }
  EXPECT_EQ(c, a);
  EXPECT_EQ(c->events, ring);  // the ring is kept with the slot
}

// Slots come in chunks mapped on demand: past the first chunk, indices and
// slot() still agree, and the lowest free slot is taken first.
TEST(SlotTableTest, SlotsBeyondTheFirstChunk) {
  static SlotTable table;
  ASSERT_TRUE(table.Init());
  std::vector<ThreadSlot*> taken;
  for (int i = 0; i < 200; ++i) {
    ThreadSlot* s = table.Acquire();
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->index, static_cast<uint32_t>(i));
    taken.push_back(s);
  }
  EXPECT_EQ(table.high_water(), 200u);
  for (uint32_t i = 0; i < 200; ++i) EXPECT_EQ(table.slot(i), taken[i]);
  taken[130]->state.store(kSlotFree);
  EXPECT_EQ(table.Acquire(), taken[130]);
}

}  // namespace
}  // namespace memtrace
