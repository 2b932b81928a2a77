// memcheck's classification on the pointer graph (see marker.h).
#include "src/scan/marker.h"

#include <algorithm>

namespace memtrace::scan {
namespace {
constexpr uint64_t kPage = 4096;
constexpr int kVtableMaxCheck = 20;

int32_t JoinHolder(int32_t a, int32_t b) {
  if (a == kHolderNone) return b;
  if (b == kHolderNone || a == b) return a;
  return kHolderShared;
}
}  // namespace

bool VtableCheck::IsVtable(uint64_t addr) {
  auto it = cache_.find(addr);
  if (it != cache_.end()) return it->second;
  bool result = false;
  const Mapping* seg = maps_.Find(addr);
  if (seg != nullptr && seg->file_backed() && seg->read) {
    // memcheck looks at the words from addr to addr + 20 words inclusive,
    // stopping 8 bytes before its (inclusive) segment end.
    uint64_t scan_max = addr + kVtableMaxCheck * 8;
    if (scan_max > seg->end - 1 - 8) scan_max = seg->end - 1 - 8;
    uint64_t words[kVtableMaxCheck + 1] = {};
    size_t n = scan_max >= addr ? (scan_max - addr) / 8 + 1 : 0;
    if (n > 0) reader_.Read(addr, words, n * 8);
    int fn_ptrs = 0;
    for (size_t k = 0; k < n; ++k) {
      if (words[k] == 0) continue;
      const Mapping* fn = maps_.Find(words[k]);
      if (fn == nullptr || !fn->file_backed() || !fn->exec) break;
      if (++fn_ptrs == 2) {
        result = true;
        break;
      }
    }
  }
  cache_.emplace(addr, result);
  return result;
}

Marker::Marker(const BlockIndex& index, std::span<const Block> blocks, const PointerGraph& graph,
               uint32_t heuristics, VtableCheck* vtables, MemoryReader* reader)
    : index_(index),
      blocks_(blocks),
      graph_(graph),
      heuristics_(heuristics),
      vtables_(vtables),
      reader_(reader),
      flags_(index.size(), 0),
      holder_(index.size(), kHolderNone) {
  if (vtables_ == nullptr || reader_ == nullptr) heuristics_ &= ~HeuristicBit(kHeuristicMultipleInheritance);
}

Heuristic Marker::HeuristicFor(uint32_t y, uint32_t offset) {
  uint8_t h = graph_.header[y];
  if ((heuristics_ & HeuristicBit(kHeuristicStdString)) && offset == 24 && (h & kHeaderStdString)) {
    return kHeuristicStdString;
  }
  if ((heuristics_ & HeuristicBit(kHeuristicLength64)) && offset == 8 && (h & kHeaderLength64)) {
    return kHeuristicLength64;
  }
  if ((heuristics_ & HeuristicBit(kHeuristicNewArray)) && offset == 8 && (h & kHeaderNewArray)) {
    return kHeuristicNewArray;
  }
  if ((heuristics_ & HeuristicBit(kHeuristicMultipleInheritance)) && offset % 8 == 0 && offset != kFarInterior &&
      index_.start(y) % 8 == 0) {
    uint64_t first = graph_.first_word[y];
    if (first % 8 != 0 || first < kPage || blocks_[index_.input(y)].size < 8) return kHeuristicNone;
    // Checked in an order that reads the target least: the first word's
    // verdict is cached per value; the inner word needs a read.
    if (!vtables_->IsVtable(first)) return kHeuristicNone;
    uint64_t addr = index_.start(y) + offset;
    auto it = mi_words_.find(addr);
    uint64_t inner;
    if (it != mi_words_.end()) {
      inner = it->second;
    } else {
      inner = 0;
      reader_->Read(addr, &inner, 8);
      mi_words_.emplace(addr, inner);
    }
    if (inner % 8 == 0 && inner >= kPage && vtables_->IsVtable(inner)) return kHeuristicMultipleInheritance;
  }
  return kHeuristicNone;
}

void Marker::Reach(uint32_t y, uint32_t offset, bool prior_definite, int32_t holder) {
  bool changed = false;
  State s = state(y);
  if (s == kReachable) {
    if (offset == 0 && heuristic(y) != kHeuristicNone) SetHeuristic(y, kHeuristicNone);
  } else {
    Heuristic h = kHeuristicNone;
    bool via_start = offset == 0;
    if (!via_start && heuristics_ != 0) h = HeuristicFor(y, offset);
    if ((via_start || h != kHeuristicNone) && prior_definite) {
      SetState(y, kReachable);
      SetHeuristic(y, h);
      changed = true;
    } else if (s == kUnreached) {
      SetState(y, kPossible);
      changed = true;
    }
  }
  int32_t joined = JoinHolder(holder_[y], holder);
  if (joined != holder_[y]) {
    holder_[y] = joined;
    changed = true;
  }
  if (changed) Push(y);
}

void Marker::Drain() {
  while (!stack_.empty()) {
    uint32_t x = stack_.back();
    stack_.pop_back();
    flags_[x] &= ~kPending;
    bool prior_definite = state(x) != kPossible;
    int32_t h = holder_[x];
    for (uint64_t e = graph_.edge_begin[x]; e < graph_.edge_begin[x + 1]; ++e) {
      Reach(graph_.edges[e].target, graph_.edges[e].offset, prior_definite, h);
    }
  }
}

void Marker::MarkFromRoots() {
  // Shared roots first, then each thread's: a block a global reaches is
  // settled as shared before any thread's roots are taken.
  std::vector<uint32_t> order(graph_.root_edges.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return graph_.root_edges[a].holder < graph_.root_edges[b].holder;  // kHolderShared (-2) sorts first
  });
  int32_t current = kHolderNone;
  for (uint32_t k : order) {
    const auto& r = graph_.root_edges[k];
    if (r.holder != current) {
      Drain();
      current = r.holder;
    }
    Reach(r.edge.target, r.edge.offset, /*prior_definite=*/true, r.holder);
  }
  Drain();
}

void Marker::FindCliques() {
  uint32_t n = index_.size();
  leader_.resize(n);
  for (uint32_t i = 0; i < n; ++i) leader_[i] = i;
  // Candidates in allocation order when known (Block::order), else address.
  std::vector<uint32_t> order;
  bool by_allocation = false;
  for (uint32_t i = 0; i < n; ++i) {
    if (state(i) != kUnreached) continue;
    order.push_back(i);
    by_allocation |= blocks_[index_.input(i)].order != 0;
  }
  if (by_allocation) {
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return blocks_[index_.input(a)].order < blocks_[index_.input(b)].order;
    });
  }
  for (uint32_t i : order) {
    if (state(i) != kUnreached) continue;
    stack_.push_back(i);
    while (!stack_.empty()) {
      uint32_t x = stack_.back();
      stack_.pop_back();
      for (uint64_t e = graph_.edge_begin[x]; e < graph_.edge_begin[x + 1]; ++e) {
        uint32_t y = graph_.edges[e].target;
        if (state(y) != kUnreached || y == i) continue;
        SetState(y, kIndirect);
        leader_[y] = i;  // if y led a clique, its members follow it here (see leader())
        stack_.push_back(y);
      }
    }
  }
}

uint32_t Marker::leader(uint32_t i) const {
  if (leader_.empty()) return i;
  uint32_t x = i;
  for (int guard = 0; state(x) == kIndirect && guard < 1 << 20; ++guard) x = leader_[x];
  return x;
}

}  // namespace memtrace::scan
