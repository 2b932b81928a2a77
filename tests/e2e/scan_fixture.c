/* Ground truth for the reachability scan (test_scan.py): blocks seeded at
 * known sites, one site per case, each with the kind Valgrind memcheck gives
 * it at the moment the fixture stops (its VALGRIND_DO_LEAK_CHECK, or the scan
 * driver's stop-the-world at scan_blocklog_sync). Prints one
 * MEMTRACE_EXPECT line per site: bytes, blocks, the kind we expect, the kind
 * memcheck reports (they differ only for memory inside tracked mappings,
 * which memcheck does not track), and which thread alone holds it.
 *
 * Built -O0 so no pointer survives in a register or a live frame by
 * accident; the frames that made the leaks are overwritten before the stop. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <valgrind/memcheck.h>

#define NI __attribute__((noinline))

void cxx_keep(void);
extern const size_t cxx_newarray_bytes, cxx_second_base_bytes;

static __thread void* tls_slot;
static void* g_bss;
static void* g_data = &g_data;
static void* g_possible;
static void* g_length64;
static void* g_map_kept;
static pthread_barrier_t ready;
static int park_pipe[2];
static pid_t tid_parked_tls, tid_parked_stack, tid_dyn_tls;

NI void* site_global_bss(void) { return malloc(101); }
NI void* site_global_data(void) { return malloc(102); }
NI void* site_definite(void) { return malloc(103); }
NI void* site_chain_head(void) { return malloc(104); }
NI void* site_chain_link(void) { return malloc(105); }
NI void* site_cycle(void) { return malloc(106); }
NI void* site_possible(void) { return calloc(1, 107); }
NI void* site_possible_child(void) { return malloc(108); }
NI void* site_length64(void) { return malloc(109); }
NI void* site_parked_tls(void) { return malloc(110); }
NI void* site_exited_tls(void) { return malloc(111); }
NI void* site_exited_stale(void) { return malloc(112); }
NI void* site_parked_stack(void) { return malloc(115); }
NI void* site_main_tls(void) { return malloc(116); }
NI void* site_in_mapping(void) { return malloc(117); }
NI void* site_in_untracked(void) { return malloc(118); }
NI void* site_in_runtime_root(void) { return malloc(119); }
NI void* site_in_lost_mapping(void) { return malloc(120); }
NI void* site_mapping_kept(void) { return mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); }
NI void* site_mapping_lost(void) { return mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); }
NI void* site_mapping_runtime(void) { return mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); }

static void expect(const char* site, long bytes, long blocks, const char* kind, const char* memcheck, const char* holder,
                   pid_t tid) {
  printf("MEMTRACE_EXPECT {\"kind\": \"scan_site\", \"site\": \"%s\", \"bytes\": %ld, \"blocks\": %ld, \"leak\": \"%s\", "
         "\"memcheck\": \"%s\", \"holder\": \"%s\", \"tid\": %d}\n",
         site, bytes, blocks, kind, memcheck, holder, (int)tid);
}

static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

/* Before a thread parks: the frames below it, where pointers to blocks it
 * made were, are overwritten, and so are the caller-saved registers (a
 * malloc hook's last values can sit in r8-r11 through a futex wait). Else
 * a stale copy could keep a block reachable here and not under memcheck,
 * whose malloc leaves other values behind. */
static NI void clobber_stack(void) {
  volatile char pad[32768];
  memset((char*)pad, 0, sizeof pad);
}
static void scrub(void) {
  clobber_stack();
  __asm__ volatile(
      "xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\txor %%esi, %%esi\n\txor %%edi, %%edi\n\t"
      "xor %%r8d, %%r8d\n\txor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\txor %%r11d, %%r11d" ::
          : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
}

static void* parked_tls_thread(void* a) {
  (void)a;
  tid_parked_tls = gettid_();
  tls_slot = site_parked_tls();
  scrub();
  pthread_barrier_wait(&ready);
  char c;
  (void)!read(park_pipe[0], &c, 1);
  return NULL;
}

static NI void park_with_local(void) {
  void* volatile local = site_parked_stack();
  scrub();
  pthread_barrier_wait(&ready);
  char c;
  (void)!read(park_pipe[0], &c, 1);
  (void)local;
}

static void* parked_stack_thread(void* a) {
  (void)a;
  tid_parked_stack = gettid_();
  park_with_local();
  return NULL;
}

static void* dyn_tls_thread(void* keep) {
  tid_dyn_tls = gettid_();
  ((void (*)(void))keep)();
  scrub();
  pthread_barrier_wait(&ready);
  char c;
  (void)!read(park_pipe[0], &c, 1);
  return NULL;
}

static NI void stale_frame(void) {
  void* volatile p = site_exited_stale();
  (void)p;
}

static void* exited_thread(void* a) {
  (void)a;
  tls_slot = site_exited_tls();
  stale_frame();
  return NULL;
}

static NI void make_heap_cases(void) {
  g_bss = site_global_bss();
  g_data = site_global_data();
  for (int i = 0; i < 3; ++i) {
    void* volatile p = site_definite();
    (void)p;
  }
  void** head = site_chain_head();
  void** l1 = site_chain_link();
  void** l2 = site_chain_link();
  head[0] = l1;
  l1[1] = l2;
  l2[0] = NULL;
  void** c1 = site_cycle();
  void** c2 = site_cycle();
  c1[0] = c2;
  c2[0] = c1;
  char* possible = site_possible();
  g_possible = possible + 16; /* interior only; offset 16 matches no heuristic */
  ((void**)possible)[4] = site_possible_child();
  uint64_t* l64 = site_length64();
  l64[0] = 109 - 8;
  g_length64 = (char*)l64 + 8;
  tls_slot = site_main_tls();
  head = l1 = l2 = c1 = c2 = NULL;
  possible = NULL;
  l64 = NULL;
}

static NI void make_mapping_cases(void) {
  void (*mark_root)(void*) = (void (*)(void*))dlsym(RTLD_DEFAULT, "scan_blocklog_mark_root");
  void** kept = site_mapping_kept();
  kept[100] = site_in_mapping();
  g_map_kept = kept;
  void** untracked = (void**)syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  untracked[7] = site_in_untracked();
  void** runtime = site_mapping_runtime();
  if (mark_root) mark_root(runtime);
  runtime[9] = site_in_runtime_root();
  void** lost = site_mapping_lost();
  lost[3] = site_in_lost_mapping();
  kept = untracked = runtime = lost = NULL;
}

int main(void) {
  if (pipe(park_pipe) != 0) return 1;
  void* dso = dlopen(SCAN_FIXTURE_DSO, RTLD_NOW);
  if (!dso) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  ((void (*)(void))dlsym(dso, "dso_keep_global"))();
  pthread_barrier_init(&ready, NULL, 4);
  pthread_t t1, t2, t3, t4;
  pthread_create(&t1, NULL, parked_tls_thread, NULL);
  pthread_create(&t2, NULL, parked_stack_thread, NULL);
  pthread_create(&t3, NULL, dyn_tls_thread, dlsym(dso, "dso_keep_tls"));
  pthread_barrier_wait(&ready);
  /* Created last and with a small stack, so no later thread reuses its
   * cached stack (which would reset its TLS). */
  pthread_attr_t small;
  pthread_attr_init(&small);
  pthread_attr_setstacksize(&small, 256 * 1024);
  pthread_create(&t4, &small, exited_thread, NULL);
  pthread_join(t4, NULL);
  make_heap_cases();
  cxx_keep();
  make_mapping_cases();

  pid_t me = getpid();
  expect("site_global_bss", 101, 1, "reachable", "reachable", "shared", 0);
  expect("site_global_data", 102, 1, "reachable", "reachable", "shared", 0);
  expect("site_definite", 3 * 103, 3, "definite", "definite", "none", 0);
  expect("site_chain_head", 104, 1, "definite", "definite", "none", 0);
  expect("site_chain_link", 2 * 105, 2, "indirect", "indirect", "none", 0);
  /* A lost cycle: memcheck keeps its first block in address order definite. */
  expect("site_cycle", 106, 1, "definite", "definite", "none", 0);
  expect("site_cycle", 106, 1, "indirect", "indirect", "none", 0);
  expect("site_possible", 107, 1, "possible", "possible", "shared", 0);
  expect("site_possible_child", 108, 1, "possible", "possible", "shared", 0);
  expect("site_length64", 109, 1, "reachable", "reachable", "shared", 0);
  expect("site_parked_tls", 110, 1, "reachable", "reachable", "thread", tid_parked_tls);
  expect("site_exited_tls", 111, 1, "reachable", "reachable", "shared", 0);
  expect("site_exited_stale", 112, 1, "definite", "definite", "none", 0);
  expect("site_dlopen_data", 113, 1, "reachable", "reachable", "shared", 0);
  /* glibc's thread descriptor points at dtv + 1: the DTV is reached through
   * an interior pointer only, so what hangs off it is possible. */
  expect("site_dyn_tls", 114, 1, "possible", "possible", "thread", tid_dyn_tls);
  expect("site_parked_stack", 115, 1, "reachable", "reachable", "thread", tid_parked_stack);
  expect("site_main_tls", 116, 1, "reachable", "reachable", "thread", me);
  expect("site_in_mapping", 117, 1, "reachable", "reachable", "shared", 0);
  expect("site_in_untracked", 118, 1, "reachable", "reachable", "shared", 0);
  expect("site_in_runtime_root", 119, 1, "reachable", "reachable", "shared", 0);
  /* memcheck tracks no mappings: to it a mapping is root memory. */
  expect("site_in_lost_mapping", 120, 1, "indirect", "reachable", "none", 0);
  expect("site_cxx_newarray", (long)cxx_newarray_bytes, 1, "reachable", "reachable", "shared", 0);
  expect("site_cxx_second_base", (long)cxx_second_base_bytes, 1, "reachable", "reachable", "shared", 0);
  expect("site_mapping_kept", 65536, 1, "reachable", "-", "shared", 0);
  expect("site_mapping_lost", 3 * 4096, 1, "definite", "-", "none", 0);
  fflush(stdout);

  scrub();
  void (*sync)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "scan_blocklog_sync");
  if (sync) sync();
  /* Under the tracer itself: a live report with leak kinds, now. */
  int (*dump_leaks)(const char*) = (int (*)(const char*))dlsym(RTLD_DEFAULT, "memtrace_dump_leaks");
  if (dump_leaks) dump_leaks(getenv("SCAN_FIXTURE_REPORT"));
  VALGRIND_DO_LEAK_CHECK;

  for (int i = 0; i < 3; ++i) (void)!write(park_pipe[1], "x", 1);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  pthread_join(t3, NULL);
  return 0;
}
