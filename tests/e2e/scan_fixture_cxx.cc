// The C++ shapes memcheck's default heuristics accept: new[] of objects with
// a destructor (the pointer kept is start + 8) and an object kept through its
// second base class (multiple inheritance).
#include <cstddef>
#include <cstdint>

namespace {
struct Counted {
  ~Counted() { value = 0; }
  long value = 1;
};
struct Left {
  virtual ~Left() = default;
  virtual long L() { return 1; }
  long left = 1;
};
struct Right {
  virtual ~Right() = default;
  virtual long R() { return 2; }
  long right = 2;
};
struct Both : Left, Right {
  long both = 3;
};
}  // namespace

extern "C" {
extern const size_t cxx_newarray_bytes = sizeof(std::size_t) + 5 * sizeof(Counted);  // the count, then the elements
extern const size_t cxx_second_base_bytes = sizeof(Both);
void* g_cxx_newarray;
void* g_cxx_second_base;

__attribute__((noinline)) void* site_cxx_newarray() { return new Counted[5]; }
__attribute__((noinline)) void* site_cxx_second_base() { return static_cast<Right*>(new Both); }

void cxx_keep() {
  g_cxx_newarray = site_cxx_newarray();
  g_cxx_second_base = site_cxx_second_base();
}
}
