// The per-thread walk memo's slow paths (see stack_memo.h).
#include "src/capture/stack_memo.h"

namespace memtrace {

void StackMemo::Clear() noexcept {
  for (uintptr_t& t : tags_) t = 0;
  for (uint8_t& v : victim_) v = 0;
  open_ = nullptr;
}

void StackMemo::Begin(uintptr_t fp0, uintptr_t hint) noexcept {
  uint32_t set = SetOf(fp0, hint);
  uint32_t index = set * kWays + victim_[set];
  victim_[set] = static_cast<uint8_t>((victim_[set] + 1) % kWays);
  tags_[index] = 0;  // invalid until committed
  Entry& e = entries_[index];
  e.reads = 0;
  open_ = &e;
  open_index_ = index;
  open_fp0_ = fp0;
}

void StackMemo::Commit(const StackRecord* record) noexcept {
  if (open_ == nullptr) return;
  // Pad to a multiple of four by repeating the last word (Find checks four
  // at a time); a walk always read at least its first return address.
  uint32_t n = open_->reads;
  if (record != nullptr && n > 0) {
    for (; n % 4 != 0; ++n) {
      open_->off[n] = open_->off[n - 1];
      open_->val[n] = open_->val[n - 1];
    }
    open_->reads = n;
    open_->record = record;
    tags_[open_index_] = open_fp0_;
  }
  open_ = nullptr;
}

}  // namespace memtrace
