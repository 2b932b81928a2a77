// Cached DWARF CFI unwinding (see cfi_unwinder.h). Compiled with frame
// pointers so that Capture knows its own frame; everything above it is
// unwound from .eh_frame.
#include "src/capture/cfi_unwinder.h"

#include <dlfcn.h>

#include <cstring>

#include "src/capture/os_memory.h"
#include "src/capture/compiler.h"
#include "src/capture/go_runtime.h"
#include "src/capture/stack_bounds.h"
#include "src/capture/stack_memo.h"

namespace memtrace {
namespace {

constexpr int kRegRbp = 6, kRegRsp = 7, kRegRa = 16;

struct DwarfEhBases {
  void* tbase;
  void* dbase;
  void* func;
};

struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool bad = false;
  uint8_t U8() {
    if (p >= end) return bad = true, 0;
    return *p++;
  }
  uint64_t Fixed(int n) {
    if (end - p < n) return bad = true, 0;
    uint64_t v = 0;
    std::memcpy(&v, p, static_cast<size_t>(n));
    p += n;
    return v;
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
    int64_t v = 0;
    int shift = 0;
    uint8_t b;
    do {
      b = U8();
      v |= static_cast<int64_t>(b & 0x7f) << shift;
      shift += 7;
    } while ((b & 0x80) != 0 && shift < 64 && !bad);
    if (shift < 64 && (b & 0x40) != 0) v |= -(static_cast<int64_t>(1) << shift);
    return v;
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
        set_offset(op & 0x3f, static_cast<int64_t>(r.Uleb()) * data_align);
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
        case 0x05: { uint64_t reg = r.Uleb(); set_offset(reg, static_cast<int64_t>(r.Uleb()) * data_align); continue; }
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
        case 0x0b:
          if (depth == 0) return false;
          {
            // restore_state keeps the CFA rule? No: DWARF restores the whole row.
            s = stack[--depth];
          }
          continue;
        case 0x0c: s.cfa_reg = static_cast<int>(r.Uleb()); s.cfa_off = static_cast<int64_t>(r.Uleb()); continue;
        case 0x0d: s.cfa_reg = static_cast<int>(r.Uleb()); continue;
        case 0x0e: s.cfa_off = static_cast<int64_t>(r.Uleb()); continue;
        case 0x10: case 0x16: {  // expression / val_expression
          uint64_t reg = r.Uleb();
          uint64_t len = r.Uleb();
          if (reg == kRegRbp || reg == kRegRa || static_cast<uint64_t>(r.end - r.p) < len) return false;
          r.p += len;
          continue;
        }
        case 0x11: { uint64_t reg = r.Uleb(); set_offset(reg, r.Sleb() * data_align); continue; }
        case 0x12: s.cfa_reg = static_cast<int>(r.Uleb()); s.cfa_off = r.Sleb() * data_align; continue;
        case 0x13: s.cfa_off = r.Sleb() * data_align; continue;
        case 0x14: case 0x15: {  // val_offset(_sf)
          uint64_t reg = r.Uleb();
          if (op == 0x14) r.Uleb();
          else r.Sleb();
          if (reg == kRegRbp || reg == kRegRa) return false;
          continue;
        }
        case 0x2e: r.Uleb(); continue;  // GNU_args_size
        case 0x2f: { uint64_t reg = r.Uleb(); set_offset(reg, -static_cast<int64_t>(r.Uleb()) * data_align); continue; }
        default:
          return false;  // set_loc, def_cfa_expression, vendor ops
      }
    }
    loc += delta;
    if (stop_at_target && loc > target) return true;
  }
  return !r.bad;
}

uint64_t Pack(const CfiUnwinder::Rule& rule, bool* ok) {
  // bit 63 present, 62 ok, 61 end, 60 cfa_rbp, 59 no_fde; 0..31 cfa_off; 32..55 rbp_off (biased)
  *ok = rule.cfa_off >= 0 && rule.cfa_off < (int64_t{1} << 32) && rule.rbp_off > -(1 << 23) &&
        rule.rbp_off < (1 << 23);
  return (uint64_t{1} << 63) | (uint64_t{rule.ok} << 62) | (uint64_t{rule.end} << 61) |
         (uint64_t{rule.cfa_rbp} << 60) | (uint64_t{rule.no_fde} << 59) | (static_cast<uint64_t>(rule.rbp_off + (1 << 23)) << 32) |
         static_cast<uint64_t>(rule.cfa_off);
}

inline CfiUnwinder::Rule Unpack(uint64_t v) {
  CfiUnwinder::Rule r;
  r.ok = (v >> 62) & 1;
  r.end = (v >> 61) & 1;
  r.cfa_rbp = (v >> 60) & 1;
  r.no_fde = (v >> 59) & 1;
  r.rbp_off = static_cast<int64_t>((v >> 32) & 0xffffff) - (1 << 23);
  r.cfa_off = static_cast<int64_t>(v & 0xffffffff);
  return r;
}

}  // namespace

bool CfiUnwinder::Init() noexcept {
  InitStackBounds();
  InitGoRuntime();
  void* h = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) return false;
  find_fde_ = reinterpret_cast<void* (*)(void*, void*)>(dlsym(h, "_Unwind_Find_FDE"));
  cache_ = static_cast<Entry*>(OsAllocate(sizeof(Entry) << kCacheBits));
  return find_fde_ != nullptr && cache_ != nullptr;
}

CfiUnwinder::Rule CfiUnwinder::Compute(uintptr_t ra) noexcept {
  Rule rule;
  uintptr_t pc = ra - 1;  // inside the call instruction
  DwarfEhBases bases{};
  auto* fde = static_cast<const uint8_t*>(find_fde_(reinterpret_cast<void*>(pc), &bases));
  if (fde == nullptr) {
    rule.no_fde = true;  // no unwind info: frame pointers, or Go's cgo transition (Walk)
    return rule;
  }
  uint32_t fde_len;
  std::memcpy(&fde_len, fde, 4);
  if (fde_len == 0xffffffff) return rule;
  const uint8_t* fde_end = fde + 4 + fde_len;
  int32_t cie_off;
  std::memcpy(&cie_off, fde + 4, 4);
  const uint8_t* cie = fde + 4 - cie_off;
  uint32_t cie_len;
  std::memcpy(&cie_len, cie, 4);
  if (cie_len == 0xffffffff) return rule;
  Reader c{cie + 8, cie + 4 + cie_len};  // after length and id
  uint8_t version = c.U8();
  const char* aug = reinterpret_cast<const char*>(c.p);
  size_t aug_len = strnlen(aug, static_cast<size_t>(c.end - c.p));
  c.p += aug_len + 1;
  if (std::strstr(aug, "eh") != nullptr) c.Fixed(8);
  uint64_t code_align = c.Uleb();
  int64_t data_align = c.Sleb();
  if (version == 1) c.U8();
  else c.Uleb();
  uint8_t fde_enc = 0;
  if (aug[0] == 'z') {
    uint64_t len = c.Uleb();
    const uint8_t* after = c.p + len;
    for (const char* a = aug + 1; *a != '\0'; ++a) {
      if (*a == 'R') fde_enc = c.U8();
      else if (*a == 'P') c.SkipEncoded(c.U8());
      else if (*a == 'L') c.U8();
      else if (*a == 'S') return rule;  // a signal frame: the caller's context is not a call
      else break;
    }
    c.p = after;
  } else if (aug[0] != '\0') {
    return rule;
  }
  if (c.bad) return rule;
  State initial;
  uintptr_t loc = 0;
  if (!Execute(c, initial, initial, code_align, data_align, loc, 0, false)) return rule;
  Reader f{fde + 8, fde_end};
  f.SkipEncoded(fde_enc);          // pc_begin: bases.func has it
  f.SkipEncoded(fde_enc & 0x0f);   // pc_range
  if (aug[0] == 'z') f.p += f.Uleb();
  if (f.bad) return rule;
  State s = initial;
  loc = reinterpret_cast<uintptr_t>(bases.func);
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

uint64_t CfiUnwinder::SlowLookup(uintptr_t ra) noexcept {
  uint32_t h = static_cast<uint32_t>((ra * 0x9e3779b97f4a7c15ull) >> (64 - kCacheBits));
  uint64_t v = 0;
  bool found = false;
  for (uint32_t i = 0; i < 8 && !found; ++i) {
    Entry& e = cache_[(h + i) & ((1u << kCacheBits) - 1)];
    uint64_t key = e.key.load(std::memory_order_acquire);
    if (key == ra) {
      v = e.value.load(std::memory_order_acquire);
      found = v != 0;
      break;
    }
    if (key == 0) {
      bool packable;
      v = Pack(Compute(ra), &packable);
      uint64_t expected = 0;
      if (packable && e.key.compare_exchange_strong(expected, ra, std::memory_order_acq_rel)) {
        e.value.store(v, std::memory_order_release);
      }
      found = packable;
      if (!packable) return Pack(CfiUnwinder::Rule{}, &packable);  // not ok: fall back
      break;
    }
  }
  if (!found) {
    bool packable;
    v = Pack(Compute(ra), &packable);
    if (!packable) return Pack(CfiUnwinder::Rule{}, &packable);
  }
  Entry& hot = hot_[(ra ^ (ra >> 12)) & ((1u << kHotBits) - 1)];
  hot.key.store(0, std::memory_order_release);
  hot.value.store(v, std::memory_order_release);
  hot.key.store(ra, std::memory_order_release);
  return v;
}

inline uint64_t CfiUnwinder::Lookup(uintptr_t ra) noexcept {
  Entry& hot = hot_[(ra ^ (ra >> 12)) & ((1u << kHotBits) - 1)];
  if (hot.key.load(std::memory_order_acquire) == ra) {
    uint64_t v = hot.value.load(std::memory_order_acquire);
    if (hot.key.load(std::memory_order_relaxed) == ra && v != 0) return v;
  }
  return SlowLookup(ra);
}

int CfiUnwinder::Capture(uintptr_t* out, int max) noexcept {
  int n = Walk(reinterpret_cast<uintptr_t>(__builtin_frame_address(0)), out, max);
  asm volatile("" ::: "memory");  // no tail call: our frame must outlive the walk
  return n;
}

int CfiUnwinder::Walk(uintptr_t fp0, uintptr_t* out, int max, StackMemo* memo, uintptr_t hint) noexcept {
  if (cache_ == nullptr) return -1;
  // Never pthread_getattr_np here: see stack_bounds.h.
  const StackRange stack = CurrentStack(fp0);
  const uintptr_t lo = stack.lo, hi = stack.hi;
  if (fp0 < lo || fp0 + 16 > hi) return -1;  // unknown bounds, or e.g. a signal's alternate stack
  if (memo != nullptr) memo->Begin(fp0, hint);
  // Every stack word the result depends on goes to the memo: return
  // addresses always, a restored RBP only once a CFA rule uses it.
  auto read = [memo](uintptr_t at) {
    uint64_t v = *reinterpret_cast<const uintptr_t*>(at);
    if (memo != nullptr) memo->Read(at, v);
    return v;
  };
  auto fail = [this, memo] {
    fallbacks_.fetch_add(1, std::memory_order_relaxed);
    if (memo != nullptr) memo->Abort();
    return -1;
  };
  uintptr_t pc = read(fp0 + 8);
  uintptr_t sp = fp0 + 16;
  uintptr_t fp_at = fp0;  // where fp came from, until recorded
  uintptr_t fp = *reinterpret_cast<const uintptr_t*>(fp_at);
  int n = 0;
  while (n < max && pc != 0) {
    out[n++] = pc;
    Rule r = Unpack(Lookup(pc));
    if (MT_UNLIKELY(!r.ok)) {
      if (!r.no_fde) return fail();  // CFI we do not evaluate: libgcc does
      // Code without unwind tables: Go (cgo programs), JIT compilers.
      const GoRuntime& go = g_go_runtime;
      if (go.enabled && pc == go.cgocall_ra) {
        // Back from C into runtime.asmcgocall: the caller is a goroutine.
        if (memo != nullptr) memo->Abort();  // its words are not on this thread's stack
        return WalkGoroutine(sp, hi, out, n, max);
      }
      if (go.enabled && pc == go.cgocall_ra_nosave) {
        // asmcgocall on the system stack: 40(SP) is its caller's SP.
        if (sp + go.frame_depth + 8 > hi) break;
        uintptr_t caller_sp = read(sp + go.frame_depth);
        if (caller_sp < sp || caller_sp + 8 > hi || (caller_sp & 7) != 0) break;
        pc = read(caller_sp);
        sp = caller_sp + 8;
        continue;
      }
      // Frame pointers: this frame's RBP points at its saved RBP, the return
      // address above it. Every word stays between SP and the stack's top.
      if (fp_at != 0) {
        if (memo != nullptr) memo->Read(fp_at, fp);
        fp_at = 0;
      }
      if (fp < sp || fp + 16 > hi || (fp & 7) != 0) break;  // no frame pointer: stop here
      pc = read(fp + 8);
      sp = fp + 16;
      fp_at = fp;
      fp = *reinterpret_cast<const uintptr_t*>(fp_at);
      if (pc < 4096) break;
      continue;
    }
    if (r.end) break;
    if (r.cfa_rbp && fp_at != 0) {
      if (memo != nullptr) memo->Read(fp_at, fp);
      fp_at = 0;
    }
    uintptr_t cfa = (r.cfa_rbp ? fp : sp) + static_cast<uintptr_t>(r.cfa_off);
    if (cfa <= sp || cfa > hi) return fail();
    if (r.rbp_off != 0) {
      uintptr_t at = cfa + static_cast<uintptr_t>(r.rbp_off);
      if (at < sp || at + 8 > hi) return fail();
      fp = *reinterpret_cast<const uintptr_t*>(at);
      fp_at = at;
    }
    pc = read(cfa - 8);
    sp = cfa;
  }
  return n;
}

int CfiUnwinder::WalkGoroutine(uintptr_t sp, uintptr_t hi, uintptr_t* out, int n, int max) noexcept {
  // sp: asmcgocall's frame on the system stack (the C function's CFA).
  const GoRuntime& go = g_go_runtime;
  if (sp + go.frame_g + 8 > hi) return n;
  const uintptr_t g = *reinterpret_cast<const uintptr_t*>(sp + go.frame_g);
  const uintptr_t depth = *reinterpret_cast<const uintptr_t*>(sp + go.frame_depth);
  if (g == 0 || (g & 7) != 0) return n;
  auto word = [](uintptr_t at) { return *reinterpret_cast<const uintptr_t*>(at); };
  const uintptr_t glo = word(g + go.g_stack_lo), ghi = word(g + go.g_stack_hi);
  if (glo >= ghi || ghi - glo > (uintptr_t{1} << 30) || depth + 8 > ghi - glo) return n;
  const uintptr_t gsp = ghi - depth;  // where asmcgocall was called: the return address into runtime.cgocall
  // The goroutine's state as asmcgocall saved it must agree (and proves the g).
  if ((gsp & 7) != 0 || word(g + go.g_sched_sp) != gsp) return n;
  uintptr_t fp = word(g + go.g_sched_bp);
  if (n < max) out[n++] = word(gsp);
  uintptr_t floor = gsp;
  while (n < max && fp >= floor && fp + 16 <= ghi && (fp & 7) == 0) {
    uintptr_t pc = word(fp + 8);
    uintptr_t next = word(fp);
    if (pc < 4096) break;
    out[n++] = pc;
    if (next <= fp) break;  // the goroutine's first frame (runtime.goexit's caller saved 0)
    floor = fp + 16;
    fp = next;
  }
  return n;
}

}  // namespace memtrace
