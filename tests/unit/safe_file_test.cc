// The safe-file rules (safe_file.h): nothing is written, read or removed
// through a name another user could have planted. Cases that need "another
// user" chown to an unused uid, so they run only as root (as `make test`
// does here); the others run as anyone.
#include "src/report/safe_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace memtrace::safe_file {
namespace {

constexpr uid_t kStranger = 54321;

class SafeFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/memtrace_safe_file_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  static std::string Content(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static void Put(const std::string& path, const std::string& content) { std::ofstream(path) << content; }
  static bool Root() { return geteuid() == 0; }

  std::string dir_;
};

TEST_F(SafeFileTest, WritesAPrivateFileThroughATemporary) {
  absl::StatusOr<FileId> id = WriteFile(Path("r.json"), "first");
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WriteFile(Path("r.json"), "second").ok());
  EXPECT_EQ(Content(Path("r.json")), "second");
  struct stat st{};
  ASSERT_EQ(stat(Path("r.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(access(Path("r.json.tmp." + std::to_string(getpid())).c_str(), F_OK), 0);
  // A stale temporary with our name is neither used nor removed.
  Put(Path("r.json.tmp." + std::to_string(getpid())), "stale");
  ASSERT_TRUE(WriteFile(Path("r.json"), "third").ok());
  EXPECT_EQ(Content(Path("r.json")), "third");
  EXPECT_EQ(Content(Path("r.json.tmp." + std::to_string(getpid()))), "stale");
}

TEST_F(SafeFileTest, NeverWritesThroughALink) {
  Put(Path("victim"), "precious");
  ASSERT_EQ(symlink(Path("victim").c_str(), Path("r.json").c_str()), 0);
  absl::StatusOr<FileId> st = WriteFile(Path("r.json"), "x");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("is a symbolic link"), std::string::npos) << st.status();
  EXPECT_EQ(Content(Path("victim")), "precious");
  // Nor a link at the temporary's name (it is created O_EXCL|O_NOFOLLOW).
  unlink(Path("r.json").c_str());
  ASSERT_EQ(symlink(Path("victim").c_str(), Path("r.json.tmp." + std::to_string(getpid())).c_str()), 0);
  EXPECT_TRUE(WriteFile(Path("r.json"), "report").ok());
  EXPECT_EQ(Content(Path("victim")), "precious");
  EXPECT_EQ(Content(Path("r.json")), "report");
  EXPECT_FALSE(WriteFile(dir_, "x").ok());  // a directory is not replaced
}

TEST_F(SafeFileTest, RefusesAnotherUsersFileAndDirectory) {
  if (!Root()) GTEST_SKIP() << "needs root to make files of another user";
  Put(Path("theirs.json"), "theirs");
  ASSERT_EQ(chown(Path("theirs.json").c_str(), kStranger, kStranger), 0);
  EXPECT_FALSE(WriteFile(Path("theirs.json"), "x").ok());
  EXPECT_EQ(Content(Path("theirs.json")), "theirs");
  EXPECT_FALSE(ReadFile(Path("theirs.json"), 100).ok());
  EXPECT_FALSE(RemoveFile(Path("theirs.json")).ok());
  EXPECT_EQ(Content(Path("theirs.json")), "theirs");

  ASSERT_EQ(mkdir(Path("shared").c_str(), 0777), 0);
  ASSERT_EQ(mkdir(Path("shared/mine").c_str(), 0700), 0);
  ASSERT_EQ(chown(Path("shared").c_str(), kStranger, kStranger), 0);
  absl::StatusOr<FileId> st = WriteFile(Path("shared/r.json"), "x");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("belongs to uid 54321"), std::string::npos) << st.status();
  // Below another user's directory too: they could swap what lies under it.
  EXPECT_FALSE(WriteFile(Path("shared/mine/r.json"), "x").ok());
}

TEST_F(SafeFileTest, FollowsOnlyLinksOfOursOrRoots) {
  ASSERT_EQ(mkdir(Path("real").c_str(), 0755), 0);
  ASSERT_EQ(symlink("real", Path("ours").c_str()), 0);
  ASSERT_TRUE(WriteFile(Path("ours/r.json"), "via our link").ok());
  EXPECT_EQ(Content(Path("real/r.json")), "via our link");
  if (!Root()) return;
  ASSERT_EQ(symlink(Path("real").c_str(), Path("planted").c_str()), 0);
  ASSERT_EQ(lchown(Path("planted").c_str(), kStranger, kStranger), 0);
  absl::StatusOr<FileId> st = WriteFile(Path("planted/x.json"), "x");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("symbolic link owned by uid 54321"), std::string::npos) << st.status();
  EXPECT_NE(access(Path("real/x.json").c_str(), F_OK), 0);
}

TEST_F(SafeFileTest, RefusesWorldWritableDirectoriesUnlessSticky) {
  ASSERT_EQ(mkdir(Path("open").c_str(), 0700), 0);
  ASSERT_EQ(chmod(Path("open").c_str(), 0777), 0);
  EXPECT_FALSE(WriteFile(Path("open/r.json"), "x").ok());
  ASSERT_EQ(chmod(Path("open").c_str(), 01777), 0);
  EXPECT_TRUE(WriteFile(Path("open/r.json"), "x").ok());
}

TEST_F(SafeFileTest, PrivateDirectoryIsMadeAndVerified) {
  absl::StatusOr<Dir> d = Dir::OpenPrivate(Path("ctl"), /*create=*/true);
  ASSERT_TRUE(d.ok()) << d.status();
  struct stat st{};
  ASSERT_EQ(lstat(Path("ctl").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_TRUE(d->Replace("1.dump", "req").ok());
  absl::StatusOr<std::string> back = d->Read("1.dump", 100);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "req");
  EXPECT_FALSE(d->Read("1.dump", 2).ok());  // bounded
  EXPECT_TRUE(d->Remove("1.dump").ok());
  EXPECT_TRUE(absl::IsNotFound(d->Remove("1.dump")));
  // An existing directory open to others, or a link to one, is refused.
  ASSERT_EQ(mkdir(Path("loose").c_str(), 0700), 0);
  ASSERT_EQ(chmod(Path("loose").c_str(), 0755), 0);
  EXPECT_FALSE(Dir::OpenPrivate(Path("loose"), true).ok());
  ASSERT_EQ(symlink(Path("ctl").c_str(), Path("link").c_str()), 0);
  EXPECT_FALSE(Dir::OpenPrivate(Path("link"), true).ok());
  EXPECT_FALSE(Dir::OpenPrivate(Path("missing"), false).ok());
  if (!Root()) return;
  ASSERT_EQ(mkdir(Path("planted").c_str(), 0700), 0);
  ASSERT_EQ(chown(Path("planted").c_str(), kStranger, kStranger), 0);
  absl::StatusOr<Dir> planted = Dir::OpenPrivate(Path("planted"), true);
  ASSERT_FALSE(planted.ok());
  EXPECT_NE(planted.status().message().find("belongs to uid 54321, not to you"), std::string::npos)
      << planted.status();
}

TEST_F(SafeFileTest, RemovesOnlyTheFileItWrote) {
  absl::StatusOr<FileId> id = WriteFile(Path("r.1.json"), "ours");
  ASSERT_TRUE(id.ok());
  // Someone else's report took the name since: it stays.
  ASSERT_TRUE(WriteFile(Path("r.1.json"), "another process's").ok());
  EXPECT_FALSE(RemoveFileIfSame(Path("r.1.json"), *id).ok());
  EXPECT_EQ(Content(Path("r.1.json")), "another process's");
  absl::StatusOr<FileId> id2 = WriteFile(Path("r.2.json"), "ours");
  ASSERT_TRUE(id2.ok());
  EXPECT_TRUE(RemoveFileIfSame(Path("r.2.json"), *id2).ok());
  EXPECT_NE(access(Path("r.2.json").c_str(), F_OK), 0);
  // A link is never removed as if it were a file of ours.
  ASSERT_EQ(symlink("r.1.json", Path("l.json").c_str()), 0);
  EXPECT_FALSE(RemoveFile(Path("l.json")).ok());
}

TEST(SafeFileSplitTest, Splits) {
  std::string d, n;
  SplitPath("r.json", &d, &n);
  EXPECT_EQ(d, ".");
  EXPECT_EQ(n, "r.json");
  SplitPath("/r.json", &d, &n);
  EXPECT_EQ(d, "/");
  EXPECT_EQ(n, "r.json");
  SplitPath("/tmp/x/", &d, &n);
  EXPECT_EQ(d, "/tmp");
  EXPECT_EQ(n, "x");
  SplitPath("a/b/c", &d, &n);
  EXPECT_EQ(d, "a/b");
  EXPECT_EQ(n, "c");
}

TEST(SafeFileRelativeTest, RelativePathsStartAtTheWorkingDirectory) {
  absl::StatusOr<Dir> d = Dir::Open("");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->path(), ".");
}

}  // namespace
}  // namespace memtrace::safe_file
