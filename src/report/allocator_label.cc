// Known allocators and runtimes by their frames (see allocator_label.h).
#include "src/report/allocator_label.h"

#include <string_view>

namespace memtrace {
namespace {

bool Starts(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::string_view Base(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string_view(path) : std::string_view(path).substr(slash + 1);
}

bool OneOf(std::string_view fn, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) {
    if (fn == n) return true;
  }
  return false;
}

// A frame that only passes the call on to mmap.
bool Glue(std::string_view fn, std::string_view module) {
  return OneOf(fn, {"x_cgo_mmap", "_cgo_mmap", "mmap", "mmap64", "__mmap", "__mmap64"}) || Starts(module, "libc.so");
}

// A label decided by this frame alone, or "".
std::string_view ByFrame(std::string_view fn, std::string_view module, bool first) {
  if (Starts(module, "libjemalloc") || Starts(fn, "je_") ||
      OneOf(fn, {"pages_map", "os_pages_map", "extent_alloc_mmap", "ehooks_default_alloc_impl", "base_map"})) {
    return "jemalloc extent";
  }
  if (Starts(module, "libtcmalloc") || fn.find("TCMalloc_SystemAlloc") != std::string_view::npos ||
      fn.find("MmapSysAllocator") != std::string_view::npos || Starts(fn, "tcmalloc::")) {
    return "tcmalloc";
  }
  if (Starts(module, "libmimalloc") || Starts(fn, "mi_") || Starts(fn, "_mi_")) return "mimalloc segment";
  if (Starts(module, "libopenblas") || OneOf(fn, {"blas_memory_alloc", "alloc_mmap", "alloc_mmap_free"})) {
    return "OpenBLAS buffer";
  }
  if (OneOf(fn, {"_PyObject_ArenaMmap", "_PyObject_VirtualAlloc", "new_arena", "_PyObject_Malloc", "pymalloc_alloc",
                 "allocate_from_new_pool"}) ||
      (first && fn.empty() && (Starts(module, "python3") || Starts(module, "libpython3")))) {
    return "pymalloc arena";
  }
  if (OneOf(fn, {"new_heap", "alloc_new_heap", "sysmalloc", "_int_new_arena", "arena_get2"})) return "glibc arena";
  return {};
}

}  // namespace

std::string AllocatorLabel(const std::vector<const Frame*>& frames) {
  constexpr size_t kLeading = 16;
  bool go = false, go_heap = false;
  for (size_t i = 0; i < frames.size() && i < kLeading; ++i) {
    std::string_view fn = frames[i]->function;
    std::string_view module = Base(frames[i]->module);
    if (Starts(fn, "runtime.")) {
      // The Go runtime: its heap (arenas, page allocator, spans, their
      // metadata) or its other memory (stacks, GC work buffers).
      go = true;
      go_heap |= fn.find("(*mheap)") != std::string_view::npos || fn.find("(*pageAlloc)") != std::string_view::npos ||
                 Starts(fn, "runtime.sysReserve") || Starts(fn, "runtime.sysMap") || Starts(fn, "runtime.mallocgc") ||
                 Starts(fn, "runtime.persistentalloc");
      continue;
    }
    if (go) break;  // the runtime's frames ended: that is the label
    if (std::string_view label = ByFrame(fn, module, i == 0); !label.empty()) return std::string(label);
    if (!Glue(fn, module)) break;  // the program's own code: no label
  }
  if (go) return go_heap ? "Go heap" : "Go runtime";
  return {};
}

}  // namespace memtrace
