// The record a hook hands to the flusher: 32 bytes, two per cache line.
// A thread's events are pushed in timestamp order into its own ring; the
// flusher merges all rings by timestamp (flush/merger.h).
#pragma once

#include <cstdint>

namespace memtrace {

struct StackRecord;

enum class EventKind : uint8_t {
  kAlloc = 1,        // addr, size, stack
  kFree = 2,         // addr
  kThreadStart = 3,  // addr: kernel tid, size: thread serial | kThreadPredates,
                     // aux: pthread_t handle; first event of a thread in a slot
  kThreadExit = 4,   // last event of a thread in a slot
  kTracerAlloc = 5,  // addr: a block the tracer's own code allocated on this
                     // thread (e.g. libunwind's TLS); glibc may free it later
                     // through the hooks, on any thread
  kMapAnon = 6,      // addr, size, stack: an anonymous mapping
  kMapFile = 7,      // addr, size, stack: a file mapping
  kUnmap = 8,        // addr, size
  kRemapFrom = 9,    // addr, size: the old range of an mremap (stamped before it)
  kRemapTo = 10,     // addr, size: its new range (stamped after); always right
                     // after the kRemapFrom in the same ring
  kRemapFromKeep = 11,  // as kRemapFrom/kRemapTo for MREMAP_DONTUNMAP: the old
  kRemapToKeep = 12,    // range stays mapped
  kThreadCreated = 13,  // from the creating thread, as pthread_create returns:
                        // addr: the new thread's handle, size: its serial, aux:
                        // the creator's serial
  kThreadOrigin = 14,   // addr: start routine, size: the new thread's serial,
                        // stack: where pthread_create was called
  kThreadJoin = 15,     // addr: pthread_t handle of the joined thread
  kThreadDetach = 16,   // addr: pthread_t handle of the detached thread
  kThreadName = 17,     // addr: pthread_t handle; the name's first 7 bytes in
                        // size, the next 8 in aux (15 characters, the kernel's limit)
  kThreadAttr = 18,     // addr: stack size, size: serial << 1 | detached at birth
  kCudaDeviceAlloc = 19,   // addr: device pointer (or a cuMemCreate handle with
                           // kCudaHandleTag), size: bytes | device << kCudaDeviceShift, stack
  kCudaPinnedAlloc = 20,   // addr: host pointer, size: bytes, stack
  kCudaManagedAlloc = 21,  // addr: pointer, size: bytes | device << kCudaDeviceShift, stack
  kCudaFree = 22,          // addr: pointer or tagged handle
  kProtect = 23,           // addr, size | kMapProtNone: an mprotect that succeeded
};

// kMapAnon, kMapFile, kProtect: the range is (now) PROT_NONE, i.e. reserved
// but not committed. Sizes never reach 2^55 (the address space is 2^47).
inline constexpr uint64_t kMapProtNone = uint64_t{1} << 55;
inline constexpr uint64_t kMapSizeMask = kMapProtNone - 1;

// kThreadStart: the thread was already running when tracing began.
inline constexpr uint64_t kThreadPredates = uint64_t{1} << 32;

inline constexpr int kCudaDeviceShift = 48;
inline constexpr uint64_t kCudaBytesMask = (uint64_t{1} << kCudaDeviceShift) - 1;
inline constexpr uint64_t kCudaHandleTag = uint64_t{1} << 63;  // cuMemCreate handles are not addresses

// The size field of a device or managed CUDA allocation event.
inline constexpr uint64_t CudaEventSize(uint64_t bytes, int device) {
  return (bytes & kCudaBytesMask) | (static_cast<uint64_t>(device) << kCudaDeviceShift);
}


struct Event {
  uint64_t ts;  // ClockNow(), see clock.h
  uint64_t addr;
  uint64_t size : 56;
  uint64_t kind : 8;
  union {
    const StackRecord* stack;  // interned; null for frees
    uint64_t aux;              // thread events' extra word
  };

  EventKind Kind() const { return static_cast<EventKind>(kind); }
};
static_assert(sizeof(Event) == 32, "Event must stay 32 bytes");

}  // namespace memtrace
