// The report schema: the JSON writer and reader are one definition, so a
// document survives JSON -> document -> JSON byte for byte and renders the
// same text; every byte of a string survives; hostile input is refused with
// one line naming the field; every field is documented.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "src/report/json_text.h"
#include "src/report/render.h"
#include "src/report/report_schema.h"

namespace memtrace {
namespace {

// Strings a program can hand us: invalid UTF-8 (Latin-1), a NUL, escape
// sequences, C1 controls, quotes, backslashes, 4-byte UTF-8.
const std::string kLatin1Path = std::string("/src/caf\xe9/l\xe9gacy.c");
const std::string kNasty = std::string("a\0b", 3) + "\x1b[31mred\x1b[0m \"q\" \\ \xc2\x9b \xf0\x9f\x98\x80 \xff\xfe \xed\xa0\x80";

ReportDoc FullDoc() {
  ReportDoc d;
  d.version = "9.8.7";
  d.pid = 4242;
  d.reason = "signal";
  d.sequence = 3;
  d.time_unix_ms = 1700000000123;
  d.rss_bytes = 123456789;
  Totals& t = d.totals;
  t.live_bytes = 5000;
  t.live_blocks = 7;
  t.allocs = 100;
  t.frees = 93;
  t.alloc_bytes = 99999;
  t.peak_live_bytes = 8000;
  for (int sp = 0; sp < kSpaceCount; ++sp) {
    t.spaces[sp] = SiteStats{uint64_t(10 + sp), uint64_t(sp), 3, 2, uint64_t(100 + sp), uint64_t(20 + sp)};
  }
  t.heap = HeapCounters{1, 2, 3};
  t.untracked_unmap_bytes = 4096;
  t.process_anon_bytes = 1 << 20;
  t.process_file_bytes = 2 << 20;
  t.leak_kinds = LeakKinds{{1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}};
  t.space_cost[1] = MappingCost{1 << 30, 1 << 28, 4 << 20};
  d.thread_totals = ThreadTotals{5, 2, 3, 1, 1, 8388608, 4000, 5, 0, 2};
  d.modules = {ModuleInfo{"/bin/prog", "abcdef0123"}, ModuleInfo{kLatin1Path + ".so", ""}};
  d.frames = {Frame{"leak_here", kLatin1Path, 12, "/bin/prog", 0x1234, true},
              Frame{kNasty, "", 0, kLatin1Path + ".so", 0x99, false}, Frame{"", "", 0, "", 0, false},
              Frame{"main", "/src/main.c", 7, "/bin/prog", 0x10, false}};
  DocSite s;
  s.stats = SiteStats{4000, 4, 10, 6, 9000, 4500};
  s.space = "heap";
  s.stack_ids = {3, 17};
  s.growth_bytes = -12;
  s.growth_blocks = 2;
  s.threads = {ThreadShare{11, 3000}, ThreadShare{12, 1000}};
  s.leak_kinds = LeakKinds{{4000, 4}, {}, {}, {}, {}};
  s.frames = {0, 1, 3};
  d.sites.push_back(s);
  DocSite m;
  m.stats = SiteStats{1000, 1, 1, 0, 1000, 1000};
  m.space = "file_mmap";
  m.label = "pymalloc arena";
  m.stack_ids = {-1};
  m.files = {FileShare{kLatin1Path + " (deleted)", 1000}};
  m.cost = MappingCost{4096, 4096, 0};
  m.device = -1;
  m.frames = {2};
  d.sites.push_back(m);
  DocSite c;
  c.space = "cuda_device";
  c.device = 1;
  c.stack_ids = {5};
  d.sites.push_back(c);
  d.omitted = {DocOmitted{"heap", 3, 5, SiteStats{30, 3, 3, 0, 30, 30}, 30, 3, LeakKinds{}}};
  d.max_sites = 3;
  DocCreator cr;
  cr.created = 4;
  cr.alive = 1;
  cr.exited = 3;
  cr.exited_unjoined = 1;
  cr.live_bytes = 3000;
  cr.exited_live_bytes = 2000;
  cr.frames = {3};
  cr.exited_by_site = {DocCreator::BySite{0, "heap", 2000}, DocCreator::BySite{-1, "heap", 5}};
  d.creators.push_back(cr);
  d.creators.push_back(DocCreator{});
  DocThread th;
  th.entry.tid = 11;
  th.entry.serial = 2;
  th.entry.name = kNasty;
  th.entry.state = "exited_unjoined";
  th.entry.parent_tid = 10;
  th.entry.orphan = true;
  th.entry.detached = false;
  th.entry.joined = false;
  th.entry.stack_size = 8388608;
  th.entry.created_s = 0.125;
  th.entry.exited_s = 1.0 / 3.0;
  th.entry.live_bytes = 3000;
  th.entry.live_blocks = 3;
  th.entry.alloc_bytes = 5000;
  th.entry.predates_tracing = true;
  th.creator_index = 0;
  th.start_routine = "worker_main";
  th.openmp = "libgomp";
  d.threads.push_back(th);
  DocThread main_thread;
  main_thread.entry.tid = 10;
  main_thread.entry.main = true;
  main_thread.creator_index = 1;
  d.threads.push_back(main_thread);
  d.openmp.pools = {DocOpenMP::Pool{10, "alive", 100, 3, 2, 3000, "libgomp"}};
  d.openmp.hosts_exited = 0;
  d.openmp.workers = 3;
  d.openmp.workers_alive = 2;
  d.openmp.worker_live_bytes = 3000;
  d.openmp.team_live_bytes = 3100;
  d.devices = {DeviceTotals{1, 1 << 20, 1}};
  d.cuda = CudaStatus{true, false, "CUPTI: " + kNasty};
  TimelinePoint p;
  p.t = 0.1 + 0.2;  // not exactly representable: must survive as written
  p.live_bytes = 5;
  p.space_bytes[3] = 7;
  p.rss_bytes = 8;
  p.glibc_free_bytes = 9;
  p.glibc_mmapped_bytes = 10;
  p.glibc_arenas = 2;
  p.mark = "reload \xe9 3";
  d.timeline = {p, TimelinePoint{}};
  d.tracer.events = 100;
  d.tracer.ring_stalls = 1;
  d.tracer.dropped_events = 2;
  d.tracer.untraced_threads = 3;
  d.tracer.memory_bytes = 4;
  d.tracer.live_table_bytes = 5;
  d.tracer.stacks = 6;
  d.tracer.threads_seen = 7;
  d.tracer.clock = "tsc";
  d.tracer.fence = "membarrier";
  d.tracer.unwinder = "cfi+libunwind";
  d.tracer.sample_bytes = 524288;
  d.tracer.sample_overflows = 8;
  d.tracer.degraded = std::vector<DegradedReason>{{"out_of_memory", 2}};
  d.end = ProcessEnd{"signal", std::nullopt, 9, 10, 8, 2};
  d.suppressions_used = std::vector<SuppressionUse>{{"leak:libfoo.so", 100, 2}};
  return d;
}

TEST(ReportSchemaTest, JsonRoundTripIsLossless) {
  ReportDoc d = FullDoc();
  std::string json = RenderJsonReport(d);
  absl::StatusOr<ReportDoc> back = ParseJsonReport(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(RenderJsonReport(*back), json);
  EXPECT_EQ(back->frames[1].function, kNasty);
  EXPECT_EQ(back->frames[0].file, kLatin1Path);
  EXPECT_EQ(back->sites[1].files[0].path, kLatin1Path + " (deleted)");
  EXPECT_EQ(back->threads[0].entry.exited_s, 1.0 / 3.0);
  EXPECT_STREQ(back->threads[0].entry.state, "exited_unjoined");
  EXPECT_TRUE(back->threads[0].entry.predates_tracing);
  EXPECT_FALSE(back->threads[1].entry.predates_tracing);
  EXPECT_EQ(back->timeline[0].t, 0.1 + 0.2);
  ASSERT_TRUE(back->end.has_value());
  EXPECT_EQ(back->end->signal, 9);
  EXPECT_FALSE(back->end->status.has_value());
}

TEST(ReportSchemaTest, TextOfTheRoundTripIsTheTextOfTheOriginal) {
  ReportDoc d = FullDoc();
  absl::StatusOr<ReportDoc> back = ParseJsonReport(RenderJsonReport(d));
  ASSERT_TRUE(back.ok()) << back.status();
  for (int top : {0, 1, 10}) EXPECT_EQ(RenderTextReport(*back, {top}), RenderTextReport(d, {top}));
  // Every section is in that text.
  std::string text = RenderTextReport(d, {0});
  for (const char* section : {"== Totals ==", "== Top 2 of 5 call sites", "== Top 1 of 1 mapping sites", "== CUDA memory ==", "== Threads ==",
                              "OpenMP: 1 pools", "created by main (/src/main.c:7)", "== Timeline", "== Tracer ==",
                              "leak kinds:", "suppressed by leak:libfoo.so", "process ended:    signal 9",
                              "degraded: out_of_memory", "pymalloc arena", "reserved 4.0 KiB", "... and 3 more heap"}) {
    EXPECT_TRUE(absl::StrContains(text, section)) << section << "\n" << text;
  }
  // ... and nothing from the program reaches the terminal raw.
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u == '\n' || (u >= 0x20 && u != 0x7f)) << int(u);
  }
  EXPECT_FALSE(absl::StrContains(text, "\xc2\x9b"));
  EXPECT_TRUE(absl::StrContains(text, "a\\x00b\\x1b[31mred"));  // the NUL does not cut the line
  EXPECT_TRUE(absl::StrContains(text, "caf\\xe9"));
}

TEST(ReportSchemaTest, UnsetOptionalFieldsStayUnset) {
  ReportDoc d = FullDoc();
  d.totals.leak_kinds.reset();
  d.sites[0].leak_kinds.reset();
  d.omitted[0].leak_kinds.reset();
  d.sites[1].cost.reset();
  d.end.reset();
  d.suppressions_used.reset();
  d.tracer.degraded.reset();
  d.thread_totals.predating.reset();
  std::string json = RenderJsonReport(d);
  EXPECT_FALSE(absl::StrContains(json, "leak_kinds"));
  EXPECT_FALSE(absl::StrContains(json, "\"end\""));
  absl::StatusOr<ReportDoc> back = ParseJsonReport(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->totals.leak_kinds.has_value());
  EXPECT_FALSE(back->sites[1].cost.has_value());
  EXPECT_FALSE(back->end.has_value());
  EXPECT_EQ(RenderJsonReport(*back), json);
}

TEST(JsonTextTest, EveryByteSurvives) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  std::string quoted;
  json::AppendQuoted(&quoted, all + "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" + "\xc3" + "A" + "\xe0\x80\x80" + "\xc2\x9b");
  for (char c : quoted) {
    unsigned char u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u >= 0x20 && u != 0x7f) << int(u);  // no raw control characters
  }
  EXPECT_TRUE(absl::StrContains(quoted, "\\u009b"));  // a C1 control (valid UTF-8) escaped
  EXPECT_TRUE(absl::StrContains(quoted, "\\udce9"));   // a Latin-1 byte: surrogateescape
  EXPECT_TRUE(absl::StrContains(quoted, "\xc3\xa9"));  // valid UTF-8 stays as it is
  EXPECT_TRUE(absl::StrContains(quoted, "\\udcc3A"));  // a truncated sequence
  EXPECT_TRUE(absl::StrContains(quoted, "\\udce0\\udc80\\udc80"));  // an overlong form
  json::Cursor c(quoted);
  std::string back;
  ASSERT_TRUE(c.ReadString(&back)) << c.error();
  EXPECT_EQ(back, all + "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" + "\xc3" + "A" + "\xe0\x80\x80" + "\xc2\x9b");
}

TEST(JsonTextTest, StandardEscapesDecode) {
  json::Cursor c(R"("\u00e9\ud83d\ude00\/\b\f\n\r\t\"\\")");
  std::string s;
  ASSERT_TRUE(c.ReadString(&s)) << c.error();
  EXPECT_EQ(s, "\xc3\xa9\xf0\x9f\x98\x80/\b\f\n\r\t\"\\");
  for (const char* bad : {R"("\ud83d")", R"("\udc00")", R"("\x41")", R"("\u12")", "\"a\nb\"", "\"abc"}) {
    json::Cursor b(bad);
    EXPECT_FALSE(b.ReadString(&s)) << bad;
    EXPECT_FALSE(b.error().empty());
  }
}

// Hostile or broken input: never a crash, always one line that names where.
struct Bad {
  std::string name;
  std::string json;
  std::string expect;  // in the error message
};

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(ReportSchemaTest, InvalidReportsNameTheField) {
  std::string good = RenderJsonReport(FullDoc());
  std::vector<Bad> cases = {
      {"v1", R"({"schema":"memtrace/1","sites":[1]})", "schema: \"memtrace/1\" is not memtrace/2"},
      {"not an object", "[1,2]", "not a JSON report"},
      {"empty", "", "empty"},
      {"nul", std::string("\0{}", 3), "byte 0x00"},
      {"site not an object", Replace(good, "\"sites\": [\n  {", "\"sites\": [1, {"), "sites[0]: expected an object, found a number"},
      {"cuda a number", Replace(good, "\"cuda\": {", "\"cuda\": 5, \"x\": {"), "cuda: expected an object, found a number"},
      {"frame index", Replace(good, "\"frames\": [0, 1, 3]", "\"frames\": [0, 1, 4]"), "sites[0].frames[2]: 4 is not an index into frames (4 entries)"},
      {"module index", Replace(good, "\"module\": 0,", "\"module\": 7,"), "frames[0].module: 7 is not an index into modules (2 entries)"},
      {"negative", Replace(good, "\"sequence\": 3", "\"sequence\": -3"), "sequence: -3 is out of range"},
      {"duplicate", Replace(good, "\"pid\": 4242", "\"pid\": 4242, \"pid\": 1"), "duplicate field \"pid\""},
      {"fraction", Replace(good, "\"live_bytes\": 4000", "\"live_bytes\": 4000.5"), "sites[0].live_bytes: expected an integer, found 4000.5"},
      {"too big", Replace(good, "\"live_bytes\": 4000", "\"live_bytes\": 18446744073709551616"), "sites[0].live_bytes: 18446744073709551616 is out of range"},
      {"below zero", Replace(good, "\"live_bytes\": 4000", "\"live_bytes\": -1"), "sites[0].live_bytes: -1 is out of range"},
      {"state", Replace(good, "\"exited_unjoined\", \"main\"", "\"zombie\", \"main\""), "threads[0].state: \"zombie\" is not one of alive, exited, exited_unjoined"},
      {"space", Replace(good, "\"space\": \"file_mmap\"", "\"space\": \"swap\""), "sites[1].space: \"swap\" is not one of"},
      {"missing", Replace(good, "\"reason\": \"signal\",", ""), "reason: missing"},
      {"string for number", Replace(good, "\"sequence\": 3", "\"sequence\": \"3\""), "sequence: expected an integer, found a string"},
      {"trailing", good + "x", "unexpected bytes after the report"},
      {"deep", "{\"schema\": \"memtrace/2\", \"x\": " + std::string(100, '[') + std::string(100, ']') + "}", "nested deeper than 64"},
      {"control char", Replace(good, "\"reason\": \"signal\"", "\"reason\": \"sig\x01nal\""), "control character 0x01"},
      {"bad literal", Replace(good, "\"orphan\": true", "\"orphan\": tru"), "expected true"},
      {"creator index", Replace(good, "\"creator\": 0,", "\"creator\": 2,"), "threads[0].creator: 2 is not an index into by_creator (2 entries)"},
  };
  for (const Bad& b : cases) {
    absl::StatusOr<ReportDoc> doc = ParseJsonReport(b.json);
    ASSERT_FALSE(doc.ok()) << b.name;
    std::string msg(doc.status().message());
    EXPECT_TRUE(absl::StrContains(msg, b.expect)) << b.name << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << b.name << ": " << msg;
    for (char c : msg) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << b.name << ": " << msg;
  }
}

TEST(ReportSchemaTest, EveryTruncationIsRefusedCleanly) {
  std::string good = RenderJsonReport(FullDoc());
  for (size_t n = 0; n < good.size(); n += 7) {
    absl::StatusOr<ReportDoc> doc = ParseJsonReport(std::string_view(good).substr(0, n));
    EXPECT_FALSE(doc.ok()) << n;
  }
  // A byte flipped anywhere: refused or read, never a crash.
  for (size_t n = 0; n < good.size(); n += 13) {
    std::string mutated = good;
    mutated[n] = static_cast<char>(mutated[n] ^ 0x5a);
    (void)ParseJsonReport(mutated);
  }
}

TEST(ReportSchemaTest, UnknownFieldsAreIgnored) {
  std::string good = RenderJsonReport(FullDoc());
  std::string extended = Replace(good, "\"pid\": 4242", "\"pid\": 4242, \"future\": {\"a\": [1, {\"b\": null}]}");
  absl::StatusOr<ReportDoc> doc = ParseJsonReport(extended);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(RenderJsonReport(*doc), good);
}

template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};

// Lists every field path of the schema, e.g. "sites[].files[].path".
class SchemaLister {
 public:
  static constexpr bool kReading = false;
  std::vector<std::string> paths;

  template <class T>
  void Field(const char* name, T&&) {
    Add(name);
    Descend<std::remove_cvref_t<T>>(name);
  }
  template <class Fn>
  void Object(const char* name, Fn&& fn) {
    Add(name);
    prefix_.push_back(name);
    fn(*this);
    prefix_.pop_back();
  }
  template <class T, class Fn>
  void Array(const char* name, std::vector<T>&, Fn&& fn) {
    Add(name);
    prefix_.push_back(std::string(name) + "[]");
    T item{};
    fn(*this, item);
    prefix_.pop_back();
  }
  template <class Fn>
  void Derived(const char* name, Fn&&) {
    Add(name);
  }

 private:
  void Add(const char* name) {
    std::string p;
    for (const std::string& s : prefix_) p += s + ".";
    paths.push_back(p + name);
  }
  template <class U>
  void Descend(const std::string& name) {
    if constexpr (schema::IsOptional<U>::value) {
      Descend<typename U::value_type>(name);
    } else if constexpr (IsVector<U>::value) {
      Descend<typename U::value_type>(name + "[]");
    } else if constexpr (requires(SchemaLister& l, U& u) { schema::Describe(l, u); }) {
      prefix_.push_back(name);
      U item{};
      schema::Describe(*this, item);
      prefix_.pop_back();
    }
  }
  std::vector<std::string> prefix_;
};

TEST(ReportSchemaTest, EveryFieldIsDocumented) {
  SchemaLister lister;
  ReportDoc d;
  schema::DescribeReport(lister, d);
  std::ifstream in(MEMTRACE_SOURCE_DIR "/docs/report-format.md");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string docs = ss.str();
  ASSERT_FALSE(docs.empty());
  std::set<std::string> missing;
  for (std::string p : lister.paths) {
    // One row covers the six spaces: totals.spaces.<space>.live_bytes.
    for (const char* space : schema::kSpaces) {
      std::string from = std::string("totals.spaces.") + space;
      if (p.rfind(from, 0) == 0) p = "totals.spaces.<space>" + p.substr(from.size());
    }
    // Other leak_kinds objects have the shape of totals.leak_kinds, documented once.
    if (absl::StrContains(p, ".leak_kinds.") && p.rfind("totals.", 0) != 0) continue;
    if (!absl::StrContains(docs, "`" + p + "`")) missing.insert(p);
  }
  std::string list;
  for (const std::string& m : missing) list += "  " + m + "\n";
  EXPECT_TRUE(missing.empty()) << "fields missing from docs/report-format.md:\n" << list;
}

}  // namespace
}  // namespace memtrace
