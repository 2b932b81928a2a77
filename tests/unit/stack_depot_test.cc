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

// Deep stacks are chunks counted from the outermost frame: stacks that share
// their outer frames share those records, and every frame reads back.
TEST(StackDepotTest, DeepStacksShareTheirOuterFrames) {
  static StackDepot depot;
  ASSERT_TRUE(depot.Init());
  auto frames_of = [](const StackRecord* r) {
    std::vector<uintptr_t> out;
    r->ForEachFrame([&](uintptr_t a) { out.push_back(a); });
    return out;
  };
  std::vector<uintptr_t> base(40);
  for (size_t i = 0; i < base.size(); ++i) base[i] = 0x10000 + i * 8;
  std::vector<uintptr_t> other = base;
  other[3] = 0x99999;  // differs near the top only
  std::vector<uintptr_t> deeper = base;
  deeper.insert(deeper.begin(), 0x7777);  // one more inner frame, same outer 40
  uint32_t before = depot.id_bound();
  const StackRecord* a = depot.Intern(base.data(), 40);
  uint32_t after_first = depot.id_bound();
  const StackRecord* b = depot.Intern(other.data(), 40);
  const StackRecord* c = depot.Intern(deeper.data(), 41);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(after_first - before, 3u);  // 8 + 16 + 16 frames
  EXPECT_EQ(depot.id_bound() - after_first, 2u);  // b: one inner record; c: 9 + 16 + 16, sharing the outermost
  EXPECT_NE(a, b);
  EXPECT_EQ(a->own, 8u);
  EXPECT_EQ(a->depth, 40u);
  EXPECT_EQ(a->outer, b->outer);
  EXPECT_EQ(c->depth, 41u);
  EXPECT_EQ(c->outer->outer, a->outer->outer);
  EXPECT_EQ(frames_of(a), base);
  EXPECT_EQ(frames_of(b), other);
  EXPECT_EQ(frames_of(c), deeper);
  EXPECT_EQ(depot.Intern(base.data(), 40), a);
  // A suffix that is a whole chunk is the same record as that chunk.
  EXPECT_EQ(depot.Intern(base.data() + 24, 16), a->outer->outer);
  for (uint32_t n : {1u, 15u, 16u, 17u, 31u, 32u, 33u}) {
    const StackRecord* r = depot.Intern(base.data(), n);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(frames_of(r), std::vector<uintptr_t>(base.begin(), base.begin() + n)) << n;
    EXPECT_EQ(depot.Intern(base.data(), n), r) << n;
  }
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
