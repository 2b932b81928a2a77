// Snapshot -> document: stacks that read the same are one site (with every
// stack id kept), and the listing bound folds the smallest sites into
// remainders that keep the totals exact.
#include "src/report/report_doc.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "src/capture/stack_depot.h"
#include "src/report/allocator_label.h"
#include "src/report/render.h"

namespace memtrace {
namespace {

__attribute__((noinline)) uintptr_t ReturnAddress() { return reinterpret_cast<uintptr_t>(__builtin_return_address(0)); }

// Two calls on one source line: two return addresses, one line.
#define TWO_CALLS_ON_ONE_LINE(a, b) a = ReturnAddress(); b = ReturnAddress(); asm volatile("" ::: "memory")

StackDepot& Depot() {
  static StackDepot depot;
  static bool ok = depot.Init();
  EXPECT_TRUE(ok);
  return depot;
}

SiteEntry Site(const StackRecord* stack, uint64_t live_bytes, uint64_t blocks, Space space = Space::kHeap) {
  SiteEntry e{};
  e.stack = stack;
  e.space = space;
  e.stats.live_bytes = live_bytes;
  e.stats.live_blocks = blocks;
  e.stats.allocs = blocks;
  e.stats.alloc_bytes = live_bytes;
  e.stats.peak_live_bytes = live_bytes;
  return e;
}

TEST(ReportDocTest, StacksThatReadTheSameAreOneSite) {
  uintptr_t a = 0, b = 0;
  TWO_CALLS_ON_ONE_LINE(a, b);
  uintptr_t other = ReturnAddress();
  ASSERT_NE(a, b);
  const StackRecord* sa = Depot().Intern(&a, 1);
  const StackRecord* sb = Depot().Intern(&b, 1);
  const StackRecord* so = Depot().Intern(&other, 1);
  Snapshot s;
  s.sites = {Site(sa, 777, 1), Site(sb, 777, 1), Site(so, 100, 1), Site(sa, 4096, 1, Space::kAnonMmap)};
  s.sites[0].threads = {{1, 777}};
  s.sites[1].threads = {{1, 700}, {2, 77}};
  s.sites[1].growth_bytes = 777;
  std::unique_ptr<Symbolizer> owned = Symbolizer::ForProcess(getpid(), Symbolizer::Options{});
  Symbolizer& symbolizer = *owned;
  ReportDoc d = BuildReportDoc(s, symbolizer);
  ASSERT_EQ(d.sites.size(), 3u);
  // Largest first: the anonymous mapping, then the merged line, then the other.
  EXPECT_EQ(d.sites[0].space, "anon_mmap");
  const DocSite& merged = d.sites[1];
  EXPECT_EQ(merged.stats.live_bytes, 2 * 777u);
  EXPECT_EQ(merged.stats.live_blocks, 2u);
  EXPECT_EQ(merged.growth_bytes, 777);
  EXPECT_EQ(merged.stack_ids, (std::vector<int64_t>{sa->id, sb->id}));
  ASSERT_EQ(merged.threads.size(), 2u);
  EXPECT_EQ(merged.threads[0].tid, 1u);
  EXPECT_EQ(merged.threads[0].live_bytes, 1477u);
  ASSERT_EQ(merged.frames.size(), 1u);
  const Frame& f = d.frame(merged.frames[0]);
  EXPECT_TRUE(absl::StrContains(f.function, "TestBody")) << f.function;  // this test's body
  EXPECT_TRUE(absl::EndsWith(f.file, "report_doc_test.cc")) << f.file;
  EXPECT_EQ(d.sites[2].stats.live_bytes, 100u);
  // The heap and the mapping share their frame: interned once.
  EXPECT_EQ(d.sites[0].frames, merged.frames);
  EXPECT_EQ(d.frames.size(), 2u);
  ASSERT_EQ(d.modules.size(), 1u);
  EXPECT_TRUE(absl::EndsWith(d.modules[0].path, "report_doc_test"));
  // The keys a diff matches by: one per site, whatever the addresses.
  EXPECT_NE(SiteKey(d, d.sites[0]), SiteKey(d, d.sites[1]));
  EXPECT_NE(SiteKey(d, d.sites[1]), SiteKey(d, d.sites[2]));
}

__attribute__((noinline)) void Inner(uintptr_t* out) {
  out[0] = ReturnAddress();
  asm volatile("" ::: "memory");
}
__attribute__((noinline)) void Outer(uintptr_t* out) {
  Inner(out);
  out[1] = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  asm volatile("" ::: "memory");
}

// The document interns each return address once; its frames must be those
// SymbolizeStack gives for the whole stack.
TEST(ReportDocTest, FramesAreThoseOfSymbolizeStack) {
  uintptr_t ras[2] = {};
  Outer(ras);
  const StackRecord* st = Depot().Intern(ras, 2);
  Snapshot s;
  s.sites = {Site(st, 1, 1)};
  std::unique_ptr<Symbolizer> owned = Symbolizer::ForProcess(getpid(), Symbolizer::Options{});
  Symbolizer& symbolizer = *owned;
  ReportDoc d = BuildReportDoc(s, symbolizer);
  std::vector<Frame> want = SymbolizeStack(st, symbolizer);
  ASSERT_EQ(d.sites.size(), 1u);
  ASSERT_EQ(d.sites[0].frames.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const Frame& got = d.frame(d.sites[0].frames[i]);
    EXPECT_EQ(FrameKey(got), FrameKey(want[i])) << i;
    EXPECT_EQ(got.offset, want[i].offset) << i;
  }
}

TEST(ReportDocTest, TheBoundKeepsTotalsExact) {
  Snapshot s;
  uint64_t heap_total = 0, anon_total = 0;
  for (uintptr_t i = 1; i <= 20; ++i) {
    uintptr_t frame = 0x1000 * i;  // no module: each reads module+offset, so each is its own site
    const StackRecord* st = Depot().Intern(&frame, 1);
    Space space = i % 4 == 0 ? Space::kAnonMmap : Space::kHeap;
    s.sites.push_back(Site(st, 100 * i, i, space));
    (space == Space::kHeap ? heap_total : anon_total) += 100 * i;
  }
  std::unique_ptr<Symbolizer> owned = Symbolizer::ForProcess(getpid(), Symbolizer::Options{});
  Symbolizer& symbolizer = *owned;
  ReportDoc d = BuildReportDoc(s, symbolizer, DocOptions{5});
  ASSERT_EQ(d.sites.size(), 5u);
  EXPECT_EQ(d.sites[0].stats.live_bytes, 2000u);
  EXPECT_EQ(d.sites[4].stats.live_bytes, 1600u);
  EXPECT_EQ(d.site_count(), 20u);
  uint64_t heap = 0, anon = 0, blocks = 0;
  for (const DocSite& site : d.sites) {
    (site.space == "heap" ? heap : anon) += site.stats.live_bytes;
    blocks += site.stats.live_blocks;
  }
  for (const DocOmitted& o : d.omitted) {
    (o.space == "heap" ? heap : anon) += o.stats.live_bytes;
    blocks += o.stats.live_blocks;
    EXPECT_EQ(o.stacks, o.sites);
  }
  EXPECT_EQ(heap, heap_total);
  EXPECT_EQ(anon, anon_total);
  EXPECT_EQ(blocks, 210u);
  EXPECT_EQ(d.omitted.size(), 2u);
  // Only the listed sites' frames are in the table.
  EXPECT_EQ(d.frames.size(), 5u);
  std::string text = RenderTextReport(d, {});
  EXPECT_TRUE(absl::StrContains(text, "== Top 3 of 15 call sites by live bytes")) << text;
  EXPECT_TRUE(absl::StrContains(text, "== Top 2 of 5 mapping sites by resident bytes")) << text;
  EXPECT_TRUE(absl::StrContains(text, "... and 12 more heap sites beyond the listing bound of 5")) << text;
  // Folded stacks add up to everything live.
  std::string folded = RenderFoldedReport(d);
  uint64_t sum = 0;
  size_t pos = 0;
  while (pos < folded.size()) {
    size_t eol = folded.find('\n', pos);
    std::string line = folded.substr(pos, eol - pos);
    sum += std::stoull(line.substr(line.rfind(' ') + 1));
    pos = eol + 1;
  }
  EXPECT_EQ(sum, heap_total + anon_total);
  // No bound: everything listed.
  EXPECT_EQ(BuildReportDoc(s, symbolizer, DocOptions{0}).sites.size(), 20u);
}

Frame F(const char* function, const char* module) {
  Frame f;
  f.function = function;
  f.module = module;
  return f;
}

std::string LabelOf(std::initializer_list<Frame> frames) {
  std::vector<Frame> owned(frames);
  std::vector<const Frame*> ptrs;
  for (const Frame& f : owned) ptrs.push_back(&f);
  return AllocatorLabel(ptrs);
}

TEST(AllocatorLabelTest, KnownAllocatorsAndRuntimes) {
  // Stacks as the reports of real programs show them (frame 0 first).
  EXPECT_EQ(LabelOf({F("x_cgo_mmap", "/srv/svc"), F("runtime.callCgoMmap", "/srv/svc"), F("runtime.mmap", "/srv/svc"),
                     F("runtime.sysReserveOS", "/srv/svc"), F("runtime.sysReserve", "/srv/svc"),
                     F("runtime.(*mheap).sysAlloc", "/srv/svc"), F("main.main", "/srv/svc")}),
            "Go heap");
  EXPECT_EQ(LabelOf({F("x_cgo_mmap", "/srv/svc"), F("runtime.mmap", "/srv/svc"), F("runtime.stackalloc", "/srv/svc"),
                     F("main.main", "/srv/svc")}),
            "Go runtime");
  // Stripped CPython: nothing named but the module.
  EXPECT_EQ(LabelOf({F("", "/usr/bin/python3.11"), F("", "/usr/bin/python3.11"),
                     F("PyType_GenericAlloc", "/usr/bin/python3.11")}),
            "pymalloc arena");
  EXPECT_EQ(LabelOf({F("_PyObject_ArenaMmap", "/usr/lib/libpython3.12.so.1.0"), F("new_arena", "")}), "pymalloc arena");
  EXPECT_EQ(LabelOf({F("", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"), F("je_malloc", "")}), "jemalloc extent");
  EXPECT_EQ(LabelOf({F("TCMalloc_SystemAlloc(unsigned long, unsigned long*, unsigned long)", "/x/libtcmalloc.so.4")}),
            "tcmalloc");
  EXPECT_EQ(LabelOf({F("alloc_mmap", "/usr/lib/x86_64-linux-gnu/libopenblas.so.0"), F("blas_memory_alloc", "")}),
            "OpenBLAS buffer");
  EXPECT_EQ(LabelOf({F("_mi_os_alloc", "/x/libmimalloc.so.2")}), "mimalloc segment");
  EXPECT_EQ(LabelOf({F("new_heap", "/lib/x86_64-linux-gnu/libc.so.6"), F("arena_get2", "/lib/x86_64-linux-gnu/libc.so.6")}),
            "glibc arena");
}

TEST(AllocatorLabelTest, TheProgramsOwnMappingsAreNotLabelled) {
  EXPECT_EQ(LabelOf({F("map_buffer", "/srv/app"), F("main", "/srv/app")}), "");
  // A C library called from Go through cgo: the runtime is further out.
  EXPECT_EQ(LabelOf({F("lgbm_load", "/usr/lib/liblightgbm.so"), F("_cgo_123_Cfunc_lgbm_load", "/srv/svc"),
                     F("runtime.asmcgocall", "/srv/svc"), F("runtime.cgocall", "/srv/svc")}),
            "");
  // A C extension's mapping under the interpreter, and the mmap module.
  EXPECT_EQ(LabelOf({F("ext_map", "/x/ext.cpython-311-x86_64-linux-gnu.so"), F("", "/usr/bin/python3.11")}), "");
  EXPECT_EQ(LabelOf({F("", "/usr/lib/python3.11/lib-dynload/mmap.cpython-311-x86_64-linux-gnu.so"),
                     F("", "/usr/bin/python3.11")}),
            "");
  EXPECT_EQ(LabelOf({}), "");
}

TEST(ReportDocTest, TextListsHeapSitesFirstAndMappingsByResidentBytes) {
  Snapshot s;
  uintptr_t frames[4] = {0x1000, 0x2000, 0x3000, 0x4000};
  s.sites.push_back(Site(Depot().Intern(&frames[0], 1), uint64_t{1} << 30, 1, Space::kAnonMmap));  // a reservation
  s.sites.back().cost = MappingCost{uint64_t{1} << 30, 0, 0};
  s.sites.push_back(Site(Depot().Intern(&frames[1], 1), uint64_t{256} << 20, 1, Space::kAnonMmap));
  s.sites.back().cost = MappingCost{uint64_t{256} << 20, uint64_t{256} << 20, uint64_t{4} << 20};
  s.sites.push_back(Site(Depot().Intern(&frames[2], 1), 100000, 1));
  s.sites.push_back(Site(Depot().Intern(&frames[3], 1), 10, 1));
  std::unique_ptr<Symbolizer> owned = Symbolizer::ForProcess(getpid(), Symbolizer::Options{});
  ReportDoc d = BuildReportDoc(s, *owned, DocOptions{});
  // The document keeps the schema's order (live bytes).
  EXPECT_EQ(d.sites[0].stats.live_bytes, uint64_t{1} << 30);
  std::string text = RenderTextReport(d, {});
  size_t heap = text.find("== Top 2 of 2 call sites by live bytes"), maps = text.find("== Top 2 of 2 mapping sites");
  ASSERT_NE(heap, std::string::npos) << text;
  ASSERT_NE(maps, std::string::npos) << text;
  EXPECT_LT(heap, maps);
  size_t first = text.find("#1  100000 bytes live"), resident = text.find("#3  268435456 bytes live"),
         reserved = text.find("#4  1073741824 bytes live");
  EXPECT_NE(first, std::string::npos) << text;
  EXPECT_LT(first, resident);
  EXPECT_LT(resident, reserved) << text;
  EXPECT_TRUE(absl::StrContains(text, "reserved 256.0 MiB, committed 256.0 MiB, resident 4.0 MiB")) << text;
}

}  // namespace
}  // namespace memtrace
