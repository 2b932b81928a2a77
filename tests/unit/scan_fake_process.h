// A process made up in memory for the scan's unit tests: mappings, bytes and
// threads, read through the MemoryReader interface as the scan reads a real
// one. Unmapped or unreadable bytes read as zero and are not counted.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "src/scan/maps.h"
#include "src/scan/memory_reader.h"
#include "src/scan/roots.h"
#include "src/scan/scan_types.h"

namespace memtrace::scan {

class FakeProcess final : public MemoryReader {
 public:
  // Adds a mapping; `readable` false makes it a guard (---p).
  Mapping& Map(uint64_t start, uint64_t size, std::string path = "", bool file = false, bool write = true,
               bool exec = false, bool readable = true) {
    Mapping m;
    m.start = start;
    m.end = start + size;
    m.read = readable;
    m.write = write && readable;
    m.exec = exec;
    m.inode = file ? 1234 : 0;
    m.path = std::move(path);
    maps_.push_back(m);
    std::sort(maps_.begin(), maps_.end(), [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
    if (readable) mem_[start].assign(size, 0);
    return *std::find_if(maps_.begin(), maps_.end(), [&](const Mapping& x) { return x.start == start; });
  }
  // A mapping whose pages exist only once written (Put): a reservation.
  void MapSparse(uint64_t start, uint64_t size) {
    Mapping m;
    m.start = start;
    m.end = start + size;
    m.read = m.write = true;
    maps_.push_back(m);
    std::sort(maps_.begin(), maps_.end(), [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
    sparse_.emplace_back(start, start + size);
  }
  bool PresentRanges(uint64_t start, uint64_t end, std::vector<std::pair<uint64_t, uint64_t>>* out) override {
    ++present_queries_;
    for (auto it = mem_.lower_bound(start & ~4095ull); it != mem_.end() && it->first < end; ++it) {
      out->emplace_back(std::max(start, it->first), std::min<uint64_t>(end, it->first + it->second.size()));
    }
    return true;
  }
  int present_queries() const { return present_queries_; }
  void Put(uint64_t addr, uint64_t value) {
    auto it = Region(addr);
    if (it == mem_.end()) {
      for (const auto& [s, e] : sparse_) {
        if (addr >= s && addr < e) {
          mem_[addr & ~4095ull].assign(4096, 0);
          it = Region(addr);
        }
      }
    }
    ASSERT_OR_DIE(it != mem_.end());
    memcpy(it->second.data() + (addr - it->first), &value, 8);
  }
  // A heap block at addr (inside some mapping), for the block list.
  Block& AddBlock(uint64_t addr, uint64_t size, BlockSpace space = BlockSpace::kHeap, uint8_t flags = 0) {
    blocks_.push_back({addr, size, static_cast<uint32_t>(blocks_.size()), 0, space, flags});
    return blocks_.back();
  }
  ThreadSnapshot& AddThread(pid_t tid, uint64_t sp, uint64_t tp = 0) {
    ThreadSnapshot t;
    t.tid = tid;
    t.stopped = true;
    t.sp = sp;
    t.tp = tp;
    threads_.push_back(t);
    return threads_.back();
  }

  size_t Read(uint64_t addr, void* dst, size_t len) override {
    auto* out = static_cast<unsigned char*>(dst);
    memset(out, 0, len);
    size_t got = 0;
    for (size_t i = 0; i < len;) {
      auto it = Region(addr + i);
      if (it == mem_.end()) {
        ++i;
        continue;
      }
      size_t avail = std::min<size_t>(len - i, it->first + it->second.size() - (addr + i));
      memcpy(out + i, it->second.data() + (addr + i - it->first), avail);
      i += avail;
      got += avail;
    }
    reads_++;
    return got;
  }

  std::vector<Mapping>& maps() { return maps_; }
  std::vector<Block>& blocks() { return blocks_; }
  std::vector<ThreadSnapshot>& threads() { return threads_; }
  int reads() const { return reads_; }

 private:
  static void ASSERT_OR_DIE(bool ok) {
    if (!ok) abort();
  }
  std::map<uint64_t, std::vector<unsigned char>>::iterator Region(uint64_t addr) {
    auto it = mem_.upper_bound(addr);
    if (it == mem_.begin()) return mem_.end();
    --it;
    return addr < it->first + it->second.size() ? it : mem_.end();
  }
  std::map<uint64_t, std::vector<unsigned char>> mem_;
  std::vector<Mapping> maps_;
  std::vector<Block> blocks_;
  std::vector<ThreadSnapshot> threads_;
  std::vector<std::pair<uint64_t, uint64_t>> sparse_;
  std::atomic<int> reads_{0};  // the block scan reads from two threads
  int present_queries_ = 0;
};

}  // namespace memtrace::scan
