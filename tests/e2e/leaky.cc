// The leak fixture: C leaks (leaky_c.c) and C++ leaks through every form of
// operator new, from distinct functions. The report's totals and per-site
// numbers must equal what this program states.
#include <new>

#include "expect.h"

extern "C" {
void leak_malloc(void);
void leak_calloc(void);
void leak_realloc(void);
void leak_aligned(void);
void leak_pages(void);
void churn_and_free(void);
}

struct Widget {
  char payload[40];
};
struct alignas(128) Aligned {
  char payload[256];
};

static void* volatile g_keep[16];

__attribute__((noinline)) void leak_new() {
  g_keep[0] = new Widget; EXPECT_SITE("leak_new()", __LINE__, sizeof(Widget), 1);
  g_keep[1] = new int[25]; EXPECT_SITE("leak_new()", __LINE__, 100, 1);
  g_keep[2] = new (std::nothrow) char[333]; EXPECT_SITE("leak_new()", __LINE__, 333, 1);
  g_keep[3] = new Aligned; EXPECT_SITE("leak_new()", __LINE__, sizeof(Aligned), 1);
}

__attribute__((noinline)) void new_and_delete() {
  // Through a volatile pointer: the compiler may otherwise elide new/delete pairs.
  for (int i = 0; i < 100; ++i) {
    g_keep[8] = new Widget;
    delete static_cast<Widget*>(g_keep[8]);
    g_keep[9] = new int[i + 1];
    delete[] static_cast<int*>(g_keep[9]);
    g_keep[10] = new Aligned;
    delete static_cast<Aligned*>(g_keep[10]);
    g_keep[11] = new (std::nothrow) char[17];
    delete[] static_cast<char*>(g_keep[11]);
    g_keep[12] = ::operator new(64);
    ::operator delete(g_keep[12], 64);  // sized delete
    g_keep[13] = ::operator new[](32, std::align_val_t(64));
    ::operator delete[](g_keep[13], std::align_val_t(64));
  }
}

int main() {
  leak_malloc();
  leak_calloc();
  leak_realloc();
  leak_aligned();
  leak_pages();
  churn_and_free();
  leak_new();
  new_and_delete();
  expect_line("{\"kind\": \"totals\", \"live_bytes\": %zu, \"live_blocks\": %d}",
              300 + 77 + 5000 + 1000 + 512 + 333 + 3000 + 10 + 117 + sizeof(Widget) + 100 + 333 + sizeof(Aligned), 15);
  return 0;
}
