#!/bin/sh
# test_json.sh -- every --json output parses, has schema_version 1 and the documented shape,
# and carries metadata values exactly: full 64-bit integers, float32 values that round-trip,
# NaN/Inf as null, strings with control characters and invalid UTF-8 (replaced by U+FFFD).
. "$(dirname "$0")/lib.sh"
F=$FERRY

expect_json 'j["schema_version"] == 1 and len(j["formats"]) > 0' "$F" formats --json
expect_json 'all(set(f) == {"name","description","extensions","read","write","graph","multi_file","may_hold_code"} for f in j["formats"])' "$F" formats --json
expect_json 'all(isinstance(f["extensions"], list) and all(e.startswith(".") for e in f["extensions"]) for f in j["formats"])' "$F" formats --json
expect_json 'j["files"][0]["result"] == "error" and j["errors"] == 1' sh -c "'$F' validate --json '$T_TMP/missing.gguf'; exit 0"

# ---- GGUF with every metadata type ---------------------------------------------------------
if need_format gguf; then
    pyhelp "$T_TMP" <<'PY'
import sys, numpy as np
from ferrytest import *
d = sys.argv[1]
rng = np.random.default_rng(7)
f32 = [float(x) for x in rng.standard_normal(300).astype(np.float32)] + [0.1, 1e-45, 3.4028235e38, -0.0, 16777217.0]
f32 = [float(np.float32(x)) for x in f32]
np.save(d + "/f32.npy", np.array(f32, np.float32))
kvs = [("general.architecture", 8, "llama"), ("general.name", 8, "json test"),
       ("general.file_type", 4, 7),
       ("u64max", 10, 2**64 - 1), ("i64min", 11, -2**63), ("u8", 0, 255), ("i8", 1, -128),
       ("u16", 2, 65535), ("i16", 3, -32768), ("u32", 4, 2**32 - 1), ("i32", 5, -2**31),
       ("f32one", 6, 0.1), ("f64one", 12, 0.1), ("f64pi", 12, 3.141592653589793),
       ("t", 7, True), ("f", 7, False), ("nan", 6, float("nan")), ("inf", 12, float("inf")),
       ("ninf", 6, float("-inf")), ("f32s", 9, (6, f32)),
       ("f64s", 9, (12, [1e300, -2.5e-300, 5e-324, 1.0, 123456789.125])),
       ("i64s", 9, (11, [-1, 2**63 - 1, -2**63])), ("empty", 9, (4, [])),
       ("ctl", 8, "tab\there\nnl \x01\x1f\x7f \"q\" \\b\\"),
       ("utf8", 8, "h\u00e9llo \u4e16\u754c \U0001F600 \u2028\u2029"),
       ("bad", 8, b"a\xffb\xc0\xafc\xed\xa0\x80d\xf4\x90\x80\x80e"),
       ("strs", 9, (8, ["x%d" % i for i in range(20)]))]
write_gguf(d + "/all.gguf", kvs=kvs, tensors=[
    ("a", 0, [2, 3], np.arange(6, dtype=np.float32).tobytes()),
    ("b.weight", 1, [4], np.arange(4, dtype=np.float16).tobytes()),
    ("c", 0, [], np.array([5], np.float32).tobytes())])
PY
    g="$T_TMP/all.gguf"
    expect_json 'set(j) == {"schema_version","format","tensors","metadata"} and j["schema_version"] == 1 and j["format"] == "gguf"' "$F" ls --json "$g"
    expect_json 'all(set(t) == {"name","dtype","shape","nbytes","offset","status","native_dtype"} for t in j["tensors"])' "$F" ls --json "$g"
    expect_json '[(t["name"], t["dtype"], t["shape"], t["nbytes"], t["status"]) for t in j["tensors"]] == [("a","F32",[2,3],24,"plain"), ("b.weight","F16",[4],8,"plain"), ("c","F32",[],4,"plain")]' "$F" ls --json "$g"
    expect_json 'all(isinstance(t["offset"], int) and t["offset"] % 32 == 0 for t in j["tensors"])' "$F" ls --json "$g"
    expect_json 'j["metadata"]["u64max"] == 2**64 - 1 and j["metadata"]["i64min"] == -2**63' "$F" ls --json "$g"
    expect_json '[j["metadata"][k] for k in ("u8","i8","u16","i16","u32","i32")] == [255,-128,65535,-32768,2**32-1,-2**31]' "$F" meta --json "$g"
    expect_json 'j["metadata"]["f32one"] == 0.1 and j["metadata"]["f64one"] == 0.1 and j["metadata"]["f64pi"] == 3.141592653589793' "$F" meta --json "$g"
    expect_json 'j["metadata"]["t"] is True and j["metadata"]["f"] is False' "$F" meta --json "$g"
    expect_json 'j["metadata"]["nan"] is None and j["metadata"]["inf"] is None and j["metadata"]["ninf"] is None' "$F" meta --json "$g"
    expect_json 'j["metadata"]["f64s"] == [1e300, -2.5e-300, 5e-324, 1.0, 123456789.125]' "$F" meta --json "$g"
    expect_json 'j["metadata"]["i64s"] == [-1, 2**63 - 1, -2**63] and j["metadata"]["empty"] == []' "$F" meta --json "$g"
    expect_json 'isinstance(j["metadata"]["f64s"][3], float)' "$F" meta --json "$g"
    expect_json 'j["metadata"]["ctl"] == "tab\there\nnl \x01\x1f\x7f \"q\" \\b\\"' "$F" meta --json "$g"
    expect_json 'j["metadata"]["utf8"] == "h\u00e9llo \u4e16\u754c \U0001F600 \u2028\u2029"' "$F" meta --json "$g"
    expect_json 'j["metadata"]["bad"].replace("\ufffd", "?") in ("a?b??c???d????e",)' "$F" meta --json "$g"
    expect_json 'j["metadata"]["strs"] == ["x%d" % i for i in range(20)]' "$F" meta --json "$g"
    # Raw output: no control byte, no raw U+2028 survives inside a JSON string.
    "$F" meta --json "$g" >"$T_TMP/m.json"
    if "$PY" -c 'import sys; b = open(sys.argv[1], "rb").read()[:-1]
sys.exit(1 if any(c < 0x20 or c == 0x7f for c in b) or "\u2028".encode() in b else 0)' "$T_TMP/m.json"; then t_ok
    else t_fail "meta --json output holds raw control characters"; fi
    # float32 values come back bit-exact through float32, with the fewest digits.
    expect_json '__import__("numpy").array_equal(__import__("numpy").array(j["value"], dtype="float32").view("u4"), __import__("numpy").load(sys.argv[1].rsplit("/", 1)[0] + "/f32.npy").view("u4"))' "$F" meta --json "$g" f32s
    "$F" meta --json "$g" f32s >"$T_TMP/f.json"
    if "$PY" - "$T_TMP/f.json" <<'PY'
import json, sys, numpy as np
for tok in open(sys.argv[1]).read().split("[", 1)[1].rstrip("]}\n").split(","):
    v = np.float32(float(tok))
    # numpy's repr of float32 is the shortest round-trip string; ours must be no longer.
    digits = lambda s: len(s.lstrip("-").split("e")[0].replace(".", "").strip("0") or "0")
    if digits(tok) > digits(np.format_float_positional(v, unique=True, trim="-")) and \
       digits(tok) > digits(np.format_float_scientific(v, unique=True, trim="-")):
        print("not shortest:", tok, repr(v)); sys.exit(1)
PY
    then t_ok; else t_fail "float32 values are not printed with the fewest digits"; fi
    expect_json 'j == {"schema_version": 1, "key": "u64max", "value": 2**64 - 1}' "$F" meta --json "$g" u64max
    expect_json 'j["value"] == "x3"' "$F" meta --json "$g" strs.3
    expect_json 'set(j) >= {"schema_version","file","format","format_version","file_size","tensor_count","parameter_count","tensor_bytes","dtypes","metadata_keys"}' "$F" info --json "$g"
    expect_json 'j["tensor_count"] == 3 and j["parameter_count"] == 11 and j["tensor_bytes"] == 36 and j["format_version"] == "3"' "$F" info --json "$g"
    expect_json 'j["dtypes"] == {"F16": {"tensors": 1, "parameters": 4, "bytes": 8}, "F32": {"tensors": 2, "parameters": 7, "bytes": 28}}' "$F" info --json "$g"
    expect_json 'j["metadata_keys"] == 27 and j["notable"]["general.architecture"] == "llama" and j["notable"]["general.file_type"] == 7' "$F" info --json "$g"
    expect_json 'j["file_size"] == __import__("os").path.getsize(sys.argv[1].rsplit("/", 1)[0] + "/all.gguf")' "$F" info --json "$g"
    expect_json 'j["files"][0]["result"] == "ok" and j["files"][0]["tensors"] == 3 and j["ok"] == 1' "$F" validate --json "$g"
    # Text forms of the same values.
    expect_out '^u64max = 18446744073709551615$' "$F" meta "$g"
    expect_out '^i64min = -9223372036854775808$' "$F" meta "$g"
    expect_out '^f32one = 0\.1$' "$F" meta "$g"
    expect_out '^nan = nan$' "$F" meta "$g"
    expect_out '^strs = \["x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", \.\.\. \(12 more\)\]$' "$F" meta "$g"
    expect_out '^empty = \[\]$' "$F" meta "$g"
    expect_out '^llama$' "$F" meta "$g" general.architecture
    expect_out '^x19$' "$F" meta "$g" strs
    expect_out '^general.file_type: +7 \(MOSTLY_Q8_0\)$' "$F" info "$g"
fi

# ---- safetensors: __metadata__ ------------------------------------------------------------
if need_format safetensors; then
    pyhelp "$T_TMP" <<'PY'
import sys, numpy as np
from ferrytest import *
write_safetensors(sys.argv[1] + "/m.safetensors",
                  [("x", np.ones((2, 2), np.float32)), ("y", np.arange(3, dtype=np.int64))],
                  metadata={"format": "pt", "note": "a\nb"})
PY
    s="$T_TMP/m.safetensors"
    expect_json 'j["format"] == "safetensors" and [t["name"] for t in j["tensors"]] == ["x", "y"]' "$F" ls --json "$s"
    expect_json 'j["metadata"]["format"] == "pt" and j["metadata"]["note"] == "a\nb"' "$F" meta --json "$s"
    expect_json 'j["tensor_count"] == 2 and j["dtypes"]["I64"]["bytes"] == 24' "$F" info --json "$s"
fi

# ---- nested metadata and byte strings (a PyTorch checkpoint written by torch itself) -------
if have_format pytorch && "$PY" -c 'import torch' 2>/dev/null; then
    "$PY" - "$T_TMP/ck.pt" <<'PY'
import sys, torch
torch.save({"w": torch.ones(2), "epoch": 7,
            "meta": {"blob": b"\x00\x01\xff hi", "nested": {"a": [1, {"b": 2.5}], "deep": [[1, 2], [3]]}}},
           sys.argv[1])
PY
    p="$T_TMP/ck.pt"
    expect_json '__import__("base64").b64decode(j["metadata"]["meta"]["blob"]) == b"\x00\x01\xff hi"' "$F" meta --json "$p"
    expect_json 'j["metadata"]["meta"]["nested"] == {"a": [1, {"b": 2.5}], "deep": [[1, 2], [3]]} and j["metadata"]["epoch"] == 7' "$F" meta --json "$p"
    expect_json 'j["value"] == {"b": 2.5}' "$F" meta --json "$p" meta.nested.a.1
    expect_out '^meta\.nested\.a\[1\]\.b = 2\.5$' "$F" meta "$p"
    expect_out '^meta\.nested\.deep\[0\] = \[1, 2\]$' "$F" meta "$p"
    expect_out '^meta\.blob = <6 bytes: 00 01 ff 20 68 69>$' "$F" meta "$p"
    expect_out '^2\.5$' "$F" meta "$p" meta.nested.a.1.b
    expect_out '^meta\.nested\.a\[0\] = 1$' "$F" meta "$p" meta.nested
    expect_rc 2 "$F" meta "$p" meta.nested.a.9
else
    t_skip "pytorch reader or python3-torch not available: nested metadata not tested"
fi

# ---- every corpus file the formats claim -------------------------------------------------
if [ -d "$SHARED/corpus" ]; then
    for f in "$SHARED"/corpus/gguf/*/models/*.gguf "$SHARED"/corpus/generated/gguf/*.gguf \
             "$SHARED"/corpus/safetensors/*/samples/*.safetensors; do
        [ -f "$f" ] || continue
        case "$f" in *.gguf) fmt=gguf;; *) fmt=safetensors;; esac
        have_format $fmt || continue
        # Some corpus files are damaged on purpose: those must fail cleanly (exit 2, one
        # line), the others must give well-formed JSON.
        "$F" info "$f" >/dev/null 2>"$T_TMP/e"; rc=$?
        if [ $rc -eq 2 ]; then
            if [ "$(wc -l <"$T_TMP/e")" -eq 1 ] && grep -q '^ferry: ' "$T_TMP/e"; then t_ok
            else t_fail "$f: rejected without a one-line message: $(head -c 300 "$T_TMP/e")"; fi
            expect_rc 2 "$F" ls --json "$f"
            continue
        fi
        expect_json 'j["schema_version"] == 1 and isinstance(j["tensors"], list) and isinstance(j["metadata"], dict)' "$F" ls --json "$f"
        expect_json 'j["schema_version"] == 1 and j["format"] == "'$fmt'"' "$F" info --json "$f"
        expect_json 'isinstance(j["metadata"], dict)' "$F" meta --json "$f"
    done
else
    t_skip "no corpus at $SHARED/corpus"
fi
t_done json
