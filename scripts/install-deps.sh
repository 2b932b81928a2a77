#!/usr/bin/env bash
# Installs the Debian 12 packages libmemtrace needs to build and test (or, with
# --bench, to run the benchmarks). A no-op when they are all present. Needs
# root, or sudo.
set -euo pipefail

packages=(build-essential cmake pkg-config libunwind-dev libabsl-dev libfmt-dev libdw-dev libelf-dev zlib1g-dev
          libgtest-dev googletest python3 sqlite3 git binutils golang-go strace
          gdb libc6-dbg  # gdb, libc6-dbg: e2e.inline compares glibc's frames with addr2line
          chromium       # e2e.outputs: the HTML report in a real browser
          valgrind       # valgrind (and its memcheck.h): e2e.scan compares the leak scan with memcheck
          libxgboost-dev   # e2e.scan: a forgotten XGBoosterFree, against memcheck
          libjemalloc-dev libgoogle-perftools-dev  # e2e.new: programs whose operator new is jemalloc's, tcmalloc's
          python3-numpy    # e2e.cost: pymalloc arenas and a C extension's leak in a real interpreter
          clang libclang-rt-14-dev  # fuzz.smoke / make fuzz: libFuzzer, ASan and UBSan runtimes (clang 14)
          passwd)          # e2e.security: useradd/userdel for the attacker and victim users
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(heaptrack)
fi
if [[ "${1:-}" == "--bench-real" ]]; then  # make bench-real: real programs (python3-torch brought 168 packages, 580 MiB, here)
  packages+=(heaptrack python3-torch nodejs)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then sudo=(sudo); else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
