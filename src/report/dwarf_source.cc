// Inline chains and lines from DWARF (see dwarf_source.h).
#include "src/report/dwarf_source.h"

#include <dwarf.h>
#include <elfutils/libdw.h>

#include <algorithm>

#include "src/report/symbolizer.h"

namespace memtrace {
namespace {

// Tags that hold code (and so can hold the scopes of an address).
bool IsCodeScope(int tag) {
  return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine || tag == DW_TAG_lexical_block ||
         tag == DW_TAG_try_block || tag == DW_TAG_catch_block || tag == DW_TAG_entry_point;
}

// Tags without addresses that may hold function definitions: C++ and Rust
// put namespace-scope functions inside their namespace DIE. Types are not
// searched: member functions are defined at unit level (DW_AT_specification).
bool IsContainer(int tag) { return tag == DW_TAG_namespace || tag == DW_TAG_module; }

// Appends to `chain` the subprogram and inlined-subroutine DIEs under
// `parent` that contain `addr`, outermost first.
bool CollectScopes(Dwarf_Die* parent, Dwarf_Addr addr, std::vector<Dwarf_Die>* chain, int depth) {
  if (depth > 64) return false;  // malformed nesting
  Dwarf_Die child;
  if (dwarf_child(parent, &child) != 0) return false;
  do {
    int tag = dwarf_tag(&child);
    if (IsCodeScope(tag)) {
      if (dwarf_haspc(&child, addr) <= 0) continue;
      if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) chain->push_back(child);
      CollectScopes(&child, addr, chain, depth + 1);
      return true;
    }
    if (IsContainer(tag) && CollectScopes(&child, addr, chain, depth + 1)) return true;
  } while (dwarf_siblingof(&child, &child) == 0);
  return false;
}

}  // namespace

std::string DieName(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name, DW_AT_name}) {
    if (dwarf_attr_integrate(die, at, &attr) != nullptr) {
      if (const char* s = dwarf_formstring(&attr)) return at == DW_AT_name ? std::string(s) : Demangle(s);
    }
  }
  return {};
}

bool DwarfSource::FindCu(Dwfl_Module* m, Dwarf_Addr pc, Dwarf_Die* cu, Dwarf_Addr* bias) {
  if (Dwarf_Die* d = dwfl_module_addrdie(m, pc, bias); d != nullptr && dwarf_haspc(d, pc - *bias) > 0) {
    *cu = *d;
    return true;
  }
  // .debug_aranges is missing or incomplete: index every unit's ranges, once.
  CuIndex& index = cu_index_[m];
  if (!index.built) {
    index.built = true;
    Dwarf_Addr b = 0;
    Dwarf_Die* c = nullptr;
    while ((c = dwfl_module_nextcu(m, c, &b)) != nullptr) {
      index.bias = b;
      Dwarf_Addr base = 0, lo = 0, hi = 0;
      ptrdiff_t off = 0;
      while ((off = dwarf_ranges(c, off, &base, &lo, &hi)) > 0) {
        if (hi > lo) index.ranges.push_back(CuRange{lo, hi, *c});
      }
    }
    std::sort(index.ranges.begin(), index.ranges.end(),
              [](const CuRange& a, const CuRange& b) { return a.lo < b.lo; });
  }
  Dwarf_Addr addr = pc - index.bias;
  auto it = std::upper_bound(index.ranges.begin(), index.ranges.end(), addr,
                             [](Dwarf_Addr a, const CuRange& r) { return a < r.lo; });
  // Ranges of different units do not overlap in a sane binary; look back a little in case they do.
  for (int i = 0; i < 8 && it != index.ranges.begin(); ++i) {
    --it;
    if (addr < it->hi) {
      *cu = it->cu;
      *bias = index.bias;
      return true;
    }
  }
  return false;
}

bool DwarfSource::Lookup(Dwfl_Module* m, Dwarf_Addr pc, std::vector<SourceFrame>* out) {
  Dwarf_Die cu;
  Dwarf_Addr bias = 0;
  if (!FindCu(m, pc, &cu, &bias)) return false;
  const Dwarf_Addr addr = pc - bias;

  // Innermost source location: the line table.
  std::string file;
  int line = 0;
  if (Dwarf_Line* l = dwarf_getsrc_die(&cu, addr)) {
    if (const char* f = dwarf_linesrc(l, nullptr, nullptr)) file = f;
    dwarf_lineno(l, &line);
  }

  std::vector<Dwarf_Die> chain;  // outermost (the subprogram) first
  CollectScopes(&cu, addr, &chain, 0);
  // The physical function is the innermost subprogram (GNU C nested
  // functions nest one in another); scopes outside it are not frames.
  size_t first = 0;
  for (size_t i = 0; i < chain.size(); ++i) {
    if (dwarf_tag(&chain[i]) == DW_TAG_subprogram) first = i;
  }

  Dwarf_Files* files = nullptr;
  size_t nfiles = 0;
  bool have_files = dwarf_getsrcfiles(&cu, &files, &nfiles) == 0;
  for (size_t i = chain.size(); i-- > first;) {
    Dwarf_Die* die = &chain[i];
    SourceFrame f{DieName(die), file, line};
    out->push_back(std::move(f));
    if (dwarf_tag(die) != DW_TAG_inlined_subroutine) break;
    // The next frame out is where this one was inlined.
    Dwarf_Attribute attr;
    Dwarf_Word value = 0;
    file.clear();
    line = 0;
    if (dwarf_attr(die, DW_AT_call_file, &attr) != nullptr && dwarf_formudata(&attr, &value) == 0 && have_files &&
        value < nfiles) {
      if (const char* name = dwarf_filesrc(files, value, nullptr, nullptr)) file = name;
    }
    if (dwarf_attr(die, DW_AT_call_line, &attr) != nullptr && dwarf_formudata(&attr, &value) == 0) {
      line = static_cast<int>(value);
    }
  }
  if (chain.empty()) out->push_back(SourceFrame{{}, file, line});  // lines but no function DIE (assembly)
  return true;
}

}  // namespace memtrace
