// The code that may call a hook while holding a lock the watcher would need.
//
// The watcher is a raw fork of the traced process (src/watcher/watcher.h):
// it inherits every lock exactly as the forking thread held it, and runs on
// glibc, libstdc++, libgcc_s and the libraries libmemtrace itself links. A
// hook reached from inside that code may be running under one of its locks
// or one-time initialisations (ld.so allocating with its loader lock held,
// atexit growing its list under its lock, dlerror() formatting its message,
// libstdc++ building its locales inside a pthread_once): a watcher forked
// there would wait for that lock forever. A hook reached directly from any
// other code (the program, its own libraries) is not inside any of them.
//
// So the watcher is never forked from a hook whose caller lies in the text
// of libmemtrace or of a library in its dependency closure (DT_NEEDED,
// transitively: libc and the dynamic loader included); src/startup.cc
// defers it to the next safe point. Built once at tracing's start, with
// dl_iterate_phdr and the modules' own dynamic sections: no allocation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memtrace {

class CallerModules {
 public:
  // `self`: an address in the module whose closure is "ours" (libmemtrace).
  // False if the module list could not be read (every caller is then unsafe).
  bool Init(uintptr_t self) noexcept;
  // True if `pc` lies in the text of one of those modules, or is unknown.
  bool Ours(uintptr_t pc) const noexcept;
  size_t module_count() const noexcept { return modules_; }
  bool ready() const noexcept { return ready_; }

 private:
  static constexpr size_t kMaxRanges = 512;
  struct Range {
    uintptr_t lo, hi;
  };
  Range ranges_[kMaxRanges] = {};
  size_t count_ = 0;
  size_t modules_ = 0;
  bool ready_ = false;
};

}  // namespace memtrace
