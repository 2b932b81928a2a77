// Leaks through every form of operator new, and churns through every form of
// operator delete (sized, aligned, nothrow, arrays). Built three times: with
// libstdc++'s operator new (which allocates through malloc), and linked with
// jemalloc and with tcmalloc, whose own operator new never calls malloc
// (test_new.py). Every leak must be exact at its line (the size the program
// asked for, also for aligned forms); the churn must leave
// nothing live, each block counted once.
#include <new>

#include "expect.h"

struct alignas(64) Aligned {
  char bytes[200];
};
static_assert(sizeof(Aligned) == 256);

void* volatile g_keep[16];
void* volatile g_sink;

__attribute__((noinline)) void leak_every_new() {
  g_keep[0] = new char[3000]; EXPECT_SITE("leak_every_new()", __LINE__, 3000, 1);
  g_keep[1] = new int[250]; EXPECT_SITE("leak_every_new()", __LINE__, 1000, 1);
  g_keep[2] = new (std::nothrow) char[777]; EXPECT_SITE("leak_every_new()", __LINE__, 777, 1);
  g_keep[3] = new Aligned[3]; EXPECT_SITE("leak_every_new()", __LINE__, 768, 1);
  g_keep[4] = new Aligned; EXPECT_SITE("leak_every_new()", __LINE__, 256, 1);
  g_keep[5] = new (std::nothrow) Aligned; EXPECT_SITE("leak_every_new()", __LINE__, 256, 1);
  g_keep[6] = new long; EXPECT_SITE("leak_every_new()", __LINE__, sizeof(long), 1);
  g_keep[7] = operator new[](4321, std::align_val_t(128), std::nothrow); EXPECT_SITE("leak_every_new()", __LINE__, 4321, 1);
}

__attribute__((noinline)) void churn_every_delete(int rounds) {
  for (int i = 0; i < rounds; ++i) {
    // Through a volatile: a new/delete pair the compiler can see is removed.
    long* l = new long(i);
    g_sink = l;
    delete static_cast<long*>(g_sink);
    char* c = new char[100];
    g_sink = c;
    delete[] static_cast<char*>(g_sink);
    void* p = operator new(64);
    operator delete(p, size_t{64});  // sized
    p = operator new[](96);
    operator delete[](p, size_t{96});
    Aligned* a = new Aligned;  // aligned, sized
    g_sink = a;
    delete static_cast<Aligned*>(g_sink);
    Aligned* b = new Aligned[2];
    g_sink = b;
    delete[] static_cast<Aligned*>(g_sink);
    p = operator new(48, std::nothrow);
    operator delete(p, std::nothrow);
    p = operator new[](48, std::nothrow);
    operator delete[](p, std::nothrow);
    p = operator new(300, std::align_val_t(256));
    operator delete(p, std::align_val_t(256));
    p = operator new[](300, std::align_val_t(256), std::nothrow);
    operator delete[](p, std::align_val_t(256), std::nothrow);
    p = operator new(128, std::align_val_t(64), std::nothrow);
    operator delete(p, std::align_val_t(64), std::nothrow);
    p = operator new[](128, std::align_val_t(64));
    operator delete[](p, size_t{128}, std::align_val_t(64));
  }
}

int main() {
  leak_every_new();
  churn_every_delete(100);
  expect_line("{\"kind\": \"churn\", \"function\": \"churn_every_delete(int)\", \"allocs\": %d}", 100 * 12);
  return 0;
}
