// The control-file trigger (see control_file.h).
#include "src/trigger/control_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "src/log.h"
#include "src/report/output.h"

namespace memtrace {

std::string ControlFile::DefaultDir() { return absl::StrCat("/tmp/memtrace-", geteuid()); }

bool ControlFile::Init(const std::string& setting, int pid) {
  dir_.clear();
  pid_ = pid;
  if (setting == "none") return false;
  std::string dir = setting.empty() ? DefaultDir() : setting;
  mkdir(dir.c_str(), 0700);
  struct stat st{};
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0022) != 0) {
    MT_LOG_WARN("control directory %s is not a private directory of ours; memtrace dump is off", dir.c_str());
    return false;
  }
  dir_ = dir;
  return true;
}

std::string ControlFile::PidFile(const char* suffix) const { return absl::StrCat(dir_, "/", pid_, suffix); }

bool ControlFile::Poll(std::string* path) {
  if (dir_.empty()) return false;
  std::string request = PidFile(".dump");
  int fd = open(request.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  unlink(request.c_str());
  path->assign(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!path->empty() && (path->back() == '\n' || path->back() == ' ')) path->pop_back();
  return true;
}

void ControlFile::Acknowledge(const std::string& where) {
  if (dir_.empty()) return;
  (void)WriteReportFile(PidFile(".last"), where + "\n");
}

void ControlFile::Cleanup() {
  if (dir_.empty()) return;
  unlink(PidFile(".dump").c_str());
  unlink(PidFile(".last").c_str());
}

}  // namespace memtrace
