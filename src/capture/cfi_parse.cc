// .eh_frame records read with every access bounded (see cfi_parse.h).
#include "src/capture/cfi_parse.h"

#include <cstring>

namespace memtrace {
namespace {

constexpr int kRegRbp = 6, kRegRsp = 7, kRegRa = 16;

// Wrapping arithmetic: hostile factors must not be undefined behaviour.
inline int64_t Mul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
inline int64_t Neg(int64_t a) { return static_cast<int64_t>(0 - static_cast<uint64_t>(a)); }

// Reads [p, end); any read past `end` sets `bad` and yields 0.
struct Reader {
  uintptr_t p;
  uintptr_t end;
  bool bad = false;
  size_t Left() const { return p < end ? end - p : 0; }
  uint8_t U8() {
    if (p >= end) return bad = true, 0;
    uint8_t v;
    std::memcpy(&v, reinterpret_cast<const void*>(p), 1);
    ++p;
    return v;
  }
  uint64_t Fixed(size_t n) {
    if (Left() < n) return bad = true, 0;
    uint64_t v = 0;
    std::memcpy(&v, reinterpret_cast<const void*>(p), n);
    p += n;
    return v;
  }
  void Skip(uint64_t n) {
    if (Left() < n) {
      bad = true;
      p = end;
      return;
    }
    p += n;
  }
  uint64_t Uleb() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = U8();
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0 || bad) return v;
    }
    bad = true;
    return 0;
  }
  int64_t Sleb() {
    uint64_t v = 0;
    int shift = 0;
    uint8_t b;
    do {
      b = U8();
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      shift += 7;
    } while ((b & 0x80) != 0 && shift < 64 && !bad);
    if (shift < 64 && (b & 0x40) != 0) v |= ~uint64_t{0} << shift;
    return static_cast<int64_t>(v);
  }
  // Skips a pointer in DW_EH_PE encoding `enc` (value not needed).
  void SkipEncoded(uint8_t enc) {
    if (enc == 0xff) return;
    switch (enc & 0x0f) {
      case 0x00: case 0x04: case 0x0c: Fixed(8); break;
      case 0x02: case 0x0a: Fixed(2); break;
      case 0x03: case 0x0b: Fixed(4); break;
      case 0x01: Uleb(); break;
      case 0x09: Sleb(); break;
      default: bad = true;
    }
  }
};

struct RegRule {
  bool saved = false;  // at CFA + off
  bool undefined = false;
  int64_t off = 0;
};

struct State {
  int cfa_reg = kRegRsp;
  int64_t cfa_off = 8;
  RegRule rbp, ra;
};

// Runs CFA instructions [r.p, r.end) until the location passes `target`.
// Returns false on anything unsupported.
bool Execute(Reader& r, State& s, const State& initial, uint64_t code_align, int64_t data_align, uintptr_t& loc,
             uintptr_t target, bool stop_at_target) {
  State stack[8];
  int depth = 0;
  auto set_offset = [&](uint64_t reg, int64_t off) {
    if (reg == kRegRbp) s.rbp = RegRule{true, false, off};
    else if (reg == kRegRa) s.ra = RegRule{true, false, off};
  };
  auto restore = [&](uint64_t reg) {
    if (reg == kRegRbp) s.rbp = initial.rbp;
    else if (reg == kRegRa) s.ra = initial.ra;
  };
  while (r.p < r.end && !r.bad) {
    uint8_t op = r.U8();
    uint64_t delta = 0;
    switch (op & 0xc0) {
      case 0x40:
        delta = (op & 0x3f) * code_align;
        break;
      case 0x80:
        set_offset(op & 0x3f, Mul(static_cast<int64_t>(r.Uleb()), data_align));
        continue;
      case 0xc0:
        restore(op & 0x3f);
        continue;
      default:
        break;
    }
    if ((op & 0xc0) == 0) {
      switch (op) {
        case 0x00: continue;  // nop
        case 0x02: delta = r.U8() * code_align; break;
        case 0x03: delta = r.Fixed(2) * code_align; break;
        case 0x04: delta = r.Fixed(4) * code_align; break;
        case 0x05: { uint64_t reg = r.Uleb(); set_offset(reg, Mul(static_cast<int64_t>(r.Uleb()), data_align)); continue; }
        case 0x06: restore(r.Uleb()); continue;
        case 0x07: {  // undefined
          uint64_t reg = r.Uleb();
          if (reg == kRegRa) s.ra = RegRule{false, true, 0};
          else if (reg == kRegRbp) s.rbp = RegRule{};
          continue;
        }
        case 0x08: {  // same value
          uint64_t reg = r.Uleb();
          if (reg == kRegRbp) s.rbp = RegRule{};
          else if (reg == kRegRa) return false;
          continue;
        }
        case 0x09: {  // register
          uint64_t reg = r.Uleb();
          r.Uleb();
          if (reg == kRegRbp || reg == kRegRa) return false;
          continue;
        }
        case 0x0a:
          if (depth == 8) return false;
          stack[depth++] = s;
          continue;
        case 0x0b:  // restore_state: DWARF restores the whole row
          if (depth == 0) return false;
          s = stack[--depth];
          continue;
        case 0x0c: s.cfa_reg = static_cast<int>(r.Uleb() & 0xffff); s.cfa_off = static_cast<int64_t>(r.Uleb()); continue;
        case 0x0d: s.cfa_reg = static_cast<int>(r.Uleb() & 0xffff); continue;
        case 0x0e: s.cfa_off = static_cast<int64_t>(r.Uleb()); continue;
        case 0x10: case 0x16: {  // expression / val_expression
          uint64_t reg = r.Uleb();
          uint64_t len = r.Uleb();
          if (reg == kRegRbp || reg == kRegRa) return false;
          r.Skip(len);
          continue;
        }
        case 0x11: { uint64_t reg = r.Uleb(); set_offset(reg, Mul(r.Sleb(), data_align)); continue; }
        case 0x12: s.cfa_reg = static_cast<int>(r.Uleb() & 0xffff); s.cfa_off = Mul(r.Sleb(), data_align); continue;
        case 0x13: s.cfa_off = Mul(r.Sleb(), data_align); continue;
        case 0x14: case 0x15: {  // val_offset(_sf)
          uint64_t reg = r.Uleb();
          if (op == 0x14) r.Uleb();
          else r.Sleb();
          if (reg == kRegRbp || reg == kRegRa) return false;
          continue;
        }
        case 0x2e: r.Uleb(); continue;  // GNU_args_size
        case 0x2f: { uint64_t reg = r.Uleb(); set_offset(reg, Mul(Neg(static_cast<int64_t>(r.Uleb())), data_align)); continue; }
        default:
          return false;  // set_loc, def_cfa_expression, vendor ops
      }
    }
    loc += delta;
    if (stop_at_target && loc > target) return true;
  }
  return !r.bad;
}

// A record's extent: its 4-byte length must be neither 0 (terminator) nor
// 0xffffffff (64-bit DWARF, not in .eh_frame of x86-64 code we evaluate),
// and the record must end inside [lo, hi).
bool Record(uintptr_t at, uintptr_t lo, uintptr_t hi, uintptr_t* end) {
  if (at < lo || at > hi || hi - at < 8) return false;
  uint32_t len;
  std::memcpy(&len, reinterpret_cast<const void*>(at), 4);
  if (len == 0 || len == 0xffffffff || len < 4 || len > hi - at - 4) return false;
  *end = at + 4 + len;
  return true;
}

}  // namespace

CfiRule ComputeCfiRule(uintptr_t lo, uintptr_t hi, uintptr_t fde, uintptr_t func, uintptr_t pc) noexcept {
  CfiRule rule;
  uintptr_t fde_end = 0, cie_end = 0;
  if (!Record(fde, lo, hi, &fde_end)) return rule;
  uint32_t cie_off;
  std::memcpy(&cie_off, reinterpret_cast<const void*>(fde + 4), 4);
  // In .eh_frame an FDE's CIE pointer is the distance back from itself (0
  // would make it a CIE).
  if (cie_off == 0 || cie_off > fde + 4 - lo) return rule;
  const uintptr_t cie = fde + 4 - cie_off;
  if (!Record(cie, lo, hi, &cie_end)) return rule;
  uint32_t cie_id;
  std::memcpy(&cie_id, reinterpret_cast<const void*>(cie + 4), 4);
  if (cie_id != 0) return rule;
  Reader c{cie + 8, cie_end};
  uint8_t version = c.U8();
  // The augmentation string, NUL-terminated inside the CIE.
  const char* aug = reinterpret_cast<const char*>(c.p);
  size_t aug_len = 0;
  while (aug_len < c.Left() && aug[aug_len] != '\0') ++aug_len;
  if (aug_len == c.Left()) return rule;
  c.Skip(aug_len + 1);
  for (size_t i = 0; i + 1 < aug_len; ++i) {
    if (aug[i] == 'e' && aug[i + 1] == 'h') {  // GCC's old "eh" data pointer
      c.Fixed(8);
      break;
    }
  }
  uint64_t code_align = c.Uleb();
  int64_t data_align = c.Sleb();
  if (version == 1) c.U8();
  else c.Uleb();
  uint8_t fde_enc = 0;
  if (aug_len > 0 && aug[0] == 'z') {
    uint64_t len = c.Uleb();
    if (c.bad || len > c.Left()) return rule;
    const uintptr_t after = c.p + len;
    for (size_t i = 1; i < aug_len; ++i) {
      char a = aug[i];
      if (a == 'R') fde_enc = c.U8();
      else if (a == 'P') c.SkipEncoded(c.U8());
      else if (a == 'L') c.U8();
      else if (a == 'S') return rule;  // a signal frame: the caller's context is not a call
      else break;
    }
    if (c.bad) return rule;
    c.p = after;
  } else if (aug_len != 0) {
    return rule;
  }
  if (c.bad) return rule;
  State initial;
  uintptr_t loc = 0;
  if (!Execute(c, initial, initial, code_align, data_align, loc, 0, false)) return rule;
  Reader f{fde + 8, fde_end};
  f.SkipEncoded(fde_enc);         // pc_begin: `func` has it
  f.SkipEncoded(fde_enc & 0x0f);  // pc_range
  if (aug_len > 0 && aug[0] == 'z') f.Skip(f.Uleb());
  if (f.bad) return rule;
  State s = initial;
  loc = func;
  if (!Execute(f, s, initial, code_align, data_align, loc, pc, true)) return rule;
  if (s.ra.undefined) {
    rule.ok = rule.end = true;
    return rule;
  }
  if (!s.ra.saved || s.ra.off != -8 || (s.cfa_reg != kRegRsp && s.cfa_reg != kRegRbp)) return rule;
  rule.ok = true;
  rule.cfa_rbp = s.cfa_reg == kRegRbp;
  rule.cfa_off = s.cfa_off;
  rule.rbp_off = s.rbp.saved ? s.rbp.off : 0;
  return rule;
}

uint64_t PackCfiRule(const CfiRule& rule, bool* packable) noexcept {
  *packable = rule.cfa_off >= 0 && rule.cfa_off < (int64_t{1} << 32) && rule.rbp_off > -(1 << 23) &&
              rule.rbp_off < (1 << 23);
  if (!*packable) return uint64_t{1} << 63;  // present, not ok
  return (uint64_t{1} << 63) | (uint64_t{rule.ok} << 62) | (uint64_t{rule.end} << 61) |
         (uint64_t{rule.cfa_rbp} << 60) | (uint64_t{rule.no_fde} << 59) |
         (static_cast<uint64_t>(rule.rbp_off + (1 << 23)) << 32) | static_cast<uint64_t>(rule.cfa_off);
}

CfiRule UnpackCfiRule(uint64_t v) noexcept {
  CfiRule r;
  r.ok = (v >> 62) & 1;
  r.end = (v >> 61) & 1;
  r.cfa_rbp = (v >> 60) & 1;
  r.no_fde = (v >> 59) & 1;
  r.rbp_off = static_cast<int64_t>((v >> 32) & 0xffffff) - (1 << 23);
  r.cfa_off = static_cast<int64_t>(v & 0xffffffff);
  return r;
}

}  // namespace memtrace
