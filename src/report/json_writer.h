// The writing visitor of the report schema (report_schema.h): one pass over
// a document, appending JSON. The top-level fields and the elements of
// top-level arrays each start a line, so reports stay greppable; everything
// else is compact.
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "src/report/json_text.h"
#include "src/report/report_schema.h"

namespace memtrace::schema {

class JsonWriter {
 public:
  static constexpr bool kReading = false;

  explicit JsonWriter(std::string* out) : out_(out) {}

  // The whole document: `describe(*this)` lists the root object's fields.
  template <class Fn>
  void Root(Fn&& describe) {
    Open('{', "\n ");
    describe(*this);
    levels_.pop_back();
    *out_ += "\n}\n";
  }

  template <class T>
  void Field(const char* name, T&& value) {
    using U = std::remove_cvref_t<T>;
    if constexpr (IsOptional<U>::value) {
      if (!value) return;
      Key(name);
      Value(*value);
    } else if constexpr (std::is_same_v<U, TrueOrAbsent>) {
      if (!value.value) return;
      Key(name);
      *out_ += "true";
    } else {
      Key(name);
      Value(value);
    }
  }

  template <class Fn>
  void Object(const char* name, Fn&& fn) {
    Key(name);
    Open('{', nullptr);
    fn(*this);
    Close('}');
  }

  template <class T, class Fn>
  void Array(const char* name, std::vector<T>& items, Fn&& fn) {
    Key(name);
    OpenArray();
    for (T& item : items) {
      Separator();
      Open('{', nullptr);
      fn(*this, item);
      Close('}');
    }
    Close(']');
  }

  template <class Fn>
  void Derived(const char* name, Fn&& fn) {
    auto value = fn();
    Key(name);
    Value(value);
  }

 private:
  // `indent`: what starts each item of this container on its own line, or
  // null for a compact container.
  struct Level {
    bool first;
    const char* indent;
  };
  void Open(char c, const char* indent) {
    *out_ += c;
    levels_.push_back(Level{true, indent});
  }
  // Arrays that are top-level fields list one element per line.
  void OpenArray() { Open('[', levels_.size() == 1 ? "\n  " : nullptr); }
  void Close(char c) {
    levels_.pop_back();
    *out_ += c;
  }
  void Separator() {
    Level& l = levels_.back();
    if (!l.first) *out_ += l.indent != nullptr ? "," : ", ";
    l.first = false;
    if (l.indent != nullptr) *out_ += l.indent;
  }
  void Key(const char* name) {
    Separator();
    json::AppendQuoted(out_, name);
    *out_ += ": ";
  }

  void Value(bool b) { *out_ += b ? "true" : "false"; }
  template <class T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
  void Value(T n) {
    fmt::format_to(std::back_inserter(*out_), "{}", n);
  }
  void Value(double x) {
    if (!std::isfinite(x)) x = 0;
    fmt::format_to(std::back_inserter(*out_), "{}", x);
  }
  void Value(const std::string& s) { json::AppendQuoted(out_, s); }
  template <class T>
  void Value(std::vector<T>& items) {
    OpenArray();
    for (T& item : items) {
      Separator();
      Value(item);
    }
    Close(']');
  }
  template <class T>
  void Value(const NullIf<T>& x) {
    if (x.value == x.sentinel) *out_ += "null";
    else Value(x.value);
  }
  void Value(const NullIfEmpty& x) {
    if (x.value.empty()) *out_ += "null";
    else Value(x.value);
  }
  void Value(const OneOf& x) { Value(x.value); }
  void Value(const OneOfStatic& x) { json::AppendQuoted(out_, x.value != nullptr ? x.value : ""); }
  void Value(const Indices& x) { Value(x.ids); }
  void Value(const OptionalIndex& x) {
    if (x.index < 0) *out_ += "null";
    else Value(x.index);
  }
  void Value(const ModuleRef& x) {
    if (x.path.empty()) {
      *out_ += "null";
      return;
    }
    if (x.table.index.empty()) {
      for (size_t i = 0; i < x.table.modules.size(); ++i) x.table.index.try_emplace(x.table.modules[i].path, i);
    }
    auto it = x.table.index.find(x.path);
    if (it == x.table.index.end()) *out_ += "null";  // cannot happen: modules list every frame's module
    else Value(it->second);
  }
  void Value(const Literal& x) { json::AppendQuoted(out_, x.value); }
  template <class T>
    requires requires(JsonWriter& w, T& t) { Describe(w, t); }
  void Value(T& x) {
    Open('{', nullptr);
    Describe(*this, x);
    Close('}');
  }

  std::string* out_;
  std::vector<Level> levels_;
};

}  // namespace memtrace::schema
