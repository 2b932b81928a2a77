// Finding and checking the Go runtime's cgo transition (see go_runtime.h).
#include "src/capture/go_runtime.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace memtrace {
namespace {

// runtime.asmcgocall.abi0 (runtime/asm_amd64.s), around `CALL AX`:
//   MOVQ DI, 48(SP)            // save g
//   MOVQ (g_stack+stack_hi)(DI), DI
//   SUBQ DX, DI
//   MOVQ DI, 40(SP)            // save depth in stack
//   MOVQ BX, DI; MOVQ BX, CX
//   CALL AX                    <- the return address we stitch at
//   MOVQ 48(SP), DI; MOVQ (g_stack+stack_hi)(DI), SI; SUBQ 40(SP), SI
constexpr uint8_t kSaveCall[] = {0x48, 0x89, 0x7c, 0x24, 0x30, 0x48, 0x8b, 0x7f, 0x08, 0x48, 0x29, 0xd7,
                                 0x48, 0x89, 0x7c, 0x24, 0x28, 0x48, 0x89, 0xdf, 0x48, 0x89, 0xd9, 0xff, 0xd0};
constexpr uint8_t kSaveReturn[] = {0x48, 0x8b, 0x7c, 0x24, 0x30, 0x48, 0x8b, 0x77, 0x08, 0x48, 0x2b, 0x74, 0x24, 0x28};
// The nosave path (already on the system stack):
//   MOVQ DX, 40(SP)            // save original stack pointer
//   MOVQ BX, DI; MOVQ BX, CX; CALL AX
//   MOVQ 40(SP), SI; MOVQ SI, SP
constexpr uint8_t kNosaveCall[] = {0x48, 0x89, 0x54, 0x24, 0x28, 0x48, 0x89, 0xdf, 0x48, 0x89, 0xd9, 0xff, 0xd0};
constexpr uint8_t kNosaveReturn[] = {0x48, 0x8b, 0x74, 0x24, 0x28, 0x48, 0x89, 0xf4};
// gosave_systemstack_switch: MOVQ R9, (g_sched+gobuf_sp)(R14); MOVQ BP, (g_sched+gobuf_bp)(R14)
constexpr uint8_t kSchedSp[] = {0x4d, 0x89, 0x4e, 0x38};
constexpr uint8_t kSchedBp[] = {0x49, 0x89, 0x6e, 0x68};

// The offset just after `call` followed by `ret` in code[0, size), or 0.
template <size_t C, size_t R>
uint64_t FindReturn(const uint8_t* code, uint64_t size, const uint8_t (&call)[C], const uint8_t (&ret)[R]) {
  for (uint64_t i = 0; i + C + R <= size; ++i) {
    if (memcmp(code + i, call, C) == 0 && memcmp(code + i + C, ret, R) == 0) return i + C;
  }
  return 0;
}

template <size_t N>
bool Contains(const uint8_t* code, uint64_t size, const uint8_t (&what)[N]) {
  for (uint64_t i = 0; i + N <= size; ++i) {
    if (memcmp(code + i, what, N) == 0) return true;
  }
  return false;
}

bool NameIs(const char* strtab, uint64_t strtab_size, uint32_t off, const char* want) {
  size_t n = strlen(want);
  return off + n < strtab_size && memcmp(strtab + off, want, n + 1) == 0;
}

}  // namespace

bool MatchGoRuntime(const uint8_t* asmcgocall, uintptr_t asmcgocall_addr, uint64_t asmcgocall_size,
                    const uint8_t* gosave, uint64_t gosave_size, GoRuntime* out) noexcept {
  uint64_t save = FindReturn(asmcgocall, asmcgocall_size, kSaveCall, kSaveReturn);
  uint64_t nosave = FindReturn(asmcgocall, asmcgocall_size, kNosaveCall, kNosaveReturn);
  if (save == 0 || nosave == 0 || !Contains(gosave, gosave_size, kSchedSp) || !Contains(gosave, gosave_size, kSchedBp)) {
    return false;
  }
  *out = GoRuntime{};
  out->cgocall_ra = asmcgocall_addr + save;
  out->cgocall_ra_nosave = asmcgocall_addr + nosave;
  out->enabled = true;
  return true;
}

bool InitGoRuntime() noexcept {
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return false;
  struct stat st {};
  void* map = MAP_FAILED;
  if (syscall(SYS_fstat, fd, &st) == 0 && st.st_size >= static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    map = reinterpret_cast<void*>(syscall(SYS_mmap, nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0));
  }
  syscall(SYS_close, fd);
  if (map == MAP_FAILED) return false;
  const auto* base = static_cast<const uint8_t*>(map);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  auto in_file = [size](uint64_t off, uint64_t len) { return off <= size && len <= size - off; };

  bool ok = false;
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
      eh->e_shentsize == sizeof(Elf64_Shdr) && in_file(eh->e_shoff, uint64_t{eh->e_shnum} * sizeof(Elf64_Shdr)) &&
      eh->e_shstrndx < eh->e_shnum) {
    const auto* sh = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
    const Elf64_Shdr& names = sh[eh->e_shstrndx];
    bool is_go = false;
    const Elf64_Shdr* symtab = nullptr;
    for (int i = 0; i < eh->e_shnum && in_file(names.sh_offset, names.sh_size); ++i) {
      if (sh[i].sh_name < names.sh_size) {
        const char* name = reinterpret_cast<const char*>(base + names.sh_offset + sh[i].sh_name);
        size_t room = names.sh_size - sh[i].sh_name;
        if (strncmp(name, ".gopclntab", room) == 0 || strncmp(name, ".go.buildinfo", room) == 0) is_go = true;
      }
      if (sh[i].sh_type == SHT_SYMTAB) symtab = &sh[i];
    }
    if (is_go && symtab != nullptr && symtab->sh_link < eh->e_shnum && in_file(symtab->sh_offset, symtab->sh_size)) {
      const Elf64_Shdr& strs = sh[symtab->sh_link];
      const auto* syms = reinterpret_cast<const Elf64_Sym*>(base + symtab->sh_offset);
      const char* strtab = reinterpret_cast<const char*>(base + strs.sh_offset);
      const Elf64_Sym* asmcgocall = nullptr;
      const Elf64_Sym* gosave = nullptr;
      if (in_file(strs.sh_offset, strs.sh_size)) {
        for (uint64_t i = 0; i < symtab->sh_size / sizeof(Elf64_Sym) && (asmcgocall == nullptr || gosave == nullptr); ++i) {
          if (ELF64_ST_TYPE(syms[i].st_info) != STT_FUNC || syms[i].st_size == 0) continue;
          if (NameIs(strtab, strs.sh_size, syms[i].st_name, "runtime.asmcgocall.abi0")) asmcgocall = &syms[i];
          else if (NameIs(strtab, strs.sh_size, syms[i].st_name, "gosave_systemstack_switch")) gosave = &syms[i];
        }
      }
      // The load bias of a position-independent executable: where its program
      // headers are mapped, minus where the file says they are.
      uintptr_t bias = 0;
      if (eh->e_type == ET_DYN && in_file(eh->e_phoff, uint64_t{eh->e_phnum} * sizeof(Elf64_Phdr))) {
        const auto* ph = reinterpret_cast<const Elf64_Phdr*>(base + eh->e_phoff);
        bias = getauxval(AT_PHDR) - eh->e_phoff;  // PT_PHDR at file offset e_phoff
        for (int i = 0; i < eh->e_phnum; ++i) {
          if (ph[i].p_type == PT_PHDR) bias = getauxval(AT_PHDR) - ph[i].p_vaddr;
        }
      }
      if (asmcgocall != nullptr && gosave != nullptr) {
        // The code as it runs (the text is mapped): what the walk will meet.
        uintptr_t a = asmcgocall->st_value + bias, g = gosave->st_value + bias;
        ok = MatchGoRuntime(reinterpret_cast<const uint8_t*>(a), a, asmcgocall->st_size,
                            reinterpret_cast<const uint8_t*>(g), gosave->st_size, &g_go_runtime);
      }
    }
  }
  syscall(SYS_munmap, map, st.st_size);
  return ok;
}

}  // namespace memtrace
