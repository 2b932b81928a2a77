// The cgo pattern behind zombie OpenMP pools: many goroutines (no
// runtime.LockOSThread) call a C function that runs an OpenMP parallel
// region. Each call runs on whatever OS thread the goroutine sits on, and
// libgomp builds one worker pool per calling OS thread; every team member
// keeps a thread-local buffer. Ends through os.Exit (exit_group).
package main

/*
#cgo CFLAGS: -fopenmp -O1
#cgo LDFLAGS: -fopenmp
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#define TEAM 3
#define BYTES 12345
static __thread void* scratch;
__attribute__((noinline)) void omp_team_member(void) {
	if (scratch == NULL) {
		scratch = malloc(BYTES);
		memset(scratch, 1, BYTES);
	}
}
__attribute__((noinline)) void predict_batch(void) {
#pragma omp parallel num_threads(TEAM)
	omp_team_member();
}
*/
import "C"

import (
	"fmt"
	"os"
	"sync"
	"time"
)

func main() {
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				C.predict_batch()
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("team %d bytes %d\n", C.TEAM, C.BYTES)
	time.Sleep(700 * time.Millisecond) // a few interval snapshots
	os.Exit(0)
}
