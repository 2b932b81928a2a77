// Protocol-buffer wire format, the little of it profile.proto needs:
// varints, length-delimited fields, packed repeated integers. Hand-written
// rather than libprotobuf (docs/dependencies.md): the pprof writer needs
// ~100 lines of encoding, and this code may run where every linked library
// counts (the report writer).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace memtrace::proto {

class Writer {
 public:
  // A varint field (wire type 0). Zero is the default and is left out.
  void Int(int field, uint64_t value) {
    if (value == 0) return;
    Tag(field, 0);
    Varint(value);
  }
  void SignedInt(int field, int64_t value) { Int(field, static_cast<uint64_t>(value)); }  // int64: two's complement
  void Bool(int field, bool value) { Int(field, value ? 1 : 0); }
  // A length-delimited field (wire type 2): bytes, a string, or a message.
  void Bytes(int field, std::string_view bytes) {
    Tag(field, 2);
    Varint(bytes.size());
    buf_.append(bytes);
  }
  void Message(int field, const Writer& message) { Bytes(field, message.buf_); }
  // A packed repeated integer field.
  template <class T>
  void Packed(int field, std::span<const T> values) {
    if (values.empty()) return;
    Writer packed;
    for (T v : values) packed.Varint(static_cast<uint64_t>(v));
    Bytes(field, packed.buf_);
  }

  const std::string& data() const { return buf_; }
  void clear() { buf_.clear(); }

 private:
  void Tag(int field, int wire_type) { Varint((static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type)); }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      buf_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    buf_.push_back(static_cast<char>(v));
  }

  std::string buf_;
};

}  // namespace memtrace::proto
