#!/bin/sh
# test_exit.sh -- the exit-status contract (DESIGN.md "CLI contract"): 0 success, 1 negative
# answer, 2 error (one "ferry: ..." line on stderr), 4 usage error (with a usage line).
. "$(dirname "$0")/lib.sh"
F=$FERRY
nofile="$T_TMP/does-not-exist.safetensors"
head -c 4096 /dev/urandom >"$T_TMP/noise.bin" 2>/dev/null || printf 'not a model at all\n' >"$T_TMP/noise.bin"
printf 'x' >"$T_TMP/one.bin"

# ---- usage errors: 4, a short usage line on stderr, nothing on stdout -----------------------
expect_rc 4 "$F"
expect_rc 4 "$F" no-such-command
expect_rc 4 "$F" --no-such-option
expect_rc 4 "$F" ls
expect_rc 4 "$F" ls a b
expect_rc 4 "$F" ls --no-such-option x
expect_rc 4 "$F" ls --json=yes x
expect_rc 4 "$F" info
expect_rc 4 "$F" meta
expect_rc 4 "$F" meta a b c
expect_rc 4 "$F" cat x
expect_rc 4 "$F" cat x y --dtype
expect_rc 4 "$F" cat x y --dtype NOT_A_DTYPE -o "$T_TMP/o"
expect_rc 4 "$F" cat x y -Z
expect_rc 4 "$F" convert x
expect_rc 4 "$F" convert x y.safetensors --alignment abc
expect_rc 4 "$F" convert x y.safetensors --alignment 0
expect_rc 4 "$F" convert x y.safetensors --dtype NOT_A_DTYPE
expect_rc 4 "$F" convert x y.safetensors --to no-such-format
expect_rc 4 "$F" convert x y.no-extension-ferry-knows
expect_rc 4 "$F" validate
expect_rc 4 "$F" formats extra
expect_err '^Usage: ferry ls ' "$F" ls
expect_err "^ferry: ls: unknown option '--bogus'" "$F" ls --bogus x
expect_err "^ferry: unknown command 'bogus'" "$F" bogus
expect_err "cannot tell the output format" "$F" convert x y.no-extension-ferry-knows
"$F" ls --bogus x >"$T_TMP/o" 2>/dev/null
[ ! -s "$T_TMP/o" ] && t_ok || t_fail "usage error wrote to stdout"
# "--" ends the options: a file named like an option is a file (missing here: exit 2).
expect_rc 2 "$F" info -- --json

# ---- errors: 2, exactly one line "ferry: <message>" naming the file -------------------------
for c in info ls meta validate; do
    expect_rc 2 "$F" $c "$nofile"
done
expect_rc 2 "$F" cat "$nofile" t -o "$T_TMP/o"
expect_rc 2 "$F" convert "$nofile" "$T_TMP/o.safetensors"
"$F" info "$nofile" >/dev/null 2>"$T_TMP/e"
if [ "$(wc -l <"$T_TMP/e")" -eq 1 ] && grep -q "^ferry: .*does-not-exist.safetensors" "$T_TMP/e"; then t_ok
else t_fail "missing file: want one 'ferry: FILE...' line, got: $(cat "$T_TMP/e")"; fi
# Unknown format (random bytes, a one-byte file) and a directory no format claims.
for f in "$T_TMP/noise.bin" "$T_TMP/one.bin" /dev/null; do
    expect_rc 2 "$F" info "$f"
    expect_rc 2 "$F" ls --json "$f"
done
mkdir -p "$T_TMP/emptydir"
expect_rc 2 "$F" info "$T_TMP/emptydir"
expect_err '^ferry: ' "$F" info "$T_TMP/noise.bin"
# validate: an unreadable input is an error (2), even next to a valid file.
expect_rc 2 "$F" validate "$nofile"
# Writing to a full device is an error too, reported once.
if [ -w /dev/full ]; then
    "$F" formats --json >/dev/full 2>"$T_TMP/e"; rc=$?
    if [ $rc -eq 2 ] && grep -q '^ferry: error writing standard output' "$T_TMP/e"; then t_ok
    else t_fail "formats >/dev/full -> exit $rc: $(cat "$T_TMP/e")"; fi
    "$F" --help >/dev/full 2>/dev/null; rc=$?
    [ $rc -eq 2 ] && t_ok || t_fail "--help >/dev/full -> exit $rc, want 2"
else
    t_skip "/dev/full not available"
fi

# ---- with real files (once the formats land) ----------------------------------------------
if need_format safetensors; then
    pyhelp "$T_TMP" <<'PY'
import sys, numpy as np
from ferrytest import *
d = sys.argv[1]
write_safetensors(d + "/ok.safetensors", [("w", np.arange(12, dtype=np.float32).reshape(3, 4))])
b = open(d + "/ok.safetensors", "rb").read()
open(d + "/trunc.safetensors", "wb").write(b[:-8])           # data shorter than declared
open(d + "/badhdr.safetensors", "wb").write(b[:8] + b"!" + b[9:])  # header not JSON
PY
    ok="$T_TMP/ok.safetensors"
    expect_ok "$F" info "$ok"
    expect_ok "$F" ls "$ok"
    expect_ok "$F" meta "$ok"
    expect_ok "$F" validate "$ok"
    for bad in "$T_TMP/trunc.safetensors" "$T_TMP/badhdr.safetensors"; do
        expect_rc 2 "$F" info "$bad"
        expect_rc 2 "$F" ls "$bad"
        expect_rc 2 "$F" cat "$bad" w -o "$T_TMP/o"
        expect_rc 1 "$F" validate "$bad"
        expect_rc 1 "$F" validate "$ok" "$bad"
        expect_rc 2 "$F" validate "$ok" "$bad" "$nofile"
        "$F" info "$bad" >/dev/null 2>"$T_TMP/e"
        if [ "$(wc -l <"$T_TMP/e")" -eq 1 ] && grep -q "^ferry: .*$(basename "$bad")" "$T_TMP/e"; then t_ok
        else t_fail "corrupt file: want one 'ferry: FILE...' line, got: $(cat "$T_TMP/e")"; fi
    done
    rm -f "$T_TMP/o"
    expect_rc 2 "$F" cat "$ok" no-such-tensor -o "$T_TMP/o"
    expect_err "^ferry: $ok: no tensor named \"no-such-tensor\"\$" "$F" cat "$ok" no-such-tensor -o "$T_TMP/o"
    [ ! -e "$T_TMP/o" ] && t_ok || t_fail "cat of an unknown tensor created its output"
    expect_rc 2 "$F" meta "$ok" no.such.key
    expect_err "^ferry: $ok: no metadata key \"no.such.key\"\$" "$F" meta "$ok" no.such.key
    expect_rc 4 "$F" cat "$ok" w --dtype STRING -o "$T_TMP/o"
fi
t_done exit
