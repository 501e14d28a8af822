#!/usr/bin/env python3
"""test_numpy_interop.py -- the NumPy module against the real NumPy.

Needs numpy (Debian's python3-numpy); skips when it is missing. Uses libferry.so through
ctypes (next to $FERRY: <build>/lib/libferry.so, else build/lib/libferry.so) so that it does not
depend on the CLI's output format. It checks:

  - arrays of every dtype ferry maps, in both byte orders, C and Fortran order and shapes from
    0-d to 3-d (empty ones included), saved with np.save: ferry reads the same shape, dtype and
    bytes (little-endian, C order) as numpy; writing them back with ferry gives exactly the
    bytes np.save writes for the little-endian C-order array;
  - np.savez / np.savez_compressed archives (keyword and positional names) read back equal;
    ferry's .npz output loads with numpy.load, passes zipfile's CRC check (testzip) and holds
    the same arrays; an archive of 66000 members (ZIP64 end records) survives a round trip;
  - structured, long-double and object arrays are listed, not read;
  - differential: crafted .npy headers are accepted by ferry exactly when numpy.load accepts
    them (cases where ferry is stricter on purpose are listed as such);
  - every .npy/.npz in the shared corpus (corpus/numpy, corpus/generated) opens, and plain
    arrays equal numpy.load. Object arrays are recognised from their header only: no file is
    ever loaded with allow_pickle=True.

Prints "numpy_interop: N passed, N failed[, N skipped]".
"""
import ctypes
import io
import os
import struct
import sys
import tempfile
import zipfile

NAME = "numpy_interop"


def finish(p, f, s=0):
    print(f"{NAME}: {p} passed, {f} failed" + (f", {s} skipped" if s else ""))
    sys.exit(1 if f else 0)


try:
    import numpy as np
    from numpy.lib import format as npformat
except ImportError as e:
    print(f"skipped: {e}")
    finish(0, 0, 1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FERRY = os.environ.get("FERRY") or os.path.join(ROOT, "build", "bin", "ferry")
LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(FERRY))), "lib",
                   "libferry.so")
if not os.path.exists(LIB):
    LIB = os.path.join(ROOT, "build", "lib", "libferry.so")
if not os.path.exists(LIB):
    print(f"skipped: no libferry.so at {LIB}")
    finish(0, 0, 1)
SHARED = os.environ.get("FERRY_SHARED") or os.path.join(ROOT, "..", "shared")

# ---- ctypes binding ---------------------------------------------------------------------------

lib = ctypes.CDLL(LIB)
vp, cp = ctypes.c_void_p, ctypes.c_char_p


class TensorInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("name", cp), ("dtype", ctypes.c_int),
                ("ndim", ctypes.c_int32), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("nelems", ctypes.c_uint64), ("nbytes", ctypes.c_uint64),
                ("file_offset", ctypes.c_int64), ("file", cp), ("itemsize", ctypes.c_uint32),
                ("status", ctypes.c_int), ("flags", ctypes.c_uint32), ("native_dtype", cp)]


class WriteOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("format", cp), ("dtype", ctypes.c_int),
                ("alignment", ctypes.c_uint32), ("progress", vp), ("progress_ud", vp)]


def sig(name, res, *args):
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = list(args)
    return f


ctx_new = sig("ferry_ctx_new", vp, vp)
ctx_free = sig("ferry_ctx_free", None, vp)
ctx_error = sig("ferry_ctx_error", cp, vp)
f_open = sig("ferry_open", ctypes.c_int, vp, cp, cp, ctypes.POINTER(vp))
m_close = sig("ferry_model_close", None, vp)
m_format = sig("ferry_model_format", cp, vp)
m_version = sig("ferry_model_format_version", cp, vp)
m_count = sig("ferry_model_tensor_count", ctypes.c_int64, vp)
m_info = sig("ferry_model_tensor_info", ctypes.c_int, vp, ctypes.c_int64,
             ctypes.POINTER(TensorInfo))
t_read = sig("ferry_tensor_read", ctypes.c_int, vp, ctypes.c_int64, ctypes.c_uint64, vp,
             ctypes.c_size_t)
f_write = sig("ferry_write", ctypes.c_int, vp, cp, ctypes.POINTER(WriteOptions))
dtype_name = sig("ferry_dtype_name", cp, ctypes.c_int)

CTX = ctx_new(None)

passed = failed = skipped = 0


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)
    return cond


class Model:
    def __init__(self, path, fmt=None):
        self.m = vp()
        self.rc = f_open(CTX, path.encode(), fmt.encode() if fmt else None, ctypes.byref(self.m))
        self.error = ctx_error(CTX).decode(errors="replace") if self.rc else ""

    def __enter__(self):
        return self

    def __exit__(self, *a):
        if self.rc == 0:
            m_close(self.m)

    def tensors(self):
        out = []
        for i in range(m_count(self.m)):
            ti = TensorInfo()
            ti.struct_size = ctypes.sizeof(TensorInfo)
            m_info(self.m, i, ctypes.byref(ti))
            out.append({"name": ti.name.decode(), "dtype": dtype_name(ti.dtype).decode(),
                        "shape": tuple(ti.shape[k] for k in range(ti.ndim)),
                        "nbytes": ti.nbytes, "status": ti.status, "flags": ti.flags,
                        "native": ti.native_dtype.decode(), "itemsize": ti.itemsize,
                        "index": i})
        return out

    def read(self, i, nbytes):
        buf = ctypes.create_string_buffer(max(nbytes, 1))
        rc = t_read(self.m, i, 0, buf, nbytes)
        return buf.raw[:nbytes] if rc == 0 else None

    def write(self, path, fmt=None, alignment=0):
        o = WriteOptions()
        o.struct_size = ctypes.sizeof(WriteOptions)
        o.format = fmt.encode() if fmt else None
        o.alignment = alignment
        rc = f_write(self.m, path.encode(), ctypes.byref(o))
        return rc, (ctx_error(CTX).decode(errors="replace") if rc else "")


def ferry_name(dt):
    """The ferry dtype name expected for a numpy dtype."""
    if dt.kind == "S":
        return "BYTES"
    if dt.kind == "U":
        return "UCS4"
    if dt.kind == "M":
        return "DATETIME64"
    if dt.kind == "m":
        return "TIMEDELTA64"
    return {"b1": "BOOL", "i1": "I8", "i2": "I16", "i4": "I32", "i8": "I64", "u1": "U8",
            "u2": "U16", "u4": "U32", "u8": "U64", "f2": "F16", "f4": "F32", "f8": "F64",
            "c8": "C64", "c16": "C128"}[dt.kind + str(dt.itemsize)]


def neutral_bytes(a):
    """Little-endian C-order bytes of an array (ferry's neutral layout)."""
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()


def np_save_bytes(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


# ---- arrays -----------------------------------------------------------------------------------

DTYPES = ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16",
          "S7", "U3", "M8[ns]", "m8[s]", "M8[D]"]
SHAPES = [(), (0,), (4,), (3, 5), (2, 3, 4), (1, 6), (3, 0, 2)]


def make(dt, shape, rng):
    n = int(np.prod(shape)) if shape else 1
    if dt.kind == "b":
        v = rng.integers(0, 2, n).astype(dt)
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        v = rng.integers(info.min, info.max, n, dtype=dt.newbyteorder("="), endpoint=True)
    elif dt.kind == "f":
        v = (rng.standard_normal(n) * 100).astype(dt)
    elif dt.kind == "c":
        v = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dt)
    elif dt.kind == "S":
        v = np.array([bytes(rng.integers(97, 123, rng.integers(0, 8))) for _ in range(n)],
                     dtype=dt)
    elif dt.kind == "U":
        v = np.array(["".join(chr(c) for c in rng.integers(0x20, 0x2FF, rng.integers(0, 4)))
                      for _ in range(n)], dtype=dt)
    else:
        v = rng.integers(-2**40, 2**40, n).astype(dt)
    return v.astype(dt).reshape(shape)


def test_arrays(tmp):
    rng = np.random.default_rng(2024)
    count = 0
    for dname in DTYPES:
        for order in "<>":
            dt = np.dtype(dname).newbyteorder(order) if np.dtype(dname).itemsize > 1 \
                and np.dtype(dname).kind not in "bS" else np.dtype(dname)
            for shape in SHAPES:
                for forder in "CF":
                    a = make(dt, shape, rng)
                    a = np.asfortranarray(a) if forder == "F" else np.ascontiguousarray(a)
                    path = os.path.join(tmp, f"a{count}.npy")
                    count += 1
                    np.save(path, a)
                    what = f"{a.dtype.str} {shape} {forder}"
                    with Model(path) as m:
                        if not ok(m.rc == 0, f"{what}: ferry open: {m.error}"):
                            continue
                        t = m.tensors()
                        ok(len(t) == 1 and t[0]["name"] == f"a{count - 1}", f"{what}: name")
                        t = t[0]
                        ok(t["shape"] == a.shape, f"{what}: shape {t['shape']}")
                        ok(t["dtype"] == ferry_name(a.dtype), f"{what}: dtype {t['dtype']}")
                        ok(t["native"] == a.dtype.str, f"{what}: native {t['native']}")
                        ok(m.read(0, t["nbytes"]) == neutral_bytes(a), f"{what}: bytes")
                        # ferry's .npy of it == np.save of the little-endian C-order array
                        out = os.path.join(tmp, f"o{count}.npy")
                        rc, err = m.write(out)
                        if ok(rc == 0, f"{what}: ferry write: {err}"):
                            want = np_save_bytes(np.ascontiguousarray(
                                a, dtype=a.dtype.newbyteorder("<")))
                            with open(out, "rb") as f:
                                got = f.read()
                            ok(got == want, f"{what}: written bytes differ from np.save")
                            b = np.load(out)
                            ok(b.dtype == a.dtype.newbyteorder("<") and np.array_equal(
                                b, a, equal_nan=a.dtype.kind in "fc"), f"{what}: reload")
                    os.unlink(path)


def test_header_lengths(tmp):
    """Headers of every length numpy produces for 1..32 dimensions (so every padding amount,
    including the full 64 spaces _wrap_header adds to an already aligned header)."""
    for nd in range(1, 33):
        for dname in ("|i1", "<U12", "<M8[ns]", "<c16"):
            a = np.zeros((2,) + (1,) * (nd - 1), dname)
            src = os.path.join(tmp, "h.npy")
            np.save(src, a)
            with Model(src) as m:
                if not ok(m.rc == 0, f"{nd}-d {dname}: open: {m.error}"):
                    continue
                out = os.path.join(tmp, "h_out.npy")
                rc, err = m.write(out)
                with open(out, "rb") as f:
                    ok(rc == 0 and f.read() == np_save_bytes(a), f"{nd}-d {dname}: header")


def test_archives(tmp):
    rng = np.random.default_rng(5)
    arrays = {"w": rng.standard_normal((16, 8)).astype("<f4"),
              "b": np.arange(8, dtype=">i8"),
              "layer.0/k": np.asfortranarray(rng.integers(0, 9, (3, 4)).astype("u2")),
              "s": np.array([b"ab", b"cde"]), "t": np.array(["x", "yz"]),
              "z": np.zeros((0, 3), "f8"), "0d": np.array(3.5, "f2"),
              "big": np.zeros(200000, "f4")}
    for saver in (np.savez, np.savez_compressed):
        path = os.path.join(tmp, f"{saver.__name__}.npz")
        saver(path, **arrays)
        pos = os.path.join(tmp, f"{saver.__name__}_pos.npz")
        saver(pos, arrays["w"], arrays["b"])
        for p, names in ((path, list(arrays)), (pos, ["arr_0", "arr_1"])):
            with Model(p) as m:
                if not ok(m.rc == 0, f"{p}: open: {m.error}"):
                    continue
                ok(m_format(m.m) == b"npz", f"{p}: detected as npz")
                t = {x["name"]: x for x in m.tensors()}
                ok(sorted(t) == sorted(names), f"{p}: names {sorted(t)}")
                ref = np.load(p)
                for k in names:
                    if k not in t:
                        continue
                    a = ref[k]
                    ok(t[k]["shape"] == a.shape and m.read(t[k]["index"], t[k]["nbytes"])
                       == neutral_bytes(a), f"{p}: {k}: bytes")
                # ferry's .npz: numpy.load, CRCs, same arrays
                out = os.path.join(tmp, "ferry_out.npz")
                rc, err = m.write(out)
                if ok(rc == 0, f"{p}: write npz: {err}"):
                    with zipfile.ZipFile(out) as z:
                        ok(z.testzip() is None, f"{p}: zipfile CRC check of ferry's npz")
                    back = np.load(out)
                    ok(sorted(back.files) == sorted(names), f"{p}: names in ferry's npz")
                    for k in names:
                        ok(np.array_equal(back[k], ref[k]) and back[k].dtype
                           == ref[k].dtype.newbyteorder("<"), f"{p}: {k} after ferry")
                    # every member's array data lands 64-byte aligned in the file
                    with Model(out) as m2:
                        for x in m2.tensors():
                            ti = TensorInfo()
                            ti.struct_size = ctypes.sizeof(TensorInfo)
                            m_info(m2.m, x["index"], ctypes.byref(ti))
                            ok(ti.file_offset % 64 == 0, f"{p}: {x['name']} alignment")


def test_many_members(tmp):
    """66000 members: Python writes ZIP64 end records; ferry reads them and writes its own."""
    path = os.path.join(tmp, "many.npz")
    one = np_save_bytes(np.arange(3, dtype="<i2"))
    with zipfile.ZipFile(path, "w") as z:
        for i in range(66000):
            z.writestr(f"m{i}.npy", one)
    with Model(path) as m:
        if not ok(m.rc == 0, f"many: open: {m.error}"):
            return
        ok(m_count(m.m) == 66000, "many: member count")
        out = os.path.join(tmp, "many_out.npz")
        rc, err = m.write(out)
        if ok(rc == 0, f"many: write: {err}"):
            with zipfile.ZipFile(out) as z:
                names = z.namelist()
                ok(len(names) == 66000 and z.read("m65999.npy") == one, "many: zipfile reads")
            back = np.load(out)
            ok(np.array_equal(back["m12345"], np.arange(3, dtype="<i2")), "many: numpy reads")


def test_not_plain(tmp):
    cases = {"structured": np.zeros(3, dtype=[("a", "<i4"), ("b", ">f8", (2,))]),
             "longdouble": np.zeros(2, dtype=np.longdouble),
             "void": np.zeros(2, dtype="V5")}
    for k, a in cases.items():
        path = os.path.join(tmp, f"{k}.npy")
        np.save(path, a)
        with Model(path) as m:
            if ok(m.rc == 0, f"{k}: open: {m.error}"):
                t = m.tensors()[0]
                ok(t["status"] == 1 and t["shape"] == a.shape and t["itemsize"]
                   == a.dtype.itemsize, f"{k}: listed not plain ({t})")


# ---- differential header acceptance ----------------------------------------------------------

def npy_with(header, data, version=(1, 0)):
    h = header.encode("latin1" if version < (3, 0) else "utf8")
    pre = b"\x93NUMPY" + bytes(version)
    fmt = "<H" if version == (1, 0) else "<I"
    return pre + struct.pack(fmt, len(h)) + h + data


def numpy_accepts(raw):
    try:
        np.load(io.BytesIO(raw), allow_pickle=False)
        return True
    except Exception:
        return False


HDR = "{'descr': %s, 'fortran_order': %s, 'shape': %s, }"
DIFF = [
    (HDR % ("'<f4'", "False", "(2,)"), 8, (1, 0)),
    (HDR % ("'<f4'", "False", "(2L,)"), 8, (1, 0)),
    (HDR % ("'<f4'", "False", "(2L,)"), 8, (3, 0)),
    (HDR % ("'<f4'", "False", "(2,)"), 7, (1, 0)),
    (HDR % ("'<f4'", "False", "(2,)"), 12, (1, 0)),
    (HDR % ("'<f4'", "False", "[2]"), 8, (1, 0)),
    (HDR % ("'<f4'", "False", "(2)"), 8, (1, 0)),
    (HDR % ("'<f4'", "0", "(2,)"), 8, (1, 0)),
    (HDR % ("'<f4'", "False", "(2.0,)"), 8, (1, 0)),
    (HDR % ("'<f4'", "False", "(-2,)"), 8, (1, 0)),
    (HDR % ("'<f3'", "False", "(2,)"), 8, (1, 0)),
    (HDR % ("'<f4'", "True", "(2, 1)"), 8, (1, 0)),
    (HDR % ("'>c8'", "True", "(1, 2)"), 16, (2, 0)),
    (HDR % ("\"<f4\"", "False", "(2,)"), 8, (3, 0)),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8, (1, 0)),
    ("{'descr': '<f4', 'fortran_order': False}", 8, (1, 0)),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (9,), 'shape': (2,)}", 8, (1, 0)),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} # comment", 8, (1, 0)),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", 8, (1, 0)),
    ("[1, 2]", 8, (1, 0)),
    (HDR % ("[('a', '<i4'), ('b', '|u1', (3,))]", "False", "(1,)"), 7, (1, 0)),
    (HDR % ("[('a', '<i4'), ('b', '|u1', (3,))]", "False", "(1,)"), 6, (1, 0)),
    (HDR % ("[('\u00e9', '<i4')]", "False", "(1,)"), 4, (3, 0)),
    (HDR % ("'<U2'", "False", "(2,)"), 16, (1, 0)),
    (HDR % ("'<M8[us]'", "False", "(1,)"), 8, (1, 0)),
    (HDR % ("'<M8[xx]'", "False", "(1,)"), 8, (1, 0)),
]


def test_differential(tmp):
    for header, n, version in DIFF:
        raw = npy_with(header, bytes(range(n)), version)
        path = os.path.join(tmp, "d.npy")
        with open(path, "wb") as f:
            f.write(raw)
        want = numpy_accepts(raw)
        with Model(path, "npy") as m:
            got = m.rc == 0
            ok(got == want, f"differential {version} {header!r} + {n} bytes: numpy "
               f"{'accepts' if want else 'rejects'}, ferry {'accepts' if got else 'rejects'}"
               f" {m.error}")


# ---- the shared corpus ------------------------------------------------------------------------

def has_object(fp):
    """Whether the npy stream at fp holds an object array, from its header alone."""
    version = npformat.read_magic(fp)
    reader = npformat.read_array_header_1_0 if version == (1, 0) else \
        npformat.read_array_header_2_0
    _, _, dtype = reader(fp)
    return dtype.hasobject


def test_corpus():
    global skipped
    files = []
    for sub in ("corpus/numpy", "corpus/generated"):
        d = os.path.join(SHARED, sub)
        if not os.path.isdir(d):
            print(f"skipped: {d} not found")
            skipped += 1
            continue
        for dirpath, _, names in os.walk(d):
            files += [os.path.join(dirpath, n) for n in names if n.endswith((".npy", ".npz"))]
    for path in sorted(files):
        rel = os.path.relpath(path, SHARED)
        with Model(path) as m:
            if not ok(m.rc == 0, f"{rel}: open: {m.error}"):
                continue
            tensors = {t["name"]: t for t in m.tensors()}
            if path.endswith(".npy"):
                with open(path, "rb") as f:
                    obj = has_object(f)
                t = list(tensors.values())[0]
                if obj:
                    ok(t["status"] == 1 and t["nbytes"] == 0, f"{rel}: object array listed")
                    continue
                a = np.load(path)  # allow_pickle=False: plain arrays only
                ok(t["shape"] == a.shape, f"{rel}: shape")
                if a.dtype.names is None:
                    ok(m.read(t["index"], t["nbytes"]) == neutral_bytes(a), f"{rel}: bytes")
                else:
                    ok(t["status"] == 1 and t["itemsize"] == a.dtype.itemsize,
                       f"{rel}: structured listed")
            else:
                with zipfile.ZipFile(path) as z:
                    for member in z.namelist():
                        key = member[:-4] if member.endswith(".npy") else member
                        with z.open(member) as f:
                            obj = has_object(f)
                        t = tensors.get(key)
                        if not ok(t is not None, f"{rel}: {key} listed"):
                            continue
                        if obj:
                            ok(t["status"] == 1, f"{rel}: {key}: object array not read")
                            continue
                        a = np.load(path)[key]
                        ok(m.read(t["index"], t["nbytes"]) == neutral_bytes(a),
                           f"{rel}: {key}: bytes")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_arrays(tmp)
        test_header_lengths(tmp)
        test_archives(tmp)
        test_not_plain(tmp)
        test_differential(tmp)
        test_many_members(tmp)
    test_corpus()
    ctx_free(CTX)
    finish(passed, failed, skipped)


if __name__ == "__main__":
    main()
