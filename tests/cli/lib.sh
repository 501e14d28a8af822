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

# ---- additions for the CLI command tests (additive: nothing above changes meaning) ----------
#   t_skip MSG                    count a skipped check, print "skipped: MSG"
#   expect_json PYEXPR CMD...     exit 0, stdout is JSON, and PYEXPR (over `j`) is true
#   have_format NAME [write]      the format's reader (and writer) has landed in this build
#   need_format NAME [write]      have_format, else t_skip with a message (returns 1)
#   pyhelp <<'PY' ... PY          run python with `from ferrytest import *` available
# ferrytest (written to $T_TMP) builds model files with nothing but the stdlib and NumPy:
#   write_safetensors(path, [(name, array | (dtype, shape, bytes)), ...], metadata=None)
#   read_safetensors(path) -> {name: (dtype, shape, bytes)}
#   write_gguf(path, kvs=[(key, type, value)], tensors=[(name, ggml_type, shape, bytes)])
T_SKIP=0
PY=/usr/bin/python3
case $FERRY in /*) ;; *) FERRY=$(pwd)/$FERRY;; esac  # tests may cd
t_skip() { T_SKIP=$((T_SKIP + 1)); echo "skipped: $*"; }
t_done() { if [ "$T_SKIP" -gt 0 ]; then echo "$1: $T_PASS passed, $T_FAIL failed, $T_SKIP skipped"
    else echo "$1: $T_PASS passed, $T_FAIL failed"; fi; [ "$T_FAIL" -eq 0 ]; }
expect_json() { expr=$1; shift; "$@" >"$T_TMP/out" 2>"$T_TMP/err"; rc=$?
    if [ "$rc" -ne 0 ]; then t_fail "$* -> exit $rc: $(head -c 300 "$T_TMP/err")"; return; fi
    if "$PY" -c 'import json,sys
j = json.load(open(sys.argv[1], encoding="utf-8"))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$T_TMP/out" "$expr" 2>"$T_TMP/pyerr"; then t_ok
    else t_fail "$* -> JSON fails /$expr/: $(head -c 300 "$T_TMP/out") $(head -c 300 "$T_TMP/pyerr")"; fi; }
have_format() { "$FERRY" formats --json 2>/dev/null | "$PY" -c 'import json,sys
f = {x["name"]: x for x in json.load(sys.stdin)["formats"]}.get(sys.argv[1])
sys.exit(0 if f and f["read"] and (len(sys.argv) < 3 or f["write"]) else 1)' "$@"; }
need_format() { if have_format "$@"; then return 0; fi
    t_skip "format $1${2:+ ($2)} has not landed in this build"; return 1; }
pyhelp() { PYTHONPATH="$T_TMP" "$PY" - "$@"; }
cat > "$T_TMP/ferrytest.py" <<'PY'
import json, struct
import numpy as np

ST_DTYPES = {"float32": "F32", "float16": "F16", "float64": "F64", "int8": "I8", "int16": "I16",
             "int32": "I32", "int64": "I64", "uint8": "U8", "uint16": "U16", "uint32": "U32",
             "uint64": "U64", "bool": "BOOL"}

def write_safetensors(path, tensors, metadata=None, raw_header=None):
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in tensors:
        if isinstance(t, tuple):
            dt, shape, data = t
        else:
            a = np.ascontiguousarray(t)
            dt, shape, data = ST_DTYPES[a.dtype.name], list(a.shape), a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"], b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in h.items()}

# GGUF value types (gguf.md): 0 u8 1 i8 2 u16 3 i16 4 u32 5 i32 6 f32 7 bool 8 str 9 array
# 10 u64 11 i64 12 f64.
GG_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
          11: "<q", 12: "<d"}

def _gstr(s):
    b = s if isinstance(s, bytes) else s.encode()
    return struct.pack("<Q", len(b)) + b

def _gval(t, v):
    if t == 8:
        return _gstr(v)
    if t == 9:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(_gval(et, x) for x in items)
    return struct.pack(GG_FMT[t], v)

def write_gguf(path, kvs=(), tensors=(), alignment=32):
    """tensors: (name, ggml_type, shape outermost-first, data bytes)."""
    out = [b"GGUF", struct.pack("<IQQ", 3, len(tensors), len(kvs))]
    for k, t, v in kvs:
        out.append(_gstr(k) + struct.pack("<I", t) + _gval(t, v))
    off, blobs = 0, []
    for name, gt, shape, data in tensors:
        dims = list(reversed(shape))
        out.append(_gstr(name) + struct.pack("<I", len(dims)) +
                   b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", gt, off))
        pad = (-len(data)) % alignment
        blobs.append(data + b"\0" * pad)
        off += len(data) + pad
    head = b"".join(out)
    head += b"\0" * ((-len(head)) % alignment)
    with open(path, "wb") as f:
        f.write(head + b"".join(blobs))
PY
# tests/run.sh runs every tests/cli/*.sh, this helper file included: when run on its own
# rather than sourced, it has nothing to test and says so in the summary format.
case $0 in *lib.sh) echo "lib.sh: 0 passed, 0 failed"; exit 0;; esac
