// The ptrace stop-the-world on a real child process: every thread stops
// (also one that blocks every signal and one that spins), registers are read,
// memory stands still until Resume, a signal that arrives meanwhile is
// delivered afterwards, and a whole Scan of the child finds its blocks.
#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "src/scan/scan.h"
#include "src/scan/stop_world.h"

namespace memtrace::scan {
namespace {

// Shared between the child's threads; the parent reads them through
// /proc/PID/mem (the child is a fork: same addresses).
std::atomic<uint64_t> g_spins{0};
std::atomic<int> g_sleepers{0};
volatile pid_t g_spinner_tid = 0;
void* volatile g_global_block = nullptr;
// A block the child loses: its address kept only masked, so no word of the
// child points to it (the parent unmasks it).
constexpr uintptr_t kMask = 0x5a5a5a5a5a5a5a5a;
volatile uintptr_t g_lost_masked = 0;
int g_report_fd = -1;

__attribute__((noinline)) void LoseABlock() {
  void* p = malloc(64);
  memset(p, 0, 64);
  g_lost_masked = reinterpret_cast<uintptr_t>(p) ^ kMask;
}

void* Spinner(void*) {
  g_spinner_tid = static_cast<pid_t>(syscall(SYS_gettid));
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);  // a signal-based stop would never reach it
  for (;;) g_spins.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

void* Sleeper(void*) {
  g_sleepers.fetch_add(1);
  for (;;) pause();
  return nullptr;
}

void OnUsr1(int) {
  char c = 'u';
  (void)!write(g_report_fd, &c, 1);
}

struct Child {
  pid_t pid = 0;
  int report = -1;  // the child's handler writes here
};

Child StartChild() {
  int ready[2], report[2];
  EXPECT_EQ(pipe(ready), 0);
  EXPECT_EQ(pipe(report), 0);
  pid_t pid = fork();
  if (pid == 0) {
    g_report_fd = report[1];
    signal(SIGUSR1, OnUsr1);
    g_global_block = malloc(100);
    LoseABlock();
    pthread_t t;
    pthread_create(&t, nullptr, Spinner, nullptr);
    for (int i = 0; i < 3; ++i) pthread_create(&t, nullptr, Sleeper, nullptr);
    while (g_spins.load() == 0 || g_sleepers.load() < 3) {
    }
    char c = 'r';
    (void)!write(ready[1], &c, 1);
    for (;;) pause();
  }
  close(ready[1]);
  close(report[1]);
  char c;
  EXPECT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  return {pid, report[0]};
}

void StopChild(const Child& c) {
  kill(c.pid, SIGKILL);
  waitpid(c.pid, nullptr, 0);
  close(c.report);
}

// Threads of `pid` per the kernel (a sanitizer's runtime adds its own).
size_t TaskCount(pid_t pid) {
  size_t n = 0;
  std::string path = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(path.c_str())) {
    while (struct dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

uint64_t ReadSpins(MemoryReader& r, pid_t) {
  uint64_t v = 0;
  r.Read(reinterpret_cast<uint64_t>(&g_spins), &v, 8);
  return v;
}

TEST(ScanStopWorldTest, StopsEveryThreadAndResumes) {
  Child child = StartChild();
  auto reader = ProcessMemoryReader::Open(child.pid);
  ASSERT_TRUE(reader.ok()) << reader.status();
  {
    auto world = StoppedWorld::Stop(child.pid);
    ASSERT_TRUE(world.ok()) << world.status();
    size_t tasks = TaskCount(child.pid);
    EXPECT_GE(tasks, 5u);  // main, spinner, three sleepers (and a sanitizer's own)
    EXPECT_EQ((*world)->threads().size(), tasks);
    EXPECT_EQ((*world)->stopped(), tasks);
    EXPECT_EQ((*world)->threads()[0].tid, child.pid);  // the main thread first
    for (const auto& t : (*world)->threads()) {
      EXPECT_TRUE(t.stopped);
      EXPECT_NE(t.sp, 0u);
      EXPECT_NE(t.tp, 0u);
      EXPECT_EQ(t.gp_regs.size(), 16u);
    }
    // The spinner runs its own code: not in a system call.
    pid_t spinner = 0;
    (*reader)->Read(reinterpret_cast<uint64_t>(&g_spinner_tid), &spinner, sizeof spinner);
    for (const auto& t : (*world)->threads()) {
      if (t.tid == spinner) {
        EXPECT_FALSE(t.in_syscall);
      }
    }
    uint64_t a = ReadSpins(**reader, child.pid);
    usleep(20000);
    EXPECT_EQ(ReadSpins(**reader, child.pid), a) << "the spinning thread ran while stopped";
    kill(child.pid, SIGUSR1);  // arrives while every thread is stopped
    usleep(20000);
    (*world)->Resume();
    uint64_t b = ReadSpins(**reader, child.pid);
    for (int i = 0; i < 1000 && ReadSpins(**reader, child.pid) == b; ++i) usleep(1000);
    EXPECT_NE(ReadSpins(**reader, child.pid), b) << "did not run again after Resume";
  }
  char c = 0;
  EXPECT_EQ(read(child.report, &c, 1), 1) << "SIGUSR1 was lost";
  EXPECT_EQ(c, 'u');
  StopChild(child);
}

void* Brief(void*) { return nullptr; }

void* Spawner(void*) {
  for (;;) {
    pthread_t t;
    if (pthread_create(&t, nullptr, Brief, nullptr) == 0) pthread_detach(t);
  }
  return nullptr;
}

TEST(ScanStopWorldTest, ThreadsBornAndDyingMeanwhileAreHandled) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t pid = fork();
  if (pid == 0) {
    pthread_t t;
    for (int i = 0; i < 2; ++i) pthread_create(&t, nullptr, Spawner, nullptr);
    char c = 'r';
    (void)!write(ready[1], &c, 1);
    for (;;) pause();
  }
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  for (int round = 0; round < 20; ++round) {
    auto world = StoppedWorld::Stop(pid);
    ASSERT_TRUE(world.ok()) << world.status();
    // Every thread it found is stopped (none died unseen, none was missed).
    EXPECT_EQ((*world)->not_stopped(), 0u);
    EXPECT_GE((*world)->threads().size(), 3u);  // main and the two spawners at least
    for (const auto& t : (*world)->threads()) EXPECT_TRUE(t.stopped) << t.tid;
    (*world)->Resume();
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

TEST(ScanStopWorldTest, FailsCleanlyOnAProcessThatIsGone) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  auto world = StoppedWorld::Stop(pid);
  EXPECT_FALSE(world.ok());
}

TEST(ScanStopWorldTest, ReaderZeroFillsUnmappedMemory) {
  Child child = StartChild();
  auto reader = ProcessMemoryReader::Open(child.pid);
  ASSERT_TRUE(reader.ok());
  unsigned char buf[8192];
  memset(buf, 0xff, sizeof buf);
  EXPECT_EQ((*reader)->Read(0x1000, buf, sizeof buf), 0u);  // page 1 is never mapped
  for (unsigned char b : buf) ASSERT_EQ(b, 0);
  auto mem = ProcessMemoryReader::Open(child.pid, ProcessMemoryReader::Method::kProcMem);
  ASSERT_TRUE(mem.ok());
  uint64_t via_mem = 0, via_vm = 0;
  (*mem)->Read(reinterpret_cast<uint64_t>(&g_global_block), &via_mem, 8);
  (*reader)->Read(reinterpret_cast<uint64_t>(&g_global_block), &via_vm, 8);
  EXPECT_NE(via_vm, 0u);
  EXPECT_EQ(via_mem, via_vm);
  StopChild(child);
}

TEST(ScanStopWorldTest, ScanOfALiveChildFindsItsGlobalBlock) {
  Child child = StartChild();
  auto reader = ProcessMemoryReader::Open(child.pid);
  ASSERT_TRUE(reader.ok());
  uint64_t block = 0;
  (*reader)->Read(reinterpret_cast<uint64_t>(&g_global_block), &block, 8);
  ASSERT_NE(block, 0u);
  uint64_t masked = 0;
  (*reader)->Read(reinterpret_cast<uint64_t>(&g_lost_masked), &masked, 8);
  std::vector<Block> blocks(2);
  blocks[0] = {block, 100, 1, 0, BlockSpace::kHeap, 0, 0};
  blocks[1] = {masked ^ kMask, 64, 2, 0, BlockSpace::kHeap, 0, 0};
  ScanTarget target;
  target.pid = child.pid;
  auto result = Scan(target, blocks, {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->blocks[0].kind, LeakKind::kReachable);
  EXPECT_EQ(result->blocks[1].kind, LeakKind::kDefinite);
  EXPECT_EQ(result->threads_stopped, TaskCount(child.pid));
  EXPECT_EQ(result->threads_not_stopped, 0u);
  EXPECT_GT(result->paused_ns, 0u);
  EXPECT_GT(result->root_bytes, 0u);
  StopChild(child);
}

}  // namespace
}  // namespace memtrace::scan
