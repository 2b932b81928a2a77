// Phase one: pointers found in root memory and in blocks (pointer_graph.h).
#include "src/scan/pointer_graph.h"

#include <algorithm>
#include <cstring>

namespace memtrace::scan {
namespace {
// Blocks closer than this are read in one piece with the bytes between them
// (glibc chunk headers, free chunks): cheaper than another system call.
constexpr uint64_t kMaxGap = 16 << 10;

uint64_t AlignUp(uint64_t v) { return (v + 7) & ~uint64_t{7}; }
uint64_t AlignDown(uint64_t v) { return v & ~uint64_t{7}; }

uint32_t Offset(uint64_t value, uint64_t start) {
  uint64_t off = value - start;
  return off >= kFarInterior ? kFarInterior : static_cast<uint32_t>(off);
}
}  // namespace

GraphBuilder::GraphBuilder(const BlockIndex& index, std::span<const Block> blocks, MemoryReader& reader,
                           size_t chunk_bytes)
    : index_(index), blocks_(blocks), reader_(reader), chunk_bytes_(std::max<size_t>(chunk_bytes, 4096)) {
  graph_.first_word.assign(index.size(), 0);
  graph_.header.assign(index.size(), 0);
}

void GraphBuilder::AddRegister(uint64_t value, int32_t holder) {
  uint32_t t = index_.Find(value);
  if (t != kNoBlock) {
    graph_.root_edges.push_back({{t, Offset(value, index_.start(t))}, holder});
    Note(t, 0, value, holder, false);
  }
}

void GraphBuilder::AddRootRange(uint64_t start, uint64_t end, int32_t holder) {
  start = AlignUp(start);
  end = AlignDown(end);
  if (buf_.size() < chunk_bytes_) buf_.resize(chunk_bytes_);
  for (uint64_t pos = start; pos < end;) {
    uint64_t len = std::min<uint64_t>(end - pos, chunk_bytes_);
    size_t got = reader_.Read(pos, buf_.data(), len);
    graph_.root_bytes += len;
    graph_.unreadable_bytes += len - got;
    const auto* words = reinterpret_cast<const uint64_t*>(buf_.data());
    uint32_t last = kNoBlock, last_off = 0;
    for (uint64_t k = 0; k < len / 8; ++k) {
      uint64_t v = words[k];
      uint32_t t = index_.Find(v);
      if (t == kNoBlock) continue;
      uint32_t off = Offset(v, index_.start(t));
      Note(t, pos + k * 8, v, holder, false);
      if (t == last && off == last_off) continue;
      last = t;
      last_off = off;
      graph_.root_edges.push_back({{t, off}, holder});
    }
    pos += len;
  }
}

void GraphBuilder::ScanBlock(uint32_t i, const unsigned char* data, uint64_t len, uint64_t base) {
  // data: len bytes of block i, read from address `base` (its 8-aligned
  // start, or a later piece).
  uint64_t size = blocks_[index_.input(i)].size;
  if (size >= 8) {
    uint64_t w0, w1 = 0;
    memcpy(&w0, data, 8);
    if (size >= 16) memcpy(&w1, data + 8, 8);
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
    Note(t, base + k * 8, v, kHolderShared, true);
    if (t == last && off == last_off) continue;
    last = t;
    last_off = off;
    graph_.edges.push_back({t, off});
  }
}

// A block bigger than one chunk: read and scanned a chunk at a time.
void GraphBuilder::ReadBlockInPieces(uint32_t i) {
  uint64_t start = AlignUp(index_.start(i));
  uint64_t end = AlignDown(index_.start(i) + blocks_[index_.input(i)].size);
  bool first = true;
  for (uint64_t pos = start; pos < end;) {
    uint64_t len = std::min<uint64_t>(end - pos, chunk_bytes_);
    size_t got = reader_.Read(pos, buf_.data(), len);
    graph_.block_bytes += len;
    graph_.unreadable_bytes += len - got;
    if (first) {
      ScanBlock(i, buf_.data(), len, pos);
      first = false;
    } else {
      // Later pieces: pointers only (the header came with the first).
      uint8_t h = graph_.header[i];
      uint64_t w0 = graph_.first_word[i];
      ScanBlock(i, buf_.data(), len, pos);
      graph_.header[i] = h;
      graph_.first_word[i] = w0;
    }
    pos += len;
  }
}

void GraphBuilder::ScanBlocks() {
  uint32_t n = index_.size();
  graph_.edge_begin.assign(n + 1, 0);
  if (buf_.size() < chunk_bytes_) buf_.resize(chunk_bytes_);
  uint32_t i = 0;
  while (i < n) {
    uint64_t size_i = blocks_[index_.input(i)].size;
    if (AlignDown(index_.start(i) + size_i) - AlignUp(index_.start(i)) > chunk_bytes_) {
      graph_.edge_begin[i] = graph_.edges.size();
      ReadBlockInPieces(i);
      ++i;
      continue;
    }
    // A span of blocks [i, j) that fits one read.
    uint64_t span_start = AlignUp(index_.start(i));
    uint32_t j = i + 1;
    uint64_t span_end = std::max(span_start, AlignDown(index_.start(i) + size_i));
    while (j < n) {
      uint64_t s = AlignUp(index_.start(j));
      uint64_t e = std::max(s, AlignDown(index_.start(j) + blocks_[index_.input(j)].size));
      if (s - span_end > kMaxGap || e - span_start > chunk_bytes_) break;
      span_end = e;
      ++j;
    }
    uint64_t len = span_end - span_start;
    if (len > 0) {
      size_t got = reader_.Read(span_start, buf_.data(), len);
      graph_.unreadable_bytes += len - got;
    }
    for (uint32_t k = i; k < j; ++k) {
      graph_.edge_begin[k] = graph_.edges.size();
      uint64_t s = AlignUp(index_.start(k));
      uint64_t e = std::max(s, AlignDown(index_.start(k) + blocks_[index_.input(k)].size));
      graph_.block_bytes += e - s;
      ScanBlock(k, buf_.data() + (s - span_start), e - s, s);
    }
    i = j;
  }
  graph_.edge_begin[n] = graph_.edges.size();
}

}  // namespace memtrace::scan
