// What made a mapping, when it is a known allocator or runtime: pymalloc
// arenas, the Go heap, glibc arenas, OpenBLAS buffers, jemalloc extents,
// tcmalloc and mimalloc. Such mappings hold memory the allocator hands out
// again (Python objects, Go objects, heap blocks): they are the allocator's
// cost, not a call site of the program, and a report labels them so that a
// reader never mistakes them for the program's own mappings (the text report
// lists heap sites first, mappings apart).
//
// Recognised from the symbolized stack: the leading frames, from the code
// that called mmap outwards, through glue (cgo's mmap trampoline, libc's
// wrappers), by function name or by module. A stripped CPython names none of
// its functions: there an unnamed frame 0 in the interpreter itself (python3.*,
// libpython3.*) is the arena allocator, the only caller of mmap in CPython
// 3.11's core (the mmap module is an extension module).
#pragma once

#include <string>
#include <vector>

#include "src/report/symbolizer.h"

namespace memtrace {

// The label of a mapping made by `frames` (frame 0 first), or "".
std::string AllocatorLabel(const std::vector<const Frame*>& frames);

}  // namespace memtrace
