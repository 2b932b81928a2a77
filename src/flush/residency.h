// Resident bytes of address ranges of another process, at one instant: what
// a mapping costs in memory, as opposed to what it reserves.
//
// Runs in the watcher at each snapshot, for the traced process's tracked
// mappings, at a cost bounded by what is resident rather than by what is
// reserved (a Go program reserves hundreds of GiB of address space):
//  1. /proc/PID/smaps gives each kernel mapping (VMA) its resident size.
//     The kernel computes it from the page tables, so an untouched
//     reservation costs nothing. A tracked range that covers a whole VMA, or
//     lies in a VMA with nothing or everything resident, is answered here.
//  2. Only ranges that share a VMA (the kernel merges adjacent anonymous
//     mappings of one protection) need pages counted, from
//     /proc/PID/pagemap: with the PAGEMAP_SCAN ioctl (Linux 6.7+), whose cost
//     follows the populated page tables, else by reading 8 bytes per page.
//     In a VMA the ranges cover completely, the largest range is not read:
//     it gets the VMA's resident size minus the others'.
// Pages count as resident as smaps counts them: present in the page tables
// (not swapped out), and not the shared zero page (which reading 8-byte
// entries cannot tell, so there a page only ever read counts too).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace memtrace {

struct ResidencyStats {
  uint64_t vmas = 0;            // kernel mappings read from smaps
  uint64_t pages_scanned = 0;   // pagemap entries counted (PAGEMAP_SCAN or read)
  uint64_t bytes_read = 0;      // pagemap bytes read (the fallback)
  bool scan_ioctl = false;      // PAGEMAP_SCAN was used
  bool over_budget = false;     // some ranges were apportioned, not counted (see kReadBudget)
};

// One kernel mapping and its resident bytes, from smaps.
struct VmaRss {
  uint64_t start, end, rss;
};
std::vector<VmaRss> ParseSmapsRss(const std::string& text);

class Residency {
 public:
  // Pagemap entries read (not scanned by ioctl) per snapshot at most: 64 MiB
  // of reads, 32 GiB of address space. Beyond it a range gets its VMA's
  // resident bytes in proportion to its size, and the stats say so.
  static constexpr uint64_t kReadBudget = uint64_t{8} << 20;

  explicit Residency(int pid) : pid_(pid) {}
  // Resident bytes of each range (sorted, disjoint, page-aligned), or
  // nothing when the process's memory cannot be read (it has ended).
  std::optional<std::vector<uint64_t>> Measure(const std::vector<std::pair<uint64_t, uint64_t>>& ranges);
  const ResidencyStats& stats() const { return stats_; }

  // Reads pagemap entries even where PAGEMAP_SCAN exists (tests: the path
  // kernels before 6.7 take).
  void set_read_entries_only() { ioctl_failed_ = true; }
  // The smaps text to use instead of reading the process's (tests).
  void set_smaps_text(std::string text) { smaps_text_ = std::move(text); }

 private:
  // Present pages in [lo, hi), or nothing if they could not be read.
  std::optional<uint64_t> CountPresent(uint64_t lo, uint64_t hi);
  std::optional<uint64_t> ScanIoctl(uint64_t lo, uint64_t hi);
  std::optional<uint64_t> ReadEntries(uint64_t lo, uint64_t hi);

  int pid_;
  int pagemap_fd_ = -1;
  bool ioctl_failed_ = false;
  bool ioctl_no_zero_ = false;  // the kernel knows PAGEMAP_SCAN but not PAGE_IS_PFNZERO
  uint64_t read_entries_ = 0;
  std::vector<uint64_t> buf_;
  std::optional<std::string> smaps_text_;
  ResidencyStats stats_;
};

}  // namespace memtrace
