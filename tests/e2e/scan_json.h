// A small JSON value for the scan driver's output: what the driver needs of
// a document it builds piece by piece (merging per-site totals), written with
// the project's own string escaping (src/report/json_text.h). The project
// has no JSON library (docs/dependencies.md); the report's writer is
// generated from its schema and does not fit an ad-hoc test document.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "src/report/json_text.h"

namespace scan_test {

class Json {
 public:
  enum class Kind { kNull, kBool, kInt, kDouble, kString, kArray, kObject };

  Json() = default;
  Json(std::nullptr_t) {}
  Json(bool b) : kind_(Kind::kBool), b_(b) {}
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Json(T v) : kind_(Kind::kInt), negative_(v < 0), i_(static_cast<uint64_t>(v)) {}
  Json(double d) : kind_(Kind::kDouble), d_(d) {}
  Json(const char* s) : kind_(Kind::kString), s_(s) {}
  Json(std::string s) : kind_(Kind::kString), s_(std::move(s)) {}
  Json(const std::vector<std::string>& v) : kind_(Kind::kArray) {
    for (const auto& s : v) a_.emplace_back(s);
  }
  static Json Array() {
    Json j;
    j.kind_ = Kind::kArray;
    return j;
  }
  static Json Object(std::initializer_list<std::pair<const char*, Json>> fields = {}) {
    Json j;
    j.kind_ = Kind::kObject;
    for (const auto& [k, v] : fields) j.o_.emplace_back(k, v);
    return j;
  }

  bool is_null() const { return kind_ == Kind::kNull; }
  uint64_t u64() const { return i_; }
  bool contains(const std::string& key) const {
    for (const auto& [k, v] : o_) {
      if (k == key) return true;
    }
    return false;
  }
  // The member `key`, created (null) when absent; a null value becomes an object.
  Json& operator[](const std::string& key) {
    if (kind_ == Kind::kNull) kind_ = Kind::kObject;
    for (auto& [k, v] : o_) {
      if (k == key) return v;
    }
    o_.emplace_back(key, Json());
    return o_.back().second;
  }
  void push_back(Json v) {
    if (kind_ == Kind::kNull) kind_ = Kind::kArray;
    a_.push_back(std::move(v));
  }

  std::string dump() const {
    std::string out;
    Dump(&out, 0);
    out += '\n';
    return out;
  }

 private:
  void Dump(std::string* out, int depth) const {
    switch (kind_) {
      case Kind::kNull: *out += "null"; break;
      case Kind::kBool: *out += b_ ? "true" : "false"; break;
      case Kind::kInt:
        if (negative_) *out += std::to_string(static_cast<int64_t>(i_));
        else *out += std::to_string(i_);
        break;
      case Kind::kDouble: *out += std::to_string(d_); break;
      case Kind::kString: memtrace::json::AppendQuoted(out, s_); break;
      case Kind::kArray:
        *out += '[';
        for (size_t i = 0; i < a_.size(); ++i) {
          if (i) *out += ',';
          if (depth == 0) *out += "\n ";
          a_[i].Dump(out, depth + 1);
        }
        *out += ']';
        break;
      case Kind::kObject:
        *out += '{';
        for (size_t i = 0; i < o_.size(); ++i) {
          if (i) *out += ',';
          if (depth == 0) *out += "\n ";
          memtrace::json::AppendQuoted(out, o_[i].first);
          *out += ':';
          o_[i].second.Dump(out, depth + 1);
        }
        if (depth == 0) *out += '\n';
        *out += '}';
        break;
    }
  }

  Kind kind_ = Kind::kNull;
  bool b_ = false;
  bool negative_ = false;
  uint64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  std::vector<Json> a_;
  std::vector<std::pair<std::string, Json>> o_;
};

}  // namespace scan_test
