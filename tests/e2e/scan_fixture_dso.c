/* dlopen'ed by scan_fixture: a pointer kept only in this library's data, and
 * one kept only in its (dynamic) TLS. */
#include <stdlib.h>

void* dso_global;
__thread void* dso_tls;

__attribute__((noinline)) void* site_dlopen_data(void) { return malloc(113); }
__attribute__((noinline)) void* site_dyn_tls(void) { return malloc(114); }

void dso_keep_global(void) { dso_global = site_dlopen_data(); }
void dso_keep_tls(void) { dso_tls = site_dyn_tls(); }
