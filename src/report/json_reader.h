// The reading visitor of the report schema (report_schema.h): untrusted
// bytes in, a ReportDoc or one line naming the first field that does not
// match out.
//
// No DOM: each object is scanned once for its keys (values are checked and
// skipped, depth bounded), then the schema asks for its fields by name and
// each is read in place. Memory is the document being built plus one key list
// per open object; nothing recurses deeper than json::kMaxDepth; nothing
// throws except std::bad_alloc, which callers turn into one line.
#pragma once

#include <charconv>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "src/report/json_text.h"
#include "src/report/report_schema.h"

namespace memtrace::schema {

// What every reader of one document shares: the input, the first error, and
// where in the document the reader is (for that error's line).
struct ReadState {
  explicit ReadState(std::string_view t) : text(t) {}
  std::string_view text;
  std::string error;  // empty while all is well
  std::vector<std::string> path;

  bool failed() const { return !error.empty(); }
  void Fail(std::string_view message) {
    if (failed()) return;
    std::string where;
    for (const std::string& p : path) {
      if (!where.empty() && p[0] != '[') where += '.';
      where += p;
    }
    error = where.empty() ? std::string(message) : where + ": " + std::string(message);
  }
  void FailCursor(const json::Cursor& c) { Fail(c.error()); }
};

class JsonReader {
 public:
  static constexpr bool kReading = true;

  // Reads the object whose '{' is the next significant byte at `pos`.
  JsonReader(ReadState* st, size_t pos, int depth) : st_(st), depth_(depth) { Scan(pos); }
  // Where the object ended (the byte after '}').
  size_t end() const { return end_; }

  template <class T>
  void Field(const char* name, T&& value) {
    using U = std::remove_cvref_t<T>;
    if (st_->failed()) return;
    const size_t* at = Find(name);
    if (at == nullptr) {
      if constexpr (!IsOptional<U>::value && !std::is_same_v<U, TrueOrAbsent>) {
        PathScope scope(st_, name);
        st_->Fail("missing");
      }
      return;
    }
    PathScope scope(st_, name);
    json::Cursor c(st_->text, *at);
    Read(c, std::forward<T>(value));
  }

  template <class Fn>
  void Object(const char* name, Fn&& fn) {
    if (st_->failed()) return;
    PathScope scope(st_, name);
    const size_t* at = Find(name);
    if (at == nullptr) return st_->Fail("missing");
    json::Cursor c(st_->text, *at);
    if (!ExpectKind(c, '{', "an object")) return;
    JsonReader child(st_, *at, depth_ + 1);
    if (!st_->failed()) fn(child);
  }

  template <class T, class Fn>
  void Array(const char* name, std::vector<T>& items, Fn&& fn) {
    if (st_->failed()) return;
    PathScope scope(st_, name);
    const size_t* at = Find(name);
    if (at == nullptr) return st_->Fail("missing");
    json::Cursor c(st_->text, *at);
    ReadArray(c, [&](json::Cursor& e) {
      if (!ExpectKind(e, '{', "an object")) return false;
      JsonReader child(st_, e.pos(), depth_ + 2);
      if (st_->failed()) return false;
      items.emplace_back();
      fn(child, items.back());
      e.set_pos(child.end());
      return !st_->failed();
    });
  }

  template <class Fn>
  void Derived(const char*, Fn&&) {}

 private:
  struct PathScope {
    PathScope(ReadState* st, std::string segment) : st_(st) { st_->path.push_back(std::move(segment)); }
    ~PathScope() { st_->path.pop_back(); }
    ReadState* st_;
  };

  void Scan(size_t pos) {
    json::Cursor c(st_->text, pos);
    if (!c.Expect('{', "'{'")) return st_->FailCursor(c);
    if (!c.Consume('}')) {
      std::string key;
      do {
        if (!c.ReadString(&key) || !c.Expect(':', "':'")) return st_->FailCursor(c);
        c.SkipSpace();
        for (const auto& [k, at] : entries_) {
          if (k == key) return st_->Fail(fmt::format("duplicate field \"{}\"", Printable(key)));
        }
        entries_.emplace_back(key, c.pos());
        if (!c.SkipValue(depth_ + 1)) return st_->FailCursor(c);
      } while (c.Consume(','));
      if (!c.Expect('}', "',' or '}'")) return st_->FailCursor(c);
    }
    end_ = c.pos();
  }

  const size_t* Find(const char* name) const {
    for (const auto& [k, at] : entries_) {
      if (k == name) return &at;
    }
    return nullptr;
  }

  // For messages: a string from the input, without control characters.
  static std::string Printable(std::string_view s) {
    std::string out;
    for (unsigned char c : s.substr(0, 64)) {
      if (c < 0x20 || c >= 0x7f) out += fmt::format("\\x{:02x}", c);
      else out += static_cast<char>(c);
    }
    if (s.size() > 64) out += "...";
    return out;
  }

  bool ExpectKind(json::Cursor& c, char open, const char* what) {
    if (c.Peek() == open) return true;
    st_->Fail(fmt::format("expected {}, found {}", what, c.NextKind()));
    return false;
  }

  // Calls `element(cursor)` for each element; it consumes the element.
  template <class Fn>
  void ReadArray(json::Cursor& c, Fn&& element) {
    if (!ExpectKind(c, '[', "an array")) return;
    c.Consume('[');
    if (c.Consume(']')) return;
    size_t index = 0;
    do {
      PathScope scope(st_, fmt::format("[{}]", index++));
      if (!element(c)) return;
    } while (c.Consume(','));
    if (!c.Expect(']', "',' or ']'")) st_->FailCursor(c);
  }

  // A number token that must be an integer.
  template <class T>
  bool ReadInteger(json::Cursor& c, T* out) {
    if (c.Peek() == '\0' || (c.Peek() != '-' && (c.Peek() < '0' || c.Peek() > '9'))) {
      st_->Fail(fmt::format("expected an integer, found {}", c.NextKind()));
      return false;
    }
    std::string_view token;
    bool integer = false;
    if (!c.ReadNumber(&token, &integer)) {
      st_->FailCursor(c);
      return false;
    }
    if (!integer) {
      st_->Fail(fmt::format("expected an integer, found {}", Printable(token)));
      return false;
    }
    auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), *out);
    if (ec != std::errc() || ptr != token.data() + token.size()) {
      st_->Fail(fmt::format("{} is out of range (expected {} to {})", Printable(token), std::numeric_limits<T>::min(),
                            std::numeric_limits<T>::max()));
      return false;
    }
    return true;
  }

  template <class T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
  void Read(json::Cursor& c, T& out) {
    ReadInteger(c, &out);
  }
  void Read(json::Cursor& c, double& out) {
    std::string_view token;
    bool integer = false;
    char p = c.Peek();
    if (p != '-' && (p < '0' || p > '9')) return st_->Fail(fmt::format("expected a number, found {}", c.NextKind()));
    if (!c.ReadNumber(&token, &integer)) return st_->FailCursor(c);
    auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), out);
    if (ec != std::errc() || ptr != token.data() + token.size()) {
      st_->Fail(fmt::format("{} is out of range", Printable(token)));
    }
  }
  void Read(json::Cursor& c, bool& out) {
    char p = c.Peek();
    if (p == 't') out = c.ReadLiteral("true");
    else if (p == 'f') out = !c.ReadLiteral("false");
    else return st_->Fail(fmt::format("expected true or false, found {}", c.NextKind()));
    if (!c.error().empty()) st_->FailCursor(c);
  }
  void Read(json::Cursor& c, std::string& out) {
    if (c.Peek() != '"') return st_->Fail(fmt::format("expected a string, found {}", c.NextKind()));
    if (!c.ReadString(&out)) st_->FailCursor(c);
  }
  // null, or read as the underlying value.
  bool ReadNull(json::Cursor& c) {
    if (c.Peek() != 'n') return false;
    if (!c.ReadLiteral("null")) st_->FailCursor(c);
    return true;
  }
  template <class T>
  void Read(json::Cursor& c, std::optional<T>& out) {
    if (ReadNull(c)) return;
    T value{};
    Read(c, value);
    if (!st_->failed()) out = std::move(value);
  }
  template <class T>
  void Read(json::Cursor& c, std::vector<T>& out) {
    ReadArray(c, [&](json::Cursor& e) {
      out.emplace_back();
      if constexpr (std::is_arithmetic_v<T>) {
        Read(e, out.back());
      } else {
        if (!ExpectKind(e, '{', "an object")) return false;
        JsonReader child(st_, e.pos(), depth_ + 2);
        if (st_->failed()) return false;
        Describe(child, out.back());
        e.set_pos(child.end());
      }
      return !st_->failed();
    });
  }
  template <class T>
  void Read(json::Cursor& c, NullIf<T>&& x) {
    if (ReadNull(c)) {
      x.value = x.sentinel;
      return;
    }
    Read(c, x.value);
  }
  void Read(json::Cursor& c, NullIfEmpty&& x) {
    if (ReadNull(c)) {
      x.value.clear();
      return;
    }
    Read(c, x.value);
  }
  int MatchOne(const std::string& value, std::span<const char* const> values) {
    for (size_t i = 0; i < values.size(); ++i) {
      if (value == values[i]) return static_cast<int>(i);
    }
    std::string list;
    for (const char* v : values) list += (list.empty() ? "" : ", ") + std::string(v);
    st_->Fail(fmt::format("\"{}\" is not one of {}", Printable(value), list));
    return -1;
  }
  void Read(json::Cursor& c, OneOf&& x) {
    Read(c, x.value);
    if (!st_->failed()) MatchOne(x.value, x.values);
  }
  void Read(json::Cursor& c, OneOfStatic&& x) {
    std::string s;
    Read(c, s);
    if (st_->failed()) return;
    int i = MatchOne(s, x.values);
    if (i >= 0) x.value = x.values[static_cast<size_t>(i)];
  }
  bool CheckIndex(uint64_t i, size_t limit, const char* table) {
    if (i < limit) return true;
    st_->Fail(fmt::format("{} is not an index into {} ({} entries)", i, table, limit));
    return false;
  }
  void Read(json::Cursor& c, Indices&& x) {
    ReadArray(c, [&](json::Cursor& e) {
      uint32_t id = 0;
      if (!ReadInteger(e, &id) || !CheckIndex(id, x.limit, x.table)) return false;
      x.ids.push_back(id);
      return true;
    });
  }
  void Read(json::Cursor& c, OptionalIndex&& x) {
    if (ReadNull(c)) {
      x.index = -1;
      return;
    }
    uint32_t i = 0;
    if (ReadInteger(c, &i) && CheckIndex(i, x.limit, x.table)) x.index = i;
  }
  void Read(json::Cursor& c, ModuleRef&& x) {
    if (ReadNull(c)) {
      x.path.clear();
      return;
    }
    uint32_t i = 0;
    if (ReadInteger(c, &i) && CheckIndex(i, x.table.modules.size(), "modules")) x.path = x.table.modules[i].path;
  }
  void Read(json::Cursor& c, Literal&& x) {
    std::string s;
    Read(c, s);
    if (!st_->failed() && s != x.value) {
      st_->Fail(fmt::format("\"{}\" is not {} (this memtrace reads {} reports)", Printable(s), x.value, x.value));
    }
  }
  void Read(json::Cursor& c, TrueOrAbsent&& x) { Read(c, x.value); }
  template <class T>
    requires requires(JsonReader& r, T& t) { Describe(r, t); }
  void Read(json::Cursor& c, T& out) {
    if (!ExpectKind(c, '{', "an object")) return;
    JsonReader child(st_, c.pos(), depth_ + 1);
    if (!st_->failed()) Describe(child, out);
  }
  ReadState* st_;
  int depth_;
  size_t end_ = 0;
  std::vector<std::pair<std::string, size_t>> entries_;
};

}  // namespace memtrace::schema
