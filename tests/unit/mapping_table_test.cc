// Mapping intervals: partial unmaps, MAP_FIXED replacement, mremap moves,
// growth, shrink and DONTUNMAP, checked against a page-by-page model.
#include "src/flush/mapping_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace memtrace {
namespace {

constexpr uint64_t kPage = 4096;

class MappingTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static StackDepot depot;
    static bool ok = depot.Init();
    ASSERT_TRUE(ok);
    for (uintptr_t i = 0; i < 4; ++i) {
      uintptr_t f = 0x1000 + i;
      stacks_[i] = depot.Intern(&f, 1);
    }
  }
  uint64_t Live(int stack) { return sites_.site(sites_.SiteFor(stacks_[stack], Space::kAnonMmap)).live_bytes; }
  uint64_t Blocks(int stack) { return sites_.site(sites_.SiteFor(stacks_[stack], Space::kAnonMmap)).live_blocks; }

  const StackRecord* stacks_[4];
  SiteTable sites_;
  ThreadTable threads_;
  MappingTable maps_{&sites_, &threads_, kPage};
};

TEST_F(MappingTableTest, PartialUnmapsKeepTheSite) {
  maps_.Map(0x100000, 10 * kPage, stacks_[0], Space::kAnonMmap, 1, 1);
  maps_.Unmap(0x100000, kPage);                // head
  maps_.Unmap(0x100000 + 9 * kPage, kPage);    // tail
  maps_.Unmap(0x100000 + 4 * kPage, 2 * kPage);  // hole
  EXPECT_EQ(Live(0), 6 * kPage);
  EXPECT_EQ(Blocks(0), 2u);
  maps_.Unmap(0x100000, 10 * kPage);  // spans both pieces and the gaps
  EXPECT_EQ(Live(0), 0u);
  EXPECT_EQ(Blocks(0), 0u);
  EXPECT_EQ(maps_.untracked_unmap_bytes(), 4 * kPage);
  EXPECT_EQ(sites_.site(sites_.SiteFor(stacks_[0], Space::kAnonMmap)).frees, 2u);
}

TEST_F(MappingTableTest, LengthsRoundToPages) {
  maps_.Map(0x100000, 1, stacks_[0], Space::kAnonMmap, 1, 1);
  EXPECT_EQ(Live(0), kPage);
  maps_.Unmap(0x100000, 10);
  EXPECT_EQ(Live(0), 0u);
}

TEST_F(MappingTableTest, MapFixedReplaces) {
  maps_.Map(0x100000, 8 * kPage, stacks_[0], Space::kAnonMmap, 1, 1);
  maps_.Map(0x100000 + 2 * kPage, 2 * kPage, stacks_[1], Space::kAnonMmap, 1, 2);
  EXPECT_EQ(Live(0), 6 * kPage);
  EXPECT_EQ(Blocks(0), 2u);
  EXPECT_EQ(Live(1), 2 * kPage);
}

TEST_F(MappingTableTest, RemapMovesGrowsShrinksAndKeeps) {
  maps_.Map(0x100000, 4 * kPage, stacks_[0], Space::kAnonMmap, 1, 1);
  maps_.RemapFrom(7, 0x100000, 4 * kPage, false);
  maps_.RemapTo(7, 0x900000, 6 * kPage, false);  // move + grow
  EXPECT_EQ(Live(0), 6 * kPage);
  EXPECT_EQ(Blocks(0), 1u);
  EXPECT_EQ(maps_.mappings().count(0x900000), 1u);
  EXPECT_EQ(maps_.mappings().count(0x100000), 0u);
  maps_.RemapFrom(7, 0x900000, 6 * kPage, false);
  maps_.RemapTo(7, 0x900000, 1 * kPage, false);  // shrink in place
  EXPECT_EQ(Live(0), kPage);
  maps_.RemapFrom(7, 0x900000, kPage, true);
  maps_.RemapTo(7, 0xa00000, kPage, true);  // DONTUNMAP: both stay
  EXPECT_EQ(Live(0), 2 * kPage);
  EXPECT_EQ(Blocks(0), 2u);
  EXPECT_EQ(sites_.site(sites_.SiteFor(stacks_[0], Space::kAnonMmap)).allocs, 2u);
}

// Random operations against a page -> stack model.
TEST_F(MappingTableTest, RandomOperationsMatchPageModel) {
  std::mt19937_64 rng(42);
  std::map<uint64_t, int> model;  // page index -> stack
  const uint64_t kBase = 0x10000000, kPages = 256;
  for (int op = 0; op < 20000; ++op) {
    uint64_t first = rng() % kPages, n = 1 + rng() % 16;
    if (first + n > kPages) n = kPages - first;
    uint64_t addr = kBase + first * kPage;
    int stack = static_cast<int>(rng() % 4);
    switch (rng() % 3) {
      case 0:  // MAP_FIXED map
        maps_.Map(addr, n * kPage, stacks_[stack], Space::kAnonMmap, 1, op);
        for (uint64_t p = first; p < first + n; ++p) model[p] = stack;
        break;
      case 1:  // munmap
        maps_.Unmap(addr, n * kPage);
        for (uint64_t p = first; p < first + n; ++p) model.erase(p);
        break;
      case 2: {  // mremap a fully-mapped range to a fixed target (moves, like MREMAP_FIXED)
        bool all = true;
        for (uint64_t p = first; p < first + n; ++p) all &= model.count(p) > 0;
        uint64_t to = rng() % (kPages - n);
        if (!all || (to < first + n && first < to + n)) break;  // overlapping moves are EINVAL
        std::map<uint64_t, int> moved;
        for (uint64_t p = first; p < first + n; ++p) moved[p - first] = model[p];
        for (uint64_t p = first; p < first + n; ++p) model.erase(p);
        for (uint64_t p = to; p < to + n; ++p) model.erase(p);
        for (auto& [off, s] : moved) model[to + off] = s;
        maps_.RemapFrom(3, addr, n * kPage, false);
        maps_.RemapTo(3, kBase + to * kPage, n * kPage, false);
        break;
      }
    }
    if (op % 1000 == 999) {
      uint64_t expect[4] = {};
      for (auto& [p, s] : model) expect[s] += kPage;
      for (int s = 0; s < 4; ++s) ASSERT_EQ(Live(s), expect[s]) << "op " << op << " stack " << s;
    }
  }
  // Intervals are disjoint and sorted.
  uint64_t last_end = 0;
  for (auto& [start, m] : maps_.mappings()) {
    EXPECT_GE(start, last_end);
    EXPECT_GT(m.end, start);
    last_end = m.end;
  }
}

// Committed bytes per stack: the intervals minus their PROT_NONE pages.
std::map<const StackRecord*, uint64_t> CommittedByStack(const MappingTable& maps, const SiteTable& sites) {
  std::map<const StackRecord*, uint64_t> out;
  for (auto& [start, m] : maps.mappings()) out[sites.stack_of(m.site)] += maps.CommittedBytes(start, m.end);
  return out;
}

TEST_F(MappingTableTest, ProtectionOfPartsOfMappings) {
  // A 16-page reservation, then 4 pages in its middle made accessible.
  maps_.Map(0x100000, 16 * kPage, stacks_[0], Space::kAnonMmap, 1, 1, /*prot_none=*/true);
  EXPECT_EQ(maps_.CommittedBytes(0x100000, 0x100000 + 16 * kPage), 0u);
  maps_.Protect(0x100000 + 6 * kPage, 4 * kPage, false);
  EXPECT_EQ(maps_.CommittedBytes(0x100000, 0x100000 + 16 * kPage), 4 * kPage);
  EXPECT_EQ(Blocks(0), 1u);  // a protection change never splits an interval
  // Back to PROT_NONE for one of them; an mprotect outside what is tracked changes nothing.
  maps_.Protect(0x100000 + 7 * kPage, kPage, true);
  maps_.Protect(0x200000, 8 * kPage, false);
  EXPECT_EQ(maps_.CommittedBytes(0x100000, 0x100000 + 16 * kPage), 3 * kPage);
  // MAP_FIXED over part of it, accessible: those pages are committed.
  maps_.Map(0x100000, 2 * kPage, stacks_[1], Space::kAnonMmap, 1, 2, /*prot_none=*/false);
  EXPECT_EQ(maps_.CommittedBytes(0x100000, 0x100000 + 16 * kPage), 5 * kPage);
  // Unmapped pages are nobody's.
  maps_.Unmap(0x100000, 16 * kPage);
  EXPECT_EQ(maps_.CommittedBytes(0x100000, 0x100000 + 16 * kPage), 16 * kPage);  // nothing PROT_NONE is left
  maps_.Map(0x100000, 4 * kPage, stacks_[2], Space::kAnonMmap, 1, 3, /*prot_none=*/false);
  EXPECT_EQ(maps_.CommittedBytes(0x100000, 0x100000 + 4 * kPage), 4 * kPage);
}

TEST_F(MappingTableTest, ProtectionMovesWithMremap) {
  // Pages 0-1 accessible, 2-3 PROT_NONE; moved and grown: the growth takes the
  // last page's protection.
  maps_.Map(0x100000, 4 * kPage, stacks_[0], Space::kAnonMmap, 1, 1, /*prot_none=*/false);
  maps_.Protect(0x100000 + 2 * kPage, 2 * kPage, true);
  maps_.RemapFrom(3, 0x100000, 4 * kPage, false);
  maps_.RemapTo(3, 0x400000, 6 * kPage, false);
  EXPECT_EQ(Live(0), 6 * kPage);
  EXPECT_EQ(maps_.CommittedBytes(0x400000, 0x400000 + 6 * kPage), 2 * kPage);
  EXPECT_EQ(maps_.CommittedBytes(0x100000, 0x100000 + 4 * kPage), 4 * kPage);  // the old range holds nothing
  // Shrunk in place: the PROT_NONE pages beyond the new end are gone.
  maps_.RemapFrom(3, 0x400000, 6 * kPage, false);
  maps_.RemapTo(3, 0x400000, 3 * kPage, false);
  EXPECT_EQ(maps_.CommittedBytes(0x400000, 0x400000 + 3 * kPage), 2 * kPage);
  maps_.Map(0x400000 + 3 * kPage, 3 * kPage, stacks_[1], Space::kAnonMmap, 1, 2, /*prot_none=*/false);
  EXPECT_EQ(maps_.CommittedBytes(0x400000 + 3 * kPage, 0x400000 + 6 * kPage), 3 * kPage);
}

// Random maps (PROT_NONE or not), unmaps, mprotects and moves against a
// page -> (stack, PROT_NONE) model: committed bytes per stack stay exact.
TEST_F(MappingTableTest, RandomProtectionsMatchPageModel) {
  std::mt19937_64 rng(7);
  struct Page {
    int stack;
    bool none;
  };
  std::map<uint64_t, Page> model;
  const uint64_t kBase = 0x10000000, kPages = 256;
  for (int op = 0; op < 20000; ++op) {
    uint64_t first = rng() % kPages, n = 1 + rng() % 16;
    if (first + n > kPages) n = kPages - first;
    uint64_t addr = kBase + first * kPage;
    int stack = static_cast<int>(rng() % 4);
    bool none = rng() % 2 == 0;
    switch (rng() % 4) {
      case 0:
        maps_.Map(addr, n * kPage, stacks_[stack], Space::kAnonMmap, 1, op, none);
        for (uint64_t p = first; p < first + n; ++p) model[p] = Page{stack, none};
        break;
      case 1:
        maps_.Unmap(addr, n * kPage);
        for (uint64_t p = first; p < first + n; ++p) model.erase(p);
        break;
      case 2:
        maps_.Protect(addr, n * kPage, none);
        for (uint64_t p = first; p < first + n; ++p) {
          if (auto it = model.find(p); it != model.end()) it->second.none = none;
        }
        break;
      case 3: {
        bool all = true;
        for (uint64_t p = first; p < first + n; ++p) all &= model.count(p) > 0;
        uint64_t to = rng() % (kPages - n);
        if (!all || (to < first + n && first < to + n)) break;
        std::map<uint64_t, Page> moved;
        for (uint64_t p = first; p < first + n; ++p) moved[p - first] = model[p];
        for (uint64_t p = first; p < first + n; ++p) model.erase(p);
        for (uint64_t p = to; p < to + n; ++p) model.erase(p);
        for (auto& [off, pg] : moved) model[to + off] = pg;
        maps_.RemapFrom(3, addr, n * kPage, false);
        maps_.RemapTo(3, kBase + to * kPage, n * kPage, false);
        break;
      }
    }
    if (op % 500 == 499) {
      std::map<const StackRecord*, uint64_t> expect;
      for (auto& [p, pg] : model) {
        if (!pg.none) expect[stacks_[pg.stack]] += kPage;
      }
      auto got = CommittedByStack(maps_, sites_);
      for (int st = 0; st < 4; ++st) ASSERT_EQ(got[stacks_[st]], expect[stacks_[st]]) << "op " << op << " stack " << st;
    }
  }
}

}  // namespace
}  // namespace memtrace
