// Lock-free stack interning (see stack_depot.h).
#include "src/capture/stack_depot.h"

#include <cstring>
#include <new>

#include "src/capture/region.h"

namespace memtrace {

struct StackDepot::Chunk {
  static constexpr size_t kBytes = 4u << 20;
  std::atomic<size_t> used;
  alignas(16) unsigned char data[1];
  static constexpr size_t Capacity() { return kBytes - offsetof(Chunk, data); }
};

bool StackDepot::Init() noexcept {
  size_t bytes = sizeof(std::atomic<const StackRecord*>) << kBucketBits;
  void* mem = SharedAllocate(bytes);
  void* shared = SharedAllocate(sizeof(Shared));
  if (mem == nullptr || shared == nullptr) {
    buckets_ = nullptr;
    shared_ = nullptr;
    return false;
  }
  shared_ = new (shared) Shared();
  spare_.store(nullptr, std::memory_order_relaxed);  // a fork child's is the parent's
  buckets_ = static_cast<std::atomic<const StackRecord*>*>(mem);  // zero pages are null pointers
  return true;
}

uint64_t StackDepot::Hash(const uintptr_t* frames, uint32_t count, const StackRecord* outer) noexcept {
  // 64-bit multiply-xorshift per frame (wyhash-style mixing); frames are
  // already high-entropy addresses. The outer record is unique per content.
  uint64_t h = 0x9e3779b97f4a7c15ull ^ count ^ reinterpret_cast<uintptr_t>(outer);
  for (uint32_t i = 0; i < count; ++i) {
    h ^= frames[i];
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  }
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 29);
}

void* StackDepot::AllocateRecord(size_t bytes) noexcept {
  bytes = (bytes + 15) & ~size_t{15};
  if (bytes > Chunk::Capacity()) return nullptr;
  for (;;) {
    Chunk* c = shared_->chunk.load(std::memory_order_acquire);
    if (c != nullptr) {
      size_t off = c->used.fetch_add(bytes, std::memory_order_relaxed);
      if (off + bytes <= Chunk::Capacity()) return c->data + off;
    }
    // Current chunk full (or none): install a new one. A loser keeps its
    // chunk for its next attempt (region memory is never freed).
    void* mem = spare_.exchange(nullptr, std::memory_order_acq_rel);
    if (mem == nullptr) mem = SharedAllocate(Chunk::kBytes);
    if (mem == nullptr) return nullptr;
    Chunk* fresh = new (mem) Chunk();
    fresh->used.store(0, std::memory_order_relaxed);
    if (shared_->chunk.compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) {
      shared_->bytes.fetch_add(Chunk::kBytes, std::memory_order_relaxed);
    } else {
      void* expected = nullptr;
      spare_.compare_exchange_strong(expected, mem, std::memory_order_acq_rel);  // else it is lost: rare
    }
  }
}

const StackRecord* StackDepot::Intern(const uintptr_t* frames, uint32_t depth) noexcept {
  if (buckets_ == nullptr || shared_ == nullptr) return nullptr;
  // The innermost record keeps 1..kStackChunk frames; the rest go in whole
  // chunks counted from the outermost frame, interned outermost first.
  uint32_t inner = depth == 0 ? 0 : (depth - 1) % kStackChunk + 1;
  const StackRecord* outer = nullptr;
  for (uint32_t start = depth; start > inner; start -= kStackChunk) {
    outer = InternChunk(frames + start - kStackChunk, kStackChunk, outer);
    if (outer == nullptr) return nullptr;
  }
  return InternChunk(frames, inner, outer);
}

const StackRecord* StackDepot::InternChunk(const uintptr_t* frames, uint32_t own, const StackRecord* outer) noexcept {
  uint64_t h = Hash(frames, own, outer);
  std::atomic<const StackRecord*>& bucket = buckets_[h & ((1u << kBucketBits) - 1)];
  const StackRecord* head = bucket.load(std::memory_order_acquire);
  const StackRecord* searched_until = nullptr;
  StackRecord* fresh = nullptr;
  for (;;) {
    for (const StackRecord* r = head; r != searched_until; r = r->next) {
      if (r->hash == h && r->own == own && r->outer == outer &&
          (own == 0 || std::memcmp(r->frames, frames, own * sizeof(uintptr_t)) == 0)) {
        // Lost a race to insert the same stack: the unused record is simply
        // left in the chunk (never published; its id stays unused).
        return r;
      }
    }
    if (fresh == nullptr) {
      void* mem = AllocateRecord(sizeof(StackRecord) + own * sizeof(uintptr_t));
      if (mem == nullptr) return nullptr;
      fresh = static_cast<StackRecord*>(mem);
      fresh->hash = h;
      fresh->outer = outer;
      fresh->own = own;
      fresh->depth = own + (outer != nullptr ? outer->depth : 0);
      fresh->id = shared_->count.fetch_add(1, std::memory_order_relaxed);
      if (own > 0) std::memcpy(fresh->frames, frames, own * sizeof(uintptr_t));
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
