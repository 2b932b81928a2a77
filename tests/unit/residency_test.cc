// Resident bytes of ranges of a live process (this one): a range that is a
// whole kernel mapping, ranges that share one (pages counted, the largest
// range by difference), a range inside a mapping, PROT_NONE reservations;
// and the smaps parser.
#include "src/flush/residency.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace memtrace {
namespace {

constexpr uint64_t kPage = 4096;

class ResidencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One anonymous mapping with a PROT_NONE page on each side, so that the
    // kernel cannot merge it with a neighbour: exactly one VMA.
    base_ = static_cast<char*>(mmap(nullptr, (kPages + 2) * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(base_, MAP_FAILED);
    mem_ = base_ + kPage;
    ASSERT_EQ(mprotect(mem_, kPages * kPage, PROT_READ | PROT_WRITE), 0);
  }
  void TearDown() override { munmap(base_, (kPages + 2) * kPage); }
  void Touch(uint64_t first, uint64_t n) {
    for (uint64_t p = first; p < first + n; ++p) mem_[p * kPage] = 1;
  }
  uint64_t At(uint64_t page) { return reinterpret_cast<uint64_t>(mem_) + page * kPage; }

  static constexpr uint64_t kPages = 64;
  char* base_ = nullptr;
  char* mem_ = nullptr;
};

TEST_F(ResidencyTest, WholeMappingFromSmaps) {
  Touch(3, 5);
  Residency r(getpid());
  auto got = r.Measure({{At(0), At(kPages)}});
  ASSERT_TRUE(got);
  EXPECT_EQ((*got)[0], 5 * kPage);
  EXPECT_EQ(r.stats().pages_scanned, 0u);  // smaps answered
}

TEST_F(ResidencyTest, RangesSharingAMappingAreCounted) {
  Touch(0, 2);    // range A: pages 0-15
  Touch(20, 7);   // range B: pages 16-63 (the largest: by difference)
  Residency r(getpid());
  auto got = r.Measure({{At(0), At(16)}, {At(16), At(kPages)}});
  ASSERT_TRUE(got);
  EXPECT_EQ((*got)[0], 2 * kPage);
  EXPECT_EQ((*got)[1], 7 * kPage);
  EXPECT_GT(r.stats().pages_scanned, 0u);
  EXPECT_LT(r.stats().pages_scanned, kPages);  // the largest range was not read
}

TEST_F(ResidencyTest, RangesSharingAMappingAreCountedWithoutTheIoctl) {
  Touch(0, 2);
  Touch(20, 7);
  Residency r(getpid());
  r.set_read_entries_only();
  auto got = r.Measure({{At(0), At(16)}, {At(16), At(kPages)}});
  ASSERT_TRUE(got);
  EXPECT_EQ((*got)[0], 2 * kPage);
  EXPECT_EQ((*got)[1], 7 * kPage);
  EXPECT_EQ(r.stats().bytes_read, 16 * 8u);  // only the smaller range's entries
  EXPECT_FALSE(r.stats().scan_ioctl);
}

TEST_F(ResidencyTest, PartOfAMapping) {
  Touch(10, 4);
  Touch(40, 3);
  Residency r(getpid());
  auto got = r.Measure({{At(8), At(12)}, {At(30), At(50)}});  // they do not cover the mapping
  ASSERT_TRUE(got);
  EXPECT_EQ((*got)[0], 2 * kPage);
  EXPECT_EQ((*got)[1], 3 * kPage);
}

TEST_F(ResidencyTest, ReservationsAreNotResident) {
  // 1 GiB reserved, nothing resident; costs no page reads.
  uint64_t size = uint64_t{1} << 30;
  void* p = mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  auto lo = reinterpret_cast<uint64_t>(p);
  Residency r(getpid());
  auto got = r.Measure({{lo, lo + size}});
  munmap(p, size);
  ASSERT_TRUE(got);
  EXPECT_EQ((*got)[0], 0u);
  EXPECT_EQ(r.stats().bytes_read, 0u);
}

TEST_F(ResidencyTest, SwappedOutOrDroppedPagesAreNotResident) {
  Touch(0, 10);
  ASSERT_EQ(madvise(mem_ + 2 * kPage, 4 * kPage, MADV_DONTNEED), 0);
  Residency r(getpid());
  auto got = r.Measure({{At(0), At(32)}, {At(32), At(kPages)}});
  ASSERT_TRUE(got);
  EXPECT_EQ((*got)[0], 6 * kPage);
  EXPECT_EQ((*got)[1], 0u);
}

TEST(ResidencyParseTest, SmapsRss) {
  std::string text =
      "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon\n"
      "Size:                328 kB\n"
      "Rss:                 300 kB\n"
      "Pss:                 150 kB\n"
      "VmFlags: rd ex mr mw me dw\n"
      "7f0000000000-7f0000100000 rw-p 00000000 00:00 0\n"
      "Size:               1024 kB\n"
      "Rss:                   8 kB\n";
  auto v = ParseSmapsRss(text);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].start, 0x400000u);
  EXPECT_EQ(v[0].end, 0x452000u);
  EXPECT_EQ(v[0].rss, 300u * 1024);
  EXPECT_EQ(v[1].rss, 8u * 1024);
}

TEST(ResidencyParseTest, EndedProcessIsNotMeasured) {
  Residency r(0x7ffffff0);  // no such process
  EXPECT_FALSE(r.Measure({{0x1000, 0x2000}}));
}

}  // namespace
}  // namespace memtrace
