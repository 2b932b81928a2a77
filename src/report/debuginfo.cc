// Separate debug info, found locally (see debuginfo.h).
#include "src/report/debuginfo.h"

#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace memtrace {
namespace {

// True if `path` holds `mod`'s debug file and is not the module itself. As
// libdw checks it: by build-id where the module has one (the CRC changes
// when a debug file is merely re-processed), else by the CRC-32 that
// .gnu_debuglink records.
bool DebugFileMatches(Dwfl_Module* mod, const std::string& path, const char* module_path, GElf_Word crc,
                      int* fd_out) {
  struct stat mod_st, st;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = fstat(fd, &st) == 0 && !(stat(module_path, &mod_st) == 0 && st.st_dev == mod_st.st_dev &&
                                     st.st_ino == mod_st.st_ino);
  const unsigned char* want = nullptr;
  GElf_Addr vaddr = 0;
  int want_len = ok ? dwfl_module_build_id(mod, &want, &vaddr) : 0;
  if (ok && want_len > 0) {
    Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
    const void* have = nullptr;
    ssize_t have_len = elf != nullptr ? dwelf_elf_gnu_build_id(elf, &have) : -1;
    ok = have_len == want_len && memcmp(have, want, static_cast<size_t>(want_len)) == 0;
    if (elf != nullptr) elf_end(elf);
  } else if (ok) {
    uLong sum = crc32(0L, Z_NULL, 0);
    unsigned char buf[1 << 14];  // the report may run on a program thread: a modest stack buffer
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = n == 0;
        break;
      }
      sum = crc32(sum, buf, static_cast<uInt>(n));
    }
    ok = ok && static_cast<GElf_Word>(sum) == crc && lseek(fd, 0, SEEK_SET) == 0;
  }
  if (!ok) {
    close(fd);
    return false;
  }
  *fd_out = fd;
  return true;
}

}  // namespace

// libdw's search for separate debug info, minus debuginfod. By build-id
// first (/usr/lib/debug/.build-id/xx/yyyy.debug), then by .gnu_debuglink
// name next to the module, in its .debug/ directory and under
// /usr/lib/debug, the places dwfl_standard_find_debuginfo looks. Not
// dwfl_standard_find_debuginfo itself: when both fail, elfutils 0.188 dlopens
// libdebuginfod (35 more libraries -- curl, gnutls, krb5, ldap -- loaded
// into the traced process at exit, ~10 ms) and, where DEBUGINFOD_URLS is
// set, would fetch debug info over the network from inside the program.
int FindLocalDebuginfo(Dwfl_Module* mod, void** userdata, const char* modname, GElf_Addr base,
                       const char* file_name, const char* debuglink_file, GElf_Word debuglink_crc,
                       char** debuginfo_file_name) {
  int fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc,
                                        debuginfo_file_name);
  if (fd >= 0 || file_name == nullptr || debuglink_file == nullptr || debuglink_file[0] == '\0') return fd;
  std::string dir(file_name);
  size_t slash = dir.rfind('/');
  dir = slash == std::string::npos ? std::string(".") : dir.substr(0, slash);
  for (const std::string& candidate : {dir + "/" + debuglink_file, dir + "/.debug/" + debuglink_file,
                                       "/usr/lib/debug" + dir + "/" + debuglink_file}) {
    if (DebugFileMatches(mod, candidate, file_name, debuglink_crc, &fd)) {
      *debuginfo_file_name = strdup(candidate.c_str());
      return fd;
    }
  }
  return -1;
}

}  // namespace memtrace
