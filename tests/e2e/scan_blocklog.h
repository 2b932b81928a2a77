/* The live-block table of libscan_blocklog.so (scan_blocklog.c), shared with
 * the scan driver that reads it out of the target's memory. A stand-in for
 * the tracer's live table until the watcher holds it: the scan's tests need
 * every live block of a real process with its allocation stack. */
#ifndef MEMTRACE_TESTS_SCAN_BLOCKLOG_H_
#define MEMTRACE_TESTS_SCAN_BLOCKLOG_H_

#include <stdint.h>

#define BLOCKLOG_MAGIC 0x676f6c6b636f6c62ull /* "blcklog" */
#define BLOCKLOG_FRAMES 6
#define BLOCKLOG_EMPTY 0

enum { BLOCKLOG_HEAP = 0, BLOCKLOG_MAPPING = 1 };
enum { BLOCKLOG_ROOT = 1 }; /* a runtime's mapping: a root, not a block */

struct blocklog_slot {
  uint64_t addr; /* BLOCKLOG_EMPTY: free slot */
  uint64_t size;
  uint32_t tid;
  uint8_t kind, flags, nframes, pad;
  uint64_t frames[BLOCKLOG_FRAMES]; /* return addresses, innermost first */
  uint64_t seq; /* allocation order */
};

struct blocklog_header {
  uint64_t magic;
  uint64_t capacity; /* slots, a power of two */
  uint64_t count;
  uint64_t region_bytes; /* header + slots: the tracer's own memory */
  uint64_t static_tls_size, static_tls_align; /* glibc's _dl_get_tls_static_info */
  uint64_t dropped; /* blocks not recorded: table full */
  uint64_t exit_sp; /* stack pointer of the thread that called exit(), at the call */
  uint64_t exit_tid;
  uint64_t next_seq;
  volatile int lock;
  int pad;
  /* struct blocklog_slot slots[capacity] follow, at BLOCKLOG_SLOTS_OFFSET */
};

#define BLOCKLOG_SLOTS_OFFSET 256
#ifdef __cplusplus
static_assert(sizeof(blocklog_header) <= BLOCKLOG_SLOTS_OFFSET, "the header must not overlap slot 0");
#else
_Static_assert(sizeof(struct blocklog_header) <= BLOCKLOG_SLOTS_OFFSET, "the header must not overlap slot 0");
#endif

#endif
