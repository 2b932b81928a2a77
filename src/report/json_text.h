// JSON at the byte level, for the report schema's writer and reader
// (report_schema.h): string escaping that keeps every byte, and a cursor
// over untrusted input that validates as it goes and never recurses deeper
// than a bound.
//
// Byte strings, not text: paths and symbols are whatever bytes the system
// gave us, not necessarily UTF-8. A string is written with its valid UTF-8
// sequences as they are and every byte that is not part of one as the lone
// surrogate escape \udcXX (XX = the byte; PEP 383's "surrogateescape", which
// is what Python does with such bytes in file names). Reading maps \udc80..
// \udcff back to the byte, so a string survives the round trip exactly;
// Python's json reads it as the str that os.fsdecode would give, so
// open(frame["file"]) opens the right file. Control characters (C0, DEL
// and C1) are escaped, so a report printed to a terminal cannot drive it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace memtrace::json {

// Appends `s` as a JSON string literal (with quotes).
void AppendQuoted(std::string* out, std::string_view s);

// The length of the well-formed UTF-8 sequence at s[i] (1..4), or 0 when the
// byte there does not start one (overlong forms, surrogates and code points
// above U+10FFFF are not well-formed).
size_t Utf8SequenceLength(std::string_view s, size_t i);

inline constexpr int kMaxDepth = 64;

// A position in a JSON text. Every method returns false on malformed input
// and leaves a message in error().
class Cursor {
 public:
  explicit Cursor(std::string_view text, size_t pos = 0) : text_(text), pos_(pos) {}

  size_t pos() const { return pos_; }
  void set_pos(size_t pos) { pos_ = pos; }
  const std::string& error() const { return error_; }
  bool AtEnd() {
    SkipSpace();
    return pos_ >= text_.size();
  }

  void SkipSpace();
  // The next significant byte (0 at the end), not consumed.
  char Peek();
  // Consumes `c` if it is the next significant byte.
  bool Consume(char c);
  bool Expect(char c, const char* what);
  // A string literal, decoded (see above).
  bool ReadString(std::string* out);
  // A number literal: its text, and whether it has a fraction or exponent.
  bool ReadNumber(std::string_view* token, bool* is_integer);
  // `true`, `false` or `null`.
  bool ReadLiteral(std::string_view word);
  // Any value, checked but not kept; `depth` is the current nesting.
  bool SkipValue(int depth);
  // What the next value is, for messages: "an object", "a string", ...
  const char* NextKind();

  bool Fail(std::string message);

 private:
  std::string_view text_;
  size_t pos_;
  std::string error_;
};

}  // namespace memtrace::json
