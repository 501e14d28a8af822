#!/bin/sh
# run.sh BUILD_DIR... -- runs ferry's whole test suite against each build directory:
#   1. unit/conformance programs  BUILD/tests/test_*
#   2. fuzz harnesses over their seeds  BUILD/fuzz/fuzz_<name>  fuzz/seeds/<name>/
#   3. CLI tests  tests/cli/test_*.sh  (FERRY=BUILD/bin/ferry)
#   4. interop tests with Debian's real libraries  tests/interop/*.py  (first build only)
# Every program prints a line "<suite>: N passed, N failed[, N skipped]"; this script sums
# them and ends with the same kind of line. The exit status is nonzero if anything failed
# (including a program that crashed or printed no summary).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
tp=0; tf=0; ts=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export FERRY_SOURCE_DIR="$root"

account() { # $1 = label, $2 = exit status; reads the program output from $log
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "  $1: no summary (exit $2)"; sed 's/^/    | /' "$log" | tail -n 30
        tf=$((tf + 1)); return
    fi
    p=$(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p'); s=${s:-0}
    if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    tp=$((tp + p)); tf=$((tf + f)); ts=$((ts + s))
    if [ "$f" -ne 0 ]; then
        echo "  FAILED $1 ($line, exit $2)"; grep -v '^skipped' "$log" | tail -n 40 | sed 's/^/    | /'
    else
        echo "  $line"
    fi
    grep '^skipped' "$log" | sort -u | head -n 5 | sed 's/^/    /'
}

first=1
for b in "$@"; do
    b=$(cd "$b" && pwd)
    echo "== $b"
    for t in "$b"/tests/test_*; do
        [ -x "$t" ] || continue
        (cd "$b" && "$t") >"$log" 2>&1; account "$(basename "$t")" $?
    done
    for fz in "$b"/fuzz/fuzz_*; do
        [ -x "$fz" ] || continue
        name=$(basename "$fz"); seeds="$root/fuzz/seeds/${name#fuzz_}"
        if [ -d "$seeds" ]; then "$fz" "$seeds" >"$log" 2>&1; account "$name" $?
        else echo "  FAILED $name: no seed folder $seeds"; tf=$((tf + 1)); fi
    done
    for c in "$root"/tests/cli/test_*.sh; do
        [ -f "$c" ] || continue
        FERRY="$b/bin/ferry" sh "$c" >"$log" 2>&1; account "$(basename "$c")" $?
    done
    if [ $first -eq 1 ]; then
        for py in "$root"/tests/interop/*.py; do
            [ -f "$py" ] || continue
            FERRY="$b/bin/ferry" /usr/bin/python3 "$py" >"$log" 2>&1; account "$(basename "$py")" $?
        done
    fi
    first=0
done
echo "ferry: $tp passed, $tf failed, $ts skipped"
[ "$tf" -eq 0 ]
