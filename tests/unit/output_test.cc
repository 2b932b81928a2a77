// Report paths and files.
#include "src/report/output.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace memtrace {
namespace {

TEST(OutputPathTest, Expands) {
  EXPECT_EQ(ExpandOutputPath("/tmp/mt.%p.json", 42, 1, false), "/tmp/mt.42.json");
  EXPECT_EQ(ExpandOutputPath("/tmp/100%%-%p", 7, 1, false), "/tmp/100%-7");
  EXPECT_EQ(ExpandOutputPath("/tmp/mt.json", 42, 1, false), "/tmp/mt.json");
  EXPECT_EQ(ExpandOutputPath("/tmp/mt.json", 43, 1, true), "/tmp/mt.json.43");
  EXPECT_EQ(ExpandOutputPath("/tmp/mt.%p.json", 43, 1, true), "/tmp/mt.43.json");
  EXPECT_EQ(ExpandOutputPath("/tmp/x%", 1, 1, false), "/tmp/x%");
  EXPECT_EQ(ExpandOutputPath("/tmp/mt.%p.%n.json", 9, 12, false), "/tmp/mt.9.12.json");
  EXPECT_TRUE(PatternHasSequence("/a/%p.%n"));
  EXPECT_FALSE(PatternHasSequence("/a/%%n"));
}

std::string TempDir() {
  char tmpl[] = "/tmp/memtrace_output_test.XXXXXX";
  return mkdtemp(tmpl);
}

TEST(OutputFileTest, WritesPrivateFileAndReplacesOwnFile) {
  std::string dir = TempDir();
  std::string path = dir + "/r.json";
  ASSERT_TRUE(WriteReportFile(path, "first").ok());
  ASSERT_TRUE(WriteReportFile(path, "second").ok());
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "second");
  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(access((path + ".tmp." + std::to_string(getpid())).c_str(), F_OK), 0);  // no temporary left
}

TEST(OutputFileTest, RefusesSymlinksAndNonFiles) {
  std::string dir = TempDir();
  std::string target = dir + "/victim";
  { std::ofstream(target) << "precious"; }
  std::string link = dir + "/r.json";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  EXPECT_FALSE(WriteReportFile(link, "x").ok());
  std::ifstream in(target);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
  EXPECT_FALSE(WriteReportFile(dir, "x").ok());  // a directory
}

TEST(OutputFileTest, DevNullDiscards) {
  EXPECT_TRUE(IsDiscardPath("/dev/null"));
  EXPECT_TRUE(WriteReportFile("/dev/null", "report").ok());
  struct stat st{};
  ASSERT_EQ(stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));  // still the device
  EXPECT_FALSE(WriteReportFile("/dev/zero", "report").ok());  // other devices are refused as before
}

}  // namespace
}  // namespace memtrace
