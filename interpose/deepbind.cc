// RTLD_DEEPBIND libraries: the line that says so, and the relocations
// pointed back at our hooks (see deepbind.h).
#include "interpose/deepbind.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "src/capture/capture.h"
#include "src/capture/start_info.h"
#include "src/log.h"

namespace memtrace {
namespace {

// The symbols whose hooks a deep-bound library must not bypass.
constexpr const char* kHooked[] = {
    "malloc", "free", "calloc", "realloc", "reallocarray", "memalign", "posix_memalign", "aligned_alloc", "valloc",
    "pvalloc", "malloc_usable_size", "mmap", "mmap64", "munmap", "mremap", "mprotect", "pthread_create",
    "pthread_join", "pthread_tryjoin_np", "pthread_timedjoin_np", "pthread_clockjoin_np", "pthread_detach",
    "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
    "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t", "_ZdlPv", "_ZdaPv", "_ZdlPvm",
    "_ZdaPvm", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t", "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t",
    "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t", "_ZdlPvSt11align_val_tRKSt9nothrow_t",
    "_ZdaPvSt11align_val_tRKSt9nothrow_t"};
constexpr size_t kHookedCount = sizeof(kHooked) / sizeof(kHooked[0]);

// What was loaded before the pending dlopen (load biases), so that what it
// added can be told apart. Static: no allocation in a pre-hook.
constexpr size_t kMaxKnown = 4096;
uintptr_t g_known[kMaxKnown];
size_t g_known_count = 0;
bool g_known_overflow = false;
char g_pending_file[256];
uint32_t g_pending_record = UINT32_MAX;

int RecordKnown(dl_phdr_info* info, size_t, void*) {
  if (g_known_count == kMaxKnown) {
    g_known_overflow = true;
    return 1;
  }
  g_known[g_known_count++] = info->dlpi_addr;
  return 0;
}

bool Known(uintptr_t bias) {
  for (size_t i = 0; i < g_known_count; ++i) {
    if (g_known[i] == bias) return true;
  }
  return false;
}

struct Patch {
  void* handle;          // the deep-bound library (its scope is what lazy slots would search)
  void* ours[kHookedCount];
  void* next[kHookedCount];  // what we forward to: the definition after ours
  uint32_t redirected = 0;
};

uintptr_t DynPtr(uintptr_t bias, uintptr_t value) { return value < bias ? value + bias : value; }

int HookIndex(const char* name) {
  for (size_t i = 0; i < kHookedCount; ++i) {
    if (strcmp(name, kHooked[i]) == 0) return static_cast<int>(i);
  }
  return -1;
}

// Writes a relocated word in a page that may be read-only after relocation
// (RELRO): made writable for the write, put back if it was in RELRO.
void WriteWord(uintptr_t at, uintptr_t value, uintptr_t relro_lo, uintptr_t relro_hi) {
  uintptr_t page = at & ~uintptr_t{4095};
  bool relro = at >= relro_lo && at < relro_hi;
  // Raw system calls: our own mprotect hook must not record them.
  if (relro) syscall(SYS_mprotect, page, 4096, PROT_READ | PROT_WRITE);
  __atomic_store_n(reinterpret_cast<uintptr_t*>(at), value, __ATOMIC_RELEASE);
  if (relro) syscall(SYS_mprotect, page, 4096, PROT_READ);
}

void PatchRelocations(dl_phdr_info* info, const ElfW(Rela) * rela, size_t count, const ElfW(Sym) * symtab,
                      const char* strtab, Patch* patch, uintptr_t lo, uintptr_t hi, uintptr_t relro_lo,
                      uintptr_t relro_hi) {
  for (size_t k = 0; k < count; ++k) {
    uint32_t type = ELF64_R_TYPE(rela[k].r_info);
    if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT && type != R_X86_64_64) continue;
    const ElfW(Sym)& sym = symtab[ELF64_R_SYM(rela[k].r_info)];
    if (sym.st_shndx != SHN_UNDEF || sym.st_name == 0) continue;  // its own definition: not a bypass
    int h = HookIndex(strtab + sym.st_name);
    if (h < 0 || patch->ours[h] == nullptr || patch->next[h] == nullptr) continue;
    uintptr_t at = info->dlpi_addr + rela[k].r_offset;
    int64_t addend = type == R_X86_64_64 ? rela[k].r_addend : 0;
    uintptr_t current = *reinterpret_cast<const uintptr_t*>(at) - static_cast<uintptr_t>(addend);
    auto ours = reinterpret_cast<uintptr_t>(patch->ours[h]);
    auto next = reinterpret_cast<uintptr_t>(patch->next[h]);
    if (current == ours) continue;
    bool bypass = current == next;
    if (!bypass && current >= lo && current < hi && type == R_X86_64_JUMP_SLOT) {
      // Not resolved yet (lazy binding): it will resolve in the library's
      // own scope first, as dlsym on its handle does.
      bypass = reinterpret_cast<uintptr_t>(dlsym(patch->handle, kHooked[h])) == next;
    }
    if (!bypass) continue;
    WriteWord(at, ours + static_cast<uintptr_t>(addend), relro_lo, relro_hi);
    ++patch->redirected;
  }
}

int PatchNew(dl_phdr_info* info, size_t, void* data) {
  auto* patch = static_cast<Patch*>(data);
  if (Known(info->dlpi_addr)) return 0;
  const ElfW(Dyn)* dyn = nullptr;
  uintptr_t lo = UINTPTR_MAX, hi = 0, relro_lo = 0, relro_hi = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_DYNAMIC) dyn = reinterpret_cast<const ElfW(Dyn)*>(start);
    if (ph.p_type == PT_LOAD) {
      lo = start < lo ? start : lo;
      hi = start + ph.p_memsz > hi ? start + ph.p_memsz : hi;
    }
    if (ph.p_type == PT_GNU_RELRO) {
      relro_lo = start & ~uintptr_t{4095};
      relro_hi = (start + ph.p_memsz + 4095) & ~uintptr_t{4095};
    }
  }
  if (dyn == nullptr) return 0;
  const ElfW(Sym)* symtab = nullptr;
  const char* strtab = nullptr;
  const ElfW(Rela)* rela = nullptr;
  const ElfW(Rela)* jmprel = nullptr;
  size_t relasz = 0, pltrelsz = 0;
  for (const ElfW(Dyn)* d = dyn; d->d_tag != DT_NULL; ++d) {
    switch (d->d_tag) {
      case DT_SYMTAB: symtab = reinterpret_cast<const ElfW(Sym)*>(DynPtr(info->dlpi_addr, d->d_un.d_ptr)); break;
      case DT_STRTAB: strtab = reinterpret_cast<const char*>(DynPtr(info->dlpi_addr, d->d_un.d_ptr)); break;
      case DT_RELA: rela = reinterpret_cast<const ElfW(Rela)*>(DynPtr(info->dlpi_addr, d->d_un.d_ptr)); break;
      case DT_RELASZ: relasz = d->d_un.d_val; break;
      case DT_JMPREL: jmprel = reinterpret_cast<const ElfW(Rela)*>(DynPtr(info->dlpi_addr, d->d_un.d_ptr)); break;
      case DT_PLTRELSZ: pltrelsz = d->d_un.d_val; break;
      default: break;
    }
  }
  if (symtab == nullptr || strtab == nullptr) return 0;
  if (rela != nullptr) {
    PatchRelocations(info, rela, relasz / sizeof(ElfW(Rela)), symtab, strtab, patch, lo, hi, relro_lo, relro_hi);
  }
  if (jmprel != nullptr) {
    PatchRelocations(info, jmprel, pltrelsz / sizeof(ElfW(Rela)), symtab, strtab, patch, lo, hi, relro_lo, relro_hi);
  }
  return 0;
}

}  // namespace

void DeepbindBeforeDlopen(const char* file) noexcept {
  DeepbindCatchUp();  // an earlier one first: its dlopen has returned (or finishes before ours starts)
  uint32_t expected = 0;
  if (!g_deepbind_pending.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) return;  // racing: theirs
  g_known_count = 0;
  g_known_overflow = false;
  dl_iterate_phdr(RecordKnown, nullptr);
  size_t n = file != nullptr ? strnlen(file, sizeof(g_pending_file) - 1) : 0;
  memcpy(g_pending_file, file != nullptr ? file : "", n);
  g_pending_file[n] = '\0';
  g_pending_record = UINT32_MAX;
  if (StartInfo* info = g_start_info) {
    uint32_t i = info->deepbind_count.load(std::memory_order_relaxed);
    if (i < StartInfo::kMaxDeepbind) {
      memcpy(info->deepbind[i].path, g_pending_file, n + 1);
      info->deepbind_count.store(i + 1, std::memory_order_release);
      g_pending_record = i;
    }
  }
  MT_LOG_WARN("%s is opened with RTLD_DEEPBIND: it binds to the C library's allocator directly; its calls are "
              "traced once dlopen returns (its relocations are pointed back at the tracer), not those its "
              "constructors make",
              file != nullptr ? file : "(null)");
  g_deepbind_pending.store(2, std::memory_order_release);
}

void DeepbindCatchUpSlow() noexcept {
  uint32_t expected = 2;
  if (!g_deepbind_pending.compare_exchange_strong(expected, 3, std::memory_order_acq_rel)) return;
  ThreadState& t = t_state;
  uint32_t guard = t.guard, internal = t.internal;
  t.guard = 1;
  t.internal = 1;
  // A no-load dlopen of the same name finds the library only once it is
  // loaded, and takes the loader's lock: a dlopen still running on another
  // thread finishes first.
  Patch patch{};
  patch.handle = dlopen(g_pending_file, RTLD_NOLOAD | RTLD_LAZY);
  if (patch.handle != nullptr && !g_known_overflow) {
    for (size_t i = 0; i < kHookedCount; ++i) {
      patch.ours[i] = dlsym(RTLD_DEFAULT, kHooked[i]);
      patch.next[i] = dlsym(RTLD_NEXT, kHooked[i]);
      // Only what we define: a hook that is not ours (the program's own
      // malloc, say) is not ours to restore.
      Dl_info self{}, where{};
      if (patch.ours[i] == nullptr || dladdr(reinterpret_cast<void*>(&DeepbindCatchUpSlow), &self) == 0 ||
          dladdr(patch.ours[i], &where) == 0 || where.dli_fbase != self.dli_fbase) {
        patch.ours[i] = nullptr;
      }
    }
    dl_iterate_phdr(PatchNew, &patch);
    dlclose(patch.handle);
  }
  if (StartInfo* info = g_start_info; info != nullptr && g_pending_record < StartInfo::kMaxDeepbind) {
    info->deepbind[g_pending_record].redirected.store(patch.redirected, std::memory_order_relaxed);
    info->deepbind[g_pending_record].caught_up.store(1, std::memory_order_release);
  }
  if (patch.handle != nullptr) {
    MT_LOG_INFO("%s: %u relocations pointed back at the tracer's hooks", g_pending_file, patch.redirected);
  }
  dlerror();  // what our dl* calls left, inside the guard
  t.guard = guard;
  t.internal = internal;
  g_deepbind_pending.store(0, std::memory_order_release);
}

}  // namespace memtrace
