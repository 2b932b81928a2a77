// The sorted symbol index (see symbol_index.h).
#include "src/report/symbol_index.h"

#include <elfutils/libdwfl.h>
#include <gelf.h>

#include <algorithm>

namespace memtrace {
namespace {

// libdwfl's preference among bindings, higher is better.
unsigned char BindingValue(int bind) {
  switch (bind) {
    case STB_GLOBAL:
      return 3;
    case STB_WEAK:
      return 2;
    case STB_LOCAL:
      return 1;
    default:
      return 0;
  }
}

}  // namespace

SymbolIndex::SymbolIndex(::Dwfl_Module* m) {
  int count = dwfl_module_getsymtab(m);
  int first_global = dwfl_module_getsymtab_first_global(m);
  if (count <= 0 || first_global < 0) return;
  for (int i = 1; i < count; ++i) {
    GElf_Sym sym;
    GElf_Addr addr = 0;
    GElf_Word shndx = SHN_UNDEF;
    Elf* elf = nullptr;
    Dwarf_Addr bias = 0;
    const char* name = dwfl_module_getsym_info(m, i, &sym, &addr, &shndx, &elf, &bias);
    // The symbols libdwfl considers at all.
    if (name == nullptr || name[0] == '\0' || sym.st_shndx == SHN_UNDEF) continue;
    int type = GELF_ST_TYPE(sym.st_info);
    if (type == STT_SECTION || type == STT_FILE || type == STT_TLS) continue;
    // A table of dynamic symbols only (found through the program headers)
    // has first_global 0: libdwfl searches it whole as the global part.
    bool global = first_global == 0 || i >= first_global;
    bounds_.push_back(Bound{addr, global ? addr + sym.st_size : 0, addr + sym.st_size});
    if (sym.st_size == 0) {
      sizeless_.push_back(addr);
      if (global) sizeless_global_.push_back(addr);
      continue;
    }
    entries_.push_back(Entry{addr, addr + sym.st_size, i, global, BindingValue(GELF_ST_BIND(sym.st_info)), name});
  }
  std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    return a.start != b.start ? a.start < b.start : a.index < b.index;
  });
  max_end_.resize(entries_.size());
  uint64_t max_end = 0;
  for (size_t i = 0; i < entries_.size(); ++i) max_end_[i] = max_end = std::max(max_end, entries_[i].end);
  std::sort(bounds_.begin(), bounds_.end(), [](const Bound& a, const Bound& b) { return a.start < b.start; });
  uint64_t global_end = 0, any_end = 0;
  for (Bound& b : bounds_) {
    b.global_end = global_end = std::max(global_end, b.global_end);
    b.any_end = any_end = std::max(any_end, b.any_end);
  }
  std::sort(sizeless_.begin(), sizeless_.end());
  std::sort(sizeless_global_.begin(), sizeless_global_.end());
  usable_ = true;
}

const SymbolIndex::Entry* SymbolIndex::Choose(uint64_t addr, bool global, bool* ask) const {
  // Every entry that contains addr starts at or below it, after the last
  // position whose running max end is at or below addr.
  size_t hi = static_cast<size_t>(
      std::upper_bound(entries_.begin(), entries_.end(), addr, [](uint64_t a, const Entry& e) { return a < e.start; }) -
      entries_.begin());
  // Candidates, in libdwfl's (table) order.
  const Entry* found[64];
  size_t n = 0;
  size_t scanned = 0;
  for (size_t i = hi; i-- > 0 && max_end_[i] > addr;) {
    const Entry& e = entries_[i];
    // Pathological nesting (or one huge symbol far below): libdwfl answers.
    if (++scanned > 4096) {
      *ask = true;
      return nullptr;
    }
    if (e.global != global || addr >= e.end) continue;
    if (n == std::size(found)) {
      *ask = true;
      return nullptr;
    }
    found[n++] = &e;
  }
  if (n == 0) return nullptr;
  std::sort(found, found + n, [](const Entry* a, const Entry* b) { return a->index < b->index; });
  // libdwfl's try_sym_value, for symbols with a size: a candidate wins if
  // it starts closer or binds more strongly; at the same start, a smaller
  // one that binds at least as strongly; else the first found stays.
  const Entry* best = nullptr;
  for (size_t i = 0; i < n; ++i) {
    const Entry* e = found[i];
    if (best == nullptr || best->start < e->start || best->bind_value < e->bind_value) {
      best = e;
    } else if (best->start == e->start && best->end - best->start > e->end - e->start &&
               best->bind_value <= e->bind_value) {
      best = e;
    }
  }
  return best;
}

uint64_t SymbolIndex::MinLabel(uint64_t addr, bool global_only) const {
  auto it = std::upper_bound(bounds_.begin(), bounds_.end(), addr, [](uint64_t a, const Bound& b) { return a < b.start; });
  if (it == bounds_.begin()) return 0;
  --it;
  return global_only ? it->global_end : it->any_end;
}

SymbolIndex::Result SymbolIndex::Lookup(uint64_t addr, const char** name) const {
  bool ask = !usable_;
  const Entry* e = ask ? nullptr : Choose(addr, /*global=*/true, &ask);
  if (ask) return Result::kAskLibdwfl;
  if (e != nullptr) {
    *name = e->name;
    return Result::kFound;
  }
  // No global symbol with a size contains addr. libdwfl then searches the
  // local part, unless its best global size-less candidate starts exactly
  // at addr; any size-less global at addr sends the question to it.
  bool locals = !std::binary_search(sizeless_global_.begin(), sizeless_global_.end(), addr);
  if (!locals) return Result::kAskLibdwfl;
  e = Choose(addr, /*global=*/false, &ask);
  if (ask) return Result::kAskLibdwfl;
  if (e != nullptr) {
    *name = e->name;
    return Result::kFound;
  }
  // Nothing with a size: libdwfl names a size-less symbol only if one starts
  // at its final min_label, the end of the last symbol at or below addr (of
  // the parts it searched; the local part may not have been searched if a
  // global label sits exactly at addr, handled above, so both are checked).
  for (bool global_only : {true, false}) {
    uint64_t label = MinLabel(addr, global_only);
    if (label <= addr && std::binary_search(sizeless_.begin(), sizeless_.end(), label)) return Result::kAskLibdwfl;
  }
  return Result::kNone;
}

}  // namespace memtrace
