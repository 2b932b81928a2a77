# User entry points. `make demo` and `make test` work on a fresh Debian 12
# machine: they install what they need first (scripts/install-deps.sh).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build test demo bench bench-real sanitize fuzz clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) -- --no-print-directory

test: build
	cd $(BUILD) && ctest --output-on-failure

demo: build
	@echo "== the demo service, untraced =="
	@$(BUILD)/demo/inference_service 20
	@echo
	@echo "== the same run under LD_PRELOAD=$(BUILD)/libmemtrace.so (report on stderr) =="
	@LD_PRELOAD=$(abspath $(BUILD))/libmemtrace.so $(BUILD)/demo/inference_service 20

bench: build
	@scripts/install-deps.sh --bench
	python3 bench/run_bench.py --build $(BUILD) $(BENCH_ARGS)

# torch, node, numpy and sqlite3 untraced, under libmemtrace and under
# heaptrack (installs python3-torch, nodejs and heaptrack when missing:
# large, so never part of `make test`).
bench-real: build
	@scripts/install-deps.sh --bench-real
	python3 bench/real_programs.py --build $(BUILD) $(BENCH_ARGS)

# Unit tests under ASan+UBSan and under TSan. The preload itself cannot run
# under a sanitizer (both want to own malloc); its end-to-end tests run in
# `make test`.
sanitize: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMEMTRACE_SANITIZE=address,undefined >/dev/null
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ctest --output-on-failure -R '^unit\.'
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DMEMTRACE_SANITIZE=thread >/dev/null
	cmake --build build-tsan -j$(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -R '^unit\.'

# The libFuzzer targets (tests/fuzz), FUZZ_SECONDS each (default 300), in
# build-fuzz/ with a working corpus kept there; `make test` runs a short,
# deterministic pass of the same targets.
FUZZ_SECONDS ?= 300
fuzz: deps
	scripts/fuzz.sh long $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
