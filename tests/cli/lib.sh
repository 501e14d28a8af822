# lib.sh -- helpers for CLI tests (sourced). Each test script ends with `t_done NAME`.
#   expect_ok   CMD...            exit status 0
#   expect_rc N CMD...            exit status N
#   expect_out  PATTERN CMD...    stdout matches the grep -E pattern (and exit 0)
#   expect_err  PATTERN CMD...    stderr matches the grep -E pattern (exit status ignored)
set -u
: "${FERRY:?FERRY must point at the ferry binary}"
T_PASS=0; T_FAIL=0
T_TMP=$(mktemp -d); trap 'rm -rf "$T_TMP"' EXIT
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${FERRY_SHARED:-$ROOT/../shared}
t_ok()   { T_PASS=$((T_PASS + 1)); }
t_fail() { T_FAIL=$((T_FAIL + 1)); echo "FAIL: $*" >&2; }
expect_rc() { want=$1; shift; "$@" >"$T_TMP/out" 2>"$T_TMP/err"; rc=$?
    if [ "$rc" -eq "$want" ]; then t_ok; else t_fail "$* -> exit $rc, want $want: $(head -c 300 "$T_TMP/err")"; fi; }
expect_ok() { expect_rc 0 "$@"; }
expect_out() { pat=$1; shift; "$@" >"$T_TMP/out" 2>"$T_TMP/err"; rc=$?
    if [ "$rc" -eq 0 ] && grep -Eq -- "$pat" "$T_TMP/out"; then t_ok; else
        t_fail "$* -> exit $rc, stdout lacks /$pat/: $(head -c 300 "$T_TMP/out") $(head -c 300 "$T_TMP/err")"; fi; }
expect_err() { pat=$1; shift; "$@" >"$T_TMP/out" 2>"$T_TMP/err"
    if grep -Eq -- "$pat" "$T_TMP/err"; then t_ok; else t_fail "$* -> stderr lacks /$pat/: $(head -c 300 "$T_TMP/err")"; fi; }
t_done() { echo "$1: $T_PASS passed, $T_FAIL failed"; [ "$T_FAIL" -eq 0 ]; }
