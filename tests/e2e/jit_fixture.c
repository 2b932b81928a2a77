/* Generated code, as a JIT compiler makes it: a function written at run time
 * into an anonymous executable mapping, with a frame pointer and no unwind
 * table, that calls malloc; named in /tmp/perf-PID.map as node
 * --perf-basic-prof does. The report must name the generated frame from the
 * perf map and go on past it (by its frame pointer) to the C caller. Prints
 * its ground truth; the test removes the perf map. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef void* (*thunk_fn)(void);
static void* volatile g_keep[64];

static thunk_fn emit(uint8_t* at, uint32_t size) {
  uint8_t* p = at;
  *p++ = 0x55;                                  /* push %rbp */
  *p++ = 0x48; *p++ = 0x89; *p++ = 0xe5;        /* mov %rsp,%rbp */
  *p++ = 0xbf; memcpy(p, &size, 4); p += 4;     /* mov $size,%edi */
  *p++ = 0x48; *p++ = 0xb8;                     /* movabs $malloc,%rax */
  void* (*m)(size_t) = malloc;
  memcpy(p, &m, 8); p += 8;
  *p++ = 0xff; *p++ = 0xd0;                     /* call *%rax */
  *p++ = 0x5d;                                  /* pop %rbp */
  *p++ = 0xc3;                                  /* ret */
  return (thunk_fn)(uintptr_t)at;
}

__attribute__((noinline)) void* call_jit(thunk_fn f) {
  void* r = f();
  __asm__ volatile("" ::: "memory");
  return r;
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 8;
  uint8_t* code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (code == MAP_FAILED) return 1;
  thunk_fn f = emit(code, 777);
  char path[64];
  snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
  FILE* map = fopen(path, "w");
  if (map == NULL) return 1;
  fprintf(map, "%lx 40 jit_alloc_thunk\n", (unsigned long)(uintptr_t)code);
  fclose(map);
  for (int i = 0; i < n && i < 64; ++i) g_keep[i] = call_jit(f);
  printf("jit leaked %d x 777 perf map %s\n", n, path);
  return 0;
}
