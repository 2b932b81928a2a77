/* A minimal LD_PRELOAD recorder of live heap blocks and anonymous mappings
 * for the reachability scan's tests and benchmark (see scan_blocklog.h). Not
 * the tracer: no rings, no ordering across threads (one spinlock), no
 * reports. What matters here is that the table is exact for the programs the
 * tests run, lives in memory of its own (mmap, never malloc), and can be read
 * from another process.
 *
 * Environment: SCAN_BLOCKLOG_PID (only that process publishes its table and
 * syncs; children see another pid), SCAN_BLOCKLOG_DIR (a directory with the
 * FIFOs "req" and "ack" and where "addr" receives the table's address),
 * SCAN_BLOCKLOG_AT_EXIT=1 (sync in the destructor: a scan at exit),
 * SCAN_BLOCKLOG_SLOTS (table capacity, default 2^18), SCAN_BLOCKLOG_FRAMES
 * (frames kept per block, 1..6, default 6). */
#define _GNU_SOURCE
#include "scan_blocklog.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

extern void* __libc_malloc(size_t);
extern void __libc_free(void*);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);

static struct blocklog_header* g_table;
static struct blocklog_slot* g_slots;
static int g_frames = BLOCKLOG_FRAMES;
static int g_owner; /* this process is the one SCAN_BLOCKLOG_PID names */
static __thread int t_busy __attribute__((tls_model("initial-exec")));
static __thread uint32_t t_tid __attribute__((tls_model("initial-exec")));

static void* raw_mmap(void* a, size_t l, int p, int f, int fd, off_t o) {
  return (void*)syscall(SYS_mmap, a, l, p, f, fd, o);
}

static uint64_t env_u64(const char* name, uint64_t dflt) {
  const char* v = getenv(name);
  return (v && *v) ? strtoull(v, NULL, 0) : dflt;
}

static void write_all(int fd, const char* s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w <= 0 && errno != EINTR) return;
    if (w > 0) { s += w; n -= (size_t)w; }
  }
}

__attribute__((constructor(101))) static void blocklog_init(void) {
  if (g_table) return;
  uint64_t cap = env_u64("SCAN_BLOCKLOG_SLOTS", 1u << 18), c = 1;
  while (c < cap) c <<= 1;
  g_frames = (int)env_u64("SCAN_BLOCKLOG_FRAMES", BLOCKLOG_FRAMES);
  if (g_frames < 1 || g_frames > BLOCKLOG_FRAMES) g_frames = BLOCKLOG_FRAMES;
  size_t bytes = BLOCKLOG_SLOTS_OFFSET + c * sizeof(struct blocklog_slot);
  bytes = (bytes + 4095) & ~(size_t)4095;
  void* m = raw_mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) abort();
  struct blocklog_header* h = m;
  h->magic = BLOCKLOG_MAGIC;
  h->capacity = c;
  h->region_bytes = bytes;
  g_slots = (struct blocklog_slot*)((char*)m + BLOCKLOG_SLOTS_OFFSET);
  g_table = h; /* before dlsym, which allocates: its malloc must find the table */
  t_busy = 1;
  void (*info)(size_t*, size_t*) = (void (*)(size_t*, size_t*))dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info");
  if (info) {
    size_t s = 0, a = 0;
    info(&s, &a);
    h->static_tls_size = s;
    h->static_tls_align = a;
  }
  t_busy = 0;
  const char* pid = getenv("SCAN_BLOCKLOG_PID");
  g_owner = pid && atoi(pid) == getpid();
  const char* dir = getenv("SCAN_BLOCKLOG_DIR");
  if (g_owner && dir) {
    char path[4096], line[64];
    size_t n = strlen(dir);
    if (n + 8 < sizeof path) {
      memcpy(path, dir, n);
      memcpy(path + n, "/addr", 6);
      int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd >= 0) {
        /* hex by hand: no stdio (it may allocate) */
        uint64_t v = (uint64_t)(uintptr_t)h;
        int k = 0;
        char hex[17];
        for (int i = 15; i >= 0; --i) hex[k++] = "0123456789abcdef"[(v >> (i * 4)) & 15];
        memcpy(line, hex, 16);
        line[16] = '\n';
        write_all(fd, line, 17);
        close(fd);
      }
    }
  }
}

static void lock(void) {
  while (__atomic_exchange_n(&g_table->lock, 1, __ATOMIC_ACQUIRE)) sched_yield();
}
static void unlock(void) { __atomic_store_n(&g_table->lock, 0, __ATOMIC_RELEASE); }

static uint64_t hash(uint64_t a) {
  a ^= a >> 33;
  a *= 0xff51afd7ed558ccdull;
  a ^= a >> 33;
  return a;
}

static struct blocklog_slot* find(uint64_t addr) {
  uint64_t mask = g_table->capacity - 1;
  for (uint64_t i = hash(addr) & mask;; i = (i + 1) & mask) {
    if (g_slots[i].addr == addr) return &g_slots[i];
    if (g_slots[i].addr == BLOCKLOG_EMPTY) return NULL;
  }
}

/* Linear probing deletion with backward shift: no tombstones. */
static void erase_slot(struct blocklog_slot* s) {
  uint64_t mask = g_table->capacity - 1;
  uint64_t i = (uint64_t)(s - g_slots);
  for (uint64_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    if (g_slots[j].addr == BLOCKLOG_EMPTY) break;
    uint64_t home = hash(g_slots[j].addr) & mask;
    /* Move j back to i if its home is not in (i, j]. */
    int between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!between) {
      g_slots[i] = g_slots[j];
      i = j;
    }
  }
  g_slots[i].addr = BLOCKLOG_EMPTY;
  g_table->count--;
}

static void record(uint64_t addr, uint64_t size, int kind, const uint64_t* frames, int nframes) {
  if (!addr) return;
  lock();
  if (g_table->count * 10 >= g_table->capacity * 9) {
    g_table->dropped++;
    unlock();
    return;
  }
  uint64_t mask = g_table->capacity - 1;
  uint64_t i = hash(addr) & mask;
  while (g_slots[i].addr != BLOCKLOG_EMPTY && g_slots[i].addr != addr) i = (i + 1) & mask;
  if (g_slots[i].addr == BLOCKLOG_EMPTY) g_table->count++;
  struct blocklog_slot* s = &g_slots[i];
  s->addr = addr;
  s->size = size;
  if (!t_tid) t_tid = (uint32_t)syscall(SYS_gettid);
  s->tid = t_tid;
  s->kind = (uint8_t)kind;
  s->flags = 0;
  s->nframes = (uint8_t)nframes;
  for (int k = 0; k < nframes; ++k) s->frames[k] = frames[k];
  s->seq = ++g_table->next_seq;
  unlock();
}

static void forget(uint64_t addr) {
  if (!addr) return;
  lock();
  struct blocklog_slot* s = find(addr);
  if (s) erase_slot(s);
  unlock();
}

/* Stack of the caller: frame 0 is the return address into the caller of the
 * hook; deeper ones from libunwind, when asked for. */
__attribute__((noinline)) static int capture(uint64_t* frames, void* ret) {
  frames[0] = (uint64_t)(uintptr_t)ret;
  if (g_frames <= 1) return 1;
  void* pcs[BLOCKLOG_FRAMES + 4];
  int n = unw_backtrace(pcs, g_frames + 4);
  /* The frames of the hook come first; the caller's is the one that returns
   * to `ret`. */
  int i = 0;
  while (i < n && pcs[i] != ret) ++i;
  int k = 1;
  for (++i; i < n && k < g_frames; ++i) frames[k++] = (uint64_t)(uintptr_t)pcs[i];
  return k;
}

#define ENTER()                                 \
  if (!g_table) blocklog_init();                \
  int outer = !t_busy;                          \
  t_busy = 1;
#define LEAVE() if (outer) t_busy = 0;

void* malloc(size_t n) {
  ENTER();
  void* p = __libc_malloc(n);
  if (outer) {
    uint64_t f[BLOCKLOG_FRAMES];
    int k = capture(f, __builtin_return_address(0));
    record((uint64_t)(uintptr_t)p, n, BLOCKLOG_HEAP, f, k);
  }
  LEAVE();
  return p;
}

void free(void* p) {
  ENTER();
  if (outer) forget((uint64_t)(uintptr_t)p);
  __libc_free(p);
  LEAVE();
}

void* calloc(size_t a, size_t b) {
  ENTER();
  void* p = __libc_calloc(a, b);
  if (outer) {
    uint64_t f[BLOCKLOG_FRAMES];
    int k = capture(f, __builtin_return_address(0));
    record((uint64_t)(uintptr_t)p, (uint64_t)a * b, BLOCKLOG_HEAP, f, k);
  }
  LEAVE();
  return p;
}

void* realloc(void* old, size_t n) {
  ENTER();
  if (outer && old) forget((uint64_t)(uintptr_t)old);
  void* p = __libc_realloc(old, n);
  if (outer) {
    uint64_t f[BLOCKLOG_FRAMES];
    int k = capture(f, __builtin_return_address(0));
    if (p) record((uint64_t)(uintptr_t)p, n, BLOCKLOG_HEAP, f, k);
  }
  LEAVE();
  return p;
}

static void* aligned(size_t align, size_t n, void* ret) {
  ENTER();
  void* p = __libc_memalign(align, n);
  if (outer) {
    uint64_t f[BLOCKLOG_FRAMES];
    int k = capture(f, ret);
    record((uint64_t)(uintptr_t)p, n, BLOCKLOG_HEAP, f, k);
  }
  LEAVE();
  return p;
}

void* memalign(size_t a, size_t n) { return aligned(a, n, __builtin_return_address(0)); }
void* aligned_alloc(size_t a, size_t n) { return aligned(a, n, __builtin_return_address(0)); }
void* valloc(size_t n) { return aligned(4096, n, __builtin_return_address(0)); }
void* pvalloc(size_t n) { return aligned(4096, (n + 4095) & ~(size_t)4095, __builtin_return_address(0)); }
int posix_memalign(void** out, size_t a, size_t n) {
  if (a % sizeof(void*) != 0 || (a & (a - 1)) != 0) return EINVAL;
  void* p = aligned(a, n, __builtin_return_address(0));
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

/* Anonymous mappings are blocks too. munmap and mremap trim or move them. */
static void unmap_range(uint64_t start, uint64_t len) {
  uint64_t end = start + len;
  lock();
  /* Mappings are few: walk the table for the ones that overlap. */
  for (uint64_t i = 0; i < g_table->capacity; ++i) {
    struct blocklog_slot* s = &g_slots[i];
    if (s->addr == BLOCKLOG_EMPTY || s->kind != BLOCKLOG_MAPPING) continue;
    uint64_t s0 = s->addr, s1 = s->addr + s->size;
    if (s1 <= start || s0 >= end) continue;
    struct blocklog_slot copy = *s;
    erase_slot(s);
    --i; /* the slot may now hold a shifted entry */
    unlock();
    if (s0 < start) record(s0, start - s0, BLOCKLOG_MAPPING, copy.frames, copy.nframes);
    if (s1 > end) record(end, s1 - end, BLOCKLOG_MAPPING, copy.frames, copy.nframes);
    lock();
  }
  unlock();
}

void* mmap(void* a, size_t len, int prot, int flags, int fd, off_t off) {
  ENTER();
  void* p = raw_mmap(a, len, prot, flags, fd, off);
  if ((long)p < 0 && (long)p > -4096) {
    errno = -(int)(long)p;
    p = MAP_FAILED;
  }
  if (outer && p != MAP_FAILED) {
    if (flags & MAP_FIXED) unmap_range((uint64_t)(uintptr_t)p, len);
    if (flags & MAP_ANONYMOUS) {
      uint64_t f[BLOCKLOG_FRAMES];
      int k = capture(f, __builtin_return_address(0));
      record((uint64_t)(uintptr_t)p, (len + 4095) & ~(size_t)4095, BLOCKLOG_MAPPING, f, k);
    }
  }
  LEAVE();
  return p;
}
void* mmap64(void* a, size_t len, int prot, int flags, int fd, off_t off) __attribute__((alias("mmap")));

int munmap(void* a, size_t len) {
  ENTER();
  long r = syscall(SYS_munmap, a, len);
  if (outer && r == 0) unmap_range((uint64_t)(uintptr_t)a, (len + 4095) & ~(size_t)4095);
  LEAVE();
  return (int)r;
}

void* mremap(void* old, size_t old_len, size_t new_len, int flags, ...) {
  ENTER();
  void* want = NULL;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    want = va_arg(ap, void*);
    va_end(ap);
  }
  long r = syscall(SYS_mremap, old, old_len, new_len, flags, want);
  void* p = (r < 0 && r > -4096) ? MAP_FAILED : (void*)r;
  if (p == MAP_FAILED) errno = (int)-r;
  if (outer && p != MAP_FAILED) {
    lock();
    struct blocklog_slot* s = find((uint64_t)(uintptr_t)old);
    struct blocklog_slot copy;
    int had = s != NULL && s->kind == BLOCKLOG_MAPPING;
    if (had) {
      copy = *s;
      erase_slot(s);
    }
    unlock();
    if (had) record((uint64_t)(uintptr_t)p, (new_len + 4095) & ~(size_t)4095, BLOCKLOG_MAPPING, copy.frames, copy.nframes);
  }
  LEAVE();
  return p;
}

/* The scan at exit reads the exiting thread's stack only above the point
 * where the program handed over to the exit machinery: the frames below hold
 * stale values of the program's old calls (memcheck sees them undefined).
 * That point is the call to exit() when the program calls it (through the
 * PLT), or, when main returns (glibc then calls exit internally), the frame
 * main returned to: main is wrapped through __libc_start_main. */
typedef int (*main_fn)(int, char**, char**);
static main_fn g_real_main;

static void record_exit_floor(uint64_t sp) {
  if (!g_table) blocklog_init();
  g_table->exit_sp = sp;
  g_table->exit_tid = (uint64_t)syscall(SYS_gettid);
}

__attribute__((noinline)) static int main_wrapper(int argc, char** argv, char** envp) {
  int r = g_real_main(argc, argv, envp);
  /* Past the saved rbp and the return address: the caller's frame. */
  record_exit_floor((uint64_t)(uintptr_t)__builtin_frame_address(0) + 16);
  __asm__ volatile("" ::: "memory"); /* not a tail call */
  return r;
}

int __libc_start_main(main_fn main, int argc, char** argv, void (*init)(void), void (*fini)(void),
                      void (*rtld_fini)(void), void* stack_end) {
  int (*real)(main_fn, int, char**, void (*)(void), void (*)(void), void (*)(void), void*) =
      (int (*)(main_fn, int, char**, void (*)(void), void (*)(void), void (*)(void), void*))dlsym(
          RTLD_NEXT, "__libc_start_main");
  g_real_main = main;
  return real(main_wrapper, argc, argv, init, fini, rtld_fini, stack_end);
}

/* exit(): remember where the caller's frames end, for the scan at exit. */
void exit(int status) {
  record_exit_floor((uint64_t)(uintptr_t)__builtin_frame_address(0) + 16); /* past the saved rbp and return address */
  void (*real_exit)(int) = (void (*)(int))dlsym(RTLD_NEXT, "exit");
  real_exit(status);
  __builtin_unreachable();
}

/* For fixtures: mark a mapping as a runtime's memory (a root). */
void scan_blocklog_mark_root(void* addr) {
  lock();
  struct blocklog_slot* s = find((uint64_t)(uintptr_t)addr);
  if (s) s->flags |= BLOCKLOG_ROOT;
  unlock();
}

/* Lets the driver scan now: writes to the "req" FIFO, waits on "ack". */
void scan_blocklog_sync(void) {
  const char* dir = getenv("SCAN_BLOCKLOG_DIR");
  if (!g_owner || !dir) return;
  char path[4096];
  size_t n = strlen(dir);
  if (n + 8 >= sizeof path) return;
  memcpy(path, dir, n);
  memcpy(path + n, "/req", 5);
  int req = open(path, O_WRONLY | O_CLOEXEC);
  memcpy(path + n, "/ack", 5);
  int ack = open(path, O_RDONLY | O_CLOEXEC);
  if (req < 0 || ack < 0) return;
  write_all(req, "S", 1);
  char c;
  while (read(ack, &c, 1) < 0 && errno == EINTR) {
  }
  close(req);
  close(ack);
}

__attribute__((destructor(101))) static void blocklog_fini(void) {
  const char* at_exit = getenv("SCAN_BLOCKLOG_AT_EXIT");
  if (at_exit && at_exit[0] == '1') {
    t_busy = 1; /* nothing after this point is recorded */
    scan_blocklog_sync();
  }
}
