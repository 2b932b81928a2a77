// Report rendering, naming and rotation (see report_writer.h).
#include "src/report/report_writer.h"

#include <time.h>
#include <unistd.h>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/log.h"
#include "src/report/output.h"
#include "src/report/render.h"
#include "src/report/report_doc.h"
#include "src/report/symbolizer.h"

namespace memtrace {

std::vector<std::string> SplitOutputs(const std::string& value) {
  return absl::StrSplit(value, ',', absl::SkipEmpty());
}

std::string ReportWriter::Write(const Snapshot& snapshot, const std::string& explicit_path) {
  std::vector<std::string> patterns = SplitOutputs(explicit_path.empty() ? options_.output : explicit_path);
  struct Output {
    std::string pattern;
    ReportFormat format;
  };
  std::vector<Output> outputs;
  for (const std::string& p : patterns) {
    // Configured outputs: MEMTRACE_FORMAT, else each name's extension (text
    // when it has none). A path given with the request: its extension, else
    // the configured format.
    ReportFormat f = !explicit_path.empty()          ? FormatForPath(p, options_.format)
                     : options_.format_explicit ? options_.format
                                                : FormatForPath(p, ReportFormat::kText);
    outputs.push_back(Output{p, f});
  }
  bool to_stderr = outputs.empty();
  bool discard_all = !to_stderr;
  for (const Output& o : outputs) discard_all &= IsDiscardPath(o.pattern);
  if (discard_all) return explicit_path.empty() ? options_.output : explicit_path;  // /dev/null: nothing to render
  auto now_ms = [] {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
  };
  double start = now_ms();
  std::unique_ptr<Symbolizer> symbolizer =
      options_.modules != nullptr && !options_.modules->empty()
          ? std::make_unique<Symbolizer>(*options_.modules, Symbolizer::Options{options_.libc_lines}, snapshot.pid)
          : Symbolizer::ForProcess(snapshot.pid, Symbolizer::Options{options_.libc_lines});
  ReportDoc doc = BuildReportDoc(snapshot, *symbolizer, DocOptions{options_.max_sites});
  MT_LOG_INFO("report #%llu: %zu sites (%zu stacks) symbolized in %.1f ms",
              static_cast<unsigned long long>(snapshot.sequence), doc.sites.size(), snapshot.sites.size(),
              now_ms() - start);
  ReportOptions render{options_.top};
  std::lock_guard<std::mutex> lock(mu_);
  if (to_stderr) {
    WriteToStderr(RenderReport(doc, options_.format, render));
    return "stderr";
  }
  bool forked = snapshot.pid != options_.start_pid || !options_.owns_names;
  std::vector<std::string> written;
  for (const Output& o : outputs) {
    if (IsDiscardPath(o.pattern)) {  // MEMTRACE_OUTPUT=/dev/null: no file, and no PATH.<pid> in a child
      written.push_back(o.pattern);
      continue;
    }
    std::string path = ExpandOutputPath(o.pattern, snapshot.pid, snapshot.sequence, explicit_path.empty() && forked);
    double render_start = now_ms();
    std::string content = RenderReport(doc, o.format, render);
    MT_LOG_INFO("report #%llu: %s rendered in %.1f ms (%zu bytes)", static_cast<unsigned long long>(snapshot.sequence),
                FormatName(o.format), now_ms() - render_start, content.size());
    safe_file::FileId id;
    absl::Status st = WriteReportFile(path, content, &id);
    if (!st.ok()) {
      MT_LOG_ERROR("cannot write the report (%s); writing it to stderr", Printable(std::string(st.message())).c_str());
      WriteToStderr(o.format == ReportFormat::kPprof ? RenderTextReport(doc, render) : content);
      written.push_back("stderr");
      continue;
    }
    MT_LOG_INFO("report #%llu written to %s", static_cast<unsigned long long>(snapshot.sequence),
                Printable(path).c_str());
    written.push_back(path);
    if (explicit_path.empty() && PatternHasSequence(o.pattern)) {
      kept_.push_back(Kept{path, id});
      while (kept_.size() > static_cast<size_t>(options_.keep) * outputs.size()) {
        absl::Status removed = safe_file::RemoveFileIfSame(kept_.front().path, kept_.front().id);
        if (!removed.ok() && !absl::IsNotFound(removed)) {
          MT_LOG_INFO("rotation: %s", Printable(std::string(removed.message())).c_str());
        }
        kept_.pop_front();
      }
    }
  }
  return absl::StrJoin(written, ",");
}

}  // namespace memtrace
