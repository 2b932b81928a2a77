// A leak-free program that uses what every program uses and that left bytes
// live at exit before the scan: stdio, C++ iostreams, a thread started and
// joined, a dlopen'ed library kept loaded. Under the gate it must keep its
// own exit status (argv[1], default 0).
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  printf("stdio %d\n", 42);
  std::cout << "iostream " << std::string(100, 'x').size() << std::endl;
  std::thread t([] { printf("thread\n"); });
  t.join();
  void* lib = dlopen(SCAN_FIXTURE_DSO, RTLD_NOW);
  if (lib == nullptr) return 99;
  std::cerr << "stderr line\n";
  return argc > 1 ? atoi(argv[1]) : 0;
}
