// The ELF symbol that contains an address, as libdwfl's
// dwfl_module_addrname names it, in O(log n) instead of a pass over the
// whole symbol table per address.
//
// Why: elfutils looks an address up by reading every symbol of the module
// (dwfl_module_addrsym keeps no sorted index). A report of `import torch`
// names a few thousand return addresses in libtorch_cpu.so (35,000 dynamic
// symbols): 1.6 s of its final report went there.
//
// The answer must stay libdwfl's, symbol for symbol (sites are keyed by
// what the frames read, and elfutils' choice among aliases is what users
// and tests have seen). libdwfl's rule (elfutils 0.158 and later): the
// global part of the table is searched first, the local part only if no
// global symbol with a size contains the address (and no size-less global
// starts exactly at it); within a part, in table order, a symbol with a size
// that contains the address replaces the current choice if it starts closer
// or binds more strongly (GLOBAL > WEAK > LOCAL), or, starting at the same
// address, is smaller and binds at least as strongly. Only when no symbol
// with a size contains the address may a size-less one (an assembly label)
// be named, and only one that starts exactly where the last symbol at or
// below the address ends (libdwfl's "min_label"): where no size-less symbol
// starts there, the answer is "none" -- the common case of a stripped
// binary's static functions, which cost libdwfl a full pass each. In the
// remaining cases the index says so and the caller asks libdwfl.
// symbol_index_test compares the two on thousands of addresses in real
// modules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

struct Dwfl_Module;  // libdwfl

namespace memtrace {

class SymbolIndex {
 public:
  // Reads the module's symbol table (the one libdwfl uses: .symtab of the
  // file or its separate debug file, else .dynsym, and any auxiliary table).
  explicit SymbolIndex(::Dwfl_Module* m);

  enum class Result { kFound, kNone, kAskLibdwfl };
  // The name of the symbol containing `addr` (an address in the process,
  // bias included). kNone: no symbol contains it and libdwfl would name
  // none; kAskLibdwfl: libdwfl's size-less fallback applies.
  Result Lookup(uint64_t addr, const char** name) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    uint64_t start, end;       // [start, end): the symbol's bytes
    int index;                 // in the table: libdwfl's order
    bool global;               // in the part searched first
    unsigned char bind_value;  // libdwfl's order: GLOBAL 3, WEAK 2, LOCAL 1, other 0
    const char* name;          // owned by libelf (valid while the Dwfl lives)
  };
  // Among sized symbols of one part containing addr: libdwfl's choice, or
  // null; *ask set when the index cannot tell.
  const Entry* Choose(uint64_t addr, bool global, bool* ask) const;
  // Where the last symbol at or below addr ends (global ones only, or all).
  uint64_t MinLabel(uint64_t addr, bool global_only) const;

  bool usable_ = false;            // false: every lookup asks libdwfl
  std::vector<Entry> entries_;     // symbols with a size, by start
  std::vector<uint64_t> max_end_;  // max end over entries_[0..i]
  // Every symbol libdwfl considers, by start, with the max end so far over
  // the global ones and over all (size-less ones end where they start).
  struct Bound {
    uint64_t start, global_end, any_end;
  };
  std::vector<Bound> bounds_;
  std::vector<uint64_t> sizeless_;         // starts of size-less symbols, sorted
  std::vector<uint64_t> sizeless_global_;  // the global ones
};

}  // namespace memtrace
