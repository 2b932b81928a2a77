// Go's own symbol table (.gopclntab), for Go binaries without DWARF
// (go build -ldflags=-w): function names and file:line for any code address,
// as the Go runtime itself reads them for tracebacks. Layouts of Go 1.18 and
// 1.19 (header magic 0xfffffff0) and 1.20+ (0xfffffff1); anything else is
// refused. Physical frames only: the inline tree (FUNCDATA_InlTree) is not
// read, so inlined Go calls are not expanded from it.
#pragma once

#include <cstdint>
#include <string>

namespace memtrace {

class GoPclntab {
 public:
  // `data` is the section's bytes, valid as long as this object is used.
  bool Init(const uint8_t* data, uint64_t size);
  // For `pc` (an ELF virtual address inside the module): the function
  // holding it, and the file and line of the instruction. False if no Go
  // function holds pc.
  bool Lookup(uint64_t pc, std::string* function, std::string* file, int* line) const;

 private:
  bool Value(uint32_t table_off, uint64_t entry, uint64_t target, int32_t* out) const;
  const char* String(uint64_t off) const;

  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  uint64_t nfunc_ = 0, text_start_ = 0;
  uint64_t funcname_ = 0, cutab_ = 0, filetab_ = 0, pctab_ = 0, pcln_ = 0;
  uint8_t min_lc_ = 1;
};

}  // namespace memtrace
