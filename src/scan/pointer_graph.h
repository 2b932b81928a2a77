// Phase one of the scan, run while the target is stopped: read the roots and
// every block once, in address order and large pieces, and keep what the
// classification needs: each pointer into a block (an edge), and the first
// words of each block for memcheck's heuristics. Phase two (marker.h) then
// works on this graph alone, so reading is the only part of the pause that
// grows with the heap: process_vm_readv of a few MiB per call, where a
// traversal in memcheck's order would read block by block (1,000,000 blocks of
// 1 KiB: ~0.4 s in system-call overhead alone, measured here).
//
// Cost: 8 bytes per pointer found (after dropping repeats of the same edge in
// a row and pointers of a block to itself, which never change a verdict) and
// 17 bytes per block, besides the index.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <memory>
#include <vector>

#include "src/scan/block_index.h"
#include "src/scan/memory_reader.h"
#include "src/scan/scan_types.h"

namespace memtrace::scan {

// value - start of the block it points into; kFarInterior past 4 GiB.
inline constexpr uint32_t kFarInterior = 0xffffffffu;
struct Edge {
  uint32_t target;  // BlockIndex order
  uint32_t offset;  // 0: a start pointer
};

// Shapes of a block's first words that memcheck's heuristics accept.
enum : uint8_t {
  kHeaderStdString = 1,  // length <= capacity, size == 24 + capacity + 1
  kHeaderLength64 = 2,   // first word == size - 8, non-zero
  kHeaderNewArray = 4,   // first word (element count) non-zero and divides size - 8
};

struct PointerGraph {
  std::vector<uint64_t> edge_begin;  // block i: edges[edge_begin[i], edge_begin[i + 1])
  std::vector<Edge> edges;
  struct RootEdge {
    Edge edge;
    int32_t holder;
  };
  std::vector<RootEdge> root_edges;  // from root memory and registers
  std::vector<uint64_t> first_word;  // each block's first word (0 under 8 bytes)
  std::vector<uint8_t> header;       // kHeader* bits

  uint64_t root_bytes = 0;
  uint64_t block_bytes = 0;
  uint64_t unreadable_bytes = 0;
  uint64_t absent_bytes = 0;     // in large ranges, pages never touched: not read (they hold zeros)
  uint64_t unscanned_bytes = 0;  // ranges too large even to ask which pages exist (> 256 GiB): not read

  size_t MemoryBytes() const {
    return edge_begin.capacity() * 8 + edges.capacity() * sizeof(Edge) + root_edges.capacity() * sizeof(RootEdge) +
           first_word.capacity() * 8 + header.capacity();
  }
};

class GraphBuilder {
 public:
  // `threads` read and scan blocks at once (disjoint address ranges, each
  // with its own buffer); the reader must allow concurrent calls.
  GraphBuilder(const BlockIndex& index, std::span<const Block> blocks, MemoryReader& reader,
               size_t chunk_bytes = 4 << 20, int threads = 1);
  // Scans [start, end) as root memory held by `holder`.
  // Ranges of 64 MiB and more are read only where pages exist
  // (MemoryReader::PresentRanges).
  void AddRootRange(uint64_t start, uint64_t end, int32_t holder);
  void AddRegister(uint64_t value, int32_t holder);
  // Scans every block, in address order. Call once, after the roots.
  void ScanBlocks();
  PointerGraph& graph() { return graph_; }
  // Blocks whose incoming pointers are recorded (BlockIndex order, sorted).
  void Explain(std::vector<uint32_t> targets) { explain_ = std::move(targets); }
  std::vector<PointerFound>& explained() { return explained_; }

 private:
  // A read buffer that is never initialised: MemoryReader::Read fills every
  // byte it is given (zeros where it cannot read), and a small target's scan
  // touches only the pages it reads, not all of read_chunk_bytes (zeroing
  // two 4 MiB buffers was most of the pause at the exit of a small program).
  struct ReadBuffer {
    std::unique_ptr<unsigned char[]> bytes;
    size_t size = 0;
    unsigned char* Get(size_t want) {
      if (size < want) {
        bytes.reset(new unsigned char[want]);
        size = want;
      }
      return bytes.get();
    }
  };
  // What one thread of ScanBlocks owns: its buffer and what it found.
  struct Worker {
    ReadBuffer buf;
    std::vector<Edge> edges;
    std::vector<PointerFound> explained;
    uint64_t block_bytes = 0, unreadable_bytes = 0, absent_bytes = 0, unscanned_bytes = 0;
  };
  // The parts of [start, end) to read: all of it, or for a large range its
  // present pages; counts what it leaves out.
  std::vector<std::pair<uint64_t, uint64_t>> PartsToRead(uint64_t start, uint64_t end, uint64_t* absent,
                                                         uint64_t* unscanned);
  void ScanRootPiece(uint64_t start, uint64_t end, int32_t holder);
  void ScanRange(uint32_t first, uint32_t last, Worker* w);
  void ScanBlock(uint32_t i, const unsigned char* data, uint64_t len, uint64_t base, Worker* w);
  void ReadBlockInPieces(uint32_t i, Worker* w);
  void Note(uint32_t t, uint64_t where, uint64_t value, int32_t holder, bool in_block,
            std::vector<PointerFound>* out) {
    if (!explain_.empty() && std::binary_search(explain_.begin(), explain_.end(), t)) {
      out->push_back({index_.start(t), where, value, holder, in_block});
    }
  }

  const BlockIndex& index_;
  std::span<const Block> blocks_;
  MemoryReader& reader_;
  size_t chunk_bytes_;
  int threads_;
  ReadBuffer buf_;
  PointerGraph graph_;
  std::vector<uint32_t> explain_;
  std::vector<PointerFound> explained_;
};

}  // namespace memtrace::scan
