// The dependency closure of libmemtrace, as text ranges (see caller_modules.h).
#include "src/capture/caller_modules.h"

#include <elf.h>
#include <link.h>
#include <sys/auxv.h>

#include <cstring>

namespace memtrace {
namespace {

constexpr size_t kMaxModules = 1024;

struct Module {
  uintptr_t bias;
  const ElfW(Phdr)* phdr;
  int phnum;
  const ElfW(Dyn)* dynamic;
  const char* name;  // dl_iterate_phdr's path ("" for the executable)
  bool ours;
};

struct Modules {
  Module m[kMaxModules];
  size_t n = 0;
};

// Static: Init runs once (tracing's start) and must not allocate.
Modules g_modules;

int Collect(dl_phdr_info* info, size_t, void* data) {
  auto* mods = static_cast<Modules*>(data);
  if (mods->n == kMaxModules) return 1;
  Module& m = mods->m[mods->n++];
  m.bias = info->dlpi_addr;
  m.phdr = info->dlpi_phdr;
  m.phnum = info->dlpi_phnum;
  m.name = info->dlpi_name != nullptr ? info->dlpi_name : "";
  m.dynamic = nullptr;
  m.ours = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) {
      m.dynamic = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    }
  }
  return 0;
}

bool Contains(const Module& m, uintptr_t pc) {
  for (int i = 0; i < m.phnum; ++i) {
    const ElfW(Phdr)& ph = m.phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uintptr_t lo = m.bias + ph.p_vaddr;
    if (pc >= lo && pc < lo + ph.p_memsz) return true;
  }
  return false;
}

// The dynamic loader relocates the address entries of most modules' dynamic
// sections in place; not those it keeps read-only (the vDSO, some loaders).
uintptr_t DynPtr(const Module& m, uintptr_t value) { return value < m.bias ? value + m.bias : value; }

const char* StrTab(const Module& m) {
  if (m.dynamic == nullptr) return nullptr;
  for (const ElfW(Dyn)* d = m.dynamic; d->d_tag != DT_NULL; ++d) {
    if (d->d_tag == DT_STRTAB) return reinterpret_cast<const char*>(DynPtr(m, d->d_un.d_ptr));
  }
  return nullptr;
}

const char* Soname(const Module& m) {
  const char* strtab = StrTab(m);
  if (strtab == nullptr) return nullptr;
  for (const ElfW(Dyn)* d = m.dynamic; d->d_tag != DT_NULL; ++d) {
    if (d->d_tag == DT_SONAME) return strtab + d->d_un.d_val;
  }
  return nullptr;
}

const char* Basename(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

// The loaded module a DT_NEEDED entry names.
Module* Find(Modules& mods, const char* needed) {
  for (size_t i = 0; i < mods.n; ++i) {
    Module& m = mods.m[i];
    const char* so = Soname(m);
    if ((so != nullptr && strcmp(so, needed) == 0) || strcmp(Basename(m.name), needed) == 0 ||
        strcmp(m.name, needed) == 0) {
      return &m;
    }
  }
  return nullptr;
}

}  // namespace

bool CallerModules::Init(uintptr_t self) noexcept {
  Modules& mods = g_modules;
  mods.n = 0;
  dl_iterate_phdr(Collect, &mods);
  count_ = 0;
  modules_ = 0;
  uintptr_t loader = getauxval(AT_BASE);
  for (size_t i = 0; i < mods.n; ++i) {
    Module& m = mods.m[i];
    m.ours = Contains(m, self) || (loader != 0 && m.bias == loader);
  }
  // The closure: every module a module of ours needs, until nothing changes.
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < mods.n; ++i) {
      Module& m = mods.m[i];
      const char* strtab = m.ours ? StrTab(m) : nullptr;
      if (strtab == nullptr) continue;
      for (const ElfW(Dyn)* d = m.dynamic; d->d_tag != DT_NULL; ++d) {
        if (d->d_tag != DT_NEEDED) continue;
        Module* dep = Find(mods, strtab + d->d_un.d_val);
        if (dep != nullptr && !dep->ours) {
          dep->ours = true;
          changed = true;
        }
      }
    }
  }
  for (size_t i = 0; i < mods.n; ++i) {
    const Module& m = mods.m[i];
    if (!m.ours) continue;
    ++modules_;
    for (int k = 0; k < m.phnum && count_ < kMaxRanges; ++k) {
      const ElfW(Phdr)& ph = m.phdr[k];
      if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
      uintptr_t lo = m.bias + ph.p_vaddr;
      ranges_[count_++] = Range{lo, lo + ph.p_memsz};
    }
  }
  ready_ = modules_ > 0;
  return ready_;
}

bool CallerModules::Ours(uintptr_t pc) const noexcept {
  if (!ready_ || pc == 0) return true;
  for (size_t i = 0; i < count_; ++i) {
    if (pc >= ranges_[i].lo && pc < ranges_[i].hi) return true;
  }
  return false;
}

}  // namespace memtrace
