// Source locations from DWARF, the way binutils' addr2line -f -i gives them:
// for one code address, every inlined scope from the innermost outwards, then
// the function that physically holds the code, each with its function name,
// file and line. The innermost line comes from the line table; each outer
// scope's line is the call site (DW_AT_call_file/line) of the scope inside it.
//
// Why not dwarf_getscopes: after the first inlined instance it continues
// through that function's abstract definition, not through the scopes that
// hold the call, so every frame above the innermost inline was lost and the
// physical frame got the innermost line. And why our own CU lookup: libdw
// trusts .debug_aranges, which Go's linker writes only for the C objects of a
// cgo program, so every Go address landed in the last C unit's line table.
#pragma once

#include <elfutils/libdwfl.h>

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace memtrace {

struct SourceFrame {
  std::string function;  // demangled; empty when DWARF names none
  std::string file;
  int line = 0;
};

class DwarfSource {
 public:
  // Appends the frames for `pc` (a runtime address inside `m`), innermost
  // first; the last one is the physical function (its name may be empty:
  // the caller then uses the symbol table). False when no DWARF describes pc.
  bool Lookup(Dwfl_Module* m, Dwarf_Addr pc, std::vector<SourceFrame>* out);

 private:
  struct CuRange {
    Dwarf_Addr lo, hi;  // module-relative (DWARF) addresses
    Dwarf_Die cu;
  };
  struct CuIndex {
    bool built = false;
    Dwarf_Addr bias = 0;
    std::vector<CuRange> ranges;  // sorted by lo
  };
  bool FindCu(Dwfl_Module* m, Dwarf_Addr pc, Dwarf_Die* cu, Dwarf_Addr* bias);

  absl::flat_hash_map<Dwfl_Module*, CuIndex> cu_index_;  // built when .debug_aranges misses
};

// The name of a subprogram or inlined-subroutine DIE, following
// DW_AT_abstract_origin/DW_AT_specification; the linkage name is preferred
// (demangled, it is the qualified signature addr2line -C prints).
std::string DieName(Dwarf_Die* die);

}  // namespace memtrace
