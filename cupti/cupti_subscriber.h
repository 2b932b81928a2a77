// The CUPTI subscriber: device memory allocated through the CUDA driver API
// (cuMemAlloc*, cuMemHostAlloc, cuMemAllocManaged, cuMemAllocAsync,
// cuMemCreate/cuMemRelease, ...), which is what a statically linked cudart
// (nvcc's default), PyTorch's expandable segments and NCCL use and what the
// runtime hooks cannot see. libcupti is dlopen'ed by a program thread, only
// once the process uses CUDA: the driver (libcuda.so.1) is already loaded at
// start-up, is about to be dlopen'ed (the dlopen hook sees the name, before
// the loader runs), or a runtime hook is called. Never from the watcher, never
// while the loader's lock could be held by someone waiting on us. Nothing
// else in the tree includes CUPTI. Allocations made through our runtime hooks
// are not counted again. Its state is mirrored into the shared region's
// header for the watcher's reports.
#pragma once

#include <string>

namespace memtrace::cupti {

// Once, from the constructor: MEMTRACE_CUPTI_PATH (empty = search) and
// whether CUDA tracing is wanted at all.
void Configure(const std::string& cupti_path, bool enabled);
// Subscribes if the driver is loaded (at start-up). Cheap when there is
// nothing to do.
void Poll();
// Subscribes now (the process is about to use CUDA), once.
void Start();
bool Active();
// Why CUPTI is not active (or what it is doing).
std::string Reason();

}  // namespace memtrace::cupti
