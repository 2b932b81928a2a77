// Stack interning: same stack -> same record, from any thread, exactly once.
#include "src/capture/stack_depot.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace memtrace {
namespace {

TEST(StackDepotTest, InternsOnce) {
  static StackDepot depot;
  ASSERT_TRUE(depot.Init());
  uintptr_t a[] = {0x1000, 0x2000, 0x3000};
  uintptr_t b[] = {0x1000, 0x2000, 0x3001};
  const StackRecord* ra = depot.Intern(a, 3);
  const StackRecord* rb = depot.Intern(b, 3);
  const StackRecord* ra2 = depot.Intern(a, 3);
  const StackRecord* prefix = depot.Intern(a, 2);
  ASSERT_NE(ra, nullptr);
  EXPECT_EQ(ra, ra2);
  EXPECT_NE(ra, rb);
  EXPECT_NE(ra, prefix);
  EXPECT_EQ(ra->depth, 3u);
  EXPECT_EQ(ra->frames[2], 0x3000u);
  EXPECT_NE(ra->id, rb->id);
  const StackRecord* empty = depot.Intern(nullptr, 0);
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty, depot.Intern(nullptr, 0));
}

TEST(StackDepotTest, ConcurrentInternAgrees) {
  static StackDepot depot;
  ASSERT_TRUE(depot.Init());
  constexpr int kThreads = 8, kStacks = 20000;
  std::vector<std::vector<const StackRecord*>> seen(kThreads, std::vector<const StackRecord*>(kStacks));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kStacks; ++i) {
        int k = (i * 7 + t * 13) % kStacks;  // different orders per thread
        uintptr_t frames[8];
        for (int f = 0; f < 8; ++f) frames[f] = 0x400000 + k * 64 + f;
        seen[t][k] = depot.Intern(frames, 1 + k % 8);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint32_t> ids;
  for (int k = 0; k < kStacks; ++k) {
    for (int t = 1; t < kThreads; ++t) ASSERT_EQ(seen[t][k], seen[0][k]) << k;
    ids.insert(seen[0][k]->id);
    EXPECT_LT(seen[0][k]->id, depot.id_bound());
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kStacks));
}

}  // namespace
}  // namespace memtrace
