// operator new/delete churn for the callgrind count (run_bench.py
// --callgrind): N pairs of operator new + delete of small sizes, or of
// new[] + delete[] with "a". Arguments: threads (ignored, 1), pairs, "s" or
// "a". The pointers go through a volatile: a pair the compiler can see is
// removed.
#include <cstdlib>
#include <new>

namespace {
void* volatile g_sink;
}  // namespace

int main(int argc, char** argv) {
  long n = argc > 2 ? atol(argv[2]) : 100000;
  bool arrays = argc > 3 && argv[3][0] == 'a';
  for (long i = 0; i < n; ++i) {
    size_t size = 16 + static_cast<size_t>(i & 63);
    if (arrays) {
      g_sink = new char[size];
      delete[] static_cast<char*>(g_sink);
    } else {
      g_sink = ::operator new(size);
      ::operator delete(g_sink);
    }
  }
  return 0;
}
