#!/usr/bin/env bash
# Real-GPU checks for libmemtrace's CUDA tracing. Run by hand on a machine
# with an NVIDIA GPU and the CUDA toolkit (not part of `make test`; CI has no
# GPU):   tests/gpu/run_gpu_checks.sh [build-dir]
# Builds cuda_leaks.cu with static cudart (nvcc's default: seen through CUPTI
# only) and with shared cudart (seen through the runtime hooks; CUPTI must not
# count it twice), runs each under the preload and compares the report with
# what the program printed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
lib=$(cd "$build" && pwd)/libmemtrace.so
nvcc=${NVCC:-/usr/local/cuda/bin/nvcc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
nvidia-smi -L || { echo "no NVIDIA GPU visible" >&2; exit 2; }
status=0
for cudart in static shared; do
  echo "== cudart $cudart =="
  "$nvcc" -O1 -g -Xcompiler -fno-omit-frame-pointer --cudart "$cudart" -o "$work/leaks_$cudart" \
    "$here/cuda_leaks.cu" -lcuda -lpthread
  MEMTRACE_OUTPUT="$work/report_$cudart.json" LD_PRELOAD="$lib" "$work/leaks_$cudart" > "$work/out_$cudart.txt"
  python3 "$here/check_report.py" "$work/report_$cudart.json" "$work/out_$cudart.txt" || status=1
done
exit $status
