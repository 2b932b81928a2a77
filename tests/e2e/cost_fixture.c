/* What mappings cost: a 1 GiB PROT_NONE reservation (reserved, nothing
 * committed or resident), a 256 MiB mapping of which 4 MiB are touched, a
 * 64 MiB reservation whose middle 16 MiB are made accessible by mprotect and
 * 1 MiB of it touched -- and a 100,000-byte heap leak, which must still be
 * the text report's first site (test_cost.py). Transparent huge pages are
 * turned off for the mappings, so that touching N bytes makes exactly N
 * resident. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "expect.h"

#define MIB (1ul << 20)

static void expect_cost(int line, unsigned long reserved, unsigned long committed, unsigned long resident) {
  expect_line("{\"kind\": \"cost\", \"function\": \"main\", \"line\": %d, \"reserved\": %lu, \"committed\": %lu, "
              "\"resident\": %lu}",
              line, reserved, committed, resident);
}

int main(void) {
  void* reservation = mmap(NULL, 1024 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  int reservation_line = __LINE__ - 1;
  char* big = mmap(NULL, 256 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  int big_line = __LINE__ - 1;
  char* partial = mmap(NULL, 64 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  int partial_line = __LINE__ - 1;
  if (reservation == MAP_FAILED || big == MAP_FAILED || partial == MAP_FAILED) return 1;
  madvise(big, 256 * MIB, MADV_NOHUGEPAGE);
  madvise(partial, 64 * MIB, MADV_NOHUGEPAGE);
  memset(big, 1, 4 * MIB);
  if (mprotect(partial + 16 * MIB, 16 * MIB, PROT_READ | PROT_WRITE) != 0) return 1;
  memset(partial + 16 * MIB, 1, MIB);
  char* leak = malloc(100000);
  int leak_line = __LINE__ - 1;
  memset(leak, 1, 100000);
  expect_cost(reservation_line, 1024 * MIB, 0, 0);
  expect_cost(big_line, 256 * MIB, 256 * MIB, 4 * MIB);
  expect_cost(partial_line, 64 * MIB, 16 * MIB, MIB);
  expect_line("{\"kind\": \"heap_leak\", \"function\": \"main\", \"line\": %d, \"bytes\": 100000}", leak_line);
  return 0;
}
