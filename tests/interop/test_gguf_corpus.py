#!/usr/bin/env python3
"""test_gguf_corpus.py -- the GGUF module against an independent decoder and encoder.

For every GGUF file of the shared corpus (../shared/corpus/gguf and corpus/generated/gguf)
this test decodes the file by hand (struct + numpy, FORMATS.md section 21 / A1), then asks
libferry (ctypes on the shared library next to $FERRY) for the same file and compares:

  - files the hand decoder cannot parse must be refused by ferry with "corrupt input" and a
    message naming the byte offset at which the hand decoder failed;
  - metadata: every key in file order, the exact stored type (numtype) and every value,
    array elements included;
  - tensors: names, dtypes, outermost-first shapes, byte sizes, file offsets, and the bytes
    (big-endian files decoded with numpy '>' dtypes and compared after conversion);
  - the CLI ($FERRY ls --json, $FERRY cat) shows the same keys, tensors and bytes;
  - writing: ferry_write to a .gguf is compared byte for byte with what this file's own
    little-endian v3 encoder produces from the decoded content (gguf-py's layout: KVs in
    order, tensor infos, zero padding to the alignment after the infos and after every tensor;
    general.quantization_version = 2 appended when a block type is present and it is absent).

Prints "interop_gguf: N passed, N failed[, N skipped]". Skips when numpy, the library or the
corpus is missing. The library is found at $FERRY/../../lib/libferry.so, else build/lib
(sanitizer builds are passed over: they cannot be loaded into a plain python).
"""
import ctypes
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:  # pragma: no cover
    print("skipped: numpy not installed")
    print("interop_gguf: 0 passed, 0 failed, 1 skipped")
    sys.exit(0)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("FERRY_SHARED") or os.path.join(ROOT, "..", "shared")

passed = failed = skipped = 0


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)
    return cond


# ---- the hand decoder ------------------------------------------------------------------------

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
FMT = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "B",
       U64: "Q", I64: "q", F64: "d"}
NUMTYPE = {U8: "U8", I8: "I8", U16: "U16", I16: "I16", U32: "U32", I32: "I32", F32: "F32",
           BOOL: "BOOL", STR: "STRING", U64: "U64", I64: "I64", F64: "F64"}
# ggml id -> (name, block elements, block bytes, numpy dtype of plain types)
GGML = {0: ("F32", 1, 4, "f4"), 1: ("F16", 1, 2, "f2"), 2: ("Q4_0", 32, 18, None),
        3: ("Q4_1", 32, 20, None), 6: ("Q5_0", 32, 22, None), 7: ("Q5_1", 32, 24, None),
        8: ("Q8_0", 32, 34, None), 10: ("Q2_K", 256, 84, None), 11: ("Q3_K", 256, 110, None),
        12: ("Q4_K", 256, 144, None), 13: ("Q5_K", 256, 176, None),
        14: ("Q6_K", 256, 210, None), 24: ("I8", 1, 1, "i1"), 25: ("I16", 1, 2, "i2"),
        26: ("I32", 1, 4, "i4"), 27: ("I64", 1, 8, "i8"), 28: ("F64", 1, 8, "f8"),
        30: ("BF16", 1, 2, "u2")}


class Bad(Exception):
    def __init__(self, off, what):
        Exception.__init__(self, "offset %d: %s" % (off, what))
        self.off = off


def decode(b):
    if b[:4] != b"GGUF":
        raise Bad(0, "magic")
    v = struct.unpack_from("<I", b, 4)[0]
    e = "<"
    if v & 0xFFFF == 0:
        e, v = ">", struct.unpack_from(">I", b, 4)[0]
    pos = 8
    lenfmt = "I" if v == 1 else "Q"

    def rd(fmt):
        nonlocal pos
        n = struct.calcsize(fmt)
        if pos + n > len(b):
            raise Bad(pos, "end of file")
        r = struct.unpack_from(e + fmt, b, pos)[0]
        pos += n
        return r

    def rs():
        nonlocal pos
        at = pos
        n = rd(lenfmt)
        if n > (1 << 30) or n > len(b) - pos:
            raise Bad(at, "string length %d" % n)
        s = b[pos:pos + n]
        pos += n
        return s

    def val(t):
        if t == STR:
            return rs()
        if t not in FMT:
            raise Bad(pos, "type %d" % t)
        return rd(FMT[t])

    n_t, n_kv = rd(lenfmt), rd(lenfmt)
    kvs = []
    for _ in range(n_kv):
        k = rs()
        t = rd("I")
        if t == ARR:
            et = rd("I")
            n = rd(lenfmt)
            kvs.append((k, t, (et, [val(et) for _ in range(n)])))
        else:
            kvs.append((k, t, val(t)))
    align = 32
    for k, t, x in kvs:
        if k == b"general.alignment":
            align = x
    ts = []
    for _ in range(n_t):
        name = rs()
        nd = rd("I")
        ne = [rd("I" if v == 1 else "Q") for _ in range(nd)]
        typ = rd("I")
        off = rd("Q")
        ts.append((name, ne, typ, off))
    start = -(-pos // align) * align if n_t else pos
    tensors = []
    for name, ne, typ, off in ts:
        tname, bs, bb, npdt = GGML[typ]
        n = 1
        for d in ne:
            n *= d
        size = n // bs * bb
        raw = b[start + off:start + off + size]
        if npdt and npdt not in ("i1",):
            neutral = np.frombuffer(raw, e + npdt).astype("<" + npdt).tobytes()
        else:
            neutral = raw  # block types: little-endian files only in the corpus
        tensors.append(dict(name=name.decode(), ne=ne, type=typ, dtype=tname, nbytes=size,
                            offset=start + off, data=neutral))
    return dict(version=v, be=e == ">", kvs=kvs, tensors=tensors, align=align)


# ---- the independent encoder (v3, little-endian) --------------------------------------------

def encode(d):
    out = bytearray(b"GGUF")
    kvs = list(d["kvs"])
    if any(GGML[t["type"]][1] > 1 for t in d["tensors"]) and \
            not any(k == b"general.quantization_version" for k, _, _ in kvs):
        kvs.append((b"general.quantization_version", U32, 2))
    out += struct.pack("<IQQ", 3, len(d["tensors"]), len(kvs))

    def put(t, x):
        nonlocal out
        if t == STR:
            out += struct.pack("<Q", len(x)) + x
        elif t == BOOL:
            out += struct.pack("<B", 1 if x else 0)
        else:
            out += struct.pack("<" + FMT[t], x)

    for k, t, x in kvs:
        out += struct.pack("<Q", len(k)) + k + struct.pack("<I", t)
        if t == ARR:
            out += struct.pack("<IQ", x[0], len(x[1]))
            for y in x[1]:
                put(x[0], y)
        else:
            put(t, x)
    a = d["align"]
    off = 0
    for t in d["tensors"]:
        nm = t["name"].encode()
        out += struct.pack("<Q", len(nm)) + nm + struct.pack("<I", len(t["ne"]))
        for n in t["ne"]:
            out += struct.pack("<Q", n)
        out += struct.pack("<IQ", t["type"], off)
        off += -(-t["nbytes"] // a) * a
    out += b"\0" * (-len(out) % a)
    for t in d["tensors"]:
        out += t["data"] + b"\0" * (-t["nbytes"] % a)
    return bytes(out)


# ---- libferry through ctypes ----------------------------------------------------------------

class TensorInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("name", ctypes.c_char_p),
                ("dtype", ctypes.c_int), ("ndim", ctypes.c_int32),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("nelems", ctypes.c_uint64),
                ("nbytes", ctypes.c_uint64), ("file_offset", ctypes.c_int64),
                ("file", ctypes.c_char_p), ("itemsize", ctypes.c_uint32),
                ("status", ctypes.c_int), ("flags", ctypes.c_uint32),
                ("native_dtype", ctypes.c_char_p)]


def load_lib():
    cands = []
    if os.environ.get("FERRY"):
        cands.append(os.path.join(os.path.dirname(os.path.dirname(os.environ["FERRY"])), "lib",
                                  "libferry.so"))
    cands.append(os.path.join(ROOT, "build", "lib", "libferry.so"))
    for c in cands:
        if os.path.exists(c):
            # A sanitizer build cannot be dlopen'ed into a plain python (the ASan runtime
            # aborts the process): use the next candidate.
            with open(c, "rb") as f:
                if b"libasan.so" in f.read():
                    continue
            try:
                return ctypes.CDLL(c)
            except OSError:
                continue
    return None


def setup(lib):
    P, I, I64, U64, S = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_uint64, \
        ctypes.c_char_p
    sig = {
        "ferry_ctx_new": (P, [P]), "ferry_ctx_free": (None, [P]),
        "ferry_ctx_error": (S, [P]), "ferry_open": (I, [P, S, S, ctypes.POINTER(P)]),
        "ferry_model_close": (None, [P]), "ferry_model_format_version": (S, [P]),
        "ferry_model_tensor_count": (I64, [P]),
        "ferry_model_tensor_info": (I, [P, I64, ctypes.POINTER(TensorInfo)]),
        "ferry_tensor_read": (I, [P, I64, U64, P, ctypes.c_size_t]),
        "ferry_model_metadata": (P, [P]), "ferry_meta_kind_of": (I, [P]),
        "ferry_meta_numtype": (I, [P]), "ferry_meta_count": (I64, [P]),
        "ferry_meta_at": (P, [P, I64]), "ferry_meta_key_at": (S, [P, I64]),
        "ferry_meta_int": (I64, [P]), "ferry_meta_uint": (U64, [P]),
        "ferry_meta_float": (ctypes.c_double, [P]),
        "ferry_meta_string": (P, [P, ctypes.POINTER(ctypes.c_size_t)]),
        "ferry_dtype_name": (S, [I]), "ferry_write": (I, [P, S, P]),
    }
    for name, (res, args) in sig.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args


def meta_value(lib, node, t):
    if t == STR:
        n = ctypes.c_size_t()
        p = lib.ferry_meta_string(node, ctypes.byref(n))
        return ctypes.string_at(p, n.value) if p else None
    if t in (F32, F64):
        return lib.ferry_meta_float(node)
    if t in (U8, U16, U32, U64, BOOL):
        return lib.ferry_meta_uint(node)
    return lib.ferry_meta_int(node)


def same_float(t, a, b):
    if t == F32:
        return struct.pack("<f", a) == struct.pack("<f", b)
    return struct.pack("<d", a) == struct.pack("<d", b)


def compare(lib, path, d, m):
    name = os.path.basename(path)
    ok(lib.ferry_model_format_version(m).decode() == str(d["version"]), name + ": version")
    root = lib.ferry_model_metadata(m)
    ok(lib.ferry_meta_count(root) == len(d["kvs"]), name + ": KV count")
    for i, (k, t, x) in enumerate(d["kvs"]):
        node = lib.ferry_meta_at(root, i)
        key = lib.ferry_meta_key_at(root, i)
        if not ok(key == k, "%s: key %d: %r != %r" % (name, i, key, k)):
            continue
        nt = lib.ferry_dtype_name(lib.ferry_meta_numtype(node)).decode()
        if t == ARR:
            et, items = x
            good = nt == NUMTYPE[et] and lib.ferry_meta_count(node) == len(items)
            for j, y in enumerate(items if good else []):
                e = lib.ferry_meta_at(node, j)
                v = meta_value(lib, e, et)
                if not (same_float(et, v, y) if et in (F32, F64) else v == (bool(y) if et == BOOL
                                                                              else y)):
                    good = False
                    print("  %s[%d]: %r != %r" % (k, j, v, y))
                    break
            ok(good, "%s: array %s (%s, %d items)" % (name, k, nt, len(items)))
        else:
            v = meta_value(lib, node, t)
            same = same_float(t, v, x) if t in (F32, F64) else v == (bool(x) if t == BOOL else x)
            ok(nt == NUMTYPE[t] and same, "%s: %s = %r (%s), expected %r (%s)" %
               (name, k, v, nt, x, NUMTYPE[t]))
    ok(lib.ferry_model_tensor_count(m) == len(d["tensors"]), name + ": tensor count")
    for i, t in enumerate(d["tensors"]):
        ti = TensorInfo(struct_size=ctypes.sizeof(TensorInfo))
        lib.ferry_model_tensor_info(m, i, ctypes.byref(ti))
        shape = [ti.shape[j] for j in range(ti.ndim)]
        ok(ti.name.decode() == t["name"] and lib.ferry_dtype_name(ti.dtype).decode() == t["dtype"]
           and shape == t["ne"][::-1] and ti.nbytes == t["nbytes"]
           and ti.file_offset == t["offset"],
           "%s: tensor %s: %s %s %d @%d" % (name, t["name"], lib.ferry_dtype_name(ti.dtype),
                                             shape, ti.nbytes, ti.file_offset))
        buf = ctypes.create_string_buffer(max(ti.nbytes, 1))
        rc = lib.ferry_tensor_read(m, i, 0, buf, ti.nbytes)
        ok(rc == 0 and buf.raw[:ti.nbytes] == t["data"], "%s: tensor %s bytes" % (name,
                                                                                t["name"]))


def compare_cli(path, d):
    """The CLI's view (ls --json, cat) of the same file, when $FERRY is there."""
    ferry = os.environ.get("FERRY")
    if not ferry or not os.access(ferry, os.X_OK):
        return
    name = os.path.basename(path)
    r = subprocess.run([ferry, "ls", path, "--json"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if not ok(r.returncode == 0, "%s: ferry ls: %s" % (name, r.stderr[:200])):
        return
    j = json.loads(r.stdout)
    ok(j.get("format") == "gguf", name + ": ls format")
    ok(list(j.get("metadata", {}).keys()) == [k.decode() for k, _, _ in d["kvs"]],
       name + ": ls metadata keys in file order")
    lt = j.get("tensors", [])
    ok(len(lt) == len(d["tensors"]), name + ": ls tensor count")
    for t, u in zip(d["tensors"], lt):
        ok(u.get("name") == t["name"] and u.get("dtype") == t["dtype"] and
           u.get("shape") == t["ne"][::-1] and u.get("nbytes") == t["nbytes"],
           "%s: ls tensor %s: %r" % (name, t["name"], u))
        c = subprocess.run([ferry, "cat", path, t["name"]], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        ok(c.returncode == 0 and c.stdout == t["data"], "%s: cat %s" % (name, t["name"]))


def main():
    global skipped
    lib = load_lib()
    if lib is None:
        print("skipped: libferry.so not found (build first)")
        print("interop_gguf: 0 passed, 0 failed, 1 skipped")
        return 0
    setup(lib)
    files = []
    for sub in ("corpus/gguf", "corpus/generated/gguf"):
        top = os.path.join(SHARED, sub)
        for dp, _, fns in os.walk(top):
            files += [os.path.join(dp, f) for f in sorted(fns) if f.endswith(".gguf")]
    if not files:
        print("skipped: no GGUF corpus under %s" % SHARED)
        skipped += 1
    ctx = lib.ferry_ctx_new(None)
    tmp = tempfile.mkdtemp(prefix="ferry-gguf-")
    for path in sorted(files):
        name = os.path.basename(path)
        b = open(path, "rb").read()
        m = ctypes.c_void_p()
        rc = lib.ferry_open(ctx, path.encode(), None, ctypes.byref(m))
        try:
            d = decode(b)
        except Bad as e:
            msg = lib.ferry_ctx_error(ctx).decode()
            ok(rc == -2 and ("offset %d:" % e.off) in msg,
               "%s: hand decoder fails at %s; ferry: %d %s" % (name, e, rc, msg))
            lib.ferry_model_close(m)
            continue
        if not ok(rc == 0, "%s: ferry refused a file the hand decoder reads: %s" %
                  (name, lib.ferry_ctx_error(ctx))):
            continue
        compare(lib, path, d, m)
        compare_cli(path, d)
        out = os.path.join(tmp, name)
        rc = lib.ferry_write(m, out.encode(), None)
        if ok(rc == 0, "%s: write: %s" % (name, lib.ferry_ctx_error(ctx))):
            got = open(out, "rb").read()
            want = encode(d)
            where = ""
            if got != want and len(got) == len(want):
                where = " at byte %d" % next(i for i in range(len(got)) if got[i] != want[i])
            ok(got == want, "%s: ferry's output (%d bytes) differs from the independent "
               "encoding (%d bytes)%s" % (name, len(got), len(want), where))
            if not d["be"] and d["version"] == 3 and not any(
                    GGML[t["type"]][1] > 1 for t in d["tensors"]):
                ok(got == b, "%s: not reproduced byte for byte" % name)
            os.unlink(out)
        lib.ferry_model_close(m)
    os.rmdir(tmp)
    lib.ferry_ctx_free(ctx)
    print("interop_gguf: %d passed, %d failed%s" % (passed, failed,
                                                    ", %d skipped" % skipped if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
