// A Go service calling C through cgo, for the live-report tests: it leaks
// known C allocations, prints its pid, stays up a while and ends through
// os.Exit (exit_group: no C destructors run, so no exit report).
package main

/*
#include <stdlib.h>
#include <string.h>
static void* volatile keep[64];  // volatile: never read, so the compiler could drop the mallocs
static int nkeep;
__attribute__((noinline)) void cgo_leak(int n) {
	void* p = malloc(n);
	memset(p, 1, n);
	keep[nkeep++ % 64] = p;
}
*/
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	total := 0
	for i := 0; i < 10; i++ {
		C.cgo_leak(C.int(1000 + i))
		total += 1000 + i
	}
	fmt.Printf("pid %d leaked %d\n", os.Getpid(), total)
	ms := 1500
	if len(os.Args) > 1 {
		ms, _ = strconv.Atoi(os.Args[1])
	}
	time.Sleep(time.Duration(ms) * time.Millisecond)
	os.Exit(0)
}
