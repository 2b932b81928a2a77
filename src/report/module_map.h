// The modules (ELF files) of a process, as the symbolizer needs them: path,
// the address range they are mapped at, the load bias (runtime address minus
// the ELF virtual address) and the build-id. Read from /proc/PID/maps while
// the process lives; saved and read back as text, so a process that is gone
// (SIGKILL, OOM kill, exit_group) can still be symbolized from what a watcher
// saved about it. Nothing here asks the calling process about itself.
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace memtrace {

struct LoadedModule {
  std::string path;             // as the kernel names it (" (deleted)" removed)
  uint64_t start = 0, end = 0;  // the lowest and highest address of its mappings
  uint64_t bias = 0;            // runtime address - ELF virtual address
  std::string build_id;         // hex; empty when the file has none
  bool deleted = false;         // the file was replaced or removed after mapping
  bool operator==(const LoadedModule&) const = default;
};

// The file-backed ELF modules mapped in `pid`, sorted by start address.
absl::StatusOr<std::vector<LoadedModule>> ReadProcessModules(int pid);

// The load bias of the ELF file at `path` mapped with file offset `offset` at
// `address`; false if it is not an ELF file or no segment holds `offset`.
bool ComputeBias(const std::string& path, uint64_t offset, uint64_t address, uint64_t* bias,
                 std::string* build_id);

// One line per module: "start end bias build_id|- path". Lossless.
std::string SerializeModules(const std::vector<LoadedModule>& modules);
absl::StatusOr<std::vector<LoadedModule>> ParseModules(absl::string_view text);

}  // namespace memtrace
