// The symbol index gives libdwfl's answer (dwfl_module_addrname), address
// for address, on real modules: this test binary (a full .symtab, local
// functions), glibc (its symbols from libc6-dbg where installed), libstdc++
// (aliases, weak symbols), libdw, and python3 and libtorch_cpu where present
// (stripped: dynamic symbols only, the case the index was made for).
#include "src/report/symbol_index.h"

#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <link.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "src/report/debuginfo.h"

namespace memtrace {
namespace {

const Dwfl_Callbacks kCallbacks = {nullptr, FindLocalDebuginfo, nullptr, nullptr};

// A file this process has loaded whose name contains `part`.
std::string LoadedPath(const char* part) {
  struct Ctx {
    const char* part;
    std::string path;
  } ctx{part, {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* c = static_cast<Ctx*>(data);
        if (info->dlpi_name != nullptr && strstr(info->dlpi_name, c->part) != nullptr) c->path = info->dlpi_name;
        return 0;
      },
      &ctx);
  return ctx.path;
}

struct Counts {
  int compared = 0, asked = 0;
  int inside = 0, inside_asked = 0;  // probes inside a symbol with a size (where return addresses are)
};

// Compares the index with libdwfl at the edges and middle of a spread of the
// module's symbols and at random addresses across it.
Counts Compare(const std::string& path) {
  Counts c;
  Dwfl* dwfl = dwfl_begin(&kCallbacks);
  dwfl_report_begin(dwfl);
  Dwfl_Module* m = dwfl_report_elf(dwfl, path.c_str(), path.c_str(), -1, 0x10000000, false);
  dwfl_report_end(dwfl, nullptr, nullptr);
  EXPECT_NE(m, nullptr) << path;
  if (m == nullptr) {
    dwfl_end(dwfl);
    return c;
  }
  SymbolIndex index(m);
  std::vector<std::pair<GElf_Addr, bool>> probes;  // address, inside a sized symbol
  int count = dwfl_module_getsymtab(m);
  int step = std::max(1, count / 600);
  for (int i = 1; i < count; i += step) {
    GElf_Sym sym;
    GElf_Addr addr = 0;
    GElf_Word shndx;
    Elf* elf;
    Dwarf_Addr bias;
    if (dwfl_module_getsym_info(m, i, &sym, &addr, &shndx, &elf, &bias) == nullptr || sym.st_shndx == SHN_UNDEF) {
      continue;
    }
    bool sized = sym.st_size > 1;
    for (GElf_Addr a : {addr, addr + 1, addr + sym.st_size / 2, addr + sym.st_size - 1}) probes.push_back({a, sized});
    probes.push_back({addr + sym.st_size, false});
  }
  Dwarf_Addr low = 0, high = 0;
  dwfl_module_info(m, nullptr, &low, &high, nullptr, nullptr, nullptr, nullptr);
  std::mt19937_64 rng(42);
  for (int i = 0; i < 1500 && high > low; ++i) probes.push_back({low + rng() % (high - low), false});
  for (auto [a, inside] : probes) {
    const char* want = dwfl_module_addrname(m, a);
    const char* got = nullptr;
    SymbolIndex::Result r = index.Lookup(a, &got);
    c.inside += inside;
    if (r == SymbolIndex::Result::kAskLibdwfl) {
      ++c.asked;
      c.inside_asked += inside;
      continue;
    }
    ++c.compared;
    if (r == SymbolIndex::Result::kNone) {
      EXPECT_EQ(want, nullptr) << path << " +" << std::hex << (a - 0x10000000) << ": libdwfl names " << want;
    } else {
      EXPECT_TRUE(want != nullptr && strcmp(want, got) == 0)
          << path << " +" << std::hex << (a - 0x10000000) << ": index " << got << ", libdwfl "
          << (want != nullptr ? want : "(none)");
    }
  }
  dwfl_end(dwfl);
  return c;
}

void CompareAndReport(const std::string& path) {
  Counts c = Compare(path);
  std::printf("%s: %d addresses compared, %d left to libdwfl (%d of the %d inside symbols with a size)\n",
              path.c_str(), c.compared, c.asked, c.inside_asked, c.inside);
  EXPECT_GT(c.compared, 1000) << path;
  // Inside functions (where return addresses are) the index answers nearly
  // always; libdwfl's size-less fallback is for the gaps between them.
  EXPECT_LT(c.inside_asked * 100, c.inside) << path;
}

TEST(SymbolIndexTest, AgreesWithLibdwflOnThisBinary) { CompareAndReport("/proc/self/exe"); }

TEST(SymbolIndexTest, AgreesWithLibdwflOnSystemLibraries) {
  for (const char* part : {"libc.so", "libstdc++", "libdw"}) {
    std::string path = LoadedPath(part);
    ASSERT_FALSE(path.empty()) << part;
    CompareAndReport(path);
  }
}

TEST(SymbolIndexTest, AgreesWithLibdwflOnStrippedBigModules) {
  int seen = 0;
  for (const char* path : {"/usr/bin/python3.11", "/usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13"}) {
    if (FILE* f = fopen(path, "r")) {
      fclose(f);
      CompareAndReport(path);
      ++seen;
    }
  }
  if (seen == 0) GTEST_SKIP() << "neither python3.11 nor libtorch_cpu is installed";
}

}  // namespace
}  // namespace memtrace
