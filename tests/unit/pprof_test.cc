// The pprof writer: the wire format decodes as profile.proto says, values
// add up per sample type, and the output is gzip. (go tool pprof reads real
// reports in tests/e2e/test_outputs.py.)
#include "src/report/pprof_report.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <map>

#include "src/report/proto_writer.h"
#include "src/report/render.h"

namespace memtrace {
namespace {

std::string Gunzip(const std::string& gz) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  zs.avail_in = static_cast<uInt>(gz.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

// A minimal protobuf reader: (field, wire type, varint or bytes).
struct Field {
  int number;
  int wire;
  uint64_t varint;
  std::string bytes;
};
std::vector<Field> Decode(const std::string& buf) {
  std::vector<Field> out;
  size_t i = 0;
  auto varint = [&] {
    uint64_t v = 0;
    for (int shift = 0; i < buf.size(); shift += 7) {
      uint8_t b = static_cast<uint8_t>(buf[i++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    return v;
  };
  while (i < buf.size()) {
    uint64_t tag = varint();
    Field f{static_cast<int>(tag >> 3), static_cast<int>(tag & 7), 0, {}};
    if (f.wire == 0) {
      f.varint = varint();
    } else if (f.wire == 2) {
      uint64_t n = varint();
      f.bytes = buf.substr(i, n);
      i += n;
    } else {
      ADD_FAILURE() << "unexpected wire type " << f.wire;
      break;
    }
    out.push_back(f);
  }
  return out;
}

std::vector<int64_t> Packed(const std::string& bytes) {
  std::vector<int64_t> out;
  std::string tagged;
  for (const Field& f : Decode([&] {
         // Re-tag each varint as field 1 so Decode reads the packed run.
         std::string s;
         size_t i = 0;
         while (i < bytes.size()) {
           s += '\x08';
           while (static_cast<uint8_t>(bytes[i]) & 0x80) s += bytes[i++];
           s += bytes[i++];
         }
         return s;
       }())) {
    out.push_back(static_cast<int64_t>(f.varint));
  }
  return out;
}

TEST(ProtoWriterTest, Varints) {
  proto::Writer w;
  w.Int(1, 150);
  EXPECT_EQ(w.data(), std::string("\x08\x96\x01", 3));
  w.clear();
  w.SignedInt(2, -1);
  EXPECT_EQ(w.data().size(), 11u);  // tag + ten bytes: int64 -1
  w.clear();
  w.Int(3, 0);
  EXPECT_TRUE(w.data().empty());  // proto3 defaults are left out
}

// Found by tests/fuzz/report_reader_fuzz.cc (regressions/report_reader/
// pprof-time-overflow.json): a saved report's time_unix_ms times 10^6
// overflowed int64 (undefined; `make sanitize` runs this under UBSan).
TEST(PprofTest, AnyTimeOfAReadReportSaturates) {
  for (uint64_t ms : {uint64_t{17967018640256}, UINT64_MAX, uint64_t{1700000000000}}) {
    ReportDoc d;
    d.time_unix_ms = ms;
    int64_t nanos = -1;
    for (const Field& f : Decode(Gunzip(RenderPprofReport(d)))) {
      if (f.number == 9) nanos = static_cast<int64_t>(f.varint);
    }
    if (ms <= static_cast<uint64_t>(INT64_MAX) / 1000000) {
      EXPECT_EQ(nanos, static_cast<int64_t>(ms * 1000000));
    } else {
      EXPECT_EQ(nanos, static_cast<int64_t>(static_cast<uint64_t>(INT64_MAX) / 1000000 * 1000000));
    }
  }
}

TEST(PprofTest, SamplesAddUpAndNameTheirSpace) {
  ReportDoc d;
  d.version = "1.2.3";
  d.modules = {ModuleInfo{"/bin/prog", "beef"}};
  d.frames = {Frame{"inner", "a.h", 3, "/bin/prog", 0x40, true}, Frame{"outer", "a.c", 9, "/bin/prog", 0x40, false},
              Frame{"main", "m.c", 1, "/bin/prog", 0x80, false}};
  DocSite a;
  a.space = "heap";
  a.stats = SiteStats{300, 3, 5, 2, 500, 300};
  a.frames = {0, 1, 2};
  DocSite b;
  b.space = "anon_mmap";
  b.stats = SiteStats{4096, 1, 1, 0, 4096, 4096};
  b.frames = {2};
  d.sites = {a, b};
  DocOmitted o;
  o.space = "heap";
  o.sites = 2;
  o.stats = SiteStats{7, 2, 2, 0, 7, 7};
  d.omitted = {o};
  std::string gz = RenderPprofReport(d);
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(static_cast<uint8_t>(gz[0]), 0x1f);
  EXPECT_EQ(static_cast<uint8_t>(gz[1]), 0x8b);
  std::vector<Field> profile = Decode(Gunzip(gz));
  std::vector<std::string> strings;
  std::vector<std::vector<int64_t>> values;
  int locations = 0, mappings = 0;
  for (const Field& f : profile) {
    if (f.number == 6) strings.push_back(f.bytes);
    if (f.number == 4) ++locations;
    if (f.number == 3) ++mappings;
    if (f.number == 2) {
      for (const Field& s : Decode(f.bytes)) {
        if (s.number == 2) values.push_back(Packed(s.bytes));
      }
    }
  }
  ASSERT_FALSE(strings.empty());
  EXPECT_EQ(strings[0], "");
  for (const char* want : {"space", "heap", "anon_mmap", "[sites beyond MEMTRACE_MAX_SITES]", "inuse_space", "bytes",
                           "inner", "outer", "main", "/bin/prog", "beef"}) {
    EXPECT_NE(std::find(strings.begin(), strings.end(), want), strings.end()) << want;
  }
  ASSERT_EQ(values.size(), 3u);
  int64_t sums[4] = {};
  for (const auto& v : values) {
    ASSERT_EQ(v.size(), 4u);
    for (int k = 0; k < 4; ++k) sums[k] += v[k];
  }
  EXPECT_EQ(sums[0], 8);            // alloc_objects
  EXPECT_EQ(sums[1], 500 + 4096 + 7);  // alloc_space
  EXPECT_EQ(sums[2], 6);            // inuse_objects
  EXPECT_EQ(sums[3], 300 + 4096 + 7);  // inuse_space
  // Locations: (inner inlined into outer at 0x40), main, the remainder.
  EXPECT_EQ(locations, 3);
  EXPECT_EQ(mappings, 1);
}

}  // namespace
}  // namespace memtrace
