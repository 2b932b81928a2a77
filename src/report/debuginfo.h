// Local lookup of separate debug info for libdw (no debuginfod): by
// build-id under /usr/lib/debug/.build-id, then by .gnu_debuglink name next to
// the module, in its .debug/ directory and under /usr/lib/debug, accepted by
// build-id or, for a module without one, by the link's CRC-32.
#pragma once

#include <elfutils/libdwfl.h>

namespace memtrace {

// A Dwfl_Callbacks::find_debuginfo.
int FindLocalDebuginfo(Dwfl_Module* mod, void** userdata, const char* modname, GElf_Addr base,
                       const char* file_name, const char* debuglink_file, GElf_Word debuglink_crc,
                       char** debuginfo_file_name);

}  // namespace memtrace
