// The flusher's side of the leak scan (see flusher.h): which blocks the scan
// classifies, and how its result reaches the snapshot -- per site, in the
// totals, and per thread (memory only one thread's stack or TLS reaches).
#include <algorithm>

#include "src/flush/flusher.h"

namespace memtrace {
namespace {

// Which block of a lost cycle is its definite leader (scan::Block::order):
// the one whose site was seen first. Sites are numbered as they first
// allocate, so that is the object whose allocation came first -- the owner,
// allocated before what it owns -- where glibc's reuse of freed chunks makes
// addresses say nothing (memcheck's lowest address is, under valgrind's
// allocator, in practice the block allocated first). Blocks of one site
// fall back to address order.
uint64_t OrderOf(uint32_t site) { return uint64_t{site} + 1; }

}  // namespace

std::vector<scan::Block> Flusher::LiveBlocks() const {
  std::vector<scan::Block> blocks;
  blocks.reserve(heap_.live().size() + maps_.mappings().size());
  heap_.live().ForEach([&](uint64_t addr, const LiveBlock& b) {
    scan::Block x;
    x.addr = addr;
    x.size = b.size;
    x.site = b.site;
    x.thread = b.thread;
    x.space = scan::BlockSpace::kHeap;
    x.order = OrderOf(b.site);
    blocks.push_back(x);
  });
  // The runtime's start-up blocks in the program's heap are not classified
  // but are the program's memory: the head of glibc's atexit list (made while
  // the libraries initialised) links the program's own list blocks, which
  // were otherwise reported as definitely lost.
  for (const auto& [addr, size] : heap_.tracer_blocks()) {
    if (size == 0) continue;
    scan::Block x;
    x.addr = addr;
    x.size = size;
    x.space = scan::BlockSpace::kHeap;
    x.flags = scan::kBlockRoot;
    blocks.push_back(x);
  }
  // Anonymous mappings the program made are blocks too (a lost mapping is a
  // leak); file mappings hold no pointers worth following and are never
  // leaks of the kind a scan can tell.
  for (const auto& [start, m] : maps_.mappings()) {
    if (sites_.space_of(m.site) != Space::kAnonMmap) continue;
    scan::Block x;
    x.addr = start;
    x.size = m.end - start;
    x.site = m.site;
    x.thread = m.thread;
    x.space = scan::BlockSpace::kMapping;
    x.order = OrderOf(m.site);
    blocks.push_back(x);
  }
  return blocks;
}

void Flusher::SetScanResult(std::span<const scan::Block> blocks, const scan::ScanResult& result, LeakScanInfo info) {
  PendingScan p;
  p.by_site.resize(sites_.size());
  auto add = [](LeakKinds& k, scan::LeakKind kind, uint64_t bytes) {
    LeakCount* c = kind == scan::LeakKind::kDefinite   ? &k.definite
                   : kind == scan::LeakKind::kIndirect ? &k.indirect
                   : kind == scan::LeakKind::kPossible ? &k.possible
                                                       : &k.reachable;
    c->bytes += bytes;
    c->blocks += 1;
  };
  for (size_t i = 0; i < blocks.size() && i < result.blocks.size(); ++i) {
    const scan::BlockResult& r = result.blocks[i];
    if (!r.classified) continue;
    if (blocks[i].site < p.by_site.size()) add(p.by_site[blocks[i].site], r.kind, blocks[i].size);
    add(p.totals, r.kind, blocks[i].size);
  }
  for (const scan::HeldByThread& h : result.held_by_thread) {
    if (h.thread < 0 || static_cast<size_t>(h.thread) >= result.threads.size()) continue;
    LeakCount c;
    c.bytes = h.reachable.bytes + h.possible.bytes;
    c.blocks = h.reachable.blocks + h.possible.blocks;
    p.held_by_tid.emplace_back(static_cast<uint64_t>(result.threads[h.thread].tid), c);
  }
  p.info = std::move(info);
  scan_ = std::move(p);
}

void Flusher::AttachScan(Snapshot& s, const std::vector<size_t>& entry_of_site) {
  if (!scan_) return;
  for (size_t site = 0; site < entry_of_site.size() && site < scan_->by_site.size(); ++site) {
    if (entry_of_site[site] == SIZE_MAX) continue;
    SiteEntry& e = s.sites[entry_of_site[site]];
    if (e.space == Space::kHeap || e.space == Space::kAnonMmap) e.leak_kinds = scan_->by_site[site];
  }
  // A site the snapshot does not list (no live bytes, or beyond the bound)
  // holds no classified block; every listed live site gets its numbers, even
  // all zeros (classified, nothing found), so "not classified" stays distinct.
  for (SiteEntry& e : s.sites) {
    if (!e.leak_kinds && (e.space == Space::kHeap || e.space == Space::kAnonMmap)) e.leak_kinds = LeakKinds{};
  }
  s.totals.leak_kinds = scan_->totals;
  for (ThreadEntry& t : s.threads) {
    auto it = std::find_if(scan_->held_by_tid.begin(), scan_->held_by_tid.end(),
                           [&t](const auto& h) { return h.first == t.tid; });
    if (it != scan_->held_by_tid.end()) t.holds_reachable = it->second;
  }
  s.leak_scan = scan_->info;
  s.suppressions_used = std::vector<SuppressionUse>{};
  scan_.reset();
}

}  // namespace memtrace
