// The control-file trigger (see control_file.h).
#include "src/trigger/control_file.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "src/log.h"
#include "src/report/render.h"
#include "src/report/safe_file.h"
#include "src/trigger/control_protocol.h"

namespace memtrace {

std::string ControlFile::DefaultDir() { return absl::StrCat("/tmp/memtrace-", geteuid()); }
std::string ControlFile::RequestName(int pid) { return absl::StrCat(pid, ".dump"); }
std::string ControlFile::AckName(int pid) { return absl::StrCat(pid, ".last"); }
std::string ControlFile::AnswerName(int pid, const std::string& token) { return absl::StrCat(pid, ".ack.", token); }

bool ControlFile::Init(const std::string& setting, int pid) {
  dir_.clear();
  pid_ = pid;
  if (setting == "none") return false;
  std::string dir = setting.empty() ? DefaultDir() : setting;
  absl::StatusOr<safe_file::Dir> d = safe_file::Dir::OpenPrivate(dir, /*create=*/true);
  if (!d.ok()) {
    MT_LOG_WARN("control directory: %s; memtrace dump PID is off (memtrace dump --signal still works)",
                Printable(std::string(d.status().message())).c_str());
    return false;
  }
  dir_ = dir;
  return true;
}

bool ControlFile::Poll(std::string* path, bool* leaks) {
  if (dir_.empty()) return false;
  // Opened and verified again each time: names are only ever used relative
  // to a directory that is ours now.
  absl::StatusOr<safe_file::Dir> d = safe_file::Dir::OpenPrivate(dir_, /*create=*/false);
  if (!d.ok()) return false;
  std::string name = RequestName(pid_);
  absl::StatusOr<std::string> bytes = d->Read(name, control::kMaxFileBytes);
  if (!bytes.ok()) {
    if (!absl::IsNotFound(bytes.status())) (void)d->Remove(name);  // a link, a huge file: not ours to read
    return false;
  }
  (void)d->Remove(name);
  absl::StatusOr<control::DumpRequest> request = control::ParseRequest(*bytes);
  if (!request.ok()) {
    MT_LOG_WARN("ignoring a malformed dump request in %s: %s", Printable(dir_).c_str(),
                std::string(request.status().message()).c_str());
    return false;
  }
  pending_token_ = request->token;
  *path = request->output;
  *leaks = request->leaks;
  return true;
}

void ControlFile::Acknowledge(const std::string& where) {
  std::string token = pending_token_.empty() ? control::kNoToken : pending_token_;
  pending_token_.clear();
  if (dir_.empty()) return;
  absl::StatusOr<safe_file::Dir> d = safe_file::Dir::OpenPrivate(dir_, /*create=*/false);
  if (!d.ok()) return;
  absl::StatusOr<std::string> ack = control::EncodeAck(control::Ack{token, where});
  if (!ack.ok()) return;
  (void)d->Replace(AckName(pid_), *ack);
  if (token != control::kNoToken) {
    if (!last_answer_.empty()) (void)d->Remove(last_answer_);  // unread: its command gave up
    last_answer_ = AnswerName(pid_, token);
    (void)d->Replace(last_answer_, *ack);
  }
}

void ControlFile::Cleanup() {
  if (dir_.empty()) return;
  absl::StatusOr<safe_file::Dir> d = safe_file::Dir::OpenPrivate(dir_, /*create=*/false);
  if (!d.ok()) return;
  (void)d->Remove(RequestName(pid_));
  (void)d->Remove(AckName(pid_));
  if (!last_answer_.empty()) (void)d->Remove(last_answer_);
}

}  // namespace memtrace
