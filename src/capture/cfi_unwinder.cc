// Cached DWARF CFI unwinding (see cfi_unwinder.h). Compiled with frame
// pointers so that Capture knows its own frame; everything above it is
// unwound from .eh_frame.
#include "src/capture/cfi_unwinder.h"

#include <dlfcn.h>

#include <cstring>

#include "src/capture/cfi_parse.h"
#include "src/capture/os_memory.h"
#include "src/capture/compiler.h"
#include "src/capture/go_runtime.h"
#include "src/capture/stack_bounds.h"
#include "src/capture/stack_memo.h"

namespace memtrace {
namespace {

struct DwarfEhBases {
  void* tbase;
  void* dbase;
  void* func;
};

uint64_t Pack(const CfiUnwinder::Rule& rule, bool* ok) { return PackCfiRule(rule, ok); }
inline CfiUnwinder::Rule Unpack(uint64_t v) { return UnpackCfiRule(v); }

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
  uintptr_t pc = ra - 1;  // inside the call instruction
  DwarfEhBases bases{};
  auto* fde = static_cast<const uint8_t*>(find_fde_(reinterpret_cast<void*>(pc), &bases));
  if (fde == nullptr) {
    Rule rule;
    rule.no_fde = true;  // no unwind info: frame pointers, or Go's cgo transition (Walk)
    return rule;
  }
  // libgcc found and parsed this FDE and its CIE in a loaded module; their
  // own lengths bound what is read (cfi_parse.h).
  return ComputeCfiRule(0, UINTPTR_MAX, reinterpret_cast<uintptr_t>(fde), reinterpret_cast<uintptr_t>(bases.func), pc);
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
