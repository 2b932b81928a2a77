// Reading .gopclntab (see go_pclntab.h). The layout is runtime/symtab.go's:
// a pcHeader, the function table (pairs of entry offset and _func offset),
// the _func records, and varint-coded pc->value tables for file and line.
#include "src/report/go_pclntab.h"

#include <cstring>

namespace memtrace {
namespace {

uint64_t U64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
uint32_t U32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

}  // namespace

bool GoPclntab::Init(const uint8_t* data, uint64_t size) {
  if (size < 72) return false;
  uint32_t magic = U32(data);
  if ((magic != 0xfffffff0 && magic != 0xfffffff1) || data[4] != 0 || data[5] != 0 || data[7] != 8) return false;
  data_ = data;
  size_ = size;
  min_lc_ = data[6] != 0 ? data[6] : 1;
  nfunc_ = U64(data + 8);
  text_start_ = U64(data + 24);
  funcname_ = U64(data + 32);
  cutab_ = U64(data + 40);
  filetab_ = U64(data + 48);
  pctab_ = U64(data + 56);
  pcln_ = U64(data + 64);
  if (funcname_ >= size || cutab_ >= size || filetab_ >= size || pctab_ >= size || pcln_ >= size ||
      nfunc_ > (size - pcln_) / 8) {
    data_ = nullptr;
    return false;
  }
  return true;
}

const char* GoPclntab::String(uint64_t off) const {
  if (off >= size_ || memchr(data_ + off, 0, size_ - off) == nullptr) return nullptr;
  return reinterpret_cast<const char*>(data_ + off);
}

// runtime.pcvalue: the value of the table at `table_off` for `target`.
bool GoPclntab::Value(uint32_t table_off, uint64_t entry, uint64_t target, int32_t* out) const {
  uint64_t p = pctab_ + table_off;
  if (table_off == 0 || p >= size_) return false;
  auto varint = [this, &p](uint32_t* v) {
    uint32_t r = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      if (p >= size_) return false;
      uint8_t b = data_[p++];
      r |= static_cast<uint32_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = r;
        return true;
      }
    }
    return false;
  };
  int32_t val = -1;
  uint64_t pc = entry;
  for (bool first = true;; first = false) {
    uint32_t uvdelta = 0, pcdelta = 0;
    if (!varint(&uvdelta)) return false;
    if (uvdelta == 0 && !first) return false;  // the end: target is past the function
    val += static_cast<int32_t>(-(uvdelta & 1) ^ (uvdelta >> 1));
    if (!varint(&pcdelta)) return false;
    pc += uint64_t{pcdelta} * min_lc_;
    if (target < pc) {
      *out = val;
      return true;
    }
  }
}

bool GoPclntab::Lookup(uint64_t pc, std::string* function, std::string* file, int* line) const {
  if (data_ == nullptr || pc < text_start_ || nfunc_ == 0) return false;
  const uint64_t off = pc - text_start_;
  const uint8_t* ftab = data_ + pcln_;  // nfunc + 1 pairs {entryoff, funcoff}
  if ((nfunc_ + 1) * 8 > size_ - pcln_) return false;
  if (off >= U32(ftab + nfunc_ * 8)) return false;  // past the last function's end
  uint64_t lo = 0, hi = nfunc_;
  while (hi - lo > 1) {
    uint64_t mid = (lo + hi) / 2;
    if (U32(ftab + mid * 8) <= off) lo = mid;
    else hi = mid;
  }
  if (U32(ftab + lo * 8) > off) return false;
  uint64_t f = pcln_ + U32(ftab + lo * 8 + 4);
  if (f + 36 > size_) return false;
  const uint8_t* fn = data_ + f;
  uint64_t entry = text_start_ + U32(fn);
  const char* name = String(funcname_ + U32(fn + 4));
  if (name == nullptr) return false;
  *function = name;
  file->clear();
  *line = 0;
  int32_t fileno = 0, ln = 0;
  uint32_t cu = U32(fn + 32);
  if (Value(U32(fn + 20), entry, pc, &fileno) && fileno >= 0) {
    uint64_t at = cutab_ + (uint64_t{cu} + static_cast<uint32_t>(fileno)) * 4;
    if (at + 4 <= size_) {
      if (const char* path = String(filetab_ + U32(data_ + at))) *file = path;
    }
  }
  if (Value(U32(fn + 24), entry, pc, &ln) && ln > 0) *line = ln;
  return true;
}

}  // namespace memtrace
