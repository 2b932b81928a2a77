// Sampling: the estimator, the sampling probability, the sampled-address set.
#include "src/capture/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace memtrace {
namespace {

TEST(SamplerTest, EstimatedBytesIsSizeOverProbability) {
  EXPECT_EQ(EstimatedBytes(100, 0), 100u);
  // Small blocks stand for about one period each; huge ones for themselves.
  EXPECT_NEAR(static_cast<double>(EstimatedBytes(16, 1 << 20)), static_cast<double>(1 << 20), 16.0);
  EXPECT_EQ(EstimatedBytes(1ull << 40, 1 << 20), 1ull << 40);
  double p = 1 - std::exp(-1.0);
  EXPECT_EQ(EstimatedBytes(4096, 4096), static_cast<uint64_t>(std::llround(4096 / p)));
}

TEST(SamplerTest, SampledBytesAreUnbiased) {
  g_sample_period = 8192;
  ThreadState& t = t_state;
  t.sample_rng = 0;
  double estimate = 0;
  uint64_t truth = 0;
  for (int i = 0; i < 2000000; ++i) {
    size_t size = 16 + (static_cast<size_t>(i) * 7919) % 3000;
    truth += size;
    if (SampleAllocation(size)) estimate += static_cast<double>(EstimatedBytes(size, g_sample_period));
  }
  g_sample_period = 0;
  EXPECT_NEAR(estimate / static_cast<double>(truth), 1.0, 0.03);  // ~370k samples: well under 1% typical error
}

TEST(SampledSetTest, InsertEraseAndReuse) {
  static SampledSet set;
  ASSERT_TRUE(set.Init());
  std::vector<uintptr_t> ptrs;
  for (uintptr_t i = 1; i <= 100000; ++i) ptrs.push_back(0x10000000 + i * 32);
  for (uintptr_t p : ptrs) ASSERT_TRUE(set.Insert(p));
  for (size_t i = 0; i < ptrs.size(); i += 2) EXPECT_TRUE(set.Erase(ptrs[i]));
  for (size_t i = 0; i < ptrs.size(); i += 2) EXPECT_FALSE(set.Erase(ptrs[i]));  // already gone
  for (size_t i = 1; i < ptrs.size(); i += 2) EXPECT_TRUE(set.Erase(ptrs[i]));
  EXPECT_FALSE(set.Erase(0x12345670));
  for (uintptr_t p : ptrs) ASSERT_TRUE(set.Insert(p));  // tombstones are reused
  EXPECT_EQ(set.overflows(), 0u);
}

}  // namespace
}  // namespace memtrace
