// Building the root set (see roots.h for what is a root and why).
#include "src/scan/roots.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"

namespace memtrace::scan {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kArenaHeapAlign = 64ull << 20;  // glibc HEAP_MAX_SIZE on 64-bit

uint64_t AlignDown(uint64_t v, uint64_t a) { return v & ~(a - 1); }

// Removes every part of `in` covered by `cut`. Both sorted by start; `cut`
// may overlap itself.
std::vector<RootRange> Subtract(const std::vector<RootRange>& in, std::vector<AddressRange> cut) {
  std::sort(cut.begin(), cut.end(), [](const AddressRange& a, const AddressRange& b) { return a.start < b.start; });
  std::vector<RootRange> out;
  size_t c = 0;
  for (const RootRange& r : in) {
    uint64_t pos = r.start;
    while (c < cut.size() && cut[c].end <= pos) ++c;
    for (size_t k = c; k < cut.size() && cut[k].start < r.end && pos < r.end; ++k) {
      if (cut[k].end <= pos) continue;
      if (cut[k].start > pos) out.push_back({pos, cut[k].start, r.holder});
      pos = std::max(pos, cut[k].end);
    }
    if (pos < r.end) out.push_back({pos, r.end, r.holder});
  }
  return out;
}

void SortRanges(std::vector<RootRange>* v) {
  std::sort(v->begin(), v->end(), [](const RootRange& a, const RootRange& b) { return a.start < b.start; });
}

// Overlapping shared ranges become one.
std::vector<RootRange> MergeShared(std::vector<RootRange> v) {
  SortRanges(&v);
  std::vector<RootRange> out;
  for (const RootRange& r : v) {
    if (!out.empty() && r.start <= out.back().end) {
      out.back().end = std::max(out.back().end, r.end);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

uint64_t Word(const std::vector<unsigned char>& buf, size_t off) {
  uint64_t w;
  memcpy(&w, buf.data() + off, 8);
  return w;
}

// glibc's non-main arenas live in heaps aligned to HEAP_MAX_SIZE that start
// with a heap_info: {ar_ptr, prev, size, mprotect_size, ...}, where
// mprotect_size is the read-write extent, i.e. this mapping's length.
bool LooksLikeArenaHeap(const Mapping& m, MemoryReader& reader) {
  if (m.start % kArenaHeapAlign != 0 || m.end - m.start > kArenaHeapAlign) return false;
  std::vector<unsigned char> buf(32);
  if (reader.Read(m.start, buf.data(), buf.size()) != buf.size()) return false;
  uint64_t ar_ptr = Word(buf, 0), prev = Word(buf, 8), size = Word(buf, 16), mprotect_size = Word(buf, 24);
  return ar_ptr != 0 && ar_ptr % 8 == 0 && (prev == 0 || prev % kArenaHeapAlign == 0) && size <= kArenaHeapAlign &&
         mprotect_size == m.end - m.start;
}

// The thread descriptor glibc keeps at the top of a thread stack it made:
// tcbhead_t starts {tcb (self), dtv, self}. 0 when there is none.
uint64_t FindThreadDescriptor(const Mapping& m, uint64_t tls_size, MemoryReader& reader) {
  uint64_t len = AlignDown(std::min<uint64_t>(m.end - m.start, tls_size + 2 * kPage), 8);
  if (len < 24) return 0;
  uint64_t base = m.end - len;
  std::vector<unsigned char> buf(len);
  reader.Read(base, buf.data(), len);
  for (uint64_t off = len - 24;; off -= 8) {
    uint64_t a = base + off;
    if (Word(buf, off) == a && Word(buf, off + 16) == a) return a;
    if (off == 0) break;
  }
  return 0;
}

}  // namespace

uint64_t EstimateStaticTlsSize(const std::vector<Mapping>& maps) {
  // glibc: static size = roundup(sum of PT_TLS blocks + surplus, max align) +
  // the descriptor; surplus = 1664 bytes (TLS_STATIC_SURPLUS, the minimum of
  // _dl_tls_static_surplus_init with the default tunables).
  std::set<std::string> seen;
  uint64_t sum = 0, max_align = 64;
  for (const Mapping& m : maps) {
    if (!m.file_backed() || m.offset != 0 || m.path.empty() || m.path[0] != '/' || !seen.insert(m.path).second) continue;
    int fd = open(m.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof eh, 0) == sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
        eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum < 256) {
      std::vector<Elf64_Phdr> ph(eh.e_phnum);
      ssize_t want = static_cast<ssize_t>(ph.size() * sizeof(Elf64_Phdr));
      if (pread(fd, ph.data(), want, static_cast<off_t>(eh.e_phoff)) == want) {
        for (const Elf64_Phdr& p : ph) {
          if (p.p_type != PT_TLS) continue;
          uint64_t align = std::max<uint64_t>(p.p_align, 1);
          sum += (p.p_memsz + align - 1) / align * align;
          max_align = std::max(max_align, align);
        }
      }
    }
    close(fd);
  }
  uint64_t s = (sum + 1664 + max_align - 1) / max_align * max_align;
  return s + kThreadDescriptorSize + 128;  // 128: slack for glibc's own rounding
}

RootPlan PlanRoots(const std::vector<Mapping>& maps, std::span<const ThreadSnapshot> threads,
                   std::span<const Block> blocks, const BlockIndex& index,
                   std::span<const AddressRange> tracer_ranges, MemoryReader& reader, const RootOptions& options) {
  RootPlan plan;
  MappingIndex mindex(&maps);
  uint64_t tls_size = options.static_tls_size ? options.static_tls_size : EstimateStaticTlsSize(maps);
  bool all_stopped = true;
  for (size_t t = 0; t < threads.size(); ++t) {
    const ThreadSnapshot& s = threads[t];
    ThreadInfo info;
    info.tid = s.tid;
    info.stopped = s.stopped;
    info.sp = s.sp;
    info.tls = s.tp;
    if (const Mapping* m = s.sp ? mindex.Find(s.sp) : nullptr) {
      info.stack_start = m->start;
      info.stack_end = m->end;
    }
    plan.threads.push_back(info);
    if (!s.stopped) all_stopped = false;
    for (uint64_t r : s.gp_regs) plan.registers.emplace_back(r, static_cast<int32_t>(t));
  }

  std::vector<uint64_t> heap_starts;
  for (uint32_t i = 0; i < index.size(); ++i) {
    if (blocks[index.input(i)].space == BlockSpace::kHeap) heap_starts.push_back(index.start(i));
  }
  auto holds_heap_block = [&](const Mapping& m) {
    auto it = std::lower_bound(heap_starts.begin(), heap_starts.end(), m.start);
    return it != heap_starts.end() && *it < m.end;
  };

  std::vector<RootRange> held, shared;
  uint32_t cached_stacks = 0, conservative_stacks = 0;
  for (size_t mi = 0; mi < maps.size(); ++mi) {
    const Mapping& m = maps[mi];
    if (!m.read || !m.write) continue;
    if (m.file_backed() && m.path.rfind("/dev/", 0) == 0 && m.path != "/dev/zero") continue;  // devices
    if (m.path == "[heap]") continue;

    bool is_stack = false;
    for (size_t t = 0; t < threads.size(); ++t) {
      uint64_t sp = threads[t].sp;
      if (sp >= m.start && sp < m.end) {
        uint64_t from = threads[t].in_syscall ? AlignDown(sp, 8)
                        : sp >= m.start + kRedZone ? AlignDown(sp - kRedZone, 8) : m.start;
        uint64_t floor = threads[t].scan_from;
        if (floor > sp && floor < m.end) from = AlignDown(floor, 8);
        held.push_back({from, m.end, static_cast<int32_t>(t)});
        is_stack = true;
      }
    }
    if (is_stack) continue;

    if (m.path == "[stack]") {  // the main thread's, its sp unknown (not stopped)
      shared.push_back({m.start, m.end, kHolderShared});
      ++conservative_stacks;
      continue;
    }
    if (m.anonymous()) {
      if (holds_heap_block(m) || LooksLikeArenaHeap(m, reader)) continue;
      bool has_tp = false;
      for (size_t t = 0; t < threads.size(); ++t) {
        uint64_t tp = threads[t].tp;
        if (tp >= m.start && tp < m.end) {
          uint64_t top = std::min(m.end, tp + kThreadDescriptorSize);
          uint64_t bottom = top - std::min(top - m.start, tls_size);
          held.push_back({bottom, top, static_cast<int32_t>(t)});
          has_tp = true;
        }
      }
      if (!has_tp) {
        if (uint64_t tcb = FindThreadDescriptor(m, tls_size, reader)) {
          if (!all_stopped) {
            // Perhaps the stack of a thread that did not stop: all of it.
            shared.push_back({m.start, m.end, kHolderShared});
            ++conservative_stacks;
          } else {
            // An exited thread's stack in glibc's cache: its static TLS and
            // descriptor only.
            uint64_t bottom = tcb + kThreadDescriptorSize > tls_size ? tcb + kThreadDescriptorSize - tls_size : 0;
            shared.push_back({std::max(m.start, AlignDown(bottom, 8)), m.end, kHolderShared});
            ++cached_stacks;
          }
          continue;
        }
      }
      bool module_bss = mi > 0 && maps[mi - 1].end == m.start && maps[mi - 1].file_backed() && maps[mi - 1].write;
      if (!options.untracked_mappings_are_roots && !module_bss) continue;
      shared.push_back({m.start, m.end, kHolderShared});
      continue;
    }
    // Module data, other files, shared memory, named special mappings.
    shared.push_back({m.start, m.end, kHolderShared});
  }
  for (const Block& b : blocks) {
    if (b.flags & kBlockRoot) shared.push_back({b.addr, b.addr + b.size, kHolderShared});
  }

  // Never roots: the tracer's memory and the blocks. A thread's own ranges
  // take precedence over shared ones where they overlap.
  std::vector<AddressRange> cut(tracer_ranges.begin(), tracer_ranges.end());
  cut.reserve(cut.size() + index.size());
  for (uint32_t i = 0; i < index.size(); ++i) cut.push_back({index.start(i), index.end(i)});
  SortRanges(&held);
  std::vector<AddressRange> held_cut;
  for (const RootRange& r : held) held_cut.push_back({r.start, r.end});
  std::vector<RootRange> all = Subtract(MergeShared(std::move(shared)), held_cut);
  all.insert(all.end(), held.begin(), held.end());
  SortRanges(&all);
  plan.ranges = Subtract(all, std::move(cut));

  if (cached_stacks) plan.notes.push_back(absl::StrCat(cached_stacks, " cached stacks of exited threads: static TLS scanned"));
  if (conservative_stacks) {
    plan.notes.push_back(absl::StrCat(conservative_stacks, " stacks scanned whole (a thread did not stop)"));
  }
  return plan;
}

}  // namespace memtrace::scan
