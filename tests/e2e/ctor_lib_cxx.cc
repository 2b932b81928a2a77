// A C++ static initializer in the program's own library that leaks: it runs
// before libmemtrace's constructor (test_startup.py).
#include "expect.h"

namespace {

int g_leak_line;

__attribute__((noinline)) char* cxx_static_leak() {
  char* p = new char[4321]; g_leak_line = __LINE__;
  p[0] = 1;
  return p;
}

char* g_leaked = cxx_static_leak();

}  // namespace

extern "C" void ctor_lib_cxx_expect() {
  expect_line("{\"kind\": \"cxx_static\", \"function\": \"cxx_static_leak\", \"line\": %d, \"bytes\": 4321, "
              "\"kept\": %d}",
              g_leak_line, g_leaked != nullptr);
}
