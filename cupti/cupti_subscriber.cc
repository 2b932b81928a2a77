// CUPTI driver-API callbacks (see cupti_subscriber.h). Only the types,
// constants and parameter structs come from the CUPTI headers; every function
// is resolved with dlsym, so the preload links against no CUDA library.
#include "cupti/cupti_subscriber.h"

#include <cuda.h>
#include <cupti.h>
#include <dlfcn.h>

#include <string.h>

#include <atomic>
#include <mutex>

#include "src/capture/capture.h"
#include "src/capture/region.h"
#include "src/log.h"

namespace memtrace::cupti {
namespace {

std::atomic<bool> g_active{false};

// Built on first use: the library constructor may run before this file's
// dynamic initialisers.
struct State {
  std::mutex mu;
  std::string path;
  bool enabled = true;
  bool attempted = false;
  std::string reason = "the CUDA driver (libcuda.so.1) is not loaded in this process";
};
State& S() {
  static State* state = new State;  // never destroyed: callbacks may run during exit
  return *state;
}

// Mirrors the reason into the region's header, where the watcher reads it.
void Publish(const State& st) {
  RegionHeader* h = g_region.active() ? g_region.header() : nullptr;
  if (h == nullptr) return;
  size_t n = st.reason.size() < sizeof(h->cuda_reason) - 1 ? st.reason.size() : sizeof(h->cuda_reason) - 1;
  h->cuda_reason_set.store(0, std::memory_order_release);
  memcpy(h->cuda_reason, st.reason.data(), n);
  h->cuda_reason[n] = '\0';
  h->cuda_reason_set.store(1, std::memory_order_release);
  h->cupti_active.store(g_active.load(std::memory_order_acquire) ? 1 : 0, std::memory_order_release);
}
std::atomic<CUresult (*)(CUdevice*)> g_ctx_get_device{nullptr};

int CurrentDevice() {
  CUdevice d = 0;
  auto get = g_ctx_get_device.load(std::memory_order_acquire);
  if (get == nullptr) {
    // Subscribed before the driver was loaded: find it now (we are inside a
    // driver call, so it is loaded).
    if (void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD)) {
      get = reinterpret_cast<CUresult (*)(CUdevice*)>(dlsym(driver, "cuCtxGetDevice"));
      g_ctx_get_device.store(get, std::memory_order_release);
    }
  }
  if (get == nullptr || get(&d) != CUDA_SUCCESS || d < 0 || d > 255) return 0;
  return d;
}

void Record(EventKind kind, uint64_t addr, uint64_t bytes, int device) {
  ThreadSlot* s = (t_state.paused & kPausedByUser) == 0 || kind == EventKind::kCudaFree ? CaptureEnter() : nullptr;
  if (s == nullptr) return;
  const StackRecord* st = kind == EventKind::kCudaFree ? nullptr : CaptureStackHere();
  uint64_t size = kind == EventKind::kCudaFree          ? 0
                  : kind == EventKind::kCudaPinnedAlloc ? bytes
                                                        : CudaEventSize(bytes, device);
  CapturePush(s, kind, ClockNow(), reinterpret_cast<const void*>(addr), size, st);
  CaptureLeave(s);
}

template <typename P>
const P* Params(const CUpti_CallbackData* cb) {
  return static_cast<const P*>(cb->functionParams);
}

void CUPTIAPI Callback(void*, CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const void* data) {
  // Inside one of our runtime hooks: the runtime call is what we count.
  if (domain != CUPTI_CB_DOMAIN_DRIVER_API || t_state.in_cuda_runtime != 0 || t_state.guard != 0) return;
  const auto* cb = static_cast<const CUpti_CallbackData*>(data);
  bool enter = cb->callbackSite == CUPTI_API_ENTER;
  bool ok = !enter && cb->functionReturnValue != nullptr &&
            *static_cast<const CUresult*>(cb->functionReturnValue) == CUDA_SUCCESS;
  switch (cbid) {
    // Allocations: recorded on success, stamped after the call.
    case CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2:
      if (ok) {
        auto* p = Params<cuMemAlloc_v2_params>(cb);
        Record(EventKind::kCudaDeviceAlloc, *p->dptr, p->bytesize, CurrentDevice());
      }
      break;
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocPitch_v2:
      if (ok) {
        auto* p = Params<cuMemAllocPitch_v2_params>(cb);
        Record(EventKind::kCudaDeviceAlloc, *p->dptr, *p->pPitch * p->Height, CurrentDevice());
      }
      break;
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync:
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync_ptsz:
      if (ok) {
        auto* p = Params<cuMemAllocAsync_params>(cb);
        Record(EventKind::kCudaDeviceAlloc, *p->dptr, p->bytesize, CurrentDevice());
      }
      break;
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync:
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync_ptsz:
      if (ok) {
        auto* p = Params<cuMemAllocFromPoolAsync_params>(cb);
        Record(EventKind::kCudaDeviceAlloc, *p->dptr, p->bytesize, CurrentDevice());
      }
      break;
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocManaged:
      if (ok) {
        auto* p = Params<cuMemAllocManaged_params>(cb);
        Record(EventKind::kCudaManagedAlloc, *p->dptr, p->bytesize, CurrentDevice());
      }
      break;
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocHost_v2:
      if (ok) {
        auto* p = Params<cuMemAllocHost_v2_params>(cb);
        Record(EventKind::kCudaPinnedAlloc, reinterpret_cast<uint64_t>(*p->pp), p->bytesize, -1);
      }
      break;
    case CUPTI_DRIVER_TRACE_CBID_cuMemHostAlloc:
      if (ok) {
        auto* p = Params<cuMemHostAlloc_params>(cb);
        Record(EventKind::kCudaPinnedAlloc, reinterpret_cast<uint64_t>(*p->pp), p->bytesize, -1);
      }
      break;
    case CUPTI_DRIVER_TRACE_CBID_cuMemCreate:
      if (ok) {  // physical memory behind virtual-memory-management mappings
        auto* p = Params<cuMemCreate_params>(cb);
        int device = p->prop != nullptr && p->prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE ? p->prop->location.id
                                                                                                 : CurrentDevice();
        Record(EventKind::kCudaDeviceAlloc, static_cast<uint64_t>(*p->handle) | kCudaHandleTag, p->size, device);
      }
      break;
    // Frees: stamped before the call.
    case CUPTI_DRIVER_TRACE_CBID_cuMemFree_v2:
      if (enter) Record(EventKind::kCudaFree, Params<cuMemFree_v2_params>(cb)->dptr, 0, 0);
      break;
    case CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync:
    case CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync_ptsz:
      if (enter) Record(EventKind::kCudaFree, Params<cuMemFreeAsync_params>(cb)->dptr, 0, 0);
      break;
    case CUPTI_DRIVER_TRACE_CBID_cuMemFreeHost:
      if (enter) Record(EventKind::kCudaFree, reinterpret_cast<uint64_t>(Params<cuMemFreeHost_params>(cb)->p), 0, 0);
      break;
    case CUPTI_DRIVER_TRACE_CBID_cuMemRelease:
      if (enter) Record(EventKind::kCudaFree, static_cast<uint64_t>(Params<cuMemRelease_params>(cb)->handle) | kCudaHandleTag, 0, 0);
      break;
    default:
      break;
  }
}

constexpr CUpti_CallbackId kCallbacks[] = {
    CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2,          CUPTI_DRIVER_TRACE_CBID_cuMemAllocPitch_v2,
    CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync,        CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync, CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuMemAllocManaged,      CUPTI_DRIVER_TRACE_CBID_cuMemAllocHost_v2,
    CUPTI_DRIVER_TRACE_CBID_cuMemHostAlloc,         CUPTI_DRIVER_TRACE_CBID_cuMemCreate,
    CUPTI_DRIVER_TRACE_CBID_cuMemFree_v2,           CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync,
    CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync_ptsz,    CUPTI_DRIVER_TRACE_CBID_cuMemFreeHost,
    CUPTI_DRIVER_TRACE_CBID_cuMemRelease,
};

void* OpenCupti() {
  if (!S().path.empty()) return dlopen(S().path.c_str(), RTLD_NOW | RTLD_LOCAL);
  for (const char* candidate : {"libcupti.so", "libcupti.so.13", "libcupti.so.12", "/usr/local/cuda/lib64/libcupti.so",
                                "/usr/local/cuda/extras/CUPTI/lib64/libcupti.so"}) {
    if (void* h = dlopen(candidate, RTLD_NOW | RTLD_LOCAL)) return h;
  }
  return nullptr;
}

void StartLocked(void* driver);

void StartAndPublishLocked(void* driver) {
  StartLocked(driver);
  Publish(S());
}

void StartLocked(void* driver) {
  State& st = S();
  st.attempted = true;
  if (driver != nullptr) {
    g_ctx_get_device.store(reinterpret_cast<CUresult (*)(CUdevice*)>(dlsym(driver, "cuCtxGetDevice")),
                           std::memory_order_release);
  }
  void* h = OpenCupti();
  if (h == nullptr) {
    st.reason = std::string("libcupti could not be loaded (") + dlerror() + "); set MEMTRACE_CUPTI_PATH";
    MT_LOG_WARN("CUDA driver calls are not traced: %s", st.reason.c_str());
    return;
  }
  auto subscribe = reinterpret_cast<CUptiResult (*)(CUpti_SubscriberHandle*, CUpti_CallbackFunc, void*)>(
      dlsym(h, "cuptiSubscribe"));
  auto enable = reinterpret_cast<CUptiResult (*)(uint32_t, CUpti_SubscriberHandle, CUpti_CallbackDomain,
                                                 CUpti_CallbackId)>(dlsym(h, "cuptiEnableCallback"));
  auto error_string = reinterpret_cast<CUptiResult (*)(CUptiResult, const char**)>(dlsym(h, "cuptiGetResultString"));
  if (subscribe == nullptr || enable == nullptr) {
    st.reason = "libcupti lacks cuptiSubscribe/cuptiEnableCallback";
    return;
  }
  CUpti_SubscriberHandle subscriber;
  CUptiResult r = subscribe(&subscriber, reinterpret_cast<CUpti_CallbackFunc>(&Callback), nullptr);
  if (r != CUPTI_SUCCESS) {
    const char* what = "unknown error";
    if (error_string != nullptr) error_string(r, &what);
    st.reason = r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED
                    ? std::string("CUPTI is already in use by another tool (a profiler?)")
                    : std::string("cuptiSubscribe failed: ") + what;
    MT_LOG_WARN("CUDA driver calls are not traced: %s", st.reason.c_str());
    return;
  }
  for (CUpti_CallbackId id : kCallbacks) enable(1, subscriber, CUPTI_CB_DOMAIN_DRIVER_API, id);
  st.reason.clear();
  g_active.store(true, std::memory_order_release);
  MT_LOG_INFO("CUPTI driver-API callbacks subscribed");
}

}  // namespace

void Configure(const std::string& cupti_path, bool enabled) {
  State& st = S();
  std::lock_guard<std::mutex> lock(st.mu);
  st.path = cupti_path;
  st.enabled = enabled;
  st.attempted = false;
  if (!enabled) st.reason = "CUDA tracing is off (MEMTRACE_CUDA=0)";
  Publish(st);
}

void Poll() {
  State& st = S();
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.attempted || !st.enabled) return;
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
  if (driver == nullptr) return;  // not loaded (yet)
  StartAndPublishLocked(driver);
}

void Start() {
  if (g_active.load(std::memory_order_acquire)) return;
  State& st = S();
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.attempted || !st.enabled) return;
  // The driver may not be loaded yet: CUPTI loads it itself, and callbacks
  // subscribed now see its first calls.
  StartAndPublishLocked(dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD));
}

bool Active() { return g_active.load(std::memory_order_acquire); }

std::string Reason() {
  State& st = S();
  std::lock_guard<std::mutex> lock(st.mu);
  return st.reason;
}

}  // namespace memtrace::cupti
