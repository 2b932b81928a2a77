#include "src/config/config.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace memtrace {
namespace {

ParsedConfig Parse(std::map<std::string, std::string> env) {
  return ParseConfig([&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

// Found by tests/fuzz/config_fuzz.cc (regressions/config/error-line-with-escape):
// a hostile value reached the program's stderr raw in the error line.
TEST(ConfigTest, ErrorLinesQuoteValuesPrintably) {
  ParsedConfig p = Parse({{"MEMTRACE_FORMAT", "\x1b[2Jbogus\nsecond line\\"}, {"MEMTRACE_TOP", std::string(500, 'x')}});
  ASSERT_EQ(p.errors.size(), 2u);
  EXPECT_NE(p.errors[0].find("'\\x1b[2Jbogus\\x0asecond line\\x5c'"), std::string::npos) << p.errors[0];
  for (const std::string& e : p.errors) {
    for (char c : e) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << e;
    EXPECT_LT(e.size(), 200u);
  }
}

TEST(ConfigTest, DefaultsWhenUnset) {
  ParsedConfig p = Parse({});
  EXPECT_TRUE(p.errors.empty());
  EXPECT_EQ(p.config.top, 10);
  EXPECT_EQ(p.config.max_frames, 64);
  EXPECT_FALSE(p.config.leak_exit_code.has_value());
  EXPECT_EQ(p.config.leak_threshold, 0u);
  EXPECT_EQ(p.config.format, ReportFormat::kText);
  EXPECT_TRUE(p.config.output.empty());
  EXPECT_FALSE(p.config.all_sites);
}

TEST(ConfigTest, JsonFormatFollowsExtension) {
  EXPECT_EQ(Parse({{"MEMTRACE_OUTPUT", "/tmp/r.%p.JSON"}}).config.format, ReportFormat::kJson);
  EXPECT_EQ(Parse({{"MEMTRACE_OUTPUT", "/tmp/r.txt"}}).config.format, ReportFormat::kText);
  EXPECT_EQ(Parse({{"MEMTRACE_OUTPUT", "/tmp/r.txt"}, {"MEMTRACE_FORMAT", "json"}}).config.format,
            ReportFormat::kJson);
}

TEST(ConfigTest, FormatsByExtensionAndByName) {
  EXPECT_EQ(FormatForPath("/tmp/r.pb.gz", ReportFormat::kText), ReportFormat::kPprof);
  EXPECT_EQ(FormatForPath("/tmp/r.PB", ReportFormat::kText), ReportFormat::kPprof);
  EXPECT_EQ(FormatForPath("/tmp/r.folded", ReportFormat::kText), ReportFormat::kFolded);
  EXPECT_EQ(FormatForPath("/tmp/r.html", ReportFormat::kText), ReportFormat::kHtml);
  EXPECT_EQ(FormatForPath("/tmp/r", ReportFormat::kJson), ReportFormat::kJson);
  for (const char* name : {"text", "json", "pprof", "folded", "html"}) {
    ASSERT_TRUE(ParseFormat(name).has_value()) << name;
    EXPECT_STREQ(FormatName(*ParseFormat(name)), name);
  }
  EXPECT_FALSE(ParseFormat("svg").has_value());
  ParsedConfig p = Parse({{"MEMTRACE_OUTPUT", "/tmp/a.pb.gz,/tmp/b.json"}});
  EXPECT_EQ(p.config.format, ReportFormat::kPprof);  // the first output's
  EXPECT_FALSE(p.config.format_explicit);
  p = Parse({{"MEMTRACE_FORMAT", "html"}});
  EXPECT_EQ(p.config.format, ReportFormat::kHtml);
  EXPECT_TRUE(p.config.format_explicit);
  p = Parse({{"MEMTRACE_FORMAT", "svg"}});
  EXPECT_EQ(p.errors.size(), 1u);
  EXPECT_FALSE(p.config.format_explicit);
}

TEST(ConfigTest, MaxSites) {
  EXPECT_EQ(Parse({}).config.max_sites, 10000u);
  EXPECT_EQ(Parse({{"MEMTRACE_MAX_SITES", "0"}}).config.max_sites, 0u);
  EXPECT_EQ(Parse({{"MEMTRACE_MAX_SITES", "250"}}).config.max_sites, 250u);
  ParsedConfig p = Parse({{"MEMTRACE_MAX_SITES", "many"}});
  EXPECT_EQ(p.config.max_sites, 10000u);
  EXPECT_EQ(p.errors.size(), 1u);
}

TEST(ConfigTest, ValidValues) {
  ParsedConfig p = Parse({{"MEMTRACE_TOP", "3"},
                          {"MEMTRACE_MAX_FRAMES", "256"},
                          {"MEMTRACE_LEAK_EXIT_CODE", "23"},
                          {"MEMTRACE_LEAK_THRESHOLD", "16KiB"},
                          {"MEMTRACE_LOG", "debug"},
                          {"MEMTRACE_SITES", "all"}});
  EXPECT_TRUE(p.errors.empty());
  EXPECT_EQ(p.config.top, 3);
  EXPECT_EQ(p.config.max_frames, 256);
  EXPECT_EQ(p.config.leak_exit_code, 23);
  EXPECT_EQ(p.config.leak_threshold, 16384u);
  EXPECT_EQ(p.config.log_level, LogLevel::kDebug);
  EXPECT_TRUE(p.config.all_sites);
}

TEST(ConfigTest, EveryBadValueGivesOneLineAndTheDefault) {
  const char* vars[] = {"MEMTRACE_TOP", "MEMTRACE_MAX_FRAMES", "MEMTRACE_LEAK_EXIT_CODE", "MEMTRACE_LEAK_THRESHOLD",
                        "MEMTRACE_LOG", "MEMTRACE_FORMAT", "MEMTRACE_CLOCK", "MEMTRACE_ENABLE", "MEMTRACE_SITES",
                        "MEMTRACE_MAX_SITES",
                        "MEMTRACE_LEAK_KINDS", "MEMTRACE_DEFAULT_SUPPRESSIONS", "MEMTRACE_INTERVAL_LEAKS"};
  for (const char* bad : {"garbage", "-5", "99999999999999999999999", "12abc", " "}) {
    for (const char* var : vars) {
      ParsedConfig p = Parse({{var, bad}});
      Config defaults;
      ASSERT_EQ(p.errors.size(), 1u) << var << "=" << bad;
      EXPECT_NE(p.errors[0].find(var), std::string::npos);
      EXPECT_NE(p.errors[0].find("default"), std::string::npos);
      EXPECT_EQ(p.config.top, defaults.top);
      EXPECT_EQ(p.config.max_frames, defaults.max_frames);
      EXPECT_EQ(p.config.leak_exit_code, defaults.leak_exit_code);
      EXPECT_EQ(p.config.leak_threshold, defaults.leak_threshold);
      EXPECT_EQ(p.config.enabled, defaults.enabled);
      EXPECT_EQ(p.config.leak_kinds, defaults.leak_kinds);
      EXPECT_EQ(p.config.default_suppressions, defaults.default_suppressions);
      EXPECT_EQ(p.config.interval_leaks, defaults.interval_leaks);
    }
  }
}

TEST(ConfigTest, LeakKindsAndSuppressions) {
  ParsedConfig d = Parse({});
  EXPECT_EQ(d.config.leak_kinds, kLeakKindDefiniteBit | kLeakKindIndirectBit);
  EXPECT_TRUE(d.config.default_suppressions);
  EXPECT_FALSE(d.config.interval_leaks);
  EXPECT_TRUE(d.config.suppressions.empty());
  ParsedConfig p = Parse({{"MEMTRACE_LEAK_KINDS", " Definite , possible"},
                          {"MEMTRACE_SUPPRESSIONS", "/etc/lsan.supp"},
                          {"MEMTRACE_DEFAULT_SUPPRESSIONS", "0"},
                          {"MEMTRACE_INTERVAL_LEAKS", "1"}});
  EXPECT_TRUE(p.errors.empty());
  EXPECT_EQ(p.config.leak_kinds, kLeakKindDefiniteBit | kLeakKindPossibleBit);
  EXPECT_EQ(p.config.suppressions, "/etc/lsan.supp");
  EXPECT_FALSE(p.config.default_suppressions);
  EXPECT_TRUE(p.config.interval_leaks);
  EXPECT_EQ(*ParseLeakKinds("all"), 15u);
  EXPECT_EQ(*ParseLeakKinds("reachable"), kLeakKindReachableBit);
  EXPECT_FALSE(ParseLeakKinds("definite,,indirect").has_value());
  EXPECT_FALSE(ParseLeakKinds("lost").has_value());
}

TEST(ConfigTest, EmptyMeansUnset) {
  ParsedConfig p = Parse({{"MEMTRACE_TOP", ""}, {"MEMTRACE_LEAK_EXIT_CODE", ""}});
  EXPECT_TRUE(p.errors.empty());
  EXPECT_EQ(p.config.top, 10);
}

TEST(ConfigTest, OutOfRange) {
  EXPECT_EQ(Parse({{"MEMTRACE_MAX_FRAMES", "0"}}).errors.size(), 1u);
  EXPECT_EQ(Parse({{"MEMTRACE_MAX_FRAMES", "257"}}).errors.size(), 1u);
  EXPECT_EQ(Parse({{"MEMTRACE_LEAK_EXIT_CODE", "0"}}).errors.size(), 1u);
  EXPECT_EQ(Parse({{"MEMTRACE_LEAK_EXIT_CODE", "256"}}).errors.size(), 1u);
}

TEST(ByteSizeTest, Suffixes) {
  EXPECT_EQ(ParseByteSize("0"), 0u);
  EXPECT_EQ(ParseByteSize("4096"), 4096u);
  EXPECT_EQ(ParseByteSize("64k"), 65536u);
  EXPECT_EQ(ParseByteSize("2MiB"), 2u << 20);
  EXPECT_EQ(ParseByteSize("1G"), 1u << 30);
  EXPECT_FALSE(ParseByteSize("-1").has_value());
  EXPECT_FALSE(ParseByteSize("1.5M").has_value());
  EXPECT_FALSE(ParseByteSize("k").has_value());
  EXPECT_FALSE(ParseByteSize("99999999999T").has_value());
  EXPECT_FALSE(ParseByteSize("18446744073709551616").has_value());
}

}  // namespace
}  // namespace memtrace
