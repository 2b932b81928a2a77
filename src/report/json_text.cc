// JSON escaping and the validating cursor (see json_text.h).
#include "src/report/json_text.h"

#include <fmt/format.h>

namespace memtrace::json {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void AppendEscape(std::string* out, unsigned code) {
  out->append("\\u");
  for (int shift = 12; shift >= 0; shift -= 4) out->push_back(kHex[(code >> shift) & 0xf]);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

}  // namespace

size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto at = [&](size_t k) -> unsigned { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0x100; };
  auto cont = [&](size_t k) { return (at(k) & 0xc0) == 0x80; };
  unsigned b = at(0);
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return cont(1) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    if (b == 0xe0 && at(1) < 0xa0) return 0;   // overlong
    if (b == 0xed && at(1) >= 0xa0) return 0;  // UTF-16 surrogates
    return 3;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (b == 0xf0 && at(1) < 0x90) return 0;   // overlong
    if (b == 0xf4 && at(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

void AppendQuoted(std::string* out, std::string_view s) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out->push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); ++i; continue;
      case '\\': out->append("\\\\"); ++i; continue;
      case '\n': out->append("\\n"); ++i; continue;
      case '\t': out->append("\\t"); ++i; continue;
      case '\r': out->append("\\r"); ++i; continue;
      default: break;
    }
    if (c < 0x80) {  // other control characters and DEL
      AppendEscape(out, c);
      ++i;
      continue;
    }
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      AppendEscape(out, 0xdc00 | c);  // a byte outside valid UTF-8: surrogateescape
      ++i;
    } else if (n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) {
      AppendEscape(out, static_cast<unsigned char>(s[i + 1]));  // C1 controls act on terminals: escaped too
      i += 2;
    } else {
      out->append(s.substr(i, n));
      i += n;
    }
  }
  out->push_back('"');
}

void Cursor::SkipSpace() {
  while (pos_ < text_.size()) {
    char c = text_[pos_];
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r') break;
    ++pos_;
  }
}

char Cursor::Peek() {
  SkipSpace();
  return pos_ < text_.size() ? text_[pos_] : '\0';
}

bool Cursor::Consume(char c) {
  if (Peek() != c || pos_ >= text_.size()) return false;
  ++pos_;
  return true;
}

bool Cursor::Fail(std::string message) {
  if (error_.empty()) error_ = std::move(message);
  return false;
}

bool Cursor::Expect(char c, const char* what) {
  if (Consume(c)) return true;
  if (pos_ >= text_.size()) return Fail(fmt::format("the report ends early: expected {}", what));
  unsigned char got = static_cast<unsigned char>(text_[pos_]);
  if (got >= 0x21 && got < 0x7f) return Fail(fmt::format("expected {} at byte {}, found '{}'", what, pos_, static_cast<char>(got)));
  return Fail(fmt::format("expected {} at byte {}, found byte 0x{:02x}", what, pos_, got));
}

const char* Cursor::NextKind() {
  switch (Peek()) {
    case '{': return "an object";
    case '[': return "an array";
    case '"': return "a string";
    case 't': case 'f': return "a boolean";
    case 'n': return "null";
    case '\0': return "the end of the report";
    default: return "a number";
  }
}

bool Cursor::ReadString(std::string* out) {
  if (!Expect('"', "a string")) return false;
  out->clear();
  while (true) {
    if (pos_ >= text_.size()) return Fail("the report ends inside a string");
    unsigned char c = static_cast<unsigned char>(text_[pos_]);
    if (c == '"') {
      ++pos_;
      return true;
    }
    if (c < 0x20) return Fail(fmt::format("control character 0x{:02x} inside a string at byte {}", c, pos_));
    if (c != '\\') {
      // Copy a run of plain bytes at once (bytes >= 0x80 that are not UTF-8
      // are kept: reports of older versions wrote them raw).
      size_t end = pos_;
      while (end < text_.size() && text_[end] != '"' && text_[end] != '\\' &&
             static_cast<unsigned char>(text_[end]) >= 0x20) {
        ++end;
      }
      out->append(text_.substr(pos_, end - pos_));
      pos_ = end;
      continue;
    }
    if (pos_ + 1 >= text_.size()) return Fail("the report ends inside a string");
    char e = text_[pos_ + 1];
    pos_ += 2;
    switch (e) {
      case '"': out->push_back('"'); continue;
      case '\\': out->push_back('\\'); continue;
      case '/': out->push_back('/'); continue;
      case 'b': out->push_back('\b'); continue;
      case 'f': out->push_back('\f'); continue;
      case 'n': out->push_back('\n'); continue;
      case 'r': out->push_back('\r'); continue;
      case 't': out->push_back('\t'); continue;
      case 'u': break;
      default: return Fail(fmt::format("invalid escape in a string at byte {}", pos_ - 2));
    }
    auto hex4 = [&](uint32_t* v) {
      if (pos_ + 4 > text_.size()) return false;
      *v = 0;
      for (int k = 0; k < 4; ++k) {
        int h = HexValue(text_[pos_ + k]);
        if (h < 0) return false;
        *v = (*v << 4) | static_cast<uint32_t>(h);
      }
      pos_ += 4;
      return true;
    };
    uint32_t cp = 0;
    if (!hex4(&cp)) return Fail(fmt::format("invalid \\u escape at byte {}", pos_ - 2));
    if (cp >= 0xd800 && cp <= 0xdbff) {
      uint32_t low = 0;
      if (pos_ + 2 <= text_.size() && text_[pos_] == '\\' && text_[pos_ + 1] == 'u') {
        size_t save = pos_;
        pos_ += 2;
        if (hex4(&low) && low >= 0xdc00 && low <= 0xdfff) {
          AppendUtf8(out, 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00));
          continue;
        }
        pos_ = save;
      }
      return Fail(fmt::format("unpaired surrogate \\u{:04x} at byte {}", cp, pos_ - 6));
    }
    if (cp >= 0xdc80 && cp <= 0xdcff) {
      out->push_back(static_cast<char>(cp & 0xff));  // surrogateescape: the raw byte
      continue;
    }
    if (cp >= 0xdc00 && cp <= 0xdfff) return Fail(fmt::format("unpaired surrogate \\u{:04x} at byte {}", cp, pos_ - 6));
    AppendUtf8(out, cp);
  }
}

bool Cursor::ReadNumber(std::string_view* token, bool* is_integer) {
  SkipSpace();
  size_t start = pos_;
  auto digits = [&] {
    size_t d = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    return pos_ - d;
  };
  if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
  size_t int_start = pos_;
  size_t n = digits();
  if (n == 0) {
    pos_ = start;
    return Fail(fmt::format("expected a number at byte {}", start));
  }
  if (n > 1 && text_[int_start] == '0') return Fail(fmt::format("a number with a leading zero at byte {}", start));
  *is_integer = true;
  if (pos_ < text_.size() && text_[pos_] == '.') {
    ++pos_;
    *is_integer = false;
    if (digits() == 0) return Fail(fmt::format("malformed number at byte {}", start));
  }
  if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
    ++pos_;
    *is_integer = false;
    if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
    if (digits() == 0) return Fail(fmt::format("malformed number at byte {}", start));
  }
  *token = text_.substr(start, pos_ - start);
  return true;
}

bool Cursor::ReadLiteral(std::string_view word) {
  SkipSpace();
  if (text_.substr(pos_, word.size()) != word) return Fail(fmt::format("expected {} at byte {}", word, pos_));
  pos_ += word.size();
  return true;
}

bool Cursor::SkipValue(int depth) {
  if (depth > kMaxDepth) return Fail(fmt::format("nested deeper than {} levels at byte {}", kMaxDepth, pos_));
  char c = Peek();
  switch (c) {
    case '{': {
      ++pos_;
      if (Consume('}')) return true;
      std::string key;
      do {
        if (!ReadString(&key) || !Expect(':', "':'") || !SkipValue(depth + 1)) return false;
      } while (Consume(','));
      return Expect('}', "',' or '}'");
    }
    case '[': {
      ++pos_;
      if (Consume(']')) return true;
      do {
        if (!SkipValue(depth + 1)) return false;
      } while (Consume(','));
      return Expect(']', "',' or ']'");
    }
    case '"': {
      std::string s;
      return ReadString(&s);
    }
    case 't': return ReadLiteral("true");
    case 'f': return ReadLiteral("false");
    case 'n': return ReadLiteral("null");
    default: {
      std::string_view token;
      bool integer;
      return ReadNumber(&token, &integer);
    }
  }
}

}  // namespace memtrace::json
