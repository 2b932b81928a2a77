// The live-block table against std::unordered_map under random churn:
// inserts, duplicate inserts, erases of present and absent addresses,
// growth, address 0, and keys that collide on their home slot (so erases
// shift runs that wrap around the end of the array).
#include "src/flush/live_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <unordered_map>
#include <vector>

namespace memtrace {
namespace {

void ExpectSame(const LiveTable& t, const std::unordered_map<uint64_t, LiveBlock>& ref) {
  ASSERT_EQ(t.size(), ref.size());
  size_t seen = 0;
  t.ForEach([&](uint64_t addr, const LiveBlock& b) {
    auto it = ref.find(addr);
    ASSERT_NE(it, ref.end()) << addr;
    EXPECT_EQ(b.size, it->second.size);
    EXPECT_EQ(b.site, it->second.site);
    ++seen;
  });
  EXPECT_EQ(seen, ref.size());
  for (const auto& [addr, b] : ref) {
    const LiveBlock* found = t.Find(addr);
    ASSERT_NE(found, nullptr) << addr;
    EXPECT_EQ(found->size, b.size);
  }
}

TEST(LiveTableTest, MatchesAReferenceMapUnderChurn) {
  for (uint64_t pool : {64ull, 3000ull, 200000ull}) {
    LiveTable t;
    std::unordered_map<uint64_t, LiveBlock> ref;
    std::mt19937_64 rng(pool);
    for (int op = 0; op < 400000; ++op) {
      // Addresses from a small pool, 16-byte aligned like malloc's, and 0.
      uint64_t addr = (rng() % pool) * 16;
      LiveBlock b{rng() % 4096, static_cast<uint32_t>(op), 1};
      if (rng() % 2 == 0) {
        auto [block, inserted] = t.Insert(addr, b);
        auto [it, ref_inserted] = ref.try_emplace(addr, b);
        ASSERT_EQ(inserted, ref_inserted);
        ASSERT_EQ(block->site, it->second.site);
      } else {
        LiveBlock out{};
        bool erased = t.Erase(addr, &out);
        auto it = ref.find(addr);
        ASSERT_EQ(erased, it != ref.end());
        if (erased) {
          EXPECT_EQ(out.site, it->second.site);
          ref.erase(it);
        }
        ASSERT_EQ(t.Find(addr), nullptr);
      }
      if (op % 50000 == 0) ExpectSame(t, ref);
    }
    ExpectSame(t, ref);
  }
}

TEST(LiveTableTest, CollidingRunsSurviveErasesInAnyOrder) {
  // Addresses whose home is one of the last four slots of a 1024-slot
  // table: their run wraps around the end of the array.
  LiveTable probe;
  probe.Insert(1, LiveBlock{});
  ASSERT_EQ(probe.capacity(), 1024u);
  std::vector<uint64_t> wrapping;
  for (uint64_t a = 16; wrapping.size() < 40; a += 16) {
    uint64_t home = (a * 0x9e3779b97f4a7c15ull) >> 54;
    if (home >= 1020) wrapping.push_back(a);
  }
  for (int order = 0; order < 3; ++order) {
    LiveTable t;
    for (uint64_t a : wrapping) ASSERT_TRUE(t.Insert(a, LiveBlock{a, 0, 0}).second);
    std::vector<uint64_t> erase = wrapping;
    std::shuffle(erase.begin(), erase.end(), std::mt19937_64(order));
    for (size_t k = 0; k < erase.size(); ++k) {
      LiveBlock out{};
      ASSERT_TRUE(t.Erase(erase[k], &out));
      EXPECT_EQ(out.size, erase[k]);
      for (size_t m = k + 1; m < erase.size(); ++m) {
        ASSERT_NE(t.Find(erase[m]), nullptr) << "lost " << erase[m] << " after erasing " << erase[k];
      }
    }
    EXPECT_EQ(t.size(), 0u);
  }
}

TEST(LiveTableTest, StaysUnder64BytesPerBlockOnceGrown) {
  LiveTable t;
  for (uint64_t n = 1; n <= 300000; ++n) {
    t.Insert(n * 32, LiveBlock{n, 0, 0});
    if (n >= 1024) {
      ASSERT_LE(t.bytes(), 64 * n) << n;
    }
  }
}

}  // namespace
}  // namespace memtrace
