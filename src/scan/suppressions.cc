// Suppressions: parsing, LSan's template match, matching stacks.
#include "src/scan/suppressions.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace memtrace::scan {
namespace {

// '*' matches any run of characters (the classic two-pointer glob match,
// backtracking to the last '*').
bool Glob(std::string_view pat, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pat.size() && pat[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool TemplateMatch(std::string_view pattern, std::string_view text) {
  if (text.empty()) return false;  // as LSan: an unknown name matches nothing
  bool anchored = !pattern.empty() && pattern.front() == '^';
  if (anchored) pattern.remove_prefix(1);
  bool to_end = !pattern.empty() && pattern.back() == '$';
  if (to_end) pattern.remove_suffix(1);
  std::string glob;
  glob.reserve(pattern.size() + 2);
  if (!anchored) glob += '*';
  glob += pattern;
  if (!to_end) glob += '*';
  return Glob(glob, text);
}

const std::vector<std::string>& Suppressions::BuiltIn() {
  static const std::vector<std::string> list = {
      // LeakSanitizer's own: dynamic TLS blocks hang off the thread's DTV,
      // which glibc's thread descriptor points into (dtv + 1), never at.
      "*tls_get_addr*",
  };
  return list;
}

void Suppressions::AddBuiltIn() {
  for (const std::string& p : BuiltIn()) suppressions_.push_back({p, "built-in", {}});
}

void Suppressions::Parse(std::string_view text, const std::string& origin, std::vector<std::string>* errors) {
  int lineno = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++lineno;
    line = Trim(line);
    if (line.empty() || line.front() == '#') continue;
    size_t colon = line.find(':');
    std::string_view type = colon == std::string_view::npos ? std::string_view() : line.substr(0, colon);
    std::string_view pattern = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    pattern = Trim(pattern);
    if (type != "leak" || pattern.empty()) {
      if (errors) {
        errors->push_back(absl::StrCat("suppressions ", origin, ":", lineno, ": not a 'leak:PATTERN' line, skipped: ",
                                       std::string(line)));
      }
      continue;
    }
    suppressions_.push_back({std::string(pattern), absl::StrCat(origin, ":", lineno), {}});
  }
}

bool Suppressions::LoadFile(const std::string& path, std::vector<std::string>* errors) {
  std::ifstream in(path);
  if (!in) {
    if (errors) errors->push_back(absl::StrCat("cannot read suppressions file ", path));
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  Parse(ss.str(), path, errors);
  return true;
}

int Suppressions::Match(std::span<const SymbolizedFrame> frames) const {
  for (const SymbolizedFrame& f : frames) {
    for (size_t i = 0; i < suppressions_.size(); ++i) {
      const std::string& p = suppressions_[i].pattern;
      if (TemplateMatch(p, f.function) || TemplateMatch(p, f.file) || TemplateMatch(p, f.module)) {
        return static_cast<int>(i);
      }
    }
  }
  return -1;
}

}  // namespace memtrace::scan
