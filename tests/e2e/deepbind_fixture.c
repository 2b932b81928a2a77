/* Opens deepbind_lib with RTLD_DEEPBIND (RTLD_LAZY with argument "lazy"),
 * hands it a 1,000-byte block to free, and lets it leak 3,000 bytes of its
 * own: the report must show the 3,000 bytes at the library's line and no
 * false 1,000-byte leak in main (test_deepbind.py). */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"

int main(int argc, char** argv) {
  int lazy = argc > 1 && strcmp(argv[1], "lazy") == 0;
  void* block = malloc(1000);
  memset(block, 1, 1000);
  void* lib = dlopen(DEEPBIND_LIB, (lazy ? RTLD_LAZY : RTLD_NOW) | RTLD_DEEPBIND);
  if (lib == NULL) return 2;
  int (*work)(void*) = (int (*)(void*))dlsym(lib, "deepbind_work");
  if (work == NULL) return 3;
  int line = work(block);
  expect_line("{\"kind\": \"deepbind\", \"function\": \"deepbind_work\", \"line\": %d, \"bytes\": 3000, "
              "\"path\": \"%s\"}",
              line, DEEPBIND_LIB);
  return 0;
}
