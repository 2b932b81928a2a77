// A shared library that throws a C++ exception through its own frames: the
// unwinding goes through libgcc's _Unwind_* (and must stay libgcc's).
#include <stdexcept>
#include <string>

__attribute__((noinline)) void thrower_deep(int depth) {
  if (depth == 0) throw std::runtime_error("thrown from libthrower at depth " + std::to_string(depth));
  thrower_deep(depth - 1);
}

extern "C" __attribute__((visibility("default"))) void thrower_throw(int depth) { thrower_deep(depth); }
