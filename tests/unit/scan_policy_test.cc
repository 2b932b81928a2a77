// Suppressions (LSan syntax, matching, counting) and the gate's rule.
#include <gtest/gtest.h>

#include "src/config/config.h"
#include "src/scan/gate.h"
#include "src/scan/suppressions.h"

namespace memtrace::scan {
namespace {

static_assert(KindBit(LeakKind::kDefinite) == kLeakKindDefiniteBit);
static_assert(KindBit(LeakKind::kIndirect) == kLeakKindIndirectBit);
static_assert(KindBit(LeakKind::kPossible) == kLeakKindPossibleBit);
static_assert(KindBit(LeakKind::kReachable) == kLeakKindReachableBit);

TEST(TemplateMatchTest, LikeLeakSanitizer) {
  EXPECT_TRUE(TemplateMatch("foo", "foo"));
  EXPECT_TRUE(TemplateMatch("foo", "xfooy"));  // anywhere, unanchored
  EXPECT_FALSE(TemplateMatch("^foo", "xfoo"));
  EXPECT_TRUE(TemplateMatch("^foo", "foobar"));
  EXPECT_FALSE(TemplateMatch("foo$", "foobar"));
  EXPECT_TRUE(TemplateMatch("bar$", "foobar"));
  EXPECT_TRUE(TemplateMatch("^foobar$", "foobar"));
  EXPECT_FALSE(TemplateMatch("^foo$", "foobar"));
  EXPECT_TRUE(TemplateMatch("f*r", "foobar"));
  EXPECT_TRUE(TemplateMatch("^f*r$", "foobar"));
  EXPECT_FALSE(TemplateMatch("^f*o$", "foobar"));
  EXPECT_TRUE(TemplateMatch("a*a$", "abca"));  // a later occurrence may be the one
  EXPECT_TRUE(TemplateMatch("*", "x"));
  EXPECT_FALSE(TemplateMatch("*", ""));  // an unknown name matches nothing
  EXPECT_TRUE(TemplateMatch("*tls_get_addr*", "__tls_get_addr"));
  EXPECT_TRUE(TemplateMatch("libfoo.so", "/usr/lib/x86_64-linux-gnu/libfoo.so.1"));
  EXPECT_TRUE(TemplateMatch("BarCache::Fill", "ns::BarCache::Fill(int)"));
}

TEST(SuppressionsTest, ParsesLeakLinesAndSaysWhichItSkipped) {
  Suppressions s;
  std::vector<std::string> errors;
  s.Parse(
      "# third-party\n"
      "\n"
      "leak:libfoo.so\n"
      "  leak:^make_cache$  \n"
      "race:whatever\n"
      "leak:\n"
      "nonsense\n",
      "x.supp", &errors);
  ASSERT_EQ(s.list().size(), 2u);
  EXPECT_EQ(s.list()[0].pattern, "libfoo.so");
  EXPECT_EQ(s.list()[0].origin, "x.supp:3");
  EXPECT_EQ(s.list()[1].pattern, "^make_cache$");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].find("x.supp:5"), std::string::npos);
  EXPECT_FALSE(s.LoadFile("/nonexistent/file.supp", &errors));
  EXPECT_EQ(errors.size(), 4u);
}

TEST(SuppressionsTest, MatchesFunctionFileOrModuleOfAnyFrameFirstPatternWins) {
  Suppressions s;
  s.Parse("leak:^inner$\nleak:third_party/*\nleak:libfoo.so\n", "f", nullptr);
  std::vector<SymbolizedFrame> stack = {{"malloc", "", "/lib/libc.so.6"},
                                        {"inner", "/src/app/inner.c", "/bin/app"},
                                        {"outer", "/src/third_party/x.c", "/lib/libfoo.so"}};
  EXPECT_EQ(s.Match(stack), 0);  // frame 1 matches pattern 0 before frame 2 matches the others
  stack[1].function = "inner2";
  EXPECT_EQ(s.Match(stack), 1);  // the file of frame 2
  stack[2].file = "/src/x.c";
  EXPECT_EQ(s.Match(stack), 2);  // the module of frame 2
  stack[2].module = "/lib/libbar.so";
  EXPECT_EQ(s.Match(stack), -1);
  s.Count(2, 100);
  s.Count(2, 20);
  EXPECT_EQ(s.list()[2].matched.bytes, 120u);
  EXPECT_EQ(s.list()[2].matched.blocks, 2u);
}

TEST(SuppressionsTest, BuiltInListIsLabelled) {
  Suppressions s;
  s.AddBuiltIn();
  ASSERT_FALSE(s.empty());
  for (const auto& x : s.list()) EXPECT_EQ(x.origin, "built-in");
  std::vector<SymbolizedFrame> dtls = {{"malloc", "", "libc"}, {"__tls_get_addr", "", "/lib64/ld-linux-x86-64.so.2"}};
  EXPECT_GE(s.Match(dtls), 0);
}

LeakTotals Totals(uint64_t definite, uint64_t indirect, uint64_t possible, uint64_t reachable, uint64_t map_definite = 0) {
  LeakTotals t;
  t.by_space[0][static_cast<int>(LeakKind::kDefinite)] = {definite, definite ? 1u : 0u};
  t.by_space[0][static_cast<int>(LeakKind::kIndirect)] = {indirect, indirect ? 1u : 0u};
  t.by_space[0][static_cast<int>(LeakKind::kPossible)] = {possible, possible ? 1u : 0u};
  t.by_space[0][static_cast<int>(LeakKind::kReachable)] = {reachable, reachable ? 1u : 0u};
  t.by_space[1][static_cast<int>(LeakKind::kDefinite)] = {map_definite, map_definite ? 1u : 0u};
  return t;
}

TEST(GateTest, DefinitePlusIndirectByDefault) {
  GateConfig c;
  c.exit_code = 23;
  GateVerdict v = DecideGate(Totals(0, 0, 500, 5000), c);  // stdio buffers etc.: reachable
  EXPECT_FALSE(v.fire);
  EXPECT_EQ(v.bytes, 0u);
  EXPECT_NE(v.line.find("exit status kept"), std::string::npos);
  v = DecideGate(Totals(100, 28, 500, 5000), c);
  EXPECT_TRUE(v.fire);
  EXPECT_EQ(v.bytes, 128u);
  EXPECT_EQ(v.line,
            "memtrace: 100 bytes definitely lost + 28 bytes indirectly lost in the heap and tracked mappings "
            "(MEMTRACE_LEAK_KINDS=definite,indirect) exceed MEMTRACE_LEAK_THRESHOLD=0; exit status 23");
}

TEST(GateTest, KindsThresholdAndSpaces) {
  GateConfig c;
  c.exit_code = 9;
  c.kinds = KindBit(LeakKind::kPossible);
  EXPECT_TRUE(DecideGate(Totals(1000, 0, 1, 0), c).fire);
  c.threshold = 1;
  EXPECT_FALSE(DecideGate(Totals(1000, 0, 1, 0), c).fire);  // threshold applies to what was chosen
  c.kinds = 15;
  c.threshold = 0;
  GateVerdict v = DecideGate(Totals(1, 2, 3, 4, 4096), c);
  EXPECT_EQ(v.bytes, 1u + 2 + 3 + 4 + 4096);  // tracked mappings count
  EXPECT_NE(v.line.find("MEMTRACE_LEAK_KINDS=definite,indirect,possible,reachable"), std::string::npos);
}

TEST(GateTest, SuppressedBytesAreNamedNeverCounted) {
  GateConfig c;
  c.exit_code = 23;
  LeakTotals t = Totals(0, 0, 0, 0);
  t.suppressed = {4096, 2};
  GateVerdict v = DecideGate(t, c);
  EXPECT_FALSE(v.fire);
  EXPECT_NE(v.line.find("4096 bytes suppressed"), std::string::npos);
}

TEST(GateTest, WithoutExitCodeNeverFires) {
  GateVerdict v = DecideGate(Totals(1000, 0, 0, 0), GateConfig{});
  EXPECT_FALSE(v.fire);
  EXPECT_EQ(v.line.find("exit status"), std::string::npos);
}

}  // namespace
}  // namespace memtrace::scan
