// Interval bookkeeping for mappings (see mapping_table.h).
#include "src/flush/mapping_table.h"

#include <algorithm>

namespace memtrace {

void MappingTable::ChargeAlloc(const Mapping& m, uint64_t bytes) {
  sites_->OnAlloc(m.site, bytes);
  threads_->Account(m.thread, static_cast<int64_t>(bytes), 1, bytes);
}

void MappingTable::ChargeFree(const Mapping& m, uint64_t bytes) {
  sites_->OnFree(m.site, bytes);
  threads_->Account(m.thread, -static_cast<int64_t>(bytes), -1, 0);
}

void MappingTable::ChargeAdjust(const Mapping& m, int64_t bytes, int64_t blocks, bool new_memory) {
  sites_->Adjust(m.site, bytes, blocks, new_memory);
  threads_->Account(m.thread, bytes, blocks, new_memory && bytes > 0 ? static_cast<uint64_t>(bytes) : 0);
}

uint64_t MappingTable::Remove(uint64_t a, uint64_t b, bool count_frees) {
  uint64_t removed = 0;
  auto it = map_.upper_bound(a);
  if (it != map_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.end > a) it = prev;
  }
  while (it != map_.end() && it->first < b) {
    uint64_t start = it->first;
    Mapping m = it->second;
    if (start < a && m.end > b) {  // a hole in the middle: split
      it->second.end = a;
      Mapping right = m;
      map_.emplace(b, right);
      ChargeAdjust(m, -static_cast<int64_t>(b - a), +1);
      removed += b - a;
      break;
    }
    if (start < a) {  // cut the tail
      it->second.end = a;
      ChargeAdjust(m, -static_cast<int64_t>(m.end - a), 0);
      removed += m.end - a;
      ++it;
      continue;
    }
    if (m.end > b) {  // cut the head
      map_.erase(it);
      map_.emplace(b, m);
      ChargeAdjust(m, -static_cast<int64_t>(b - start), 0);
      removed += b - start;
      break;
    }
    // covered whole
    if (count_frees) ChargeFree(m, m.end - start);
    else ChargeAdjust(m, -static_cast<int64_t>(m.end - start), -1);
    removed += m.end - start;
    it = map_.erase(it);
  }
  return removed;
}

void MappingTable::Map(uint64_t addr, uint64_t len, const StackRecord* stack, Space space, uint32_t thread,
                       uint64_t ts, bool prot_none) {
  uint64_t end = addr + RoundUp(len);
  Remove(addr, end, /*count_frees=*/true);  // MAP_FIXED replaces what was there
  ClearNone(addr, end);
  uint32_t site = sites_->SiteFor(stack, space);
  Mapping m{end, site, thread, ts};
  map_.emplace(addr, m);
  ChargeAlloc(m, end - addr);
  if (prot_none) SetNone(addr, end);
}

void MappingTable::Unmap(uint64_t addr, uint64_t len) {
  uint64_t bytes = RoundUp(len);
  uint64_t removed = Remove(addr, addr + bytes, /*count_frees=*/true);
  ClearNone(addr, addr + bytes);
  untracked_unmap_bytes_ += bytes - removed;
}

void MappingTable::Protect(uint64_t addr, uint64_t len, bool prot_none) {
  uint64_t end = addr + RoundUp(len);
  if (prot_none) SetNone(addr, end);
  else ClearNone(addr, end);
}

void MappingTable::ClearNone(uint64_t a, uint64_t b) {
  auto it = none_.upper_bound(a);
  if (it != none_.begin()) {
    auto prev = std::prev(it);
    if (prev->second > a) it = prev;
  }
  while (it != none_.end() && it->first < b) {
    uint64_t start = it->first, end = it->second;
    it = none_.erase(it);
    if (start < a) none_.emplace(start, a);
    if (end > b) {
      none_.emplace(b, end);
      break;
    }
  }
}

void MappingTable::SetNone(uint64_t a, uint64_t b) {
  // Only the tracked parts of [a, b): what no interval covers is not ours.
  for (const Piece& piece : Collect(a, b)) {
    uint64_t lo = a + piece.offset, hi = lo + piece.len;
    ClearNone(lo, hi);
    // Coalesce with the neighbours.
    auto next = none_.lower_bound(hi);
    if (next != none_.end() && next->first == hi) {
      hi = next->second;
      none_.erase(next);
    }
    auto it = none_.lower_bound(lo);
    if (it != none_.begin()) {
      auto prev = std::prev(it);
      if (prev->second == lo) {
        prev->second = hi;
        continue;
      }
    }
    none_.emplace(lo, hi);
  }
}

std::vector<std::pair<uint64_t, uint64_t>> MappingTable::NoneIn(uint64_t a, uint64_t b) const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  auto it = none_.upper_bound(a);
  if (it != none_.begin()) {
    auto prev = std::prev(it);
    if (prev->second > a) it = prev;
  }
  for (; it != none_.end() && it->first < b; ++it) out.emplace_back(std::max(it->first, a), std::min(it->second, b));
  return out;
}

uint64_t MappingTable::CommittedBytes(uint64_t a, uint64_t b) const {
  uint64_t none = 0;
  for (auto [lo, hi] : NoneIn(a, b)) none += hi - lo;
  return b - a - none;
}

std::vector<MappingTable::Piece> MappingTable::Collect(uint64_t a, uint64_t b) const {
  std::vector<Piece> pieces;
  auto it = map_.upper_bound(a);
  if (it != map_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.end > a) it = prev;
  }
  for (; it != map_.end() && it->first < b; ++it) {
    uint64_t s = std::max(it->first, a), e = std::min(it->second.end, b);
    pieces.push_back(Piece{s - a, e - s, it->second});
  }
  return pieces;
}

void MappingTable::RemapFrom(uint32_t slot, uint64_t old_addr, uint64_t old_len, bool keep_old) {
  uint64_t end = old_addr + RoundUp(old_len);
  PendingRemap p{old_addr, RoundUp(old_len), Collect(old_addr, end), {}};
  for (auto [lo, hi] : NoneIn(old_addr, end)) p.none.emplace_back(lo - old_addr, hi - old_addr);
  // The pieces leave (a move is neither a free nor an allocation), unless
  // MREMAP_DONTUNMAP keeps the old range mapped.
  if (!keep_old) {
    for (const Piece& piece : p.pieces) {
      Remove(old_addr + piece.offset, old_addr + piece.offset + piece.len, /*count_frees=*/false);
    }
    ClearNone(old_addr, end);
  }
  pending_[slot] = std::move(p);
}

void MappingTable::RemapTo(uint32_t slot, uint64_t new_addr, uint64_t new_len, bool keep_old) {
  auto pit = pending_.find(slot);
  if (pit == pending_.end()) return;
  PendingRemap p = std::move(pit->second);
  pending_.erase(pit);
  new_len = RoundUp(new_len);
  Remove(new_addr, new_addr + new_len, /*count_frees=*/true);  // MREMAP_FIXED replaces
  ClearNone(new_addr, new_addr + new_len);
  if (p.pieces.empty()) return;  // an untracked mapping moved: stays untracked
  for (const Piece& piece : p.pieces) {
    if (piece.offset >= new_len) continue;  // shrunk away
    uint64_t len = std::min(piece.len, new_len - piece.offset);
    uint64_t start = new_addr + piece.offset;
    Mapping m = piece.m;
    m.end = start + len;
    map_.emplace(start, m);
    if (keep_old) ChargeAlloc(m, len);  // a second mapping now exists
    else ChargeAdjust(m, static_cast<int64_t>(len), +1);
  }
  if (new_len > p.old_len) {
    // Growth extends the mapping that held the old range's last page.
    const Piece& last = p.pieces.back();
    uint64_t grow = new_len - p.old_len;
    if (last.offset + last.len == p.old_len) {
      auto it = map_.find(new_addr + last.offset);
      it->second.end += grow;
      ChargeAdjust(last.m, static_cast<int64_t>(grow), 0, /*new_memory=*/true);
    } else {
      Mapping m = last.m;
      m.end = new_addr + new_len;
      map_.emplace(new_addr + p.old_len, m);
      ChargeAdjust(m, static_cast<int64_t>(grow), +1, /*new_memory=*/true);
    }
  }
  // Protections move with the pages; growth takes the protection of the
  // old range's last page, as the kernel extends that mapping.
  for (auto [lo, hi] : p.none) {
    if (lo < new_len) SetNone(new_addr + lo, new_addr + std::min(hi, new_len));
  }
  if (new_len > p.old_len && !p.none.empty() && p.none.back().second == p.old_len) {
    SetNone(new_addr + p.old_len, new_addr + new_len);
  }
}

}  // namespace memtrace
