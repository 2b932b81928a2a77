/* CUDA leaks of known sizes through every runtime allocation call, on two
 * devices and from two threads, with frees (including async ones) that must
 * not show. Linked against the fake runtime (fake_cudart.c) in `make test`;
 * the same source works against a real libcudart. */
#include <pthread.h>
#include <stddef.h>

#include "expect.h"

typedef struct { size_t width, height, depth; } cudaExtent;
typedef struct { void* ptr; size_t pitch, xsize, ysize; } cudaPitchedPtr;
int cudaSetDevice(int);
int cudaMalloc(void**, size_t);
int cudaFree(void*);
int cudaMallocHost(void**, size_t);
int cudaHostAlloc(void**, size_t, unsigned);
int cudaFreeHost(void*);
int cudaMallocManaged(void**, size_t, unsigned);
int cudaMallocAsync(void**, size_t, void*);
int cudaMallocFromPoolAsync(void**, size_t, void*, void*);
int cudaFreeAsync(void*, void*);
int cudaMallocPitch(void**, size_t*, size_t, size_t);
int cudaMalloc3D(cudaPitchedPtr*, cudaExtent);

#define EXPECT_CUDA(fn, space, device, bytes) \
  expect_line("{\"kind\": \"cuda\", \"function\": \"%s\", \"space\": \"%s\", \"device\": %d, \"live_bytes\": %lu}", fn, \
              space, device, (unsigned long)(bytes))

static void* volatile keep[64];

__attribute__((noinline)) void weights_device0(void) {
  cudaSetDevice(0);
  void* a; void* b;
  cudaMalloc(&a, 1 << 20);
  cudaMalloc(&b, 1 << 20);
  cudaFree(b);
  keep[0] = a;
  EXPECT_CUDA("weights_device0", "cuda_device", 0, 1 << 20);
}

__attribute__((noinline)) void weights_device1(void) {
  cudaSetDevice(1);
  void* a;
  cudaMalloc(&a, 3 << 20);
  keep[1] = a;
  cudaSetDevice(0);
  EXPECT_CUDA("weights_device1", "cuda_device", 1, 3 << 20);
}

__attribute__((noinline)) void pitched(void) {
  void* p; size_t pitch;
  cudaMallocPitch(&p, &pitch, 1000, 10);
  keep[2] = p;
  EXPECT_CUDA("pitched", "cuda_device", 0, pitch * 10);
  cudaPitchedPtr pp;
  cudaExtent e = {100, 4, 3};
  cudaMalloc3D(&pp, e);
  keep[3] = pp.ptr;
  /* same function, same space and device, other call: a second site */
  EXPECT_CUDA("pitched", "cuda_device", 0, pp.pitch * 4 * 3);
}

__attribute__((noinline)) void stream_buffers(void) {
  void* s[3];
  for (int i = 0; i < 3; ++i) cudaMallocAsync(&s[i], 65536, NULL);
  cudaFreeAsync(s[1], NULL);
  keep[4] = s[0];
  keep[5] = s[2];
  EXPECT_CUDA("stream_buffers", "cuda_device", 0, 2 * 65536);
  void* q;
  cudaMallocFromPoolAsync(&q, 4096, NULL, NULL);
  keep[6] = q;
  EXPECT_CUDA("stream_buffers", "cuda_device", 0, 4096);
}

__attribute__((noinline)) void unified(void) {
  cudaSetDevice(1);
  void* m;
  cudaMallocManaged(&m, 8192, 1);
  keep[7] = m;
  cudaSetDevice(0);
  EXPECT_CUDA("unified", "cuda_managed", 1, 8192);
}

__attribute__((noinline)) void staging(void) {
  void* a; void* b;
  cudaMallocHost(&a, 5000);
  cudaHostAlloc(&b, 6000, 0);
  cudaFreeHost(a);
  keep[8] = b;
  EXPECT_CUDA("staging", "cuda_host_pinned", -1, 6000);
}

__attribute__((noinline)) static void* other_thread(void* arg) {
  (void)arg;
  cudaSetDevice(1);
  void* a; void* b;
  cudaMalloc(&a, 2 << 20);
  cudaMalloc(&b, 1 << 20);
  cudaFree(a);
  keep[9] = b;
  return NULL;
}

int main(void) {
  weights_device0();
  weights_device1();
  pitched();
  stream_buffers();
  unified();
  staging();
  pthread_t t;
  pthread_create(&t, NULL, other_thread, NULL);
  pthread_join(t, NULL);
  EXPECT_CUDA("other_thread", "cuda_device", 1, 1 << 20);
  expect_line("{\"kind\": \"devices\", \"device0\": %lu, \"device1\": %lu}",
              (unsigned long)((1 << 20) + 10 * 1024 + 256 * 4 * 3 + 2 * 65536 + 4096),
              (unsigned long)((3 << 20) + (1 << 20)));
  return 0;
}
