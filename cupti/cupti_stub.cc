// The CUPTI subscriber when libmemtrace was built without the CUDA toolkit:
// the runtime hooks still work; the report says why driver calls are not seen.
#include "cupti/cupti_subscriber.h"

namespace memtrace::cupti {

void Configure(const std::string&, bool) {}
void Poll() {}
void Start() {}
bool Active() { return false; }
std::string Reason() { return "libmemtrace was built without the CUDA toolkit (no CUPTI)"; }

}  // namespace memtrace::cupti
