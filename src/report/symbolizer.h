// Turns return addresses into frames: demangled function, file:line and the
// chain of inlined calls where DWARF exists (libdw; the same frames and lines
// as binutils' addr2line -f -i -C), otherwise the ELF symbol, a perf map
// entry (JIT code) or just module + offset. Each module is named with its
// path and build-id so a report can be symbolized again elsewhere.
//
// It never asks the calling process about itself: it symbolizes a process
// given by pid (its /proc/PID/maps), or a module list saved while a process
// lived (module_map.h), so it can run in a watcher process, also after the
// traced program is gone. Results are cached per address.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "src/report/module_map.h"

struct Dwfl_Module;  // libdwfl

namespace memtrace {

class GoPclntab;

struct Frame {
  std::string function;  // demangled; empty when unknown
  std::string file;      // empty when unknown
  int line = 0;          // 0 when unknown
  std::string module;    // path of the ELF object
  uint64_t offset = 0;   // address of the call instruction in the module's ELF address space (addr2line -e module)
  bool inlined = false;  // an inlined call inside the next frame
};

struct ModuleInfo {
  std::string path;
  std::string build_id;  // hex; empty when the module has none
};

class Symbolizer {
 public:
  struct Options {
    // Source lines (and inlined frames) for glibc's own modules (libc, the
    // dynamic loader, libm, ...). Their DWARF lives in libc6-dbg, compressed:
    // inflating it costs ~60 ms a report, for lines of libc internals. Off,
    // those frames still get their function names, from its symbol table.
    bool libc_lines = true;
  };
  // The modules of live process `pid` (read now from /proc/PID/maps), and its
  // perf map. If the maps cannot be read, every frame is "[unknown]".
  static std::unique_ptr<Symbolizer> ForProcess(int pid, Options options);
  // A process that may be gone: the modules saved while it lived. `pid` only
  // names its perf map (/tmp/perf-PID.map) and, while it lives, reaches files
  // deleted since they were mapped; 0: neither.
  Symbolizer(std::vector<LoadedModule> modules, Options options, int pid = 0);
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // Frames for one return address, innermost (inlined) call first. The
  // reference is valid until the next call (the cache may grow).
  const std::vector<Frame>& Symbolize(uintptr_t return_address);
  // The function that starts exactly at (or contains) `addr`, e.g. a thread's
  // start routine; empty when unknown.
  std::string FunctionAt(uintptr_t addr);
  // The path of the module holding `addr`; empty when unknown.
  std::string ModuleAt(uintptr_t addr);
  // Every module that Symbolize has named, in first-use order.
  const std::vector<ModuleInfo>& modules() const { return modules_; }
  // The modules this symbolizer knows (what a watcher saves).
  const std::vector<LoadedModule>& loaded_modules() const { return loaded_; }

 private:
  struct Impl;
  const LoadedModule* ModuleOf(uintptr_t addr) const;
  ::Dwfl_Module* DwflModule(const LoadedModule* lm);  // null: no usable file
  const GoPclntab* GoTable(::Dwfl_Module* m);  // null: not a Go module
  const char* SymbolAt(::Dwfl_Module* m, uintptr_t addr);  // the ELF symbol's raw name; null: none
  void NoteModule(const std::string& path, const std::string& build_id);

  Options options_;
  int pid_ = 0;
  std::vector<LoadedModule> loaded_;  // sorted by start
  std::unique_ptr<Impl> impl_;
  absl::flat_hash_map<uintptr_t, std::vector<Frame>> cache_;
  std::vector<ModuleInfo> modules_;
  absl::flat_hash_map<std::string, size_t> module_index_;
};

// Demangles a C++ symbol; returns the input when it is not mangled.
std::string Demangle(const char* name);

struct StackRecord;
// The frames of an allocation site, outermost last, with inlined calls
// expanded. Leading frames of the C++ allocation functions (operator new and
// new[]) are dropped so frame 0 is the code that asked for memory.
std::vector<Frame> SymbolizeStack(const StackRecord* stack, Symbolizer& symbolizer);

// glibc's own modules (libc, the dynamic loader, libm, libpthread, ...), whose
// separate debug info is libc6-dbg; by path or file name.
bool IsGlibcModule(const std::string& path);

}  // namespace memtrace
