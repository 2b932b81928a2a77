// libmemtrace_watcher.so's entry point (see src/watcher/spawn.cc): the
// program's state arrives in the handoff; this object's copies of the
// tracer's globals become the program's, then the watcher runs.
#include <unistd.h>

#include "src/capture/busy_fence.h"
#include "src/capture/clock.h"
#include "src/capture/handoff.h"
#include "src/capture/predating.h"
#include "src/capture/region.h"
#include "src/capture/stack_depot.h"
#include "src/capture/start_info.h"
#include "src/config/config.h"
#include "src/log.h"
#include "src/watcher/watcher.h"

extern "C" __attribute__((visibility("default"))) int memtrace_watcher_main(const memtrace::WatcherHandoff* handoff) {
  using namespace memtrace;
  if (handoff == nullptr || handoff->version != kHandoffVersion || handoff->size != sizeof(WatcherHandoff)) {
    MT_LOG_ERROR("libmemtrace_watcher.so does not match libmemtrace.so (another build?); no reports");
    return 1;
  }
  g_region.Adopt(handoff->region_base, handoff->region_size);
  g_depot.AdoptFrom(*handoff->depot);
  ClockAdopt(handoff->clock_kind, &g_region.header()->clock_counter, handoff->clock_start_ts, handoff->clock_start_ns);
  g_light_busy_stamp.store(handoff->light_busy_stamp, std::memory_order_seq_cst);
  g_start_info = handoff->start_info;
  if (handoff->tracer_modules != nullptr) g_tracer_modules = *handoff->tracer_modules;
  if (handoff->predating != nullptr) g_predating = *handoff->predating;
  SetLogLevel(handoff->config->log_level);
  return watcher::RunWatcher(*handoff);
}
