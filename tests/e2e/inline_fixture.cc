// Allocations made through deep inlining at -O2: std::vector, std::string,
// std::make_shared, std::unordered_map, std::map, std::deque, and glibc's own
// allocating calls. test_inline.py compares every frame of every site with
// what addr2line -f -i -C says about the same address. Everything is kept in
// globals (live at exit).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

struct Record {
  std::string name;
  std::vector<double> values;
};

std::vector<int>* g_vec;
std::string* g_str;
std::shared_ptr<Record>* g_shared;  // a pointer: a global shared_ptr would be destroyed before the report
std::unordered_map<int, std::string>* g_umap;
std::map<std::string, int>* g_map;
std::deque<long>* g_deque;
std::vector<void*>* g_c = new std::vector<void*>;

__attribute__((noinline)) void BuildVector(int n) {
  g_vec = new std::vector<int>();
  for (int i = 0; i < n; ++i) g_vec->push_back(i);  // _M_realloc_insert, inlined allocate chain
}

__attribute__((noinline)) void BuildString(const char* base, int n) {
  g_str = new std::string(base);
  for (int i = 0; i < n; ++i) g_str->append(base);
}

__attribute__((noinline)) void BuildShared(int n) {
  g_shared = new std::shared_ptr<Record>(std::make_shared<Record>());
  (*g_shared)->name = std::string(40, 'r');
  (*g_shared)->values.assign(static_cast<size_t>(n), 1.5);
}

__attribute__((noinline)) void BuildMaps(int n) {
  g_umap = new std::unordered_map<int, std::string>();
  g_map = new std::map<std::string, int>();
  for (int i = 0; i < n; ++i) {
    (*g_umap)[i] = std::string(32, static_cast<char>('a' + i % 26));
    g_map->emplace(std::string(24, static_cast<char>('A' + i % 26)) + std::to_string(i), i);
  }
}

__attribute__((noinline)) void BuildDeque(int n) {
  g_deque = new std::deque<long>();
  for (int i = 0; i < n; ++i) g_deque->push_front(i);
}

// glibc's allocations (lines inside libc come from libc6-dbg).
__attribute__((noinline)) void CallLibc(int n) {
  for (int i = 0; i < n; ++i) {
    char* s = nullptr;
    if (asprintf(&s, "record %d of %d", i, n) > 0) g_c->push_back(s);
    g_c->push_back(strdup("a string duplicated by glibc"));
  }
  g_c->push_back(fopen("/dev/null", "r"));
  char* line = nullptr;
  size_t cap = 0;
  FILE* f = fmemopen(const_cast<char*>("one line\n"), 9, "r");
  if (f != nullptr && getline(&line, &cap, f) > 0) g_c->push_back(line);
  g_c->push_back(f);
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 100;
  BuildVector(n);
  BuildString("0123456789abcdef", n);
  BuildShared(n);
  BuildMaps(n / 4);
  BuildDeque(n * 8);
  CallLibc(4);
  printf("inline fixture: %zu %zu %zu %zu\n", g_vec->size(), g_str->size(), g_umap->size(), g_deque->size());
  return 0;
}
