#!/bin/sh
# run_quant.sh -- builds and runs bench/quant_bench.c (ferry_quantize_elems throughput per
# type, 1 thread and all threads) against build/lib/libferry.a. Run `make` first.
# BENCH_SECONDS (default 0.5) sets the measuring time per type and column.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
lib="$root/build/lib/libferry.a"
[ -f "$lib" ] || { echo "run_quant.sh: $lib missing; run make first" >&2; exit 2; }
out="$root/bench/out"; mkdir -p "$out"
${CC:-cc} -std=c11 -O2 -Wall -Wextra -I"$root/include" "$root/bench/quant_bench.c" "$lib" \
    -lz -lm -lpthread -o "$out/quant_bench"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) online"
"$out/quant_bench"
