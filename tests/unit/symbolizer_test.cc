// Symbolization of this very test binary, as another process would see it
// (by pid, and from a saved module list): function names, file:line from
// DWARF, inline chains, module paths and build-ids, perf maps.
#include "src/report/symbolizer.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/report/module_map.h"
#include "src/report/go_pclntab.h"
#include "src/report/perf_map.h"

namespace memtrace {
namespace {

__attribute__((noinline)) uintptr_t ReturnAddressHere() {
  return reinterpret_cast<uintptr_t>(__builtin_return_address(0));
}

constexpr int kKnownLine = __LINE__ + 3;  // the call in KnownCaller
constexpr int kInnerLine = __LINE__ + 8, kOuterLine = __LINE__ + 11, kPhysicalLine = __LINE__ + 14;
__attribute__((noinline)) uintptr_t KnownCaller() {
  uintptr_t ra = ReturnAddressHere();
  asm volatile("" ::: "memory");
  return ra;
}

__attribute__((always_inline)) inline uintptr_t InlinedInner() {
  return ReturnAddressHere();  // kInnerLine
}
__attribute__((always_inline)) inline uintptr_t InlinedOuter() {
  return InlinedInner() + 0;  // kOuterLine
}
__attribute__((noinline)) uintptr_t PhysicalCaller() {
  uintptr_t ra = InlinedOuter();  // kPhysicalLine
  asm volatile("" ::: "memory");
  return ra;
}

std::unique_ptr<Symbolizer> Self() { return Symbolizer::ForProcess(getpid(), Symbolizer::Options{}); }

TEST(SymbolizerTest, NamesFunctionFileAndLine) {
  uintptr_t ra = KnownCaller();
  auto sym = Self();
  const std::vector<Frame>& frames = sym->Symbolize(ra);
  ASSERT_EQ(frames.size(), 1u);
  const Frame& f = frames.back();
  EXPECT_TRUE(absl::StrContains(f.function, "KnownCaller")) << f.function;
  EXPECT_TRUE(absl::EndsWith(f.file, "symbolizer_test.cc")) << f.file;
  EXPECT_EQ(f.line, kKnownLine);
  EXPECT_TRUE(absl::EndsWith(f.module, "symbolizer_test")) << f.module;
  ASSERT_FALSE(sym->modules().empty());
  EXPECT_EQ(sym->modules()[0].build_id.size(), 40u);  // GNU build-id: 20 bytes
}

TEST(SymbolizerTest, EveryInlinedScopeWithItsCallLine) {
  uintptr_t ra = PhysicalCaller();
  auto sym = Self();
  const std::vector<Frame>& frames = sym->Symbolize(ra);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_TRUE(absl::StrContains(frames[0].function, "InlinedInner")) << frames[0].function;
  EXPECT_EQ(frames[0].line, kInnerLine);
  EXPECT_TRUE(frames[0].inlined);
  EXPECT_TRUE(absl::StrContains(frames[1].function, "InlinedOuter")) << frames[1].function;
  EXPECT_EQ(frames[1].line, kOuterLine);
  EXPECT_TRUE(frames[1].inlined);
  EXPECT_TRUE(absl::StrContains(frames[2].function, "PhysicalCaller")) << frames[2].function;
  EXPECT_EQ(frames[2].line, kPhysicalLine);  // the physical frame: the line inside its own function
  EXPECT_FALSE(frames[2].inlined);
}

TEST(SymbolizerTest, SavedModuleListSymbolizesLikeTheLiveProcess) {
  absl::StatusOr<std::vector<LoadedModule>> live = ReadProcessModules(getpid());
  ASSERT_TRUE(live.ok()) << live.status();
  std::string saved = SerializeModules(*live);
  absl::StatusOr<std::vector<LoadedModule>> back = ParseModules(saved);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *live);
  // The executable, libc and libdw at least, each with a build-id.
  EXPECT_GE(live->size(), 3u);
  for (const LoadedModule& m : *live) EXPECT_FALSE(m.build_id.empty()) << m.path;

  uintptr_t ra = PhysicalCaller();
  auto by_pid = Self();
  Symbolizer offline(*std::move(back), Symbolizer::Options{}, /*pid=*/0);
  const std::vector<Frame>& a = by_pid->Symbolize(ra);
  const std::vector<Frame>& b = offline.Symbolize(ra);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].function, b[i].function);
    EXPECT_EQ(a[i].file, b[i].file);
    EXPECT_EQ(a[i].line, b[i].line);
    EXPECT_EQ(a[i].offset, b[i].offset);
  }
  EXPECT_EQ(offline.FunctionAt(reinterpret_cast<uintptr_t>(&ReturnAddressHere)), by_pid->FunctionAt(reinterpret_cast<uintptr_t>(&ReturnAddressHere)));
}

TEST(SymbolizerTest, RefusesAModuleWhoseFileChanged) {
  absl::StatusOr<std::vector<LoadedModule>> live = ReadProcessModules(getpid());
  ASSERT_TRUE(live.ok());
  for (LoadedModule& m : *live) m.build_id = std::string(40, '0');  // as if every file had been replaced
  Symbolizer offline(*std::move(live), Symbolizer::Options{});
  const std::vector<Frame>& f = offline.Symbolize(KnownCaller());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].function, "");  // module + offset, never a wrong name
  EXPECT_TRUE(absl::EndsWith(f[0].module, "symbolizer_test"));
}

TEST(SymbolizerTest, DemanglesAndSurvivesGarbage) {
  EXPECT_EQ(Demangle("_ZN3foo3barEv"), "foo::bar()");
  EXPECT_EQ(Demangle("main"), "main");
  auto sym = Self();
  const std::vector<Frame>& frames = sym->Symbolize(0x10);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].module, "[unknown]");
  EXPECT_FALSE(ParseModules("zz 1 2 - /x\n").ok());
}

TEST(PerfMapTest, FindsTheLatestEntryHoldingAnAddress) {
  PerfMap map;
  map.Parse("1000 100 first\n0x2000 0x10 LazyCompile:*hot app.js:3\nbad line\n1000 20 reused\n");
  ASSERT_EQ(map.size(), 3u);
  EXPECT_EQ(map.Find(0x1010)->name, "reused");  // later line, same code memory
  EXPECT_EQ(map.Find(0x1050)->name, "first");
  EXPECT_EQ(map.Find(0x2008)->name, "LazyCompile:*hot app.js:3");
  EXPECT_EQ(map.Find(0x2010), nullptr);
  EXPECT_EQ(map.Find(0x10), nullptr);
}

TEST(SymbolizerTest, NamesJitCodeFromThePerfMap) {
  void* code = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(code, MAP_FAILED);
  auto start = reinterpret_cast<uintptr_t>(code);
  std::string path = absl::StrCat("/tmp/perf-", getpid(), ".map");
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fprintf(f, "%lx 80 jitted_function_a\n%lx 40 jitted_function_b\n", static_cast<unsigned long>(start),
          static_cast<unsigned long>(start + 0x80));
  fclose(f);
  auto sym = Self();
  std::vector<Frame> a = sym->Symbolize(start + 0x11);  // copies: valid until the next call
  std::vector<Frame> b = sym->Symbolize(start + 0x91);
  unlink(path.c_str());
  munmap(code, 4096);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].function, "jitted_function_a");
  EXPECT_EQ(b[0].function, "jitted_function_b");
  EXPECT_TRUE(absl::StartsWith(a[0].module, "[perf-"));
}

TEST(GoPclntabTest, RefusesWhatIsNotAKnownLayout) {
  GoPclntab t;
  std::string function, file;
  int line = 0;
  uint8_t bytes[128] = {0xfa, 0xff, 0xff, 0xff, 0, 0, 1, 8};  // Go 1.16's magic: another layout
  EXPECT_FALSE(t.Init(bytes, sizeof bytes));
  EXPECT_FALSE(t.Lookup(0x401000, &function, &file, &line));
  bytes[0] = 0xf0;  // 1.18's magic, but offsets past the end
  memset(bytes + 32, 0xff, 8);
  EXPECT_FALSE(t.Init(bytes, sizeof bytes));
  EXPECT_FALSE(t.Init(bytes, 16));  // shorter than a header
}

}  // namespace
}  // namespace memtrace
