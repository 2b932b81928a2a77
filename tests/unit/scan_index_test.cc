// BlockIndex against a brute-force search over random layouts (dense heaps,
// sparse mappings, huge blocks, zero-sized blocks), and the maps parser.
#include <gtest/gtest.h>

#include <random>

#include "src/scan/block_index.h"
#include "src/scan/maps.h"

namespace memtrace::scan {
namespace {

uint32_t BruteFind(const std::vector<Block>& blocks, const std::vector<uint32_t>& excluded, uint64_t v) {
  for (uint32_t i = 0; i < blocks.size(); ++i) {
    if (std::find(excluded.begin(), excluded.end(), i) != excluded.end()) continue;
    uint64_t end = blocks[i].addr + std::max<uint64_t>(blocks[i].size, 1);
    if (blocks[i].addr <= v && v < end) return i;
  }
  return kNoBlock;
}

TEST(ScanIndexTest, MatchesBruteForceOnRandomLayouts) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 40; ++round) {
    std::vector<Block> blocks;
    uint64_t pos = 0x10000 + (rng() % 1000) * 16;
    int n = 1 + rng() % 400;
    for (int i = 0; i < n; ++i) {
      uint64_t kind = rng() % 10;
      uint64_t size = kind == 0 ? 0 : kind < 7 ? 16 * (1 + rng() % 64) : kind < 9 ? 4096 * (1 + rng() % 8) : 1 << 24;
      uint64_t gap = rng() % 4 == 0 ? (rng() % 4) << 22 : 16 * (rng() % 4);
      pos += gap;
      blocks.push_back({pos, size, 0, 0, kind >= 7 ? BlockSpace::kMapping : BlockSpace::kHeap, 0});
      pos += std::max<uint64_t>(size, 1);
      pos = (pos + 15) & ~15ull;
    }
    std::shuffle(blocks.begin(), blocks.end(), rng);
    BlockIndex index;
    std::vector<uint32_t> excluded;
    index.Build(blocks, &excluded);
    ASSERT_EQ(index.size() + excluded.size(), blocks.size());
    for (int q = 0; q < 3000; ++q) {
      const Block& b = blocks[rng() % blocks.size()];
      uint64_t v;
      switch (rng() % 4) {
        case 0: v = b.addr; break;
        case 1: v = b.addr + rng() % (b.size + 2); break;
        case 2: v = b.addr - rng() % 64; break;
        default: v = rng() % (pos + 0x100000); break;
      }
      uint32_t got = index.Find(v);
      uint32_t want = BruteFind(blocks, excluded, v);
      ASSERT_EQ(got == kNoBlock ? kNoBlock : index.input(got), want) << "round " << round << " value " << std::hex << v;
    }
    EXPECT_EQ(index.Find(0), kNoBlock);
    EXPECT_EQ(index.Find(~0ull), kNoBlock);
  }
}

TEST(ScanIndexTest, OverlapsAndAllocatorArenasAreExcluded) {
  std::vector<Block> blocks = {
      {0x1000, 0x100, 0, 0, BlockSpace::kHeap, 0},
      {0x1080, 0x100, 0, 0, BlockSpace::kHeap, 0},        // overlaps the first: left out
      {0x100000, 0x10000, 0, 0, BlockSpace::kMapping, 0},  // holds a heap block: an arena, left out
      {0x100100, 0x20, 0, 0, BlockSpace::kHeap, 0},
      {0x200000, 0x1000, 0, 0, BlockSpace::kMapping, kBlockRoot},  // a root: not indexed
  };
  BlockIndex index;
  std::vector<uint32_t> excluded;
  index.Build(blocks, &excluded);
  EXPECT_EQ(index.size(), 2u);
  std::sort(excluded.begin(), excluded.end());
  EXPECT_EQ(excluded, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(index.Find(0x200010), kNoBlock);
  EXPECT_EQ(index.input(index.Find(0x100110)), 3u);
}

TEST(ScanMapsTest, ParsesProcMaps) {
  auto maps = ParseMaps(
      "7f0000001000-7f0000002000 rw-p 00000000 00:00 0 \n"
      "55be9c78f000-55be9c790000 r--p 00000000 fe:00 10953105                   /tmp/probe/with space\n"
      "55bed15cd000-55bed15ee000 rw-p 00000000 00:00 0                          [heap]\n"
      "garbage line\n"
      "7f0000000000-7f0000001000 r-xs 00001000 fe:00 77 /dev/zero (deleted)\n");
  ASSERT_EQ(maps.size(), 4u);
  EXPECT_EQ(maps[0].path, "/tmp/probe/with space");
  EXPECT_TRUE(maps[0].file_backed());
  EXPECT_EQ(maps[1].path, "[heap]");
  EXPECT_FALSE(maps[1].anonymous());
  EXPECT_TRUE(maps[1].write);
  EXPECT_EQ(maps[2].start, 0x7f0000000000u);
  EXPECT_TRUE(maps[2].exec && maps[2].shared && !maps[2].write);
  EXPECT_EQ(maps[2].offset, 0x1000u);
  EXPECT_TRUE(maps[3].anonymous());
  MappingIndex index(&maps);
  EXPECT_EQ(index.Find(0x7f0000001800), &maps[3]);
  EXPECT_EQ(index.Find(0x7f0000002000), nullptr);
}

}  // namespace
}  // namespace memtrace::scan
