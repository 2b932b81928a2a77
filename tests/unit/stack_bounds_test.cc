// Stack bounds without glibc's thread lock: the main thread's from the
// kernel's mapping, a new thread's from its descriptor and the size its
// creator asked for, checked against what pthread_getattr_np says (fine in a
// test; never in a hook).
#include "src/capture/stack_bounds.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <cstdint>

namespace memtrace {
namespace {

struct GlibcStack {
  uintptr_t lo = 0, hi = 0;
  size_t guard = 0;
};

GlibcStack AskGlibc() {
  pthread_attr_t attr;
  void* addr = nullptr;
  size_t size = 0;
  GlibcStack g;
  EXPECT_EQ(pthread_getattr_np(pthread_self(), &attr), 0);
  pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_getguardsize(&attr, &g.guard);
  pthread_attr_destroy(&attr);
  g.lo = reinterpret_cast<uintptr_t>(addr);
  g.hi = g.lo + size;
  return g;
}

uintptr_t Here() { return reinterpret_cast<uintptr_t>(__builtin_frame_address(0)); }

TEST(StackBoundsTest, MainStackHoldsTheMainThreadsFrames) {
  InitStackBounds();
  StackRange main = MainStack();
  ASSERT_NE(main.hi, 0u);
  EXPECT_TRUE(main.Contains(Here()));
  // glibc: from the page above __libc_stack_end down by RLIMIT_STACK; ours
  // ends where the mapping does (above are only argv, environ, auxv).
  GlibcStack g = AskGlibc();
  EXPECT_GE(main.hi, g.hi);
  EXPECT_LT(main.hi - g.hi, 1u << 20);
  EXPECT_GE(main.lo + (1u << 20), g.lo);
  EXPECT_EQ(CurrentStack(Here()).hi, main.hi);  // found without anything recorded
}

struct ThreadResult {
  GlibcStack glibc;
  StackRange current;
  uintptr_t here = 0;
  size_t asked = 0;
  uintptr_t user_lo = 0;
};

void* ThreadBody(void* arg) {
  auto* r = static_cast<ThreadResult*>(arg);
  r->here = Here();
  r->glibc = AskGlibc();
  EXPECT_EQ(CurrentStack(r->here).hi, 0u);  // nothing recorded yet: unknown
  RecordThreadStack(r->user_lo, r->asked, r->here);
  r->current = CurrentStack(r->here);
  return nullptr;
}

ThreadResult RunThread(size_t stack_size, size_t guard, void* user_stack = nullptr) {
  ThreadResult r;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (user_stack != nullptr) {
    pthread_attr_setstack(&attr, user_stack, stack_size);
    r.user_lo = reinterpret_cast<uintptr_t>(user_stack);
  } else {
    pthread_attr_setstacksize(&attr, stack_size);
    pthread_attr_setguardsize(&attr, guard);
  }
  r.asked = stack_size;
  pthread_t t;
  int err = pthread_create(&t, &attr, ThreadBody, &r);
  EXPECT_EQ(err, 0);
  if (err == 0) pthread_join(t, nullptr);
  pthread_attr_destroy(&attr);
  return r;
}

// The derived range lies inside glibc's usable stack (never beyond it: every
// word in it is readable) and is as large as the stack asked for (glibc may
// hand out a larger cached block, never a smaller one).
void ExpectInside(const ThreadResult& r) {
  ASSERT_NE(r.current.hi, 0u);
  EXPECT_TRUE(r.current.Contains(r.here));
  EXPECT_LE(r.current.hi, r.glibc.hi);
  EXPECT_GE(r.current.lo + 4096, r.glibc.lo);  // at most within a page under the usable stack
  EXPECT_EQ(r.current.hi - r.current.lo, r.asked);
}

// Sizes of 1 MiB and more: ThreadSanitizer (make sanitize) refuses smaller
// stacks.
TEST(StackBoundsTest, ThreadWithDefaultGuard) { ExpectInside(RunThread(1280 * 1024, 4096)); }
TEST(StackBoundsTest, ThreadWithLargeGuard) { ExpectInside(RunThread(2 << 20, 64 * 1024)); }
TEST(StackBoundsTest, ThreadWithoutGuard) { ExpectInside(RunThread(1536 * 1024, 0)); }  // the JVM's choice

TEST(StackBoundsTest, ThreadOnTheProgramsOwnStack) {
  alignas(4096) static char stack[1 << 20];
  ThreadResult r = RunThread(sizeof stack, 0, stack);
  ASSERT_NE(r.current.hi, 0u);
  EXPECT_EQ(r.current.lo, reinterpret_cast<uintptr_t>(stack));
  EXPECT_EQ(r.current.hi, reinterpret_cast<uintptr_t>(stack) + sizeof stack);
}

TEST(StackBoundsTest, RefusesWhatDoesNotHoldTheCaller) {
  // A size that cannot be right (the caller's frame is not in the range).
  EXPECT_EQ(StackFromDescriptor(0x7f0000100000, 0, 4096, 0x7f0000080000).hi, 0u);
  EXPECT_EQ(StackFromDescriptor(0x7f0000100000, 0, 1 << 20, 0x7f0000080000).hi, 0x7f0000100000u);
  EXPECT_EQ(StackFromDescriptor(4096, 0, 1 << 20, 100).hi, 0u);  // would wrap below 0
}

}  // namespace
}  // namespace memtrace
