// libdw-backed symbolization (see symbolizer.h).
#include "src/report/symbolizer.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "src/capture/stack_depot.h"

namespace memtrace {

std::string Demangle(const char* name) {
  if (name == nullptr) return {};
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) return name;
  std::string result(out);
  free(out);
  return result;
}

namespace {

// True if `path` holds `mod`'s debug file and is not the module itself. As
// libdw checks it: by build-id where the module has one (the CRC changes
// when a debug file is merely re-processed), else by the CRC-32 that
// .gnu_debuglink records.
bool DebugFileMatches(Dwfl_Module* mod, const std::string& path, const char* module_path, GElf_Word crc,
                      int* fd_out) {
  struct stat mod_st, st;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = fstat(fd, &st) == 0 && !(stat(module_path, &mod_st) == 0 && st.st_dev == mod_st.st_dev &&
                                     st.st_ino == mod_st.st_ino);
  const unsigned char* want = nullptr;
  GElf_Addr vaddr = 0;
  int want_len = ok ? dwfl_module_build_id(mod, &want, &vaddr) : 0;
  if (ok && want_len > 0) {
    Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
    const void* have = nullptr;
    ssize_t have_len = elf != nullptr ? dwelf_elf_gnu_build_id(elf, &have) : -1;
    ok = have_len == want_len && memcmp(have, want, static_cast<size_t>(want_len)) == 0;
    if (elf != nullptr) elf_end(elf);
  } else if (ok) {
    uLong sum = crc32(0L, Z_NULL, 0);
    unsigned char buf[1 << 14];  // the report may run on a program thread: a modest stack buffer
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = n == 0;
        break;
      }
      sum = crc32(sum, buf, static_cast<uInt>(n));
    }
    ok = ok && static_cast<GElf_Word>(sum) == crc && lseek(fd, 0, SEEK_SET) == 0;
  }
  if (!ok) {
    close(fd);
    return false;
  }
  *fd_out = fd;
  return true;
}

// libdw's search for separate debug info, minus debuginfod. By build-id
// first (/usr/lib/debug/.build-id/xx/yyyy.debug), then by .gnu_debuglink
// name next to the module, in its .debug/ directory and under
// /usr/lib/debug, the places dwfl_standard_find_debuginfo looks. Not
// dwfl_standard_find_debuginfo itself: when both fail, elfutils 0.188 dlopens
// libdebuginfod (35 more libraries -- curl, gnutls, krb5, ldap -- loaded
// into the traced process at exit, ~10 ms) and, where DEBUGINFOD_URLS is
// set, would fetch debug info over the network from inside the program.
int FindLocalDebuginfo(Dwfl_Module* mod, void** userdata, const char* modname, GElf_Addr base,
                       const char* file_name, const char* debuglink_file, GElf_Word debuglink_crc,
                       char** debuginfo_file_name) {
  int fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc,
                                        debuginfo_file_name);
  if (fd >= 0 || file_name == nullptr || debuglink_file == nullptr || debuglink_file[0] == '\0') return fd;
  std::string dir(file_name);
  size_t slash = dir.rfind('/');
  dir = slash == std::string::npos ? std::string(".") : dir.substr(0, slash);
  for (const std::string& candidate : {dir + "/" + debuglink_file, dir + "/.debug/" + debuglink_file,
                                       "/usr/lib/debug" + dir + "/" + debuglink_file}) {
    if (DebugFileMatches(mod, candidate, file_name, debuglink_crc, &fd)) {
      *debuginfo_file_name = strdup(candidate.c_str());
      return fd;
    }
  }
  return -1;
}

const Dwfl_Callbacks kCallbacks = {
    dwfl_linux_proc_find_elf,
    FindLocalDebuginfo,
    nullptr,
    nullptr,
};

// The name of a subprogram or inlined-subroutine DIE, following
// DW_AT_abstract_origin/DW_AT_specification; the linkage name is preferred
// because it demangles to the full, qualified signature.
std::string DieName(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name, DW_AT_name}) {
    if (dwarf_attr_integrate(die, at, &attr) != nullptr) {
      if (const char* s = dwarf_formstring(&attr)) return at == DW_AT_name ? std::string(s) : Demangle(s);
    }
  }
  return {};
}

// glibc's own modules, whose separate debug info is libc6-dbg.
bool IsGlibcModule(const std::string& path) {
  std::string base = path.substr(path.rfind('/') + 1);  // npos + 1 == 0
  for (const char* prefix : {"libc.so.", "ld-linux", "libm.so.", "libpthread.so.", "libdl.so.", "librt.so.",
                             "libresolv.so.", "libanl.so.", "libutil.so."}) {
    if (absl::StartsWith(base, prefix)) return true;
  }
  return false;
}

std::string HexBuildId(Dwfl_Module* m) {
  const unsigned char* bits = nullptr;
  GElf_Addr vaddr = 0;
  int len = dwfl_module_build_id(m, &bits, &vaddr);
  std::string out;
  for (int i = 0; i < len; ++i) out += absl::StrFormat("%02x", bits[i]);
  return out;
}

}  // namespace

struct Symbolizer::Impl {
  Dwfl* dwfl = nullptr;
  absl::flat_hash_map<Dwfl_Module*, size_t> module_of;  // -> modules_ index
};

Symbolizer::Symbolizer(Options options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  impl_->dwfl = dwfl_begin(&kCallbacks);
  if (impl_->dwfl != nullptr) {
    dwfl_report_begin(impl_->dwfl);
    int pid = options_.pid != 0 ? options_.pid : getpid();
    bool reported = false;
    if (!options_.maps_text.empty()) {
      if (FILE* f = fmemopen(options_.maps_text.data(), options_.maps_text.size(), "r")) {
        reported = dwfl_linux_proc_maps_report(impl_->dwfl, f) == 0;
        fclose(f);
      }
    }
    if (!reported) dwfl_linux_proc_report(impl_->dwfl, pid);
    dwfl_report_end(impl_->dwfl, nullptr, nullptr);
  }
}

Symbolizer::~Symbolizer() {
  if (impl_->dwfl != nullptr) dwfl_end(impl_->dwfl);
}

const std::vector<Frame>& Symbolizer::Symbolize(uintptr_t return_address) {
  auto [it, inserted] = cache_.try_emplace(return_address);
  std::vector<Frame>& frames = it->second;
  if (!inserted) return frames;

  // A return address points after the call; look up the call itself.
  Dwarf_Addr pc = return_address - 1;
  Dwfl_Module* m = impl_->dwfl != nullptr ? dwfl_addrmodule(impl_->dwfl, pc) : nullptr;
  Frame base;
  if (m == nullptr) {
    // Not in a mapped file (JIT code, or a module unloaded since): try dladdr,
    // which only knows about this process.
    Dl_info info{};
    if (options_.pid == 0 && dladdr(reinterpret_cast<void*>(pc), &info) != 0 && info.dli_fname != nullptr) {
      base.module = info.dli_fname;
      base.offset = pc - reinterpret_cast<uintptr_t>(info.dli_fbase);
      if (info.dli_sname != nullptr) base.function = Demangle(info.dli_sname);
    } else {
      base.module = "[unknown]";
      base.offset = pc;
    }
    frames.push_back(base);
    return frames;
  }

  const char* mainfile = nullptr;
  const char* modname = dwfl_module_info(m, nullptr, nullptr, nullptr, nullptr, nullptr, &mainfile, nullptr);
  Dwarf_Addr bias = 0;
  dwfl_module_getelf(m, &bias);
  base.module = mainfile != nullptr ? mainfile : (modname != nullptr ? modname : "[unknown]");
  base.offset = pc - bias;
  auto [mit, new_module] = impl_->module_of.try_emplace(m, modules_.size());
  if (new_module) {
    auto [pit, new_path] = module_index_.try_emplace(base.module, modules_.size());
    if (new_path) modules_.push_back(ModuleInfo{base.module, HexBuildId(m)});
    mit->second = pit->second;
  }
  base.function = Demangle(dwfl_module_addrname(m, pc));
  if (!options_.libc_lines && IsGlibcModule(base.module)) {
    frames.push_back(base);  // the name only: no DWARF is loaded (see Options)
    return frames;
  }

  // Innermost source location.
  std::string file;
  int line = 0;
  if (Dwfl_Line* l = dwfl_module_getsrc(m, pc)) {
    if (const char* f = dwfl_lineinfo(l, nullptr, &line, nullptr, nullptr, nullptr)) file = f;
  }

  // Inlined calls: walk the scopes from the innermost outwards; each inlined
  // subroutine is a frame whose caller's location is its DW_AT_call_file/line.
  Dwarf_Addr cu_bias = 0;
  if (Dwarf_Die* cu = dwfl_module_addrdie(m, pc, &cu_bias)) {
    Dwarf_Die* scopes = nullptr;
    int n = dwarf_getscopes(cu, pc - cu_bias, &scopes);
    Dwarf_Files* files = nullptr;
    size_t nfiles = 0;
    bool have_files = dwarf_getsrcfiles(cu, &files, &nfiles) == 0;
    for (int i = 0; i < n; ++i) {
      int tag = dwarf_tag(&scopes[i]);
      if (tag == DW_TAG_subprogram) {
        if (base.function.empty()) base.function = DieName(&scopes[i]);
        break;
      }
      if (tag != DW_TAG_inlined_subroutine) continue;
      Frame f = base;
      f.function = DieName(&scopes[i]);
      f.file = file;
      f.line = line;
      f.inlined = true;
      frames.push_back(f);
      Dwarf_Attribute attr;
      Dwarf_Word value = 0;
      file.clear();
      line = 0;
      if (dwarf_attr(&scopes[i], DW_AT_call_file, &attr) != nullptr && dwarf_formudata(&attr, &value) == 0 &&
          have_files && value < nfiles) {
        if (const char* f2 = dwarf_filesrc(files, value, nullptr, nullptr)) file = f2;
      }
      if (dwarf_attr(&scopes[i], DW_AT_call_line, &attr) != nullptr && dwarf_formudata(&attr, &value) == 0) {
        line = static_cast<int>(value);
      }
    }
    free(scopes);
  }
  base.file = file;
  base.line = line;
  frames.push_back(base);
  return frames;
}

std::string Symbolizer::FunctionAt(uintptr_t addr) {
  if (addr == 0) return {};
  Dwfl_Module* m = impl_->dwfl != nullptr ? dwfl_addrmodule(impl_->dwfl, addr) : nullptr;
  if (m != nullptr) {
    if (const char* name = dwfl_module_addrname(m, addr)) return Demangle(name);
  }
  Dl_info info{};
  if (options_.pid == 0 && dladdr(reinterpret_cast<void*>(addr), &info) != 0 && info.dli_sname != nullptr) {
    return Demangle(info.dli_sname);
  }
  return {};
}

std::string Symbolizer::ModuleAt(uintptr_t addr) {
  if (addr == 0) return {};
  Dwfl_Module* m = impl_->dwfl != nullptr ? dwfl_addrmodule(impl_->dwfl, addr) : nullptr;
  if (m != nullptr) {
    const char* mainfile = nullptr;
    const char* name = dwfl_module_info(m, nullptr, nullptr, nullptr, nullptr, nullptr, &mainfile, nullptr);
    if (mainfile != nullptr) return mainfile;
    if (name != nullptr) return name;
  }
  Dl_info info{};
  if (options_.pid == 0 && dladdr(reinterpret_cast<void*>(addr), &info) != 0 && info.dli_fname != nullptr) {
    return info.dli_fname;
  }
  return {};
}

std::vector<Frame> SymbolizeStack(const StackRecord* stack, Symbolizer& symbolizer) {
  std::vector<Frame> out;
  if (stack == nullptr) return out;
  for (uint32_t i = 0; i < stack->depth; ++i) {
    const std::vector<Frame>& frames = symbolizer.Symbolize(stack->frames[i]);
    out.insert(out.end(), frames.begin(), frames.end());
  }
  size_t skip = 0;
  while (skip + 1 < out.size() && (absl::StartsWith(out[skip].function, "operator new") ||
                                   absl::StartsWith(out[skip].function, "operator new[]"))) {
    ++skip;
  }
  out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(skip));
  return out;
}

}  // namespace memtrace
