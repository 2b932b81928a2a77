// Report rendering, naming and rotation (see report_writer.h).
#include "src/report/report_writer.h"

#include <unistd.h>

#include "absl/strings/match.h"
#include "src/log.h"
#include "src/report/output.h"
#include "src/report/report_doc.h"
#include "src/report/symbolizer.h"

namespace memtrace {

std::string ReportWriter::Write(const Snapshot& snapshot, const std::string& explicit_path) {
  ReportFormat format = options_.format;
  if (!explicit_path.empty() && absl::EndsWithIgnoreCase(explicit_path, ".json")) format = ReportFormat::kJson;
  std::unique_ptr<Symbolizer> symbolizer =
      options_.modules != nullptr && !options_.modules->empty()
          ? std::make_unique<Symbolizer>(*options_.modules, Symbolizer::Options{options_.libc_lines}, snapshot.pid)
          : Symbolizer::ForProcess(snapshot.pid, Symbolizer::Options{options_.libc_lines});
  ReportDoc doc = BuildReportDoc(snapshot, *symbolizer);
  std::string text = format == ReportFormat::kJson ? RenderJsonReport(doc)
                                                   : RenderTextReport(doc, ReportOptions{options_.top});
  std::lock_guard<std::mutex> lock(mu_);
  const std::string& pattern = explicit_path.empty() ? options_.output : explicit_path;
  if (pattern.empty()) {
    WriteToStderr(text);
    return "stderr";
  }
  std::string path = ExpandOutputPath(pattern, snapshot.pid, snapshot.sequence, explicit_path.empty() && options_.forked);
  absl::Status st = WriteReportFile(path, text);
  if (!st.ok()) {
    MT_LOG_ERROR("cannot write the report (%s); writing it to stderr", std::string(st.message()).c_str());
    WriteToStderr(text);
    return "stderr";
  }
  MT_LOG_INFO("report #%llu written to %s", static_cast<unsigned long long>(snapshot.sequence), path.c_str());
  if (explicit_path.empty() && PatternHasSequence(pattern)) {
    kept_.push_back(path);
    while (kept_.size() > static_cast<size_t>(options_.keep)) {
      unlink(kept_.front().c_str());
      kept_.pop_front();
    }
  }
  return path;
}

}  // namespace memtrace
