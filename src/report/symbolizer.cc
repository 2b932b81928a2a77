// Symbolization of another process's return addresses (see symbolizer.h):
// modules from its maps or a saved list, libdw for names and DWARF
// (dwarf_source.h for lines and inline chains), perf maps for JIT code.
#include "src/report/symbolizer.h"

#include <cxxabi.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/capture/stack_depot.h"
#include "src/report/debuginfo.h"
#include "src/report/dwarf_source.h"
#include "src/report/go_pclntab.h"
#include "src/report/perf_map.h"
#include "src/report/symbol_index.h"

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

const Dwfl_Callbacks kCallbacks = {
    nullptr,  // find_elf: every module is reported with its file (dwfl_report_elf)
    FindLocalDebuginfo,
    nullptr,
    nullptr,
};

std::string HexBuildId(Dwfl_Module* m) {
  const unsigned char* bits = nullptr;
  GElf_Addr vaddr = 0;
  int len = dwfl_module_build_id(m, &bits, &vaddr);
  std::string out;
  for (int i = 0; i < len; ++i) out += absl::StrFormat("%02x", bits[i]);
  return out;
}

// An ELF symbol's name for display: demangled, without the symbol version
// ("__libc_start_main@@GLIBC_2.34" is __libc_start_main).
std::string SymbolName(const char* name) {
  if (name == nullptr) return {};
  std::string s = Demangle(name);
  if (size_t at = s.find('@'); at != std::string::npos && at > 0 && s.find('(') == std::string::npos) s.resize(at);
  return s;
}

// The .gopclntab of a module, or null.
const GoPclntab* LoadGoTable(Dwfl_Module* m, std::unique_ptr<GoPclntab>* slot) {
  Dwarf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(m, &bias);
  size_t shstrndx = 0;
  if (elf == nullptr || elf_getshdrstrndx(elf, &shstrndx) != 0) return nullptr;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (name == nullptr || strcmp(name, ".gopclntab") != 0) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    auto table = std::make_unique<GoPclntab>();
    if (data == nullptr || !table->Init(static_cast<const uint8_t*>(data->d_buf), data->d_size)) return nullptr;
    *slot = std::move(table);
    return slot->get();
  }
  return nullptr;
}

}  // namespace

bool IsGlibcModule(const std::string& path) {
  std::string base = path.substr(path.rfind('/') + 1);  // npos + 1 == 0
  for (const char* prefix : {"libc.so.", "ld-linux", "libm.so.", "libpthread.so.", "libdl.so.", "librt.so.",
                             "libresolv.so.", "libanl.so.", "libutil.so."}) {
    if (absl::StartsWith(base, prefix)) return true;
  }
  return false;
}

struct Symbolizer::Impl {
  Dwfl* dwfl = nullptr;
  std::vector<Dwfl_Module*> dwfl_of;  // per loaded_ entry; null: no usable file
  std::vector<bool> reported;
  absl::flat_hash_map<Dwfl_Module*, std::unique_ptr<GoPclntab>> go_tables;  // null: none
  absl::flat_hash_map<Dwfl_Module*, std::unique_ptr<SymbolIndex>> symbols;   // built at a module's first lookup
  DwarfSource dwarf;
  PerfMap perf_map;
  bool perf_map_loaded = false;
};

std::unique_ptr<Symbolizer> Symbolizer::ForProcess(int pid, Options options) {
  absl::StatusOr<std::vector<LoadedModule>> modules = ReadProcessModules(pid);
  return std::make_unique<Symbolizer>(modules.ok() ? *std::move(modules) : std::vector<LoadedModule>{}, options, pid);
}

Symbolizer::Symbolizer(std::vector<LoadedModule> modules, Options options, int pid)
    : options_(options), pid_(pid), loaded_(std::move(modules)), impl_(std::make_unique<Impl>()) {
  std::sort(loaded_.begin(), loaded_.end(), [](const LoadedModule& a, const LoadedModule& b) { return a.start < b.start; });
  impl_->dwfl_of.assign(loaded_.size(), nullptr);
  impl_->reported.assign(loaded_.size(), false);
  impl_->dwfl = dwfl_begin(&kCallbacks);
}

Dwfl_Module* Symbolizer::DwflModule(const LoadedModule* lm) {
  // Reported to libdw on first use: a process maps hundreds of modules, a
  // report names frames in a few.
  size_t i = static_cast<size_t>(lm - loaded_.data());
  if (impl_->reported[i] || impl_->dwfl == nullptr) return impl_->dwfl_of[i];
  impl_->reported[i] = true;
  dwfl_report_begin_add(impl_->dwfl);
  Dwfl_Module* dm = dwfl_report_elf(impl_->dwfl, lm->path.c_str(), lm->path.c_str(), -1, lm->bias, true);
  dwfl_report_end(impl_->dwfl, nullptr, nullptr);
  // A file replaced since it was mapped (an upgrade) would name the wrong
  // code: only the build-id it had then is trusted.
  if (dm != nullptr && !lm->build_id.empty() && HexBuildId(dm) != lm->build_id) dm = nullptr;
  impl_->dwfl_of[i] = dm;
  return dm;
}

Symbolizer::~Symbolizer() {
  if (impl_->dwfl != nullptr) dwfl_end(impl_->dwfl);
}

const LoadedModule* Symbolizer::ModuleOf(uintptr_t addr) const {
  auto it = std::upper_bound(loaded_.begin(), loaded_.end(), addr,
                             [](uintptr_t a, const LoadedModule& m) { return a < m.start; });
  if (it == loaded_.begin()) return nullptr;
  --it;
  return addr < it->end ? &*it : nullptr;
}

void Symbolizer::NoteModule(const std::string& path, const std::string& build_id) {
  auto [it, inserted] = module_index_.try_emplace(path, modules_.size());
  if (inserted) modules_.push_back(ModuleInfo{path, build_id});
}

const std::vector<Frame>& Symbolizer::Symbolize(uintptr_t return_address) {
  auto [it, inserted] = cache_.try_emplace(return_address);
  std::vector<Frame>& frames = it->second;
  if (!inserted) return frames;

  // A return address points after the call; look up the call itself.
  const uintptr_t pc = return_address - 1;
  Frame base;
  const LoadedModule* lm = ModuleOf(pc);
  Dwfl_Module* m = lm != nullptr ? DwflModule(lm) : nullptr;
  if (lm == nullptr) {
    // No ELF file: JIT code named by the process's perf map, if it wrote one.
    if (!impl_->perf_map_loaded) {
      impl_->perf_map_loaded = true;
      if (pid_ > 0) impl_->perf_map.Load(absl::StrCat("/tmp/perf-", pid_, ".map"));
    }
    if (const PerfMap::Entry* e = impl_->perf_map.Find(pc)) {
      base.function = e->name;
      base.module = absl::StrCat("[perf-", pid_, ".map]");
      base.offset = pc;
    } else {
      base.module = "[unknown]";
      base.offset = pc;
    }
    frames.push_back(base);
    return frames;
  }
  base.module = lm->path;
  base.offset = pc - lm->bias;
  NoteModule(lm->path, lm->build_id);
  if (m == nullptr) {  // the file is gone or changed: module + offset only
    frames.push_back(base);
    return frames;
  }
  const std::string symbol = SymbolName(SymbolAt(m, pc));
  if (!options_.libc_lines && IsGlibcModule(base.module)) {
    base.function = symbol;  // the name only: no DWARF is loaded (see Options)
    frames.push_back(base);
    return frames;
  }
  std::vector<SourceFrame> source;
  if (!impl_->dwarf.Lookup(m, pc, &source) || source.empty()) {
    // No DWARF: a Go binary built with -ldflags=-w still has its pclntab.
    base.function = symbol;
    if (const GoPclntab* go = GoTable(m)) {
      go->Lookup(base.offset, &base.function, &base.file, &base.line);
      if (base.function.empty()) base.function = symbol;
    }
    frames.push_back(base);
    return frames;
  }
  for (size_t i = 0; i < source.size(); ++i) {
    Frame f = base;
    f.function = std::move(source[i].function);
    f.file = std::move(source[i].file);
    f.line = source[i].line;
    f.inlined = i + 1 < source.size();
    if (!f.inlined && f.function.empty()) f.function = symbol;  // assembly: lines but no function DIE
    frames.push_back(std::move(f));
  }
  return frames;
}

// libdwfl's name for the symbol containing addr (dwfl_module_addrname),
// from a sorted index of the module's symbols (symbol_index.h).
const char* Symbolizer::SymbolAt(::Dwfl_Module* m, uintptr_t addr) {
  auto [it, inserted] = impl_->symbols.try_emplace(m);
  if (inserted) it->second = std::make_unique<SymbolIndex>(m);
  const char* name = nullptr;
  switch (it->second->Lookup(addr, &name)) {
    case SymbolIndex::Result::kFound:
      return name;
    case SymbolIndex::Result::kNone:
      return nullptr;
    case SymbolIndex::Result::kAskLibdwfl:
      break;
  }
  return dwfl_module_addrname(m, addr);
}

const GoPclntab* Symbolizer::GoTable(::Dwfl_Module* m) {
  auto [it, inserted] = impl_->go_tables.try_emplace(m);
  if (inserted) LoadGoTable(m, &it->second);
  return it->second.get();
}

std::string Symbolizer::FunctionAt(uintptr_t addr) {
  if (addr == 0) return {};
  const LoadedModule* lm = ModuleOf(addr);
  if (lm == nullptr) {
    if (!impl_->perf_map_loaded) Symbolize(addr + 1);  // loads the perf map
    const PerfMap::Entry* e = impl_->perf_map.Find(addr);
    return e != nullptr ? e->name : std::string();
  }
  Dwfl_Module* m = DwflModule(lm);
  return m != nullptr ? SymbolName(SymbolAt(m, addr)) : std::string();
}

std::string Symbolizer::ModuleAt(uintptr_t addr) {
  if (addr == 0) return {};
  const LoadedModule* lm = ModuleOf(addr);
  return lm != nullptr ? lm->path : std::string();
}

std::vector<Frame> SymbolizeStack(const StackRecord* stack, Symbolizer& symbolizer) {
  std::vector<Frame> out;
  if (stack == nullptr) return out;
  stack->ForEachFrame([&](uintptr_t address) {
    const std::vector<Frame>& frames = symbolizer.Symbolize(address);
    out.insert(out.end(), frames.begin(), frames.end());
  });
  size_t skip = 0;
  while (skip + 1 < out.size() && (absl::StartsWith(out[skip].function, "operator new") ||
                                   absl::StartsWith(out[skip].function, "operator new[]"))) {
    ++skip;
  }
  out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(skip));
  return out;
}

}  // namespace memtrace
