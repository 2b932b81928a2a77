// The ordered drain. Producers follow the hooks' protocol exactly (busy stamp,
// timestamp after "allocating", before "freeing") over a tiny shared address
// pool, with most frees on another thread than the allocation. The merged
// stream must show every address strictly alternating alloc/free: any
// reordering across threads would show up as a double alloc or a free of a
// dead address. Runs under both clocks and both ways of publishing the busy
// stamp (a locked exchange per hook, or plain stores and membarrier).
#include "src/flush/merger.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "src/capture/busy_fence.h"
#include "src/capture/clock.h"

namespace memtrace {
namespace {

class CheckingSink : public EventSink {
 public:
  void OnEvent(uint32_t, const Event& e) override {
    EXPECT_GE(e.ts, last_ts_) << "events out of timestamp order";
    last_ts_ = e.ts;
    bool& live = live_[e.addr];
    if (e.Kind() == EventKind::kAlloc) {
      if (live) ++violations_;
      live = true;
      ++allocs_;
    } else if (e.Kind() == EventKind::kFree) {
      if (!live) ++violations_;
      live = false;
      ++frees_;
    }
  }
  uint64_t allocs_ = 0, frees_ = 0, violations_ = 0, last_ts_ = 0;
  absl::flat_hash_map<uint64_t, bool> live_;
};

void Push(SlotTable& table, ThreadSlot* s, EventKind kind, uint64_t addr, uint64_t ts) {
  Event e{};
  e.ts = ts;
  e.addr = addr;
  e.kind = static_cast<uint64_t>(kind);
  table.Push(s, e);
}

void RunStress(ClockKind clock, bool membarrier) {
  g_clock.kind.store(static_cast<int>(clock));
  if (std::string(BusyFenceInit(membarrier)) != (membarrier ? "membarrier" : "locked")) {
    GTEST_SKIP() << "membarrier(2) is not available here";
  }
  static SlotTable* table = [] {
    auto* t = new SlotTable;
    EXPECT_TRUE(t->Init());
    return t;
  }();
  table->SetConsumerActive(true);
  constexpr int kThreads = 4;
  constexpr int kOpsPerThread = 200000;
  constexpr int kAddresses = 16;  // heavy reuse

  std::mutex pool_mu;  // the "allocator": a free list of addresses
  std::vector<uint64_t> pool;
  for (int i = 0; i < kAddresses; ++i) pool.push_back(0x1000 + 16 * i);
  std::mutex handoff_mu;  // blocks travelling between threads
  std::deque<uint64_t> handoff;
  std::atomic<int> done{0};

  auto worker = [&](int id) {
    ThreadSlot* s = table->Acquire();
    ASSERT_NE(s, nullptr);
    // As CaptureEnter: the busy stamp is the thread's last timestamp.
    uint64_t last_ts = ClockNow();
    for (int i = 0; i < kOpsPerThread; ++i) {
      BusyFenceStore(s->busy_since, last_ts);
      uint64_t addr = 0;
      {
        std::lock_guard<std::mutex> l(pool_mu);
        if (!pool.empty()) {
          addr = pool.back();
          pool.pop_back();
        }
      }
      if (addr != 0) {
        last_ts = ClockNow();
        Push(*table, s, EventKind::kAlloc, addr, last_ts);  // stamped after allocating
        std::lock_guard<std::mutex> l(handoff_mu);
        handoff.push_back(addr);
      }
      s->busy_since.store(kIdle, std::memory_order_release);

      BusyFenceStore(s->busy_since, last_ts);
      uint64_t victim = 0;
      {
        std::lock_guard<std::mutex> l(handoff_mu);
        if (!handoff.empty() && (i + id) % 3 != 0) {
          victim = handoff.front();  // usually another thread's block
          handoff.pop_front();
        }
      }
      if (victim != 0) {
        uint64_t ts = last_ts = ClockNow();  // stamped before freeing
        {
          std::lock_guard<std::mutex> l(pool_mu);
          pool.push_back(victim);
        }
        Push(*table, s, EventKind::kFree, victim, ts);  // published after the real free
      }
      s->busy_since.store(kIdle, std::memory_order_release);
    }
    done.fetch_add(1);
  };

  Merger merger(table);
  CheckingSink sink;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  while (done.load() < kThreads) merger.Round(sink);
  for (auto& t : threads) t.join();
  // Free what is left, from the main thread.
  ThreadSlot* main_slot = table->Acquire();
  for (uint64_t addr : handoff) {
    main_slot->busy_since.exchange(ClockNow(), std::memory_order_seq_cst);
    Push(*table, main_slot, EventKind::kFree, addr, ClockNow());
    main_slot->busy_since.store(kIdle, std::memory_order_release);
  }
  merger.Round(sink);
  merger.Round(sink, /*deliver_all=*/true);
  EXPECT_EQ(sink.violations_, 0u);
  EXPECT_EQ(sink.allocs_, sink.frees_);
  EXPECT_GT(sink.allocs_, static_cast<uint64_t>(kThreads) * kOpsPerThread / 2);
  EXPECT_EQ(merger.staged(), 0u);
  for (auto& [addr, live] : sink.live_) EXPECT_FALSE(live) << addr;
  BusyFenceInit(false);
}

TEST(MergerTest, CrossThreadOrderWithTsc) {
#ifdef MT_HAVE_TSC
  RunStress(ClockKind::kTsc, /*membarrier=*/false);
#else
  GTEST_SKIP() << "no TSC on this architecture";
#endif
}

TEST(MergerTest, CrossThreadOrderWithTscAndMembarrier) {
#ifdef MT_HAVE_TSC
  RunStress(ClockKind::kTsc, /*membarrier=*/true);
#else
  GTEST_SKIP() << "no TSC on this architecture";
#endif
}

TEST(MergerTest, CrossThreadOrderWithCounter) { RunStress(ClockKind::kCounter, /*membarrier=*/false); }

TEST(MergerTest, CrossThreadOrderWithCounterAndMembarrier) {
  RunStress(ClockKind::kCounter, /*membarrier=*/true);
}

TEST(MergerTest, WatermarkHoldsBackEventsOfBusyThreads) {
  g_clock.kind.store(static_cast<int>(ClockKind::kCounter));
  SlotTable table;
  ASSERT_TRUE(table.Init());
  table.SetConsumerActive(true);
  ThreadSlot* a = table.Acquire();
  ThreadSlot* b = table.Acquire();
  // b entered a hook at t0 and has not published yet.
  uint64_t t0 = ClockNow();
  b->busy_since.store(t0);
  Push(table, a, EventKind::kAlloc, 0x10, ClockNow());  // after t0
  Merger merger(&table);
  CheckingSink sink;
  EXPECT_EQ(merger.Round(sink), 0u);  // held back: b may still publish something older
  EXPECT_EQ(merger.staged(), 1u);     // but already out of a's ring
  EXPECT_EQ(a->head.load(), a->tail.load());
  Push(table, b, EventKind::kFree, 0x20, t0 + 0);  // b's event, stamped at its entry
  b->busy_since.store(kIdle);
  EXPECT_EQ(merger.Round(sink), 2u);
  EXPECT_EQ(sink.allocs_, 1u);
}

TEST(MergerTest, RetiringSlotIsFreedAfterDrain) {
  g_clock.kind.store(static_cast<int>(ClockKind::kCounter));
  SlotTable table;
  ASSERT_TRUE(table.Init());
  table.SetConsumerActive(true);
  ThreadSlot* a = table.Acquire();
  Push(table, a, EventKind::kAlloc, 0x10, ClockNow());
  a->state.store(kSlotRetiring);
  Merger merger(&table);
  CheckingSink sink;
  merger.Round(sink);
  EXPECT_EQ(a->state.load(), kSlotFree);
  EXPECT_EQ(sink.allocs_, 1u);
}

// Only kWarmFreeSlots free slots keep their pages, however the exits fall
// across passes: slots freed while lower ones were still in use (a burst of
// short threads the watcher fell behind) are given back once there are more.
TEST(MergerTest, FreeSlotsBeyondTheWarmOnesGiveTheirPagesBack) {
  g_clock.kind.store(static_cast<int>(ClockKind::kCounter));
  SlotTable table;
  ASSERT_TRUE(table.Init());
  table.SetConsumerActive(true);
  constexpr uint32_t kSlots = 3 * kWarmFreeSlots;
  std::vector<ThreadSlot*> slots;
  for (uint32_t i = 0; i < kSlots; ++i) slots.push_back(table.Acquire());
  Merger merger(&table);
  CheckingSink sink;
  // The upper two thirds exit first, a few per pass, while the lowest third runs.
  for (uint32_t i = kSlots; i-- > kWarmFreeSlots;) {
    slots[i]->state.store(kSlotRetiring);
    table.Retired();
    if (i % 3 == 0) merger.Round(sink);
  }
  merger.Round(sink);
  // Then the lowest third.
  for (uint32_t i = 0; i < kWarmFreeSlots; ++i) {
    slots[i]->state.store(kSlotRetiring);
    table.Retired();
  }
  merger.Round(sink);
  uint32_t warm = 0;
  for (ThreadSlot* s : slots) {
    EXPECT_EQ(s->state.load(), kSlotFree);
    if (s->decommitted_bytes.load() == 0) ++warm;
  }
  EXPECT_EQ(warm, kWarmFreeSlots);
  // The warm ones are the lowest: reused first.
  for (uint32_t i = 0; i < kWarmFreeSlots; ++i) EXPECT_EQ(slots[i]->decommitted_bytes.load(), 0u) << i;
}

}  // namespace
}  // namespace memtrace
