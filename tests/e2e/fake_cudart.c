/* A stand-in CUDA runtime for tests on machines without a GPU: the same
 * allocation API symbols as libcudart, with host memory (raw mmap system
 * calls, so the tracer's mmap hooks do not see it) and two "devices". It lets
 * `make test` exercise libmemtrace's runtime-API interposition exactly. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define API __attribute__((visibility("default")))
enum { kSuccess = 0, kErrorMemoryAllocation = 2, kErrorInvalidValue = 1, kErrorInvalidDevice = 101 };
typedef struct { size_t width, height, depth; } cudaExtent;
typedef struct { void* ptr; size_t pitch, xsize, ysize; } cudaPitchedPtr;

static __thread int current_device;
static const size_t kHeader = 64;

static void* Get(size_t size) {
  size_t total = size + kHeader;
  long r = syscall(SYS_mmap, NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r < 0 && r > -4096) return NULL;
  char* p = (char*)r;
  memcpy(p, &total, sizeof(total));
  return p + kHeader;
}

static int Put(void* ptr) {
  if (ptr == NULL) return kSuccess;
  char* p = (char*)ptr - kHeader;
  size_t total;
  memcpy(&total, p, sizeof(total));
  syscall(SYS_munmap, p, total);
  return kSuccess;
}

static int Alloc(void** out, size_t size) {
  if (out == NULL) return kErrorInvalidValue;
  *out = Get(size);
  return *out != NULL ? kSuccess : kErrorMemoryAllocation;
}

API int cudaGetDeviceCount(int* n) { *n = 2; return kSuccess; }
API int cudaSetDevice(int d) {
  if (d < 0 || d > 1) return kErrorInvalidDevice;
  current_device = d;
  return kSuccess;
}
API int cudaGetDevice(int* d) { *d = current_device; return kSuccess; }
API int cudaMalloc(void** p, size_t n) { return Alloc(p, n); }
API int cudaFree(void* p) { return Put(p); }
API int cudaMallocHost(void** p, size_t n) { return Alloc(p, n); }
API int cudaHostAlloc(void** p, size_t n, unsigned flags) { (void)flags; return Alloc(p, n); }
API int cudaFreeHost(void* p) { return Put(p); }
API int cudaMallocManaged(void** p, size_t n, unsigned flags) { (void)flags; return Alloc(p, n); }
API int cudaMallocAsync(void** p, size_t n, void* stream) { (void)stream; return Alloc(p, n); }
API int cudaMallocFromPoolAsync(void** p, size_t n, void* pool, void* stream) { (void)pool; (void)stream; return Alloc(p, n); }
API int cudaFreeAsync(void* p, void* stream) { (void)stream; return Put(p); }
API int cudaMallocPitch(void** p, size_t* pitch, size_t width, size_t height) {
  *pitch = (width + 255) & ~(size_t)255;
  return Alloc(p, *pitch * height);
}
API int cudaMalloc3D(cudaPitchedPtr* out, cudaExtent e) {
  size_t pitch = (e.width + 255) & ~(size_t)255;
  out->pitch = pitch;
  out->xsize = e.width;
  out->ysize = e.height;
  return Alloc(&out->ptr, pitch * e.height * e.depth);
}
