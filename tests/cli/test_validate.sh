#!/bin/sh
# test_validate.sh -- `ferry validate FILE...`: "FILE: OK (N tensors)" / "FILE: INVALID: why"
# on stdout; exit 0 all valid, 1 some invalid, 2 some unreadable (reported on stderr).
. "$(dirname "$0")/lib.sh"
F=$FERRY
missing="$T_TMP/missing.gguf"

expect_rc 2 "$F" validate "$missing"
"$F" validate "$missing" >"$T_TMP/o" 2>"$T_TMP/e"
[ ! -s "$T_TMP/o" ] && grep -q "^ferry: .*missing.gguf" "$T_TMP/e" && t_ok ||
    t_fail "unreadable file: want only a stderr line, got: $(cat "$T_TMP/o" "$T_TMP/e")"
printf 'GGUF' >"$T_TMP/short.gguf"
printf 'neither model nor anything\n' >"$T_TMP/text.bin"

if need_format gguf; then
    pyhelp "$T_TMP" <<'PY'
import sys, numpy as np
from ferrytest import *
d = sys.argv[1]
t = [("a", 0, [64, 64], np.ones(4096, np.float32).tobytes()), ("b", 1, [8], np.ones(8, np.float16).tobytes())]
write_gguf(d + "/ok.gguf", kvs=[("general.architecture", 8, "x")], tensors=t)
b = open(d + "/ok.gguf", "rb").read()
open(d + "/trunc.gguf", "wb").write(b[:len(b) - 100])            # tensor data cut short
open(d + "/badver.gguf", "wb").write(b[:4] + b"\x63\0\0\0" + b[8:])  # version 99
PY
    ok="$T_TMP/ok.gguf"
    expect_out "^$ok: OK \\(2 tensors\\)\$" "$F" validate "$ok"
    for bad in trunc badver short; do
        expect_rc 1 "$F" validate "$T_TMP/$bad.gguf"
        expect_out "^$T_TMP/$bad.gguf: INVALID: .+" sh -c "'$F' validate '$T_TMP/$bad.gguf'; exit 0"
    done
    expect_rc 1 "$F" validate "$T_TMP/text.bin"
    expect_rc 1 "$F" validate "$ok" "$T_TMP/trunc.gguf" "$ok"
    expect_rc 2 "$F" validate "$ok" "$T_TMP/trunc.gguf" "$missing"
    expect_rc 0 "$F" validate "$ok" "$ok"
    # Every file gets its line, in order, even after a failure.
    "$F" validate "$T_TMP/trunc.gguf" "$missing" "$ok" >"$T_TMP/o" 2>/dev/null
    [ "$(cut -d: -f2 "$T_TMP/o" | tr -d ' \n')" = "INVALIDOK(2tensors)" ] && t_ok ||
        t_fail "validate lines: $(cat "$T_TMP/o")"
    expect_json 'j["schema_version"] == 1 and [f["result"] for f in j["files"]] == ["ok", "invalid", "error"] and (j["ok"], j["invalid"], j["errors"]) == (1, 1, 1)' \
        sh -c "'$F' validate --json '$ok' '$T_TMP/trunc.gguf' '$missing' 2>/dev/null; exit 0"
    expect_json 'j["files"][0]["format"] == "gguf" and j["files"][0]["tensors"] == 2 and j["files"][0]["message"] is None' "$F" validate --json "$ok"
    expect_json 'j["files"][0]["message"] and j["files"][0]["tensors"] is None' sh -c "'$F' validate --json '$T_TMP/trunc.gguf'; exit 0"
fi
if need_format npz; then
    # A compressed member whose deflate stream is damaged opens fine (the zip directory is
    # intact) and is caught only by reading the tensor.
    pyhelp "$T_TMP" <<'PY'
import sys, zipfile, numpy as np
d = sys.argv[1]
np.savez_compressed(d + "/ok.npz", a=np.arange(100000, dtype=np.float32))
b = bytearray(open(d + "/ok.npz", "rb").read())
z = zipfile.ZipFile(d + "/ok.npz")
info = z.infolist()[0]
start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
for i in range(start + 200, start + 260):
    b[i] ^= 0x5a
open(d + "/bad.npz", "wb").write(bytes(b))
PY
    expect_rc 0 "$F" validate "$T_TMP/ok.npz"
    expect_rc 1 "$F" validate "$T_TMP/bad.npz"
fi
if [ -d "$SHARED/corpus/generated" ]; then
    for f in "$SHARED"/corpus/generated/gguf/*.gguf "$SHARED"/corpus/generated/np_f32.npy; do
        [ -f "$f" ] || continue
        case "$f" in *.gguf) fmt=gguf;; *) fmt=npy;; esac
        have_format $fmt || continue
        expect_out ': OK \(' "$F" validate "$f"
    done
else
    t_skip "no corpus at $SHARED/corpus"
fi
t_done validate
