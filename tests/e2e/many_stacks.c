// A program with 2^DEPTH distinct allocation stacks (default 2^17 = 131,072):
// a binary recursion whose every path is a different call stack, each leaf
// leaking one 16-byte block. Measures how a report's size grows with distinct
// stacks (docs/benchmarks.md) and checks the listing bound keeps totals exact.
// usage: many_stacks [DEPTH]
#include <stdio.h>
#include <stdlib.h>

static void* volatile sink;

__attribute__((noinline)) static void branch(int depth);

__attribute__((noinline)) static void left(int depth) {
  branch(depth - 1);
  asm volatile("" ::: "memory");
}

__attribute__((noinline)) static void right(int depth) {
  branch(depth - 1);
  asm volatile("" ::: "memory");
}

__attribute__((noinline)) static void branch(int depth) {
  if (depth == 0) {
    sink = malloc(16);
    return;
  }
  left(depth);
  right(depth);
  asm volatile("" ::: "memory");
}

int main(int argc, char** argv) {
  int depth = argc > 1 ? atoi(argv[1]) : 17;
  branch(depth);
  printf("MEMTRACE_EXPECT {\"kind\": \"stacks\", \"stacks\": %d, \"live_bytes\": %d}\n", 1 << depth, 16 << depth);
  return 0;
}
