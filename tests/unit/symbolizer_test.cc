// Symbolization of this very test binary: function names, file:line from
// DWARF, module paths and build-ids.
#include "src/report/symbolizer.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace memtrace {
namespace {

__attribute__((noinline)) uintptr_t ReturnAddressHere() {
  return reinterpret_cast<uintptr_t>(__builtin_return_address(0));
}

__attribute__((noinline)) uintptr_t KnownCaller() {
  uintptr_t ra = ReturnAddressHere();  // the line we expect
  asm volatile("" ::: "memory");
  return ra;
}

TEST(SymbolizerTest, NamesFunctionFileAndLine) {
  uintptr_t ra = KnownCaller();
  Symbolizer sym;
  const std::vector<Frame>& frames = sym.Symbolize(ra);
  ASSERT_FALSE(frames.empty());
  const Frame& f = frames.back();
  EXPECT_TRUE(absl::StrContains(f.function, "KnownCaller")) << f.function;
  EXPECT_TRUE(absl::EndsWith(f.file, "symbolizer_test.cc")) << f.file;
  EXPECT_EQ(f.line, 17);
  EXPECT_TRUE(absl::EndsWith(f.module, "symbolizer_test")) << f.module;
  ASSERT_FALSE(sym.modules().empty());
  EXPECT_EQ(sym.modules()[0].build_id.size(), 40u);  // GNU build-id: 20 bytes
}

TEST(SymbolizerTest, DemanglesAndSurvivesGarbage) {
  EXPECT_EQ(Demangle("_ZN3foo3barEv"), "foo::bar()");
  EXPECT_EQ(Demangle("main"), "main");
  Symbolizer sym;
  const std::vector<Frame>& frames = sym.Symbolize(0x10);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].module, "[unknown]");
}

}  // namespace
}  // namespace memtrace
