// The CUPTI subscriber: device memory allocated through the CUDA driver API
// (cuMemAlloc*, cuMemHostAlloc, cuMemAllocManaged, cuMemAllocAsync,
// cuMemCreate/cuMemRelease, ...), which is what a statically linked cudart
// (nvcc's default), PyTorch's expandable segments and NCCL use and what the
// runtime hooks cannot see. libcupti is dlopen'ed, only once the CUDA driver
// (libcuda.so.1) is loaded in the process; nothing else in the tree includes
// CUPTI. Allocations made through our runtime hooks are not counted again.
#pragma once

#include <string>

namespace memtrace::cupti {

// Once, from the constructor: MEMTRACE_CUPTI_PATH (empty = search) and
// whether CUDA tracing is wanted at all.
void Configure(const std::string& cupti_path, bool enabled);
// From the flusher's poll hook (every 100 ms): subscribes as soon as the
// driver is loaded. Cheap when there is nothing to do.
void Poll();
bool Active();
// Why CUPTI is not active (or what it is doing).
std::string Reason();

}  // namespace memtrace::cupti
