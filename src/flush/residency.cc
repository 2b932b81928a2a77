// Resident bytes from smaps and pagemap (see residency.h).
#include "src/flush/residency.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "src/capture/hex_text.h"

namespace memtrace {
namespace {

constexpr uint64_t kPage = 4096;

// PAGEMAP_SCAN (linux/fs.h, Linux 6.7); Debian 12's headers predate it.
struct PmScanArg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted, category_mask,
      category_anyof_mask, return_mask;
};
struct PageRegion {
  uint64_t start, end, categories;
};
constexpr unsigned long kPagemapScan = _IOWR('f', 16, PmScanArg);
constexpr uint64_t kPageIsPresent = 1u << 3;
constexpr uint64_t kPageIsPfnZero = 1u << 5;

bool ReadWhole(const char* path, std::string* out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return !out->empty();
}

}  // namespace

std::vector<VmaRss> ParseSmapsRss(const std::string& text) {
  std::vector<VmaRss> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const char* p = text.data() + pos;
    const char* end = text.data() + nl;
    if (end - p > 4 && memcmp(p, "Rss:", 4) == 0) {
      if (!out.empty()) {
        p += 4;
        while (p < end && *p == ' ') ++p;
        uint64_t kb = 0;
        for (; p < end && *p >= '0' && *p <= '9'; ++p) kb = kb * 10 + static_cast<uint64_t>(*p - '0');
        out.back().rss = kb * 1024;
      }
    } else {
      // A mapping's first line starts "start-end "; field lines start with a
      // capital letter and a colon.
      const char* q = p;
      uint64_t start = ParseHexPrefix(q, end);
      if (q > p && q < end && *q == '-') {
        ++q;
        const char* r = q;
        uint64_t stop = ParseHexPrefix(q, end);
        if (q > r && q < end && *q == ' ' && stop > start) out.push_back(VmaRss{start, stop, 0});
      }
    }
    pos = nl + 1;
  }
  return out;
}

std::optional<uint64_t> Residency::ScanIoctl(uint64_t lo, uint64_t hi) {
  PageRegion regions[256];
  uint64_t present = 0;
  uint64_t at = lo;
  while (at < hi) {
    PmScanArg arg{};
    arg.size = sizeof(arg);
    arg.start = at;
    arg.end = hi;
    arg.vec = reinterpret_cast<uint64_t>(regions);
    arg.vec_len = sizeof(regions) / sizeof(regions[0]);
    // Present, and (where the kernel can tell) not the shared zero page.
    arg.category_inverted = ioctl_no_zero_ ? 0 : kPageIsPfnZero;
    arg.category_mask = kPageIsPresent | (ioctl_no_zero_ ? 0 : kPageIsPfnZero);
    arg.return_mask = kPageIsPresent;
    long n = ioctl(pagemap_fd_, kPagemapScan, &arg);
    if (n < 0 && errno == EINVAL && !ioctl_no_zero_) {
      ioctl_no_zero_ = true;  // an older PAGEMAP_SCAN without PAGE_IS_PFNZERO
      continue;
    }
    if (n < 0) return std::nullopt;
    for (long i = 0; i < n; ++i) present += (regions[i].end - regions[i].start) / kPage;
    stats_.pages_scanned += (arg.walk_end - at) / kPage;
    if (arg.walk_end <= at) return std::nullopt;  // no progress: not what we expect of the kernel
    at = arg.walk_end;
  }
  return present * kPage;
}

std::optional<uint64_t> Residency::ReadEntries(uint64_t lo, uint64_t hi) {
  constexpr size_t kChunk = 65536;  // entries per read: 512 KiB, 256 MiB of address space
  std::vector<uint64_t>& buf = buf_;
  buf.resize(kChunk);
  uint64_t present = 0;
  for (uint64_t page = lo / kPage; page < hi / kPage;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, hi / kPage - page));
    ssize_t got = pread(pagemap_fd_, buf.data(), n * 8, static_cast<off_t>(page * 8));
    if (got <= 0) return std::nullopt;
    size_t entries = static_cast<size_t>(got) / 8;
    for (size_t i = 0; i < entries; ++i) present += buf[i] >> 63;
    stats_.pages_scanned += entries;
    stats_.bytes_read += entries * 8;
    read_entries_ += entries;
    page += entries;
  }
  return present * kPage;
}

std::optional<uint64_t> Residency::CountPresent(uint64_t lo, uint64_t hi) {
  if (pagemap_fd_ < 0) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/pagemap", pid_);
    pagemap_fd_ = open(path, O_RDONLY | O_CLOEXEC);
    if (pagemap_fd_ < 0) return std::nullopt;
  }
  if (!ioctl_failed_) {
    if (std::optional<uint64_t> r = ScanIoctl(lo, hi)) {
      stats_.scan_ioctl = true;
      return r;
    }
    ioctl_failed_ = true;  // not this kernel: read entries from now on
  }
  if (read_entries_ + (hi - lo) / kPage > kReadBudget) return std::nullopt;
  return ReadEntries(lo, hi);
}

std::optional<std::vector<uint64_t>> Residency::Measure(const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
  std::string text;
  if (smaps_text_) {
    text = *smaps_text_;
  } else {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/smaps", pid_);
    if (!ReadWhole(path, &text)) return std::nullopt;
  }
  std::vector<VmaRss> vmas = ParseSmapsRss(text);
  stats_.vmas = vmas.size();
  std::vector<uint64_t> out(ranges.size(), 0);
  struct Piece {
    size_t range;
    uint64_t lo, hi;
  };
  std::vector<Piece> pieces;
  size_t first = 0;  // the first range that may still overlap a VMA
  for (const VmaRss& v : vmas) {
    while (first < ranges.size() && ranges[first].second <= v.start) ++first;
    pieces.clear();
    uint64_t covered = 0;
    for (size_t i = first; i < ranges.size() && ranges[i].first < v.end; ++i) {
      uint64_t lo = std::max(ranges[i].first, v.start), hi = std::min(ranges[i].second, v.end);
      if (lo >= hi) continue;
      pieces.push_back(Piece{i, lo, hi});
      covered += hi - lo;
    }
    if (pieces.empty()) continue;
    uint64_t size = v.end - v.start;
    if (v.rss == 0) continue;
    if (v.rss >= size) {
      for (const Piece& p : pieces) out[p.range] += p.hi - p.lo;
      continue;
    }
    if (pieces.size() == 1 && covered == size) {
      out[pieces[0].range] += v.rss;
      continue;
    }
    // Shared VMA: count pages, leaving out the largest piece when the
    // pieces cover the VMA (it gets the remainder).
    size_t skip = pieces.size();
    if (covered == size) {
      skip = 0;
      for (size_t k = 1; k < pieces.size(); ++k) {
        if (pieces[k].hi - pieces[k].lo > pieces[skip].hi - pieces[skip].lo) skip = k;
      }
    }
    uint64_t counted = 0;
    std::vector<size_t> unknown;
    for (size_t k = 0; k < pieces.size(); ++k) {
      if (k == skip) continue;
      std::optional<uint64_t> r = CountPresent(pieces[k].lo, pieces[k].hi);
      if (!r) {
        unknown.push_back(k);
        continue;
      }
      uint64_t bytes = std::min(*r, pieces[k].hi - pieces[k].lo);
      out[pieces[k].range] += bytes;
      counted += bytes;
    }
    uint64_t rest = v.rss > counted ? v.rss - counted : 0;
    if (skip < pieces.size() && unknown.empty()) {
      out[pieces[skip].range] += std::min(rest, pieces[skip].hi - pieces[skip].lo);
      continue;
    }
    if (skip < pieces.size()) unknown.push_back(skip);
    if (unknown.empty()) continue;
    // Over the read budget (or pagemap unreadable): the VMA's remaining
    // resident bytes, in proportion to size (an estimate, said in the stats).
    stats_.over_budget = true;
    uint64_t unknown_bytes = 0;
    for (size_t k : unknown) unknown_bytes += pieces[k].hi - pieces[k].lo;
    uint64_t untracked = size - covered;  // may hold some of it too
    for (size_t k : unknown) {
      uint64_t len = pieces[k].hi - pieces[k].lo;
      long double share = static_cast<long double>(rest) * len / static_cast<long double>(unknown_bytes + untracked);
      out[pieces[k].range] += std::min<uint64_t>(len, static_cast<uint64_t>(share) & ~(kPage - 1));
    }
  }
  if (pagemap_fd_ >= 0) {
    close(pagemap_fd_);
    pagemap_fd_ = -1;
  }
  return out;
}

}  // namespace memtrace
