// Live memory mappings as disjoint, page-granular intervals, each with the
// site that created it. Partial munmaps trim or split intervals (the pieces
// keep their site), mremap moves, grows or shrinks them and carries their
// sites along, an mmap over existing mappings (MAP_FIXED) replaces what it
// covers. Fed by the merger in real call order, like the heap table.
//
// Accounting: live bytes are whole pages, as the kernel maps them; a site's
// live_blocks is its number of disjoint intervals (a hole punched in a
// mapping makes two). allocs/frees count mappings created / intervals removed
// whole; trimming, splitting and moving are neither.
//
// Cost: live bytes are what a mapping *reserves*. Which of its pages are
// PROT_NONE (reserved, not committed: Go's and the JVM's heap reservations,
// guard regions) is kept apart, as a set of disjoint ranges inside tracked
// intervals (none_), changed by mmap's prot, mprotect (of any part of a
// mapping), munmap and mremap; a protection change never splits an interval,
// so live_blocks keeps its meaning. Resident bytes are not tracked at all:
// the snapshot asks the kernel (residency.h).
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "src/flush/site_table.h"
#include "src/flush/thread_table.h"

namespace memtrace {

class MappingTable {
 public:
  struct Mapping {
    uint64_t end;
    uint32_t site;
    uint32_t thread;
    uint64_t birth_ts;
  };

  MappingTable(SiteTable* sites, ThreadTable* threads, uint64_t page_size)
      : sites_(sites), threads_(threads), page_(page_size) {}

  // `prot_none`: mapped PROT_NONE (reserved, not committed).
  void Map(uint64_t addr, uint64_t len, const StackRecord* stack, Space space, uint32_t thread, uint64_t ts,
           bool prot_none = false);
  void Unmap(uint64_t addr, uint64_t len);
  // An mprotect that succeeded: [addr, addr + len) is now PROT_NONE or not.
  void Protect(uint64_t addr, uint64_t len, bool prot_none);
  // Bytes of [a, b) that are not PROT_NONE.
  uint64_t CommittedBytes(uint64_t a, uint64_t b) const;
  // An mremap is two events from one thread: the old range leaves (From), the
  // new one arrives (To). `keep_old`: MREMAP_DONTUNMAP, the old range stays
  // mapped. Growth is attributed to the site of the mapping that grew.
  void RemapFrom(uint32_t slot, uint64_t old_addr, uint64_t old_len, bool keep_old);
  void RemapTo(uint32_t slot, uint64_t new_addr, uint64_t new_len, bool keep_old);

  const std::map<uint64_t, Mapping>& mappings() const { return map_; }
  uint64_t untracked_unmap_bytes() const { return untracked_unmap_bytes_; }

 private:
  struct Piece {
    uint64_t offset, len;
    Mapping m;  // end unused
  };
  struct PendingRemap {
    uint64_t old_addr, old_len;
    std::vector<Piece> pieces;
    std::vector<std::pair<uint64_t, uint64_t>> none;  // PROT_NONE parts, as offsets into the old range
  };
  uint64_t RoundUp(uint64_t len) const { return (len + page_ - 1) & ~(page_ - 1); }
  // Removes [a, b); `count_frees`: whole intervals removed count as frees.
  // Returns the bytes removed.
  uint64_t Remove(uint64_t a, uint64_t b, bool count_frees);
  std::vector<Piece> Collect(uint64_t a, uint64_t b) const;
  // Every change is charged to the mapping's site and to its thread.
  void ChargeAlloc(const Mapping& m, uint64_t bytes);
  void ChargeFree(const Mapping& m, uint64_t bytes);
  void ChargeAdjust(const Mapping& m, int64_t bytes, int64_t blocks, bool new_memory = false);

  SiteTable* sites_;
  ThreadTable* threads_;
  uint64_t page_;
  std::map<uint64_t, Mapping> map_;
  // PROT_NONE ranges inside tracked intervals: start -> end, disjoint, coalesced.
  std::map<uint64_t, uint64_t> none_;
  void SetNone(uint64_t a, uint64_t b);  // only where intervals are tracked
  void ClearNone(uint64_t a, uint64_t b);
  std::vector<std::pair<uint64_t, uint64_t>> NoneIn(uint64_t a, uint64_t b) const;
  absl::flat_hash_map<uint32_t, PendingRemap> pending_;  // by slot
  uint64_t untracked_unmap_bytes_ = 0;
};

}  // namespace memtrace
