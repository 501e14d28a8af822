#!/bin/sh
# test_convert.sh -- `ferry convert`: safetensors -> gguf -> npz -> safetensors keeps every
# tensor's bytes, shape and dtype; --dtype / --alignment / --to / --quiet do what they say;
# notes and the summary go to stderr; a failing conversion leaves nothing at OUT -- no
# partial file, no temporary file, and an existing OUT untouched.
. "$(dirname "$0")/lib.sh"
F=$FERRY

no_temp() { if ls -a "$1" 2>/dev/null | grep -q 'ferry-tmp'; then t_fail "temporary file left in $1: $(ls -a "$1")"
    else t_ok; fi; }
# same_tensors A B: both files list the same tensors (name, dtype, shape) with equal bytes.
same_tensors() {
    "$F" ls --json "$1" >"$T_TMP/a.json" 2>/dev/null && "$F" ls --json "$2" >"$T_TMP/b.json" 2>/dev/null ||
        { t_fail "same_tensors: cannot list $1 or $2"; return; }
    if ! "$PY" -c 'import json, sys
key = lambda f: sorted((t["name"], t["dtype"], t["shape"], t["nbytes"]) for t in json.load(open(f))["tensors"])
a, b = key(sys.argv[1]), key(sys.argv[2])
if a != b:
    print("listing differs:", a, b); sys.exit(1)' "$T_TMP/a.json" "$T_TMP/b.json"; then
        t_fail "$1 and $2 list different tensors"; return; fi
    for t in $("$PY" -c 'import json,sys; print(" ".join(t["name"] for t in json.load(open(sys.argv[1]))["tensors"]))' "$T_TMP/a.json"); do
        "$F" cat "$1" "$t" >"$T_TMP/ta" 2>/dev/null; "$F" cat "$2" "$t" >"$T_TMP/tb" 2>/dev/null
        cmp -s "$T_TMP/ta" "$T_TMP/tb" || { t_fail "tensor $t differs between $1 and $2"; return; }
    done
    t_ok
}

if ! need_format safetensors write || ! need_format gguf write; then t_done convert; exit $?; fi

mkdir -p "$T_TMP/w"
cd "$T_TMP/w" || exit 2
pyhelp "$T_TMP/w" <<'PY'
import sys, numpy as np
from ferrytest import *
d = sys.argv[1]
rng = np.random.default_rng(3)
# dtypes that safetensors, GGUF and NumPy all hold, so the round trip is exact.
write_safetensors(d + "/in.safetensors", [
    ("model.embed.weight", rng.standard_normal((16, 8)).astype(np.float32)),
    ("layers.0.attn.q", rng.standard_normal((4, 4, 2)).astype(np.float16)),
    ("layers.0.norm", rng.standard_normal(8)),
    ("ids.i8", np.arange(-4, 4, dtype=np.int8)), ("ids.i16", np.arange(9, dtype=np.int16) * -300),
    ("ids.i32", np.arange(5, dtype=np.int32) * 100000), ("ids.i64", np.array([-2**63, 2**63 - 1])),
    ("big", rng.standard_normal((700, 1000)).astype(np.float32)),
], metadata={"format": "pt"})
PY
expect_ok "$F" convert in.safetensors a.gguf
expect_err '^ferry: wrote a2\.gguf \(gguf\): 8 tensors, .* in [0-9.]+ s$' "$F" convert in.safetensors a2.gguf
same_tensors in.safetensors a.gguf
expect_json 'j["format"] == "gguf"' "$F" ls --json a.gguf
if need_format npz write; then
    expect_ok "$F" convert a.gguf b.npz
    expect_json 'j["format"] == "npz"' "$F" ls --json b.npz
    same_tensors a.gguf b.npz
    expect_ok "$F" convert b.npz c.safetensors
else
    expect_ok "$F" convert a.gguf c.safetensors
fi
same_tensors in.safetensors c.safetensors
expect_ok "$F" validate a.gguf c.safetensors
# Raw data sections are byte-identical too, not just each tensor through ferry.
pyhelp "$T_TMP/w" <<'PY' && t_ok || t_fail "round trip changed tensor bytes (checked with Python)"
import sys
from ferrytest import read_safetensors
a, c = read_safetensors(sys.argv[1] + "/in.safetensors"), read_safetensors(sys.argv[1] + "/c.safetensors")
sys.exit(0 if a == c else 1)
PY

# --to wins over the extension; --quiet prints nothing at all on success.
expect_ok "$F" convert in.safetensors weights.bin --to safetensors
expect_json 'j["format"] == "safetensors"' "$F" ls --json weights.bin
expect_ok "$F" convert --quiet in.safetensors q.gguf
[ ! -s "$T_TMP/err" ] && t_ok || t_fail "--quiet still printed: $(head -c 200 "$T_TMP/err")"
expect_ok "$F" convert -q in.safetensors q2.gguf --to GGUF
# --dtype converts floating tensors only, like NumPy's astype.
expect_ok "$F" convert in.safetensors h.gguf --dtype F16
expect_json 'sorted(set(t["dtype"] for t in j["tensors"])) == ["F16", "I16", "I32", "I64", "I8"]' "$F" ls --json h.gguf
"$F" cat h.gguf model.embed.weight >"$T_TMP/h16" 2>/dev/null
"$PY" -c 'import sys, numpy as np
sys.path.insert(0, sys.argv[3]); from ferrytest import read_safetensors
dt, shape, b = read_safetensors(sys.argv[1])["model.embed.weight"]
sys.exit(0 if np.frombuffer(b, "<f4").astype("<f2").tobytes() == open(sys.argv[2], "rb").read() else 1)' \
    in.safetensors "$T_TMP/h16" "$T_TMP" && t_ok || t_fail "--dtype F16 differs from NumPy astype(float16)"
# --alignment: every GGUF data offset is a multiple of it.
expect_ok "$F" convert in.safetensors al.gguf --alignment 64
expect_json 'all(t["offset"] % 64 == 0 for t in j["tensors"])' "$F" ls --json al.gguf
# Lossless widening is announced on stderr ("ferry: note: ..."), and still exact.
pyhelp "$T_TMP/w" <<'PY'
import sys, numpy as np
from ferrytest import *
write_safetensors(sys.argv[1] + "/u8.safetensors", [("u", np.arange(250, 256, dtype=np.uint8))])
PY
expect_err '^ferry: note: .*U8' "$F" convert u8.safetensors u8.gguf
"$F" cat u8.gguf u --dtype U8 >"$T_TMP/u8" 2>/dev/null
printf '\372\373\374\375\376\377' | cmp -s - "$T_TMP/u8" && t_ok || t_fail "U8 widened for GGUF does not read back"
# Dequantization of GGML block types, with a note, equal to cat --dtype F32 of the source.
q="$SHARED/corpus/generated/gguf/tiny_quant_q8_0_q4_0_q5_1.gguf"
if [ -f "$q" ]; then
    expect_err '^ferry: note: .*dequantiz' "$F" convert "$q" dq.safetensors
    for t in $("$F" ls --json "$q" | "$PY" -c 'import json,sys; print(" ".join(t["name"] for t in json.load(sys.stdin)["tensors"] if t["dtype"].startswith("Q")))'); do
        "$F" cat "$q" "$t" --dtype F32 >"$T_TMP/x1" 2>/dev/null; "$F" cat dq.safetensors "$t" >"$T_TMP/x2" 2>/dev/null
        [ -s "$T_TMP/x1" ] && cmp -s "$T_TMP/x1" "$T_TMP/x2" && t_ok || t_fail "dequantized $t differs"
    done
else
    t_skip "corpus quantized GGUF not found"
fi

# ---- failures leave nothing behind --------------------------------------------------------
mkdir -p "$T_TMP/f"
head -c 100 in.safetensors >"$T_TMP/f/corrupt.safetensors"
expect_rc 2 "$F" convert "$T_TMP/f/corrupt.safetensors" "$T_TMP/f/out.gguf"
[ ! -e "$T_TMP/f/out.gguf" ] && t_ok || t_fail "convert of a corrupt input created OUT"
no_temp "$T_TMP/f"
expect_rc 2 "$F" convert in.safetensors "$T_TMP/f/no/such/dir/out.gguf"
# Half-way failure: the output outgrows the file size limit (SIGXFSZ ignored: write fails
# with EFBIG). The library aborts its atomic sink: no OUT, no temporary file.
(trap '' XFSZ; ulimit -f 256 2>/dev/null && exec "$F" convert in.safetensors "$T_TMP/f/out.gguf") \
    >/dev/null 2>"$T_TMP/e"; rc=$?
if [ $rc -eq 2 ] && grep -q '^ferry: ' "$T_TMP/e"; then t_ok
else t_fail "convert over the file size limit -> exit $rc, want 2: $(head -c 300 "$T_TMP/e")"; fi
[ ! -e "$T_TMP/f/out.gguf" ] && t_ok || t_fail "half-written convert left OUT"
no_temp "$T_TMP/f"
# ... and an existing OUT survives such a failure unchanged.
echo "old model" >"$T_TMP/f/keep.gguf"
(trap '' XFSZ; ulimit -f 256 2>/dev/null && exec "$F" convert in.safetensors "$T_TMP/f/keep.gguf") \
    >/dev/null 2>&1
[ "$(cat "$T_TMP/f/keep.gguf")" = "old model" ] && t_ok || t_fail "failed convert clobbered an existing OUT"
no_temp "$T_TMP/f"
# A read-only directory: cannot even create the temporary file.
if [ "$(id -u)" != 0 ]; then
    mkdir -p "$T_TMP/ro" && chmod 555 "$T_TMP/ro"
    expect_rc 2 "$F" convert in.safetensors "$T_TMP/ro/out.gguf"
    [ ! -e "$T_TMP/ro/out.gguf" ] && t_ok || t_fail "convert into a read-only directory created OUT"
    chmod 755 "$T_TMP/ro"
else
    t_skip "running as root: read-only directory test is meaningless"
fi
# Interrupted (SIGTERM while writing): the temporary file is removed and the process still
# dies by the signal. Either the signal came in time (no OUT) or the conversion had already
# finished (a complete, valid OUT); never a partial file or a temporary one.
pyhelp "$T_TMP/f" <<'PY'
import sys, numpy as np
from ferrytest import *
write_safetensors(sys.argv[1] + "/sig.safetensors", [("w%d" % i, np.ones((1024, 2048), np.float32)) for i in range(8)])
PY
"$F" convert "$T_TMP/f/sig.safetensors" "$T_TMP/f/sig.gguf" --dtype F16 >/dev/null 2>"$T_TMP/e" &
pid=$!
sleep 0.05
kill -TERM $pid 2>/dev/null
wait $pid 2>/dev/null; rc=$?
if [ -e "$T_TMP/f/sig.gguf" ]; then
    echo "note: the conversion finished before SIGTERM arrived (exit $rc)"
    expect_ok "$F" validate "$T_TMP/f/sig.gguf"
else
    [ $rc -eq 143 ] && t_ok || t_fail "interrupted convert -> exit $rc, want death by SIGTERM (143)"
    grep -q '^ferry: interrupted: ' "$T_TMP/e" && t_ok || t_fail "no 'interrupted' message: $(cat "$T_TMP/e")"
fi
no_temp "$T_TMP/f"
cd "$ROOT" || exit 2
t_done convert
