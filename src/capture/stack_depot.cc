// Lock-free stack interning (see stack_depot.h).
#include "src/capture/stack_depot.h"

#include <cstring>
#include <new>

#include "src/capture/os_memory.h"

namespace memtrace {

struct StackDepot::Chunk {
  static constexpr size_t kBytes = 4u << 20;
  std::atomic<size_t> used;
  alignas(16) unsigned char data[1];
  static constexpr size_t Capacity() { return kBytes - offsetof(Chunk, data); }
};

bool StackDepot::Init() noexcept {
  size_t bytes = sizeof(std::atomic<const StackRecord*>) << kBucketBits;
  void* mem = OsAllocate(bytes);
  if (mem == nullptr) return false;
  buckets_ = static_cast<std::atomic<const StackRecord*>*>(mem);  // zero pages are null pointers
  return true;
}

uint64_t StackDepot::Hash(const uintptr_t* frames, uint32_t depth) noexcept {
  // 64-bit multiply-xorshift per frame (wyhash-style mixing); frames are
  // already high-entropy addresses.
  uint64_t h = 0x9e3779b97f4a7c15ull ^ depth;
  for (uint32_t i = 0; i < depth; ++i) {
    h ^= frames[i];
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  }
  return h;
}

void* StackDepot::AllocateRecord(size_t bytes) noexcept {
  bytes = (bytes + 15) & ~size_t{15};
  if (bytes > Chunk::Capacity()) return nullptr;
  for (;;) {
    Chunk* c = chunk_.load(std::memory_order_acquire);
    if (c != nullptr) {
      size_t off = c->used.fetch_add(bytes, std::memory_order_relaxed);
      if (off + bytes <= Chunk::Capacity()) return c->data + off;
    }
    // Current chunk full (or none): install a new one; a loser unmaps its own.
    void* mem = OsAllocate(Chunk::kBytes);
    if (mem == nullptr) return nullptr;
    Chunk* fresh = new (mem) Chunk();
    fresh->used.store(0, std::memory_order_relaxed);
    if (chunk_.compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) {
      bytes_.fetch_add(Chunk::kBytes, std::memory_order_relaxed);
    } else {
      OsFree(mem, Chunk::kBytes);
    }
  }
}

const StackRecord* StackDepot::Intern(const uintptr_t* frames, uint32_t depth) noexcept {
  if (buckets_ == nullptr) return nullptr;
  uint64_t h = Hash(frames, depth);
  std::atomic<const StackRecord*>& bucket = buckets_[h & ((1u << kBucketBits) - 1)];
  const StackRecord* head = bucket.load(std::memory_order_acquire);
  const StackRecord* searched_until = nullptr;
  StackRecord* fresh = nullptr;
  for (;;) {
    for (const StackRecord* r = head; r != searched_until; r = r->next) {
      if (r->hash == h && r->depth == depth &&
          (depth == 0 || std::memcmp(r->frames, frames, depth * sizeof(uintptr_t)) == 0)) {
        // Lost a race to insert the same stack: the unused record is simply
        // left in the chunk (never published; its id stays unused).
        return r;
      }
    }
    if (fresh == nullptr) {
      void* mem = AllocateRecord(sizeof(StackRecord) + depth * sizeof(uintptr_t));
      if (mem == nullptr) return nullptr;
      fresh = static_cast<StackRecord*>(mem);
      fresh->hash = h;
      fresh->depth = depth;
      fresh->id = count_.fetch_add(1, std::memory_order_relaxed);
      if (depth > 0) std::memcpy(fresh->frames, frames, depth * sizeof(uintptr_t));
    }
    fresh->next = head;
    searched_until = head;
    if (bucket.compare_exchange_weak(head, fresh, std::memory_order_release, std::memory_order_acquire)) {
      return fresh;
    }
    // `head` now holds the new bucket head: search only what was added.
  }
}

}  // namespace memtrace
