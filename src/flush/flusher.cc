// The flusher's drain rounds and snapshots (see flusher.h).
#include "src/flush/flusher.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "src/capture/busy_fence.h"
#include "src/capture/clock.h"
#include "src/capture/start_info.h"
#include "src/log.h"

namespace memtrace {
namespace {

constexpr size_t kTimelineCap = 1024;  // points kept; older ones are thinned, marks kept

void SleepMicros(long us) {
  timespec ts{us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, nullptr);
}

}  // namespace

Flusher::Flusher(SlotTable* slots, Options options)
    : slots_(slots),
      options_(std::move(options)),
      merger_(slots),
      heap_(&sites_, &threads_),
      cuda_(&sites_, &threads_),
      maps_(&sites_, &threads_, static_cast<uint64_t>(sysconf(_SC_PAGESIZE))),
      start_ns_(MonotonicNanos()) {
  heap_.set_sample_period(options_.sample_bytes);
}

size_t Flusher::Round() {
  size_t progress = merger_.Round(*this);
  return progress + merger_.last_collected();
}

void Flusher::OnEvent(uint32_t slot, const Event& e) { OnEvents(slot, &e, 1); }

void Flusher::OnEvents(uint32_t slot, const Event* events, size_t n) {
  // Heap events inline; everything else through OnOtherEvent's switch.
  uint32_t thread = threads_.ThreadOfSlot(slot);
  events_ += n;
  // Before libmemtrace's constructor, the runtime's own start-up is not the
  // program's (start_info.h).
  uint64_t startup_until = g_start_info != nullptr ? g_start_info->constructor_ts.load(std::memory_order_acquire) : 0;
  for (size_t k = 0; k < n; ++k) {
    const Event& e = events[k];
    switch (e.Kind()) {
      case EventKind::kAlloc:
        if (MT_UNLIKELY(e.ts < startup_until) && RuntimeStartupStack(e.stack)) {
          heap_.OnTracerAlloc(e.addr, e.size);
          break;
        }
        // A temporary (its free comes next) never enters the live table.
        if (k + 1 < n && events[k + 1].Kind() == EventKind::kFree && events[k + 1].addr == e.addr &&
            heap_.OnAllocFreed(e.addr, e.size, e.stack, thread)) {
          ++k;
          break;
        }
        heap_.OnAlloc(e.addr, e.size, e.stack, thread);
        break;
      case EventKind::kFree:
        heap_.OnFree(e.addr);
        break;
      default:
        OnOtherEvent(slot, e);
        thread = threads_.ThreadOfSlot(slot);  // a thread start changes it
        break;
    }
  }
}

void Flusher::OnOtherEvent(uint32_t slot, const Event& e) {
  switch (e.Kind()) {
    case EventKind::kAlloc:
    case EventKind::kFree:
      break;  // OnEvents
    case EventKind::kTracerAlloc:
      // Not a root for the scan (size 0): glibc frees some of these inside
      // libc, unseen (a thread's specific-data array at its exit), and a
      // stale entry would make the program's later data there a root.
      heap_.OnTracerAlloc(e.addr, 0);
      break;
    case EventKind::kMapAnon:
    case EventKind::kMapFile:
      if (g_start_info != nullptr && e.ts < g_start_info->constructor_ts.load(std::memory_order_acquire) &&
          RuntimeStartupStack(e.stack)) {
        break;  // the runtime's own start-up (start_info.h)
      }
      maps_.Map(e.addr, e.size & kMapSizeMask, e.stack,
                e.Kind() == EventKind::kMapFile ? Space::kFileMmap : Space::kAnonMmap, threads_.ThreadOfSlot(slot), e.ts,
                (e.size & kMapProtNone) != 0);
      break;
    case EventKind::kProtect:
      maps_.Protect(e.addr, e.size & kMapSizeMask, (e.size & kMapProtNone) != 0);
      break;
    case EventKind::kUnmap:
      maps_.Unmap(e.addr, e.size);
      break;
    case EventKind::kRemapFrom:
    case EventKind::kRemapFromKeep:
      maps_.RemapFrom(slot, e.addr, e.size, e.Kind() == EventKind::kRemapFromKeep);
      break;
    case EventKind::kRemapTo:
    case EventKind::kRemapToKeep:
      maps_.RemapTo(slot, e.addr, e.size, e.Kind() == EventKind::kRemapToKeep);
      break;
    case EventKind::kThreadStart:
      threads_.OnStart(slot, e.addr, static_cast<uint32_t>(e.size), e.aux, e.ts, (e.size & kThreadPredates) != 0);
      break;
    case EventKind::kCudaDeviceAlloc:
    case EventKind::kCudaManagedAlloc:
      cuda_.OnAlloc(e.addr, e.size & kCudaBytesMask, e.stack, threads_.ThreadOfSlot(slot),
                    e.Kind() == EventKind::kCudaDeviceAlloc ? Space::kCudaDevice : Space::kCudaManaged,
                    static_cast<int>(e.size >> kCudaDeviceShift));
      break;
    case EventKind::kCudaPinnedAlloc:
      cuda_.OnAlloc(e.addr, e.size, e.stack, threads_.ThreadOfSlot(slot), Space::kCudaPinned, -1);
      break;
    case EventKind::kCudaFree:
      cuda_.OnFree(e.addr);
      break;
    case EventKind::kThreadCreated:
      threads_.OnCreated(e.addr, static_cast<uint32_t>(e.size), static_cast<uint32_t>(e.aux), e.ts);
      break;
    case EventKind::kThreadOrigin:
      threads_.OnOrigin(static_cast<uint32_t>(e.size), e.addr, e.stack);
      break;
    case EventKind::kThreadAttr:
      threads_.OnAttr(static_cast<uint32_t>(e.size >> 1), e.addr, (e.size & 1) != 0);
      break;
    case EventKind::kThreadExit:
      threads_.OnExit(slot, e.ts);
      break;
    case EventKind::kThreadJoin:
      threads_.OnJoin(e.addr);
      break;
    case EventKind::kThreadDetach:
      threads_.OnDetach(e.addr);
      break;
    case EventKind::kThreadName: {
      char name[16] = {};
      uint64_t lo = e.size, hi = e.aux;
      memcpy(name, &lo, 7);
      memcpy(name + 7, &hi, 8);
      threads_.OnName(e.addr, std::string(name, strnlen(name, 15)));
      break;
    }
  }
}

bool Flusher::AllIdle() const { return BusySlots() == 0; }

uint32_t Flusher::BusySlots() const {
  BusyFenceHeavy();  // stamps stored with plain stores are visible after it
  uint32_t hw = slots_->high_water();
  uint32_t busy = 0;
  for (uint32_t i = 0; i < hw; ++i) {
    if (slots_->slot(i)->busy_since.load(std::memory_order_acquire) != kIdle) ++busy;
  }
  return busy;
}

uint32_t Flusher::DrainFinal(int wait_ms) {
  // Threads still inside a hook finish their call; keep draining so that a
  // producer waiting for ring space can finish.
  for (int waited_us = 0; !AllIdle() && waited_us < wait_ms * 1000; waited_us += 200) {
    merger_.Round(*this);
    SleepMicros(200);
  }
  uint32_t busy = BusySlots();
  if (busy > 0) MT_LOG_WARN("%u threads were still inside an allocation call at exit; their last events may be missing", busy);
  merger_.Round(*this, /*deliver_all=*/true);
  // Anything pushed from now on is dropped (and counted), never waited for.
  slots_->SetConsumerActive(false);
  merger_.Round(*this, /*deliver_all=*/true);
  return busy;
}

uint32_t Flusher::DrainAfterDeath(uint64_t* recovered) {
  // No thread runs any more: a busy stamp marks a thread that died inside a
  // hook, after (or before) its real call; whatever it had published is here.
  uint32_t busy = 0;
  uint32_t hw = slots_->high_water();
  for (uint32_t i = 0; i < hw; ++i) {
    if (slots_->slot(i)->busy_since.load(std::memory_order_acquire) != kIdle) ++busy;
  }
  uint64_t before = events_;
  slots_->SetConsumerActive(false);
  merger_.Round(*this, /*deliver_all=*/true);
  merger_.Round(*this, /*deliver_all=*/true);
  if (recovered != nullptr) *recovered = events_ - before;
  return busy;
}

bool Flusher::DrainUntil(uint64_t ts, int wait_ms) {
  for (int waited_us = 0;; waited_us += 50) {
    merger_.Round(*this, /*deliver_all=*/false, /*fresh_watermark=*/true);
    if (merger_.last_watermark() > ts) return true;
    if (waited_us >= wait_ms * 1000) {
      MT_LOG_WARN("a thread stayed inside an allocation call; the snapshot may miss its last event");
      return false;
    }
    SleepMicros(50);
  }
}

Snapshot Flusher::TakeSnapshot(const char* reason, const GlibcStats& glibc) { return BuildSnapshot(reason, glibc); }

void Flusher::Sample(const std::string& mark, const GlibcStats& glibc) { AppendTimeline(MakePoint(mark, glibc)); }

TimelinePoint Flusher::MakePoint(const std::string& mark, const GlibcStats& glibc) {
  TimelinePoint p;
  p.t = static_cast<double>(MonotonicNanos() - start_ns_) / 1e9;
  p.live_bytes = sites_.live_bytes();
  for (int sp = 0; sp < kSpaceCount; ++sp) p.space_bytes[sp] = sites_.space_totals(static_cast<Space>(sp)).live_bytes;
  p.rss_bytes = ReadRssBytes(options_.pid);
  if (glibc.known) {
    p.glibc_free_bytes = glibc.free_bytes;
    p.glibc_mmapped_bytes = glibc.mmapped_bytes;
    p.glibc_arenas = glibc.arenas;
  }
  p.mark = mark;
  return p;
}

void Flusher::AppendTimeline(TimelinePoint p) {
  timeline_.push_back(std::move(p));
  if (timeline_.size() <= kTimelineCap) return;
  // Full: keep the whole history at half the resolution (every other unmarked
  // point goes; marks and the newest point stay).
  std::deque<TimelinePoint> thinned;
  bool drop = false;
  for (size_t i = 0; i < timeline_.size(); ++i) {
    bool keep = !timeline_[i].mark.empty() || i + 1 == timeline_.size() || !drop;
    if (timeline_[i].mark.empty()) drop = !drop;
    if (keep) thinned.push_back(std::move(timeline_[i]));
  }
  timeline_ = std::move(thinned);
}

std::vector<ProcMapping> Flusher::ProcMappings() const {
  if (maps_text_ != nullptr) return ParseProcMaps(*maps_text_);
  return ParseProcMaps(ReadProcMapsText(options_.pid));
}

}  // namespace memtrace
