// What the unwinder needs to know about a Go program's runtime to follow a
// stack from C code back into the goroutine that called it through cgo.
//
// A cgo call runs C on the thread's system stack (g0), not on the goroutine's
// stack: runtime.asmcgocall switches stacks and, in the frame it opens on the
// system stack, stores the goroutine (g, at 48(SP)) and the depth of the
// goroutine's stack pointer below g.stack.hi (at 40(SP)) -- not the pointer
// itself, because a callback may move the goroutine's stack. Before switching
// it saves the goroutine's SP and frame pointer in g.sched
// (gosave_systemstack_switch). So when the walk returns into asmcgocall after
// the C call, the goroutine's frames start at g.stack.hi - depth (the return
// address into runtime.cgocall), and go on by Go's frame pointers from
// g.sched.bp, every word read inside [g.stack.lo, g.stack.hi). When asmcgocall
// was called on the system stack already (the runtime's own C calls), 40(SP)
// holds the caller's SP on that same stack and the walk simply continues.
//
// Nothing here trusts a version number: InitGoRuntime finds asmcgocall and
// gosave_systemstack_switch in the executable's symbol table and checks their
// machine code, byte for byte, against the layout above (Go 1.19 as Debian 12
// ships it; the same code in other releases is accepted). Any difference, a
// stripped symbol table, or Go code in a shared library (-buildmode=c-shared)
// leaves it disabled: the walk then stops cleanly at the boundary.
#pragma once

#include <cstdint>

namespace memtrace {

struct GoRuntime {
  bool enabled = false;
  // Return addresses into runtime.asmcgocall.abi0 after its call of the C
  // function: from the goroutine's stack (save) or on the system stack already.
  uintptr_t cgocall_ra = 0;
  uintptr_t cgocall_ra_nosave = 0;
  // Offsets, checked against the code: in asmcgocall's system-stack frame,
  // and in the g.
  uint32_t frame_g = 48, frame_depth = 40;
  uint32_t g_stack_lo = 0, g_stack_hi = 8, g_sched_sp = 0x38, g_sched_bp = 0x68;
};

inline GoRuntime g_go_runtime;

// Reads the executable (/proc/self/exe) once, in the library constructor, with
// raw system calls. True if it is a Go program whose cgo layout we know.
bool InitGoRuntime() noexcept;

// For tests: checks asmcgocall's and gosave_systemstack_switch's code (as it
// sits at `asmcgocall`/`gosave`, with the symbols' sizes) and fills `out`.
bool MatchGoRuntime(const uint8_t* asmcgocall, uintptr_t asmcgocall_addr, uint64_t asmcgocall_size,
                    const uint8_t* gosave, uint64_t gosave_size, GoRuntime* out) noexcept;

}  // namespace memtrace
