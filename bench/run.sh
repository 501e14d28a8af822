#!/bin/sh
# run.sh -- ferry's benchmarks (not tests: numbers, not pass/fail).
#  1. `ferry convert` of a ~1 GiB safetensors file to GGUF against `cp` of the same file, in
#     the same run, page cache warm for both: throughput ratio and peak RSS (/usr/bin/time -v).
#  2. `ferry ls` on a GGUF with a 150k-entry token vocabulary (mean wall time of 20 runs).
# Targets (issue "ferry core"): convert >= 0.8x cp; peak RSS <= 64 MiB + one tensor;
# vocabulary listing < 50 ms.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
ferry="$root/build/bin/ferry"
out="$root/bench/out"; mkdir -p "$out"
MIB=${BENCH_MIB:-1024}
big="$out/big.safetensors"; vocab="$out/vocab150k.gguf"
[ -f "$big" ] || /usr/bin/python3 "$root/bench/gen_big.py" "$big" "$MIB"
[ -f "$vocab" ] || /usr/bin/python3 "$root/bench/gen_vocab_gguf.py" "$vocab" 150000

now() { date +%s.%N; }
best() { # best-of-3 wall seconds of a command, after one warm-up run
    "$@" >/dev/null 2>&1
    b=""
    for _ in 1 2 3; do
        t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
        t=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
    done
    echo "$b"
}
rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}'; }

size=$(stat -c %s "$big")
t_cp=$(best cp "$big" "$out/copy.safetensors")
t_cps=$(best sh -c "cp '$big' '$out/copy.safetensors' && sync '$out/copy.safetensors'")
t_fe=$(best "$ferry" convert --quiet "$big" "$out/big.gguf")
t_fe16=$(best "$ferry" convert --quiet --dtype f16 "$big" "$out/big16.gguf")
rss_fe16=$(rss "$ferry" convert --quiet --dtype f16 "$big" "$out/big16.gguf")
rss_cp=$(rss cp "$big" "$out/copy.safetensors")
rss_fe=$(rss "$ferry" convert --quiet "$big" "$out/big.gguf")
largest=$("$ferry" ls --json "$big" | /usr/bin/python3 -c 'import json,sys; print(max(t["nbytes"] for t in json.load(sys.stdin)["tensors"]) // 1024)')
mbps() { echo "scale=0; $size / $1 / 1048576" | bc -l; }
echo "convert safetensors -> gguf, $(($size / 1048576)) MiB (warm page cache, best of 3):"
echo "  cp:            $(printf %.3f "$t_cp") s  $(mbps "$t_cp") MiB/s  peak RSS ${rss_cp} KiB"
echo "  cp + sync:     $(printf %.3f "$t_cps") s  $(mbps "$t_cps") MiB/s  (ferry fsyncs its output before the rename)"
echo "  ferry convert: $(printf %.3f "$t_fe") s  $(mbps "$t_fe") MiB/s  peak RSS ${rss_fe} KiB"
echo "  ferry convert --dtype f16 (F32 tensors converted): $(printf %.3f "$t_fe16") s  peak RSS ${rss_fe16} KiB"
echo "  ratio ferry/cp throughput: $(echo "scale=2; $t_cp / $t_fe" | bc -l)  (target >= 0.80)"
echo "  ratio ferry/(cp + sync):   $(echo "scale=2; $t_cps / $t_fe" | bc -l)"
echo "  peak RSS - largest tensor: $(( (rss_fe - largest) / 1024 )) MiB  (target <= 64 MiB)"
rm -f "$out/copy.safetensors" "$out/big.gguf" "$out/big16.gguf"

runs=20
"$ferry" ls "$vocab" >/dev/null
t0=$(now); i=0; while [ $i -lt $runs ]; do "$ferry" ls "$vocab" >/dev/null; i=$((i + 1)); done; t1=$(now)
t0j=$(now); i=0; while [ $i -lt $runs ]; do "$ferry" ls --json "$vocab" >/dev/null; i=$((i + 1)); done; t1j=$(now)
echo "ferry ls on a 150k-token vocabulary GGUF ($(stat -c %s "$vocab") bytes), mean of $runs runs:"
echo "  ls:        $(echo "scale=1; ($t1 - $t0) * 1000 / $runs" | bc -l) ms  (target < 50 ms)"
echo "  ls --json: $(echo "scale=1; ($t1j - $t0j) * 1000 / $runs" | bc -l) ms (includes the whole vocabulary as JSON)"
