#!/bin/sh
# test_cat.sh -- `ferry cat` writes exactly the bytes NumPy has for the array (little-endian,
# C order), converts with --dtype like NumPy does, streams tensors larger than its 4 MiB
# chunk, and writes -o outputs atomically (an old OUT survives a failure; no temp files).
. "$(dirname "$0")/lib.sh"
F=$FERRY

# Files in $T_TMP/d whose names look like the sink's temporary files.
no_temp() { if ls "$1" 2>/dev/null | grep -q 'ferry-tmp'; then t_fail "temporary file left in $1: $(ls "$1")"
    else t_ok; fi; }

if need_format safetensors; then
    mkdir -p "$T_TMP/ref"
    pyhelp "$T_TMP" <<'PY'
import sys, numpy as np
from ferrytest import *
d = sys.argv[1]
rng = np.random.default_rng(1)
arrs = {
    "f32": rng.standard_normal((3, 5, 7)).astype(np.float32),
    "f16": rng.standard_normal((4, 9)).astype(np.float16),
    "f64": rng.standard_normal(11),
    "i8": rng.integers(-128, 127, (6, 2), dtype=np.int8),
    "u8": rng.integers(0, 255, 13, dtype=np.uint8),
    "i16": rng.integers(-30000, 30000, 5, dtype=np.int16),
    "u16": rng.integers(0, 65535, 5, dtype=np.uint16),
    "i32": rng.integers(-2**31, 2**31 - 1, (2, 2, 2), dtype=np.int32),
    "u32": rng.integers(0, 2**32 - 1, 3, dtype=np.uint32),
    "i64": rng.integers(-2**63, 2**63 - 1, 4, dtype=np.int64),
    "u64": rng.integers(0, 2**64 - 1, 4, dtype=np.uint64),
    "bool": rng.integers(0, 2, 9).astype(bool),
    "scalar": np.array(3.5, np.float32),
    "empty": np.zeros((0, 4), np.float32),
    "big": rng.standard_normal(1_500_000).astype(np.float32),   # 6 MB: more than one chunk
}
tensors = [(k, v) for k, v in arrs.items()]
bf = rng.standard_normal(10).astype(np.float32)
bf16 = (bf.view(np.uint32) >> 16).astype(np.uint16)
tensors.append(("bf16", ("BF16", [10], bf16.tobytes())))
write_safetensors(d + "/t.safetensors", tensors)
for k, v in arrs.items():
    open(d + "/ref/" + k, "wb").write(v.tobytes())
open(d + "/ref/bf16", "wb").write(bf16.tobytes())
# Reference conversions, as NumPy does them (round to nearest even).
open(d + "/ref/f16.as.f32", "wb").write(arrs["f16"].astype(np.float32).tobytes())
open(d + "/ref/f32.as.f16", "wb").write(arrs["f32"].astype(np.float16).tobytes())
open(d + "/ref/f64.as.f32", "wb").write(arrs["f64"].astype(np.float32).tobytes())
open(d + "/ref/big.as.f16", "wb").write(arrs["big"].astype(np.float16).tobytes())
open(d + "/ref/bf16.as.f32", "wb").write((bf16.astype(np.uint32) << 16).view(np.float32).tobytes())
PY
    s="$T_TMP/t.safetensors"
    for t in f32 f16 f64 i8 u8 i16 u16 i32 u32 i64 u64 bool scalar empty big bf16; do
        "$F" cat "$s" "$t" >"$T_TMP/o" 2>"$T_TMP/e"; rc=$?
        if [ $rc -eq 0 ] && cmp -s "$T_TMP/o" "$T_TMP/ref/$t"; then t_ok
        else t_fail "cat $t (stdout) -> exit $rc, bytes differ from NumPy: $(head -c 200 "$T_TMP/e")"; fi
        rm -f "$T_TMP/o2"
        expect_ok "$F" cat "$s" "$t" -o "$T_TMP/o2"
        cmp -s "$T_TMP/o2" "$T_TMP/ref/$t" && t_ok || t_fail "cat $t -o: bytes differ from NumPy"
    done
    expect_ok "$F" cat "$s" f32 --output="$T_TMP/o3"
    cmp -s "$T_TMP/o3" "$T_TMP/ref/f32" && t_ok || t_fail "cat --output=FILE"
    expect_ok "$F" cat -o- "$s" f32
    cmp -s "$T_TMP/out" "$T_TMP/ref/f32" && t_ok || t_fail "cat -o - writes stdout"
    for c in "f16 F32 f16.as.f32" "f32 F16 f32.as.f16" "f64 float32 f64.as.f32" "big f16 big.as.f16" \
             "bf16 F32 bf16.as.f32" "f32 F32 f32"; do
        set -- $c
        "$F" cat "$s" "$1" --dtype "$2" >"$T_TMP/o" 2>"$T_TMP/e"; rc=$?
        if [ $rc -eq 0 ] && cmp -s "$T_TMP/o" "$T_TMP/ref/$3"; then t_ok
        else t_fail "cat $1 --dtype $2 -> exit $rc, bytes differ from NumPy's astype: $(head -c 200 "$T_TMP/e")"; fi
    done
    # Errors: unknown tensor (2, message names the file), unwritable output (2), nothing left.
    expect_rc 2 "$F" cat "$s" nope -o "$T_TMP/o4"
    expect_err "^ferry: $s: no tensor named \"nope\"\$" "$F" cat "$s" nope
    [ ! -e "$T_TMP/o4" ] && t_ok || t_fail "failed cat created its output"
    expect_rc 2 "$F" cat "$s" f32 -o "$T_TMP/no/such/dir/out"
    # Atomicity: a write that fails half-way (file size limit; SIGXFSZ ignored so that write
    # returns EFBIG) leaves the previous OUT intact and no temporary file.
    mkdir -p "$T_TMP/d"
    echo "previous contents" >"$T_TMP/d/out.bin"
    (trap '' XFSZ; ulimit -f 64 2>/dev/null && exec "$F" cat "$s" big -o "$T_TMP/d/out.bin") \
        >/dev/null 2>"$T_TMP/e"; rc=$?
    if [ $rc -eq 2 ] && grep -q '^ferry: ' "$T_TMP/e"; then t_ok
    else t_fail "cat over the file size limit -> exit $rc, want 2: $(head -c 300 "$T_TMP/e")"; fi
    [ "$(cat "$T_TMP/d/out.bin")" = "previous contents" ] && t_ok || t_fail "failed cat clobbered OUT"
    no_temp "$T_TMP/d"
    expect_ok "$F" cat "$s" big -o "$T_TMP/d/out.bin"
    cmp -s "$T_TMP/d/out.bin" "$T_TMP/ref/big" && t_ok || t_fail "cat -o over an existing file"
    no_temp "$T_TMP/d"
fi

if need_format gguf; then
    pyhelp "$T_TMP" <<'PY'
import sys, struct, numpy as np
from ferrytest import *
d = sys.argv[1]
rng = np.random.default_rng(2)
a = rng.standard_normal((3, 4, 64)).astype(np.float32)
h = rng.standard_normal((5, 32)).astype(np.float16)
# Q8_0 (ggml-common.h block_q8_0): per 32 values one f16 scale d and 32 int8; x = d * q.
q = rng.integers(-127, 127, (4, 32), dtype=np.int8)
dd = np.array([0.5, 0.25, 1.5, 0.0078125], np.float16)
blocks = b"".join(struct.pack("<e", float(dd[i])) + q[i].tobytes() for i in range(4))
deq = (dd.astype(np.float32)[:, None] * q.astype(np.float32)).astype(np.float32)
write_gguf(d + "/t.gguf", kvs=[("general.architecture", 8, "test")],
           tensors=[("a", 0, [3, 4, 64], a.tobytes()), ("h", 1, [5, 32], h.tobytes()),
                    ("q", 8, [2, 64], blocks)])
open(d + "/a.ref", "wb").write(a.tobytes())
open(d + "/h.ref", "wb").write(h.tobytes())
open(d + "/q.raw", "wb").write(blocks)
open(d + "/q.f32", "wb").write(deq.tobytes())
PY
    g="$T_TMP/t.gguf"
    expect_json '[t["shape"] for t in j["tensors"]] == [[3, 4, 64], [5, 32], [2, 64]]' "$F" ls --json "$g"
    for c in "a a.ref" "h h.ref" "q q.raw"; do
        set -- $c
        "$F" cat "$g" "$1" >"$T_TMP/o" 2>"$T_TMP/e"
        cmp -s "$T_TMP/o" "$T_TMP/$2" && t_ok || t_fail "gguf cat $1: bytes differ: $(head -c 200 "$T_TMP/e")"
    done
    "$F" cat "$g" q --dtype F32 >"$T_TMP/o" 2>"$T_TMP/e"
    cmp -s "$T_TMP/o" "$T_TMP/q.f32" && t_ok || t_fail "Q8_0 dequantization differs from d*q: $(head -c 200 "$T_TMP/e")"
    # The data offset ls reports is where the bytes are in the file.
    "$F" ls --json "$g" >"$T_TMP/ls.json"
    "$PY" -c 'import json, sys
j = json.load(open(sys.argv[1])); b = open(sys.argv[2], "rb").read()
t = j["tensors"][0]; ref = open(sys.argv[3], "rb").read()
sys.exit(0 if b[t["offset"]:t["offset"] + t["nbytes"]] == ref else 1)' "$T_TMP/ls.json" "$g" "$T_TMP/a.ref" \
        && t_ok || t_fail "ls --json offset does not point at the tensor's bytes"
    # A big-endian GGUF: cat gives the values little-endian; the file holds them big-endian
    # at the offset ls reports.
    be="$SHARED/corpus/generated/gguf/tiny_f32_f16_be.gguf"
    if [ -f "$be" ]; then
        "$F" ls --json "$be" >"$T_TMP/be.json"
        for t in $("$PY" -c 'import json,sys; print(" ".join(t["name"] for t in json.load(open(sys.argv[1]))["tensors"]))' "$T_TMP/be.json"); do
            "$F" cat "$be" "$t" >"$T_TMP/be" 2>/dev/null
            "$PY" -c 'import json, sys, numpy as np
t = [t for t in json.load(open(sys.argv[1]))["tensors"] if t["name"] == sys.argv[2]][0]
dt = {"F32": ">f4", "F16": ">f2"}[t["dtype"]]
raw = open(sys.argv[3], "rb").read()[t["offset"]:t["offset"] + t["nbytes"]]
sys.exit(0 if np.frombuffer(raw, dt).astype(dt.replace(">", "<")).tobytes() == open(sys.argv[4], "rb").read() else 1)' \
                "$T_TMP/be.json" "$t" "$be" "$T_TMP/be" && t_ok || t_fail "big-endian GGUF tensor $t not byte-swapped"
        done
    else
        t_skip "corpus big-endian GGUF not found"
    fi
fi
# NumPy files: cat gives what numpy.load gives (big-endian and Fortran-order arrays are
# turned into little-endian C order). Object arrays are never loaded (allow_pickle=False).
if need_format npy && need_format npz && [ -d "$SHARED/corpus/generated" ]; then
    for f in "$SHARED"/corpus/generated/np_*.npy "$SHARED"/corpus/generated/np_*.npz \
             "$SHARED"/corpus/numpy/*/*/tests/test.np?; do
        [ -f "$f" ] || continue
        "$F" ls --json "$f" >"$T_TMP/np.json" 2>/dev/null || continue
        for t in $("$PY" -c 'import json,sys; print(" ".join(t["name"] for t in json.load(open(sys.argv[1]))["tensors"] if t["status"] == "plain"))' "$T_TMP/np.json"); do
            "$F" cat "$f" "$t" >"$T_TMP/np.bin" 2>"$T_TMP/e"
            "$PY" -c 'import sys, numpy as np
f, name = sys.argv[1], sys.argv[2]
a = np.load(f, allow_pickle=False)
if f.endswith(".npz"): a = a[name]
a = np.ascontiguousarray(a)
a = a.astype(a.dtype.newbyteorder("<"))
sys.exit(0 if a.tobytes() == open(sys.argv[3], "rb").read() else 1)' "$f" "$t" "$T_TMP/np.bin" && t_ok ||
                t_fail "cat $(basename "$f") $t differs from numpy.load: $(head -c 200 "$T_TMP/e")"
        done
    done
fi
t_done cat
