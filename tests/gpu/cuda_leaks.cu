// GPU check for libmemtrace (needs an NVIDIA GPU): leaks known amounts of
// device memory through the runtime API (cudaMalloc, cudaMallocAsync) and the
// driver API (cuMemAlloc, cuMemCreate), from several threads, and frees part
// of it. It prints what libmemtrace's report must say (MEMTRACE_EXPECT
// lines); check_report.py compares. Built twice by run_gpu_checks.sh: with
// static cudart (nvcc's default: only CUPTI can see it) and shared cudart
// (the runtime hooks see it).
#include <cuda.h>
#include <cuda_runtime.h>
#include <pthread.h>
#include <stdio.h>

#define CHECK(x)                                                    \
  do {                                                              \
    auto rc_ = (x);                                                 \
    if (rc_ != 0) {                                                 \
      fprintf(stderr, "%s failed: %d\n", #x, static_cast<int>(rc_)); \
      return 1;                                                     \
    }                                                               \
  } while (0)

static void Expect(const char* fn, unsigned long bytes) {
  printf("MEMTRACE_EXPECT {\"kind\": \"gpu\", \"function\": \"%s\", \"live_bytes\": %lu}\n", fn, bytes);
}

extern "C" __attribute__((noinline)) int leak_runtime(size_t n) {
  void* keep;
  void* gone;
  CHECK(cudaMalloc(&keep, n));
  CHECK(cudaMalloc(&gone, n));
  CHECK(cudaFree(gone));
  Expect("leak_runtime", n);
  return 0;
}

extern "C" __attribute__((noinline)) int leak_async(size_t n) {
  cudaStream_t s;
  CHECK(cudaStreamCreate(&s));
  void* a;
  void* b;
  CHECK(cudaMallocAsync(&a, n, s));
  CHECK(cudaMallocAsync(&b, n, s));
  CHECK(cudaFreeAsync(b, s));
  CHECK(cudaStreamSynchronize(s));
  Expect("leak_async", n);
  return 0;
}

extern "C" __attribute__((noinline)) int leak_driver(size_t n) {
  CUdeviceptr p;
  CHECK(cuMemAlloc(&p, n));
  Expect("leak_driver", n);
  return 0;
}

extern "C" __attribute__((noinline)) int leak_vmm(int device) {
  CUmemAllocationProp prop = {};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = device;
  size_t granularity = 0;
  CHECK(cuMemGetAllocationGranularity(&granularity, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
  CUmemGenericAllocationHandle h1, h2;
  CHECK(cuMemCreate(&h1, 2 * granularity, &prop, 0));
  CHECK(cuMemCreate(&h2, granularity, &prop, 0));
  CHECK(cuMemRelease(h2));
  Expect("leak_vmm", 2 * granularity);
  return 0;
}

static void* Thread(void* arg) {
  long i = reinterpret_cast<long>(arg);
  cudaSetDevice(0);
  leak_runtime((1 << 20) * (i + 1));
  leak_driver(65536 * (i + 1));
  return nullptr;
}

int main() {
  CHECK(cudaSetDevice(0));
  CHECK(cudaFree(nullptr));  // create the context
  CHECK(leak_runtime(3 << 20));
  CHECK(leak_async(5 << 20));
  CHECK(leak_driver(7 << 20));
  CHECK(leak_vmm(0));
  pthread_t t[3];
  for (long i = 0; i < 3; ++i) pthread_create(&t[i], nullptr, Thread, reinterpret_cast<void*>(i));
  for (auto& th : t) pthread_join(th, nullptr);
  fflush(stdout);
  return 0;
}
