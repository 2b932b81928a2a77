// Leak suppressions in LeakSanitizer's syntax, for leaks the user cannot fix
// (a third-party library's) and for runtime bookkeeping that is unreachable by
// design (the built-in list, off with MEMTRACE_DEFAULT_SUPPRESSIONS=0).
//
//   # comment
//   leak:libfoo.so          a module, a function or a source file
//   leak:^BarCache::Fill$   anchored at both ends
//   leak:*/third_party/*    `*` matches any run of characters
//
// A block is suppressed when a pattern matches the function, the source file
// or the module of any frame of its allocation stack (the innermost frame
// first; the first pattern in file order that matches wins). Suppressed
// bytes are not dropped: they are counted apart, per pattern, as LSan's
// "Suppressions used" and memcheck's "suppressed" are.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "src/scan/scan_types.h"

namespace memtrace::scan {

// One frame of an allocation stack, symbolized (empty strings when unknown).
struct SymbolizedFrame {
  std::string function;  // demangled
  std::string file;      // source file path
  std::string module;    // path of the ELF object
};

struct Suppression {
  std::string pattern;  // without the "leak:" prefix
  std::string origin;   // "FILE:LINE", or "built-in"
  KindTotals matched;   // what it suppressed
};

// LSan's template match: `*` is any run of characters; a leading `^` and a
// trailing `$` anchor the ends; otherwise the pattern may match anywhere.
bool TemplateMatch(std::string_view pattern, std::string_view text);

class Suppressions {
 public:
  // The built-in list (docs/leak-kinds.md says why each is there).
  static const std::vector<std::string>& BuiltIn();
  void AddBuiltIn();
  // Adds the lines of a suppressions file. Lines that are neither blank, a
  // comment nor "leak:PATTERN" are skipped, one error line each (a
  // LeakSanitizer file may hold other tools' types: "race:", "thread:").
  void Parse(std::string_view text, const std::string& origin, std::vector<std::string>* errors);
  // Reads `path`; false (and one error line) when it cannot be read.
  bool LoadFile(const std::string& path, std::vector<std::string>* errors);

  // The index of the first suppression matching any of `frames`, or -1.
  int Match(std::span<const SymbolizedFrame> frames) const;
  // Counts a suppressed block against suppression `index`.
  void Count(int index, uint64_t bytes) {
    suppressions_[index].matched.bytes += bytes;
    ++suppressions_[index].matched.blocks;
  }
  const std::vector<Suppression>& list() const { return suppressions_; }
  bool empty() const { return suppressions_.empty(); }

 private:
  std::vector<Suppression> suppressions_;
};

}  // namespace memtrace::scan
