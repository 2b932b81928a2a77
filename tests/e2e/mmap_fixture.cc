// Mappings under random operations, checked against a shadow model kept by
// this program: page -> (function that created the mapping, anon or file).
// Operations: anonymous and file mmaps from distinct functions, MAP_FIXED over
// existing mappings, partial munmaps (head, tail, middle, spanning several),
// mremap growth/shrink/move, MREMAP_FIXED, MREMAP_DONTUNMAP, and calls that
// fail. Half-way it asks libmemtrace for a report (memtrace_dump) and states
// what it must say; at exit likewise. With "threads", two threads do the
// operations, so mappings are created on one and unmapped on the other.
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <string>

#include "expect.h"
#include "include/memtrace/memtrace.h"

namespace {

const long kPage = sysconf(_SC_PAGESIZE);
int g_fd = -1;
char g_path[256];
std::mutex g_mu;  // ops and the model change together, so the model is the kernel's order

struct PageOwner {
  const char* function;
  bool file;
};
std::map<uintptr_t, PageOwner> g_model;  // page address -> owner
uint64_t g_rng = 88172645463325252ull;
int g_failed_calls = 0;

uint64_t Rand() {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}

void ModelMap(uintptr_t addr, long pages, const char* fn, bool file) {
  for (long i = 0; i < pages; ++i) g_model[addr + i * kPage] = PageOwner{fn, file};
}
void ModelUnmap(uintptr_t addr, long pages) {
  for (long i = 0; i < pages; ++i) g_model.erase(addr + i * kPage);
}

}  // namespace

// The creating functions: extern "C" so that reports name them plainly.
extern "C" {

__attribute__((noinline)) void map_anon_a(long pages) {
  void* p = mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p != MAP_FAILED) ModelMap(reinterpret_cast<uintptr_t>(p), pages, "map_anon_a", false);
}

__attribute__((noinline)) void map_anon_b(long pages) {
  // Lengths that are not page multiples: the kernel maps whole pages.
  void* p = mmap(nullptr, pages * kPage - 100, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p != MAP_FAILED) ModelMap(reinterpret_cast<uintptr_t>(p), pages, "map_anon_b", false);
}

__attribute__((noinline)) void map_file(long pages) {
  void* p = mmap(nullptr, pages * kPage, PROT_READ, MAP_PRIVATE, g_fd, 0);
  if (p != MAP_FAILED) ModelMap(reinterpret_cast<uintptr_t>(p), pages, "map_file", true);
}

__attribute__((noinline)) void map_fixed_over(uintptr_t addr, long pages) {
  void* p = mmap(reinterpret_cast<void*>(addr), pages * kPage, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (p != MAP_FAILED) ModelMap(addr, pages, "map_fixed_over", false);
}

}  // extern "C"

namespace {

// A random mapped page and how many mapped pages follow it contiguously.
bool PickMapped(uintptr_t* addr, long* run) {
  if (g_model.empty()) return false;
  auto it = g_model.begin();
  std::advance(it, static_cast<long>(Rand() % g_model.size()));
  *addr = it->first;
  *run = 1;
  for (auto next = std::next(it); next != g_model.end() && next->first == *addr + *run * kPage; ++next) ++*run;
  return true;
}

void DoUnmap() {
  uintptr_t addr;
  long run;
  if (!PickMapped(&addr, &run)) return;
  // Only our own pages (possibly several adjacent mappings): anything past
  // them could be libc's or a thread stack.
  long n = 1 + static_cast<long>(Rand() % static_cast<uint64_t>(run));
  if (munmap(reinterpret_cast<void*>(addr), n * kPage) == 0) ModelUnmap(addr, n);
}

void DoRemap() {
  uintptr_t addr;
  long run;
  if (!PickMapped(&addr, &run)) return;
  long n = 1 + static_cast<long>(Rand() % static_cast<uint64_t>(run));
  // Only whole pages of one owner: a range over two kernel mappings fails with
  // EFAULT, which is a failed call (and also tested).
  PageOwner owner = g_model[addr];
  uint64_t kind = Rand() % 4;
  long new_pages = n;
  int flags = MREMAP_MAYMOVE;
  void* target = nullptr;
  if (kind == 0) new_pages = n + 1 + static_cast<long>(Rand() % 8);  // grow (maybe move)
  if (kind == 1 && n > 1) new_pages = 1 + static_cast<long>(Rand() % static_cast<uint64_t>(n - 1));  // shrink
  if (kind == 2) {  // MREMAP_FIXED onto a range the kernel picked for us (raw syscall: not traced)
    flags |= MREMAP_FIXED;
    new_pages = n + static_cast<long>(Rand() % 4);
    long r = syscall(SYS_mmap, nullptr, new_pages * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r < 0 && r > -4096) return;
    target = reinterpret_cast<void*>(r);
  }
  if (kind == 3) {
    if (owner.file) return;  // DONTUNMAP wants private anonymous memory
    flags |= MREMAP_DONTUNMAP;
  }
  void* p = target != nullptr ? mremap(reinterpret_cast<void*>(addr), n * kPage, new_pages * kPage, flags, target)
                              : mremap(reinterpret_cast<void*>(addr), n * kPage, new_pages * kPage, flags);
  if (p == MAP_FAILED) {
    ++g_failed_calls;
    return;
  }
  // The model: the old pages move (unless DONTUNMAP), shrink drops the tail,
  // growth extends with the owner of the last old page; a fixed target
  // replaces what was there.
  std::map<long, PageOwner> moved;
  for (long i = 0; i < n; ++i) moved[i] = g_model[addr + i * kPage];
  if (!(flags & MREMAP_DONTUNMAP)) ModelUnmap(addr, n);
  uintptr_t to = reinterpret_cast<uintptr_t>(p);
  ModelUnmap(to, new_pages);
  for (long i = 0; i < new_pages; ++i) {
    PageOwner o = i < n ? moved[i] : moved[n - 1];
    g_model[to + i * kPage] = o;
  }
}

void DoFixedOver() {
  uintptr_t addr;
  long run;
  if (!PickMapped(&addr, &run)) return;
  map_fixed_over(addr, 1 + static_cast<long>(Rand() % static_cast<uint64_t>(run)));
}

void FailingCalls() {
  // Each must fail and change nothing.
  if (mmap(nullptr, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) ++g_failed_calls;
  if (munmap(reinterpret_cast<void*>(kPage + 1), kPage) != 0) ++g_failed_calls;  // unaligned
  if (mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE, 12345, 0) == MAP_FAILED) ++g_failed_calls;  // bad fd
}

void OneOp() {
  std::lock_guard<std::mutex> lock(g_mu);
  switch (Rand() % 10) {
    case 0: case 1: map_anon_a(1 + static_cast<long>(Rand() % 16)); break;
    case 2: map_anon_b(1 + static_cast<long>(Rand() % 16)); break;
    case 3: map_file(1 + static_cast<long>(Rand() % 8)); break;
    case 4: case 5: DoUnmap(); break;
    case 6: case 7: DoRemap(); break;
    case 8: DoFixedOver(); break;
    case 9: FailingCalls(); break;
  }
}

void State(const char* phase) {
  std::map<std::pair<std::string, bool>, long> bytes;
  for (const char* fn : {"map_anon_a", "map_anon_b", "map_file", "map_fixed_over"}) {
    bytes[{fn, strcmp(fn, "map_file") == 0}] = 0;
  }
  for (auto& [page, o] : g_model) bytes[{o.function, o.file}] += kPage;
  for (auto& [key, b] : bytes) {
    expect_line("{\"kind\": \"mapping\", \"phase\": \"%s\", \"function\": \"%s\", \"space\": \"%s\", \"live_bytes\": %ld}",
                phase, key.first.c_str(), key.second ? "file_mmap" : "anon_mmap", b);
  }
}

int g_ops = 4000;

void* Worker(void*) {
  for (int i = 0; i < g_ops / 2; ++i) OneOp();
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  bool threads = argc > 1 && strcmp(argv[1], "threads") == 0;
  if (argc > 2) g_ops = atoi(argv[2]);
  snprintf(g_path, sizeof(g_path), "/tmp/memtrace_mmap_fixture.%d", getpid());
  g_fd = open(g_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (g_fd < 0 || ftruncate(g_fd, 16 * kPage) != 0) return 2;

  for (int phase = 0; phase < 2; ++phase) {
    if (threads) {
      pthread_t t[2];
      for (auto& th : t) pthread_create(&th, nullptr, Worker, nullptr);
      for (auto& th : t) pthread_join(th, nullptr);
    } else {
      for (int i = 0; i < g_ops; ++i) OneOp();
    }
    if (phase == 0) {
      State("mid");
      const char* mid = getenv("MMAP_FIXTURE_MID_REPORT");
      if (mid != nullptr && memtrace_dump != nullptr && memtrace_dump(mid) != 0) return 4;
    }
  }
  State("exit");
  expect_line("{\"kind\": \"file\", \"path\": \"%s\", \"failed_calls\": %d}", g_path, g_failed_calls);
  unlink(g_path);  // the mappings stay, and so does the name in /proc/self/maps (" (deleted)")
  return 0;
}
