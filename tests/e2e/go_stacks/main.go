// Go callers under cgo, for test_go_stacks.py.
//
//	gostacks reload N   -- main.reload -> main.loadModel leaks N C handles of
//	                       known size, prints "ready PID BYTES" and waits for a
//	                       line on stdin (the test takes a SIGUSR2 report).
//	gostacks many G R   -- G goroutines each make R C calls that allocate and
//	                       free, concurrently (the unwinder under load), prints
//	                       "calls N sum S" and waits for a line on stdin.
package main

/*
#include <stdlib.h>
#include <string.h>
typedef struct { char* weights; int n; } model_handle;
__attribute__((noinline)) model_handle* handle_create(int n) {
	model_handle* h = malloc(sizeof(model_handle));
	h->weights = malloc(n);
	memset(h->weights, 1, n);
	h->n = n;
	return h;
}
__attribute__((noinline)) int scratch(int n) {
	char* p = malloc(n);
	memset(p, 2, n);
	int s = p[n / 2];
	free(p);
	return s;
}
*/
import "C"

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"sync"
)

var handles []*C.model_handle

//go:noinline
func loadModel(size int) *C.model_handle {
	return C.handle_create(C.int(size))
}

//go:noinline
func reload(gen int) {
	h := loadModel(4096 + gen)
	handles = append(handles, h) // never freed: the leak the report must pin on reload -> loadModel
}

func main() {
	switch os.Args[1] {
	case "reload":
		n, _ := strconv.Atoi(os.Args[2])
		total := 0
		for i := 0; i < n; i++ {
			reload(i)
			total += 4096 + i + int(C.sizeof_model_handle)
		}
		fmt.Printf("ready %d %d\n", os.Getpid(), total)
		bufio.NewReader(os.Stdin).ReadString('\n')
	case "many":
		g, _ := strconv.Atoi(os.Args[2])
		r, _ := strconv.Atoi(os.Args[3])
		var wg sync.WaitGroup
		sum := 0
		var mu sync.Mutex
		for i := 0; i < g; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				s := 0
				for j := 0; j < r; j++ {
					s += int(C.scratch(C.int(64 + (i+j)%512)))
				}
				mu.Lock()
				sum += s
				mu.Unlock()
			}(i)
		}
		wg.Wait()
		fmt.Printf("calls %d sum %d\n", g*r, sum)
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
}
