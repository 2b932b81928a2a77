// Hooks for the CUDA runtime API's allocation calls. Each resolves the real
// function lazily -- the next definition (a program linked with libcudart),
// or a libcudart already loaded with RTLD_LOCAL (as Python extensions load
// it) -- so a program without CUDA never loads anything. A statically linked
// cudart defines these symbols in the program itself: the hooks are never
// called and the driver API is seen through CUPTI instead (cupti/).
//
// Allocations are stamped after the real call succeeded; frees before the
// real call, like the heap. While the real call runs, `in_cuda_runtime` tells
// the CUPTI subscriber that the driver calls it makes are already counted.
// No CUDA header is needed: the few types involved are declared here.
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include <atomic>

#include "cupti/cupti_subscriber.h"
#include "interpose/real.h"
#include "src/capture/capture.h"
#include "src/capture/region.h"

using memtrace::g_region;
using memtrace::CaptureEnter;
using memtrace::CaptureLeave;
using memtrace::CapturePush;
using memtrace::CaptureStackHere;
using memtrace::ClockNow;
using memtrace::EventKind;
using memtrace::StackRecord;
using memtrace::ThreadSlot;

#define MT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr int kCudaSuccess = 0;
constexpr int kCudaErrorInitializationError = 3;
struct CudaExtent {
  size_t width, height, depth;
};
struct CudaPitchedPtr {
  void* ptr;
  size_t pitch, xsize, ysize;
};

std::atomic<bool> g_runtime_found{false};

struct FindRuntime {
  char path[4096];
};

int FindLoadedCudart(dl_phdr_info* info, size_t, void* data) {
  const char* name = info->dlpi_name;
  const char* base = name != nullptr ? strrchr(name, '/') : nullptr;
  base = base != nullptr ? base + 1 : name;
  if (base == nullptr || strncmp(base, "libcudart.so", 12) != 0) return 0;
  strncpy(static_cast<FindRuntime*>(data)->path, name, sizeof(FindRuntime::path) - 1);
  return 1;
}

void* Resolve(const char* symbol) {
  void* f = dlsym(RTLD_NEXT, symbol);
  if (f == nullptr) {
    FindRuntime found{};
    dl_iterate_phdr(FindLoadedCudart, &found);
    if (found.path[0] != '\0') {
      if (void* h = dlopen(found.path, RTLD_LAZY | RTLD_NOLOAD)) f = dlsym(h, symbol);
    }
  }
  if (f != nullptr) {
    g_runtime_found.store(true, std::memory_order_relaxed);
    if (g_region.active()) g_region.header()->cuda_runtime_hooks.store(1, std::memory_order_release);
  }
  return f;
}

// The process is using CUDA: subscribe to the driver's callbacks now, on this
// thread, with the re-entry guard set (CUPTI's own allocations are ours).
// Entered like a hook, so the thread has a slot and CUPTI's allocations are
// events (kTracerAlloc) that its later frees match.
void EnsureCupti() {
  ThreadSlot* s = CaptureEnter();
  if (s == nullptr) return;
  memtrace::cupti::Start();
  dlerror();  // free what our dl* calls left, inside the guard
  CaptureLeave(s);
}

template <typename F>
struct Real {
  const char* name;
  std::atomic<F*> fn{nullptr};
  F* get() {
    F* f = fn.load(std::memory_order_acquire);
    if (f == nullptr) {
      f = reinterpret_cast<F*>(Resolve(name));
      fn.store(f, std::memory_order_release);
    }
    return f;
  }
};

Real<int(void**, size_t)> r_malloc{"cudaMalloc"};
Real<int(void*)> r_free{"cudaFree"};
Real<int(void**, size_t)> r_malloc_host{"cudaMallocHost"};
Real<int(void**, size_t, unsigned)> r_host_alloc{"cudaHostAlloc"};
Real<int(void*)> r_free_host{"cudaFreeHost"};
Real<int(void**, size_t, unsigned)> r_malloc_managed{"cudaMallocManaged"};
Real<int(void**, size_t*, size_t, size_t)> r_malloc_pitch{"cudaMallocPitch"};
Real<int(CudaPitchedPtr*, CudaExtent)> r_malloc_3d{"cudaMalloc3D"};
Real<int(void**, size_t, void*)> r_malloc_async{"cudaMallocAsync"};
Real<int(void**, size_t, void*, void*)> r_malloc_pool_async{"cudaMallocFromPoolAsync"};
Real<int(void*, void*)> r_free_async{"cudaFreeAsync"};
Real<int(int*)> r_get_device{"cudaGetDevice"};

// The stack of the calling program code (taken before the real call).
const StackRecord* CallerStack() {
  ThreadSlot* s = (memtrace::t_state.paused & memtrace::kPausedByUser) == 0 ? CaptureEnter() : nullptr;
  if (s == nullptr) return nullptr;
  const StackRecord* st = CaptureStackHere();
  CaptureLeave(s);
  return st;
}

struct RuntimeScope {
  RuntimeScope() { ++memtrace::t_state.in_cuda_runtime; }
  ~RuntimeScope() { --memtrace::t_state.in_cuda_runtime; }
};

void RecordAlloc(EventKind kind, const void* ptr, uint64_t bytes, const StackRecord* st, bool with_device) {
  if (st == nullptr || ptr == nullptr) return;
  int device = 0;
  if (with_device) {
    auto* get = r_get_device.get();
    RuntimeScope scope;
    if (get == nullptr || get(&device) != kCudaSuccess || device < 0 || device > 255) device = 0;
  }
  ThreadSlot* s = CaptureEnter();
  if (s == nullptr) return;
  CapturePush(s, kind, ClockNow(), ptr, with_device ? memtrace::CudaEventSize(bytes, device) : bytes, st);
  CaptureLeave(s);
}

void RecordFree(const void* ptr) {
  if (ptr == nullptr) return;
  ThreadSlot* s = CaptureEnter();
  if (s == nullptr) return;
  CapturePush(s, EventKind::kCudaFree, ClockNow(), ptr, 0, nullptr);  // before the real free
  CaptureLeave(s);
}

template <typename F, typename... Args>
int CallAlloc(Real<F>& real, EventKind kind, bool with_device, void** out, uint64_t bytes, Args... args) {
  auto* f = real.get();
  if (f == nullptr) return kCudaErrorInitializationError;
  EnsureCupti();
  const StackRecord* st = CallerStack();
  int rc;
  {
    RuntimeScope scope;
    rc = f(out, args...);
  }
  if (rc == kCudaSuccess && out != nullptr) RecordAlloc(kind, *out, bytes, st, with_device);
  return rc;
}

}  // namespace



MT_EXPORT int cudaMalloc(void** ptr, size_t size) {
  return CallAlloc(r_malloc, EventKind::kCudaDeviceAlloc, true, ptr, size, size);
}

MT_EXPORT int cudaMallocAsync(void** ptr, size_t size, void* stream) {
  return CallAlloc(r_malloc_async, EventKind::kCudaDeviceAlloc, true, ptr, size, size, stream);
}

MT_EXPORT int cudaMallocFromPoolAsync(void** ptr, size_t size, void* pool, void* stream) {
  return CallAlloc(r_malloc_pool_async, EventKind::kCudaDeviceAlloc, true, ptr, size, size, pool, stream);
}

MT_EXPORT int cudaMallocManaged(void** ptr, size_t size, unsigned flags) {
  return CallAlloc(r_malloc_managed, EventKind::kCudaManagedAlloc, true, ptr, size, size, flags);
}

MT_EXPORT int cudaMallocHost(void** ptr, size_t size) {
  return CallAlloc(r_malloc_host, EventKind::kCudaPinnedAlloc, false, ptr, size, size);
}

MT_EXPORT int cudaHostAlloc(void** ptr, size_t size, unsigned flags) {
  return CallAlloc(r_host_alloc, EventKind::kCudaPinnedAlloc, false, ptr, size, size, flags);
}

MT_EXPORT int cudaMallocPitch(void** ptr, size_t* pitch, size_t width, size_t height) {
  auto* f = r_malloc_pitch.get();
  if (f == nullptr) return kCudaErrorInitializationError;
  const StackRecord* st = CallerStack();
  int rc;
  {
    RuntimeScope scope;
    rc = f(ptr, pitch, width, height);
  }
  if (rc == kCudaSuccess && ptr != nullptr && pitch != nullptr) {
    RecordAlloc(EventKind::kCudaDeviceAlloc, *ptr, *pitch * height, st, true);
  }
  return rc;
}

MT_EXPORT int cudaMalloc3D(CudaPitchedPtr* pitched, CudaExtent extent) {
  auto* f = r_malloc_3d.get();
  if (f == nullptr) return kCudaErrorInitializationError;
  const StackRecord* st = CallerStack();
  int rc;
  {
    RuntimeScope scope;
    rc = f(pitched, extent);
  }
  if (rc == kCudaSuccess && pitched != nullptr) {
    RecordAlloc(EventKind::kCudaDeviceAlloc, pitched->ptr, pitched->pitch * extent.height * extent.depth, st, true);
  }
  return rc;
}

MT_EXPORT int cudaFree(void* ptr) {
  auto* f = r_free.get();
  if (f == nullptr) return kCudaErrorInitializationError;
  RecordFree(ptr);
  RuntimeScope scope;
  return f(ptr);
}

MT_EXPORT int cudaFreeAsync(void* ptr, void* stream) {
  auto* f = r_free_async.get();
  if (f == nullptr) return kCudaErrorInitializationError;
  RecordFree(ptr);
  RuntimeScope scope;
  return f(ptr, stream);
}

MT_EXPORT int cudaFreeHost(void* ptr) {
  auto* f = r_free_host.get();
  if (f == nullptr) return kCudaErrorInitializationError;
  RecordFree(ptr);
  RuntimeScope scope;
  return f(ptr);
}
