// Drives the reachability scan on a real program, as the watcher will: runs
// PROG with libscan_blocklog.so preloaded (the live-block table, read out of
// the target's memory), waits for it to reach its scan point (the fixture's
// scan_blocklog_sync, or the program's exit with --at-exit), stops the world,
// scans, symbolizes the allocation sites out of process (libdwfl on the pid),
// applies suppressions and the gate's rule, lets the program go on, and
// writes JSON. Exits with the gate's code when it fires, else with PROG's
// own status (as the preload will).
//
//   scan_driver [--json FILE] [--at-exit] [--site-prefix P] [--suppressions FILE]
//               [--no-default-suppressions] [--kinds LIST] [--threshold N] [--exit-code N]
//               [--method vm|mem] [--lsan] [--no-heuristics] [--no-holders] [--repeat N]
//               [--slots N] [--frames N] [--no-blocks] [--no-symbols] -- PROG ARGS...
#include <cxxabi.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "src/config/config.h"
#include "src/scan/gate.h"
#include "src/scan/scan.h"
#include "src/scan/suppressions.h"
#include "tests/e2e/scan_blocklog.h"
#include "tests/e2e/scan_json.h"

using memtrace::scan::Block;
using memtrace::scan::BlockSpace;
using memtrace::scan::KindTotals;
using memtrace::scan::LeakKind;
using memtrace::scan::SymbolizedFrame;
using Json = scan_test::Json;

namespace {

struct Options {
  std::string json_path, site_prefix, suppressions, method = "vm";
  bool at_exit = false, default_suppressions = true, lsan = false, heuristics = true, holders = true;
  bool blocks = true, symbols = true, address_order = false, alternate_threads = false;
  // Read the live-block table before stopping the world (the benchmark: its
  // workload is parked, and the watcher holds its table in its own memory,
  // so reading it out of the target is no part of a real pause).
  bool table_before_stop = false;
  uint32_t kinds = memtrace::kLeakKindDefiniteBit | memtrace::kLeakKindIndirectBit;
  uint64_t threshold = 0;
  int exit_code = 0, repeat = 1, read_threads = 2;
  std::string slots, frames;
  std::vector<uint64_t> explain_sizes;  // --explain-size N: who points at blocks of N bytes
  std::string explain_file;             // --explain-file F: ... at the addresses F lists (read at scan time)
  std::vector<char*> argv;
};

[[noreturn]] void Usage(const char* why) {
  fprintf(stderr, "scan_driver: %s\n", why);
  exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  int i = 1;
  auto value = [&](const char* name) -> std::string {
    if (i + 1 >= argc) Usage((std::string(name) + " needs a value").c_str());
    return argv[++i];
  };
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--json") o.json_path = value("--json");
    else if (a == "--at-exit") o.at_exit = true;
    else if (a == "--site-prefix") o.site_prefix = value("--site-prefix");
    else if (a == "--suppressions") o.suppressions = value("--suppressions");
    else if (a == "--no-default-suppressions") o.default_suppressions = false;
    else if (a == "--kinds") {
      auto k = memtrace::ParseLeakKinds(value("--kinds"));
      if (!k) Usage("bad --kinds");
      o.kinds = *k;
    } else if (a == "--threshold") o.threshold = strtoull(value("--threshold").c_str(), nullptr, 0);
    else if (a == "--exit-code") o.exit_code = atoi(value("--exit-code").c_str());
    else if (a == "--method") o.method = value("--method");
    else if (a == "--lsan") o.lsan = true;
    else if (a == "--no-heuristics") o.heuristics = false;
    else if (a == "--no-holders") o.holders = false;
    else if (a == "--repeat") o.repeat = std::max(1, atoi(value("--repeat").c_str()));
    else if (a == "--slots") o.slots = value("--slots");
    else if (a == "--frames") o.frames = value("--frames");
    else if (a == "--no-blocks") o.blocks = false;
    else if (a == "--no-symbols") o.symbols = false;
    else if (a == "--address-order") o.address_order = true;
    else if (a == "--explain-file") o.explain_file = value("--explain-file");
    else if (a == "--table-before-stop") o.table_before_stop = true;
    else if (a == "--alternate-threads") o.alternate_threads = true;
    else if (a == "--read-threads") o.read_threads = atoi(value("--read-threads").c_str());
    else if (a == "--explain-size") o.explain_sizes.push_back(strtoull(value("--explain-size").c_str(), nullptr, 0));
    else Usage(("unknown option " + a).c_str());
  }
  for (; i < argc; ++i) o.argv.push_back(argv[i]);
  if (o.argv.empty()) Usage("no program");
  o.argv.push_back(nullptr);
  return o;
}

// Out-of-process symbolization with libdwfl: the target's modules from
// /proc/PID/maps, debug info from the files (never debuginfod).
class Symbols {
 public:
  explicit Symbols(pid_t pid) {
    callbacks_.find_elf = dwfl_linux_proc_find_elf;
    callbacks_.find_debuginfo = dwfl_standard_find_debuginfo;
    callbacks_.debuginfo_path = &debuginfo_path_;
    dwfl_ = dwfl_begin(&callbacks_);
    if (dwfl_ && dwfl_linux_proc_report(dwfl_, pid) == 0) dwfl_report_end(dwfl_, nullptr, nullptr);
  }
  ~Symbols() {
    if (dwfl_) dwfl_end(dwfl_);
  }
  const SymbolizedFrame& Frame(uint64_t return_address) {
    auto it = cache_.find(return_address);
    if (it != cache_.end()) return it->second;
    SymbolizedFrame f;
    uint64_t pc = return_address - 1;
    Dwfl_Module* m = dwfl_ ? dwfl_addrmodule(dwfl_, pc) : nullptr;
    if (m) {
      const char* main_file = nullptr;
      dwfl_module_info(m, nullptr, nullptr, nullptr, nullptr, nullptr, &main_file, nullptr);
      if (main_file) f.module = main_file;
      if (const char* name = dwfl_module_addrname(m, pc)) {
        int status = 0;
        char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
        f.function = (status == 0 && d) ? d : name;
        free(d);
      }
      if (Dwfl_Line* line = dwfl_module_getsrc(m, pc)) {
        if (const char* src = dwfl_lineinfo(line, nullptr, nullptr, nullptr, nullptr, nullptr)) f.file = src;
      }
    }
    return cache_.emplace(return_address, std::move(f)).first->second;
  }

 private:
  Dwfl_Callbacks callbacks_{};
  char* debuginfo_path_ = nullptr;
  Dwfl* dwfl_ = nullptr;
  std::map<uint64_t, SymbolizedFrame> cache_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s;
}

Json Totals(const KindTotals& t) { return Json::Object({{"bytes", t.bytes}, {"blocks", t.blocks}}); }

}  // namespace

int main(int argc, char** argv) {
  Options opt = ParseArgs(argc, argv);
  unsetenv("DEBUGINFOD_URLS");
  char dir_template[] = "/tmp/scan_driver.XXXXXX";
  char* dir = mkdtemp(dir_template);
  if (!dir) Usage("mkdtemp failed");
  std::string req_path = std::string(dir) + "/req", ack_path = std::string(dir) + "/ack";
  if (mkfifo(req_path.c_str(), 0600) != 0 || mkfifo(ack_path.c_str(), 0600) != 0) Usage("mkfifo failed");
  // Both ends opened read-write here, so neither side ever blocks in open.
  int req = open(req_path.c_str(), O_RDWR | O_CLOEXEC);
  int ack = open(ack_path.c_str(), O_RDWR | O_CLOEXEC);

  pid_t pid = fork();
  if (pid == 0) {
    setenv("SCAN_BLOCKLOG_PID", std::to_string(getpid()).c_str(), 1);
    setenv("SCAN_BLOCKLOG_DIR", dir, 1);
    if (opt.at_exit) setenv("SCAN_BLOCKLOG_AT_EXIT", "1", 1);
    if (!opt.slots.empty()) setenv("SCAN_BLOCKLOG_SLOTS", opt.slots.c_str(), 1);
    if (!opt.frames.empty()) setenv("SCAN_BLOCKLOG_FRAMES", opt.frames.c_str(), 1);
    const char* old = getenv("LD_PRELOAD");
    std::string preload = SCAN_BLOCKLOG_LIB;
    if (old && *old) preload += std::string(":") + old;
    setenv("LD_PRELOAD", preload.c_str(), 1);
    execvp(opt.argv[0], opt.argv.data());
    perror("scan_driver: exec");
    _exit(127);
  }

  Json out;
  out["pid"] = pid;
  int status = 0;
  bool scanned = false;
  memtrace::scan::LeakTotals gate_totals;
  for (;;) {
    struct pollfd p = {req, POLLIN, 0};
    int r = poll(&p, 1, 100);
    if (r == 1) {
      char c;
      if (read(req, &c, 1) != 1) continue;
      // The target waits in scan_blocklog_sync: scan it.
      std::string addr_text = ReadFile(std::string(dir) + "/addr");
      uint64_t table = strtoull(addr_text.c_str(), nullptr, 16);
      memtrace::scan::ScanOptions so;
      so.untracked_mappings_are_roots = !opt.lsan;
      so.heuristics = opt.heuristics ? memtrace::scan::kAllHeuristics : 0;
      so.attribute_holders = opt.holders;
      so.read_threads = opt.read_threads;
      so.read_method = opt.method == "mem" ? memtrace::scan::ProcessMemoryReader::Method::kProcMem
                                           : memtrace::scan::ProcessMemoryReader::Method::kProcessVmReadv;
      std::vector<Block> blocks;
      std::vector<std::vector<uint64_t>> stacks;
      std::vector<uint32_t> tids;
      memtrace::scan::ScanResult result;
      Json scans = Json::Array();
      for (int round = 0; round < opt.repeat; ++round) {
        if (opt.alternate_threads) so.read_threads = round % 2 + 1;
        blocklog_header h{};
        uint64_t table_ns = 0;
        auto read_table = [&] {
          uint64_t t0 = memtrace::scan::MonotonicNs();
          auto reader = memtrace::scan::ProcessMemoryReader::Open(pid);
          (*reader)->Read(table, &h, sizeof h);
          if (h.magic != BLOCKLOG_MAGIC) Usage("no block table in the target");
          std::vector<blocklog_slot> slots(h.capacity);
          (*reader)->Read(table + BLOCKLOG_SLOTS_OFFSET, slots.data(), slots.size() * sizeof(blocklog_slot));
          blocks.clear();
          stacks.clear();
          tids.clear();
          for (const blocklog_slot& s : slots) {
            if (s.addr == BLOCKLOG_EMPTY) continue;
            Block b;
            b.addr = s.addr;
            b.size = s.size;
            b.site = static_cast<uint32_t>(stacks.size());
            b.thread = s.tid;
            b.space = s.kind == BLOCKLOG_MAPPING ? BlockSpace::kMapping : BlockSpace::kHeap;
            b.flags = (s.flags & BLOCKLOG_ROOT) ? memtrace::scan::kBlockRoot : 0;
            b.order = opt.address_order ? 0 : s.seq;
            blocks.push_back(b);
            stacks.emplace_back(s.frames, s.frames + std::min<int>(s.nframes, BLOCKLOG_FRAMES));
            tids.push_back(s.tid);
          }
          table_ns = memtrace::scan::MonotonicNs() - t0;
        };
        if (opt.table_before_stop) read_table();
        auto world = memtrace::scan::StoppedWorld::Stop(pid, so.stop);
        if (!world.ok()) {
          fprintf(stderr, "scan_driver: %s\n", std::string(world.status().message()).c_str());
          break;
        }
        // Taken after the stop, as the watcher drains its rings after it.
        if (!opt.table_before_stop) read_table();
        so.explain.clear();
        if (!opt.explain_file.empty()) {
          std::ifstream in(opt.explain_file);
          std::string line;
          while (std::getline(in, line)) {
            if (!line.empty()) so.explain.push_back(strtoull(line.c_str(), nullptr, 0));
          }
        }
        for (const Block& b : blocks) {
          if (std::find(opt.explain_sizes.begin(), opt.explain_sizes.end(), b.size) != opt.explain_sizes.end()) {
            so.explain.push_back(b.addr);
          }
        }
        memtrace::scan::ScanTarget target;
        target.pid = pid;
        target.tracer_ranges = {{table, table + h.region_bytes}};
        target.static_tls_size = h.static_tls_size;
        if (h.exit_sp) target.stack_floors.push_back({static_cast<pid_t>(h.exit_tid), h.exit_sp});
        auto scan = memtrace::scan::ScanStopped(**world, target, blocks, so);
        if (!scan.ok()) {
          fprintf(stderr, "scan_driver: %s\n", std::string(scan.status().message()).c_str());
          break;
        }
        result = std::move(*scan);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        scans.push_back(Json::Object({{"paused_ns", result.paused_ns},
                         {"table_read_ns", table_ns},
                         {"table_in_pause", !opt.table_before_stop},
                         {"stop_latency_ns", result.stop_latency_ns},
                         {"read_ns", result.read_ns},
                         {"index_ns", result.index_ns},
                         {"roots_ns", result.roots_ns},
                         {"mark_ns", result.mark_ns},
                         {"classify_ns", result.classify_ns},
                         {"threads_stopped", result.threads_stopped},
                         {"threads_not_stopped", result.threads_not_stopped},
                         {"blocks", blocks.size()},
                         {"root_bytes", result.root_bytes},
                         {"block_bytes", result.block_bytes},
                         {"unreadable_bytes", result.unreadable_bytes},
                         {"absent_bytes", result.absent_bytes},
                         {"unscanned_bytes", result.unscanned_bytes},
                         {"pointers", result.pointers},
                         {"scan_memory_bytes", result.scan_memory_bytes},
                         {"driver_max_rss_kb", ru.ru_maxrss},
                         {"table_dropped", h.dropped},
                         {"definite_blocks", result.Total(LeakKind::kDefinite).blocks},
                         {"read_threads", so.read_threads},
                         {"exit_sp", h.exit_sp}}));
        scanned = true;
      }
      out["scans"] = scans;
      if (!scanned) {
        (void)!write(ack, "G", 1);
        continue;
      }

      // Suppressions, per-site totals, the gate.
      memtrace::scan::Suppressions sup;
      std::vector<std::string> errors;
      if (opt.default_suppressions) sup.AddBuiltIn();
      if (!opt.suppressions.empty()) sup.LoadFile(opt.suppressions, &errors);
      std::unique_ptr<Symbols> symbols;
      if (opt.symbols) symbols = std::make_unique<Symbols>(pid);
      std::map<std::string, Json> sites;
      Json jblocks = Json::Array();
      KindTotals suppressed;
      std::array<std::array<KindTotals, 4>, 2> by_space{};
      std::map<int32_t, pid_t> holder_tid;
      for (size_t t = 0; t < result.threads.size(); ++t) holder_tid[static_cast<int32_t>(t)] = result.threads[t].tid;
      for (size_t i = 0; i < blocks.size(); ++i) {
        const auto& br = result.blocks[i];
        if (!br.classified) continue;
        std::vector<SymbolizedFrame> frames;
        if (symbols) {
          for (uint64_t a : stacks[i]) frames.push_back(symbols->Frame(a));
        }
        std::string site;
        for (const auto& f : frames) {
          if (!opt.site_prefix.empty() && f.function.rfind(opt.site_prefix, 0) == 0) {
            site = f.function;
            break;
          }
        }
        if (site.empty()) {
          // The whole stack: functions, or addresses where there is no name.
          for (size_t k = 0; k < stacks[i].size(); ++k) {
            if (!site.empty()) site += " < ";
            if (k < frames.size() && !frames[k].function.empty()) {
              site += frames[k].function;
            } else {
              char buf[32];
              snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(stacks[i][k]));
              site += buf;
            }
          }
        }
        int s = sup.Match(frames);
        std::string kind = s >= 0 ? "suppressed" : memtrace::scan::LeakKindName(br.kind);
        if (s >= 0) {
          sup.Count(s, blocks[i].size);
          suppressed.bytes += blocks[i].size;
          ++suppressed.blocks;
        } else {
          KindTotals& t = by_space[static_cast<int>(blocks[i].space)][static_cast<int>(br.kind)];
          t.bytes += blocks[i].size;
          ++t.blocks;
        }
        Json& js = sites[site];
        js["site"] = site;
        if (!js.contains("frames")) {
          Json jf = Json::Array();
          for (const auto& f : frames) {
            jf.push_back(Json::Object({{"function", f.function}, {"file", f.file}, {"module", f.module}}));
          }
          js["frames"] = jf;
        }
        Json& k = js[kind];
        if (k.is_null()) k = Json::Object({{"bytes", 0}, {"blocks", 0}});
        k["bytes"] = k["bytes"].u64() + blocks[i].size;
        k["blocks"] = k["blocks"].u64() + 1;
        if (br.holder >= 0 || br.holder == memtrace::scan::kHolderShared) {
          std::string who = br.holder >= 0 ? "thread:" + std::to_string(holder_tid[br.holder]) : "shared";
          Json& hj = js["holders"][who];
          hj = (hj.is_null() ? 0 : hj.u64()) + blocks[i].size;
        }
        if (opt.blocks) {
          jblocks.push_back(Json::Object({{"addr", blocks[i].addr},
                             {"size", blocks[i].size},
                             {"space", blocks[i].space == BlockSpace::kHeap ? "heap" : "mapping"},
                             {"kind", kind},
                             {"heuristic", memtrace::scan::HeuristicName(br.heuristic)},
                             {"holder", br.holder >= 0 ? holder_tid[br.holder] : br.holder},
                             {"leader", blocks[br.leader].addr},
                             {"site", site},
                             {"order", blocks[i].order}}));
        }
      }
      Json totals;
      for (int k = 0; k < 4; ++k) {
        KindTotals t{by_space[0][k].bytes + by_space[1][k].bytes, by_space[0][k].blocks + by_space[1][k].blocks};
        totals[memtrace::scan::LeakKindName(static_cast<LeakKind>(k))] = Totals(t);
      }
      totals["suppressed"] = Totals(suppressed);
      out["totals"] = totals;
      for (int sp = 0; sp < 2; ++sp) {
        Json j;
        for (int k = 0; k < 4; ++k) j[memtrace::scan::LeakKindName(static_cast<LeakKind>(k))] = Totals(by_space[sp][k]);
        out["by_space"][sp == 0 ? "heap" : "mapping"] = j;
      }
      Json jsites = Json::Array();
      for (auto& [name, j] : sites) jsites.push_back(j);
      out["sites"] = jsites;
      if (opt.blocks) out["blocks"] = jblocks;
      Json jthreads = Json::Array();
      for (const auto& t : result.threads) {
        jthreads.push_back(Json::Object({{"tid", t.tid}, {"stopped", t.stopped}, {"sp", t.sp}, {"tls", t.tls},
                                         {"stack_start", t.stack_start}, {"stack_end", t.stack_end}}));
      }
      out["threads"] = jthreads;
      Json held = Json::Array();
      for (const auto& h : result.held_by_thread) {
        held.push_back(Json::Object(
            {{"tid", holder_tid[h.thread]}, {"reachable", Totals(h.reachable)}, {"possible", Totals(h.possible)}}));
      }
      out["held_by_thread"] = held;
      Json jsup = Json::Array();
      for (const auto& s : sup.list()) {
        if (s.matched.blocks) {
          jsup.push_back(Json::Object({{"pattern", s.pattern},
                                       {"origin", s.origin},
                                       {"bytes", s.matched.bytes},
                                       {"blocks", s.matched.blocks}}));
        }
      }
      out["suppressions_used"] = jsup;
      out["suppression_errors"] = errors;
      out["notes"] = result.notes;
      Json jexp = Json::Array();
      for (const auto& e : result.explained) {
        Json je = Json::Object({{"target", e.target},
                                {"where", e.where},
                                {"value", e.value},
                                {"in_block", e.in_block},
                                {"holder", e.holder >= 0 ? holder_tid[e.holder] : e.holder}});
        auto maps = memtrace::scan::ReadMaps(pid);
        if (maps.ok() && e.where) {
          memtrace::scan::MappingIndex mi(&*maps);
          if (const auto* m = mi.Find(e.where)) je["mapping"] = m->path.empty() ? "[anonymous]" : m->path;
        }
        jexp.push_back(je);
      }
      out["explained"] = jexp;
      gate_totals.by_space = by_space;
      gate_totals.suppressed = suppressed;
      (void)!write(ack, "G", 1);
      continue;
    }
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
  }
  out["exit_status"] = status;
  out["scanned"] = scanned;
  memtrace::scan::GateConfig gc;
  if (opt.exit_code) gc.exit_code = opt.exit_code;
  gc.threshold = opt.threshold;
  gc.kinds = opt.kinds;
  memtrace::scan::GateVerdict v = memtrace::scan::DecideGate(gate_totals, gc);
  out["gate"] = Json::Object({{"fire", v.fire}, {"bytes", v.bytes}, {"blocks", v.blocks}, {"line", v.line}});
  if (scanned) fprintf(stderr, "%s\n", v.line.c_str());
  std::string text = out.dump();
  if (opt.json_path.empty()) {
    printf("%s\n", text.c_str());
  } else {
    std::ofstream(opt.json_path) << text << "\n";
  }
  unlink(req_path.c_str());
  unlink(ack_path.c_str());
  unlink((std::string(dir) + "/addr").c_str());
  rmdir(dir);
  return v.fire ? *gc.exit_code : status;
}
