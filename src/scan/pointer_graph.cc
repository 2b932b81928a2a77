// Phase one: pointers found in root memory and in blocks (pointer_graph.h).
#include "src/scan/pointer_graph.h"

#include <algorithm>
#include <cstring>
#include <thread>

namespace memtrace::scan {
namespace {
// Blocks closer than this are read in one piece with the bytes between them
// (glibc chunk headers, free chunks): cheaper than another system call.
constexpr uint64_t kMaxGap = 16 << 10;
// Ranges this large are read only where pages exist (pagemap: 8 bytes per
// 4 KiB page, so 0.2% of the range); past kTooLargeToAsk not even that.
constexpr uint64_t kSparseCheck = 64ull << 20;
constexpr uint64_t kTooLargeToAsk = 256ull << 30;

uint64_t AlignUp(uint64_t v) { return (v + 7) & ~uint64_t{7}; }
uint64_t AlignDown(uint64_t v) { return v & ~uint64_t{7}; }

uint32_t Offset(uint64_t value, uint64_t start) {
  uint64_t off = value - start;
  return off >= kFarInterior ? kFarInterior : static_cast<uint32_t>(off);
}
}  // namespace

GraphBuilder::GraphBuilder(const BlockIndex& index, std::span<const Block> blocks, MemoryReader& reader,
                           size_t chunk_bytes, int threads)
    : index_(index),
      blocks_(blocks),
      reader_(reader),
      chunk_bytes_(std::max<size_t>(chunk_bytes, 4096)),
      threads_(std::max(threads, 1)) {
  graph_.first_word.assign(index.size(), 0);
  graph_.header.assign(index.size(), 0);
}

void GraphBuilder::AddRegister(uint64_t value, int32_t holder) {
  uint32_t t = index_.Find(value);
  if (t != kNoBlock) {
    graph_.root_edges.push_back({{t, Offset(value, index_.start(t))}, holder});
    Note(t, 0, value, holder, false, &explained_);
  }
}

std::vector<std::pair<uint64_t, uint64_t>> GraphBuilder::PartsToRead(uint64_t start, uint64_t end, uint64_t* absent,
                                                                    uint64_t* unscanned) {
  std::vector<std::pair<uint64_t, uint64_t>> parts;
  if (end - start < kSparseCheck) {
    parts.emplace_back(start, end);
    return parts;
  }
  if (end - start > kTooLargeToAsk) {
    *unscanned += end - start;
    return parts;
  }
  if (!reader_.PresentRanges(start, end, &parts)) {
    parts.assign(1, {start, end});
    return parts;
  }
  uint64_t present = 0;
  for (auto& [s, e] : parts) {
    s = AlignUp(s);
    e = AlignDown(e);
    if (e > s) present += e - s;
  }
  *absent += (end - start) - present;
  return parts;
}

void GraphBuilder::AddRootRange(uint64_t start, uint64_t end, int32_t holder) {
  start = AlignUp(start);
  end = AlignDown(end);
  for (auto [s, e] : PartsToRead(start, end, &graph_.absent_bytes, &graph_.unscanned_bytes)) {
    if (e > s) ScanRootPiece(s, e, holder);
  }
}

void GraphBuilder::ScanRootPiece(uint64_t start, uint64_t end, int32_t holder) {
  unsigned char* buf = buf_.Get(std::min<uint64_t>(end - start, chunk_bytes_));
  for (uint64_t pos = start; pos < end;) {
    uint64_t len = std::min<uint64_t>(end - pos, chunk_bytes_);
    size_t got = reader_.Read(pos, buf, len);
    graph_.root_bytes += len;
    graph_.unreadable_bytes += len - got;
    const auto* words = reinterpret_cast<const uint64_t*>(buf);
    uint32_t last = kNoBlock, last_off = 0;
    for (uint64_t k = 0; k < len / 8; ++k) {
      uint64_t v = words[k];
      uint32_t t = index_.Find(v);
      if (t == kNoBlock) continue;
      uint32_t off = Offset(v, index_.start(t));
      Note(t, pos + k * 8, v, holder, false, &explained_);
      if (t == last && off == last_off) continue;
      last = t;
      last_off = off;
      graph_.root_edges.push_back({{t, off}, holder});
    }
    pos += len;
  }
}

void GraphBuilder::ScanBlock(uint32_t i, const unsigned char* data, uint64_t len, uint64_t base, Worker* w) {
  // data: len bytes of block i, read from address `base` (its 8-aligned
  // start, or a later piece).
  uint64_t size = index_.extent(i);
  if (base == AlignUp(index_.start(i)) && size >= 8 && len >= 8) {
    uint64_t w0, w1 = 0;
    memcpy(&w0, data, 8);
    if (size >= 16 && len >= 16) memcpy(&w1, data + 8, 8);
    graph_.first_word[i] = w0;
    uint8_t h = 0;
    if (size > 24 && w0 <= w1 && 24 + w1 + 1 == size) h |= kHeaderStdString;
    if (size > 8 && w0 > 0 && size - 8 == w0) h |= kHeaderLength64;
    if (size > 8 && w0 > 0 && (size - 8) % w0 == 0) h |= kHeaderNewArray;
    graph_.header[i] = h;
  }
  const auto* words = reinterpret_cast<const uint64_t*>(data);
  uint32_t last = kNoBlock, last_off = 0;
  for (uint64_t k = 0; k < len / 8; ++k) {
    uint64_t v = words[k];
    uint32_t t = index_.Find(v);
    if (t == kNoBlock || t == i) continue;
    uint32_t off = Offset(v, index_.start(t));
    Note(t, base + k * 8, v, kHolderShared, true, &w->explained);
    if (t == last && off == last_off) continue;
    last = t;
    last_off = off;
    w->edges.push_back({t, off});
  }
}

// A block bigger than one chunk: read and scanned a chunk at a time (where
// its pages exist, for a large one: a big tracked mapping is often sparse).
void GraphBuilder::ReadBlockInPieces(uint32_t i, Worker* w) {
  uint64_t start = AlignUp(index_.start(i));
  uint64_t end = AlignDown(index_.end(i));
  for (auto [s, e] : PartsToRead(start, end, &w->absent_bytes, &w->unscanned_bytes)) {
    for (uint64_t pos = s; pos < e;) {
      uint64_t len = std::min<uint64_t>(e - pos, chunk_bytes_);
      size_t got = reader_.Read(pos, w->buf.Get(chunk_bytes_), len);
      w->block_bytes += len;
      w->unreadable_bytes += len - got;
      ScanBlock(i, w->buf.Get(chunk_bytes_), len, pos, w);
      pos += len;
    }
  }
}

// Blocks [first, last): edge_begin[k] is set relative to w->edges.
void GraphBuilder::ScanRange(uint32_t first, uint32_t last, Worker* w) {
  unsigned char* buf = w->buf.Get(chunk_bytes_);
  uint32_t i = first;
  while (i < last) {
    if (AlignDown(index_.end(i)) - AlignUp(index_.start(i)) > chunk_bytes_) {
      graph_.edge_begin[i] = w->edges.size();
      ReadBlockInPieces(i, w);
      ++i;
      continue;
    }
    // A span of blocks [i, j) that fits one read.
    uint64_t span_start = AlignUp(index_.start(i));
    uint32_t j = i + 1;
    uint64_t span_end = std::max(span_start, AlignDown(index_.end(i)));
    while (j < last) {
      uint64_t s = AlignUp(index_.start(j));
      uint64_t e = std::max(s, AlignDown(index_.end(j)));
      if (s - span_end > kMaxGap || e - span_start > chunk_bytes_) break;
      span_end = e;
      ++j;
    }
    uint64_t len = span_end - span_start;
    if (len > 0) {
      size_t got = reader_.Read(span_start, buf, len);
      w->unreadable_bytes += len - got;
    }
    for (uint32_t k = i; k < j; ++k) {
      graph_.edge_begin[k] = w->edges.size();
      uint64_t s = AlignUp(index_.start(k));
      uint64_t e = std::max(s, AlignDown(index_.end(k)));
      w->block_bytes += e - s;
      ScanBlock(k, buf + (s - span_start), e - s, s, w);
    }
    i = j;
  }
}

void GraphBuilder::ScanBlocks() {
  uint32_t n = index_.size();
  graph_.edge_begin.assign(n + 1, 0);
  // Split the blocks into ranges of about equal bytes, one per thread.
  int parts = n < 4096 ? 1 : threads_;
  uint64_t total = 0;
  for (uint32_t i = 0; i < n; ++i) total += index_.extent(i);
  std::vector<uint32_t> bounds = {0};
  uint64_t acc = 0;
  for (uint32_t i = 0; i < n && static_cast<int>(bounds.size()) < parts; ++i) {
    acc += index_.extent(i);
    if (acc * parts >= total * bounds.size()) bounds.push_back(i + 1);
  }
  bounds.push_back(n);
  std::vector<Worker> workers(bounds.size() - 1);
  if (workers.size() == 1) {
    workers[0].edges = std::move(graph_.edges);
    ScanRange(0, n, &workers[0]);
  } else {
    std::vector<std::thread> pool;
    for (size_t p = 0; p < workers.size(); ++p) {
      pool.emplace_back([this, &bounds, &workers, p] { ScanRange(bounds[p], bounds[p + 1], &workers[p]); });
    }
    for (auto& t : pool) t.join();
  }
  // One edge list, in block order.
  size_t edges = 0;
  for (const Worker& w : workers) edges += w.edges.size();
  if (workers.size() == 1) {
    graph_.edges = std::move(workers[0].edges);
  } else {
    graph_.edges.clear();
    graph_.edges.reserve(edges);
    for (size_t p = 0; p < workers.size(); ++p) {
      uint64_t base = graph_.edges.size();
      for (uint32_t k = bounds[p]; k < bounds[p + 1]; ++k) graph_.edge_begin[k] += base;
      graph_.edges.insert(graph_.edges.end(), workers[p].edges.begin(), workers[p].edges.end());
    }
  }
  for (Worker& w : workers) {
    graph_.block_bytes += w.block_bytes;
    graph_.unreadable_bytes += w.unreadable_bytes;
    graph_.absent_bytes += w.absent_bytes;
    graph_.unscanned_bytes += w.unscanned_bytes;
    explained_.insert(explained_.end(), w.explained.begin(), w.explained.end());
  }
  graph_.edge_begin[n] = graph_.edges.size();
}

}  // namespace memtrace::scan
