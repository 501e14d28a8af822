#!/usr/bin/env python3
"""test_pytorch_interop.py -- the PyTorch module against the real torch.save.

Needs torch (Debian's python3-torch); skips when it is missing. Creates checkpoints with
torch.save in a temporary directory (never loads a corpus file) and reads them with libferry.so
through ctypes (next to $FERRY: <build>/lib/libferry.so, else build/lib/libferry.so). Checks:

  - state_dicts of every dtype torch 1.13 can save (f16, bf16, f32, f64, i8, u8, i16, i32,
    i64, bool, c64, c128), 0-d, empty and large tensors: ferry lists the same names, shapes
    and dtypes, and reads exactly tensor.contiguous()'s bytes;
  - views: slices with offsets, transposes, steps, expand (stride 0), permutes, several
    tensors sharing one storage (tied weights);
  - nested checkpoints {"state_dict", "optimizer" (a real Adam state), "epoch", ...}: tensors
    are named by their '.'-joined path, scalars land in the metadata;
  - nn.Parameter, whole nn.Module pickles, lists/tuples of tensors;
  - pickle protocols 2 to 5, the legacy format (_use_new_zipfile_serialization=False);
  - the same archive rewritten with byteorder "big" and byte-swapped records reads back
    the same values; a deflated copy of the archive reads the same;
  - corrupt archives (missing storage record, storage shorter than the view) fail cleanly.

Prints "pytorch_interop: N passed, N failed[, N skipped]".
"""
import ctypes
import os
import sys
import tempfile
import zipfile

NAME = "pytorch_interop"


def finish(p, f, s=0):
    print(f"{NAME}: {p} passed, {f} failed" + (f", {s} skipped" if s else ""))
    sys.exit(1 if f else 0)


try:
    import torch
    import numpy as np
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

# ---- ctypes binding ---------------------------------------------------------------------------

lib = ctypes.CDLL(LIB)
vp, cp = ctypes.c_void_p, ctypes.c_char_p


class TensorInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("name", cp), ("dtype", ctypes.c_int),
                ("ndim", ctypes.c_int32), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("nelems", ctypes.c_uint64), ("nbytes", ctypes.c_uint64),
                ("file_offset", ctypes.c_int64), ("file", cp), ("itemsize", ctypes.c_uint32),
                ("status", ctypes.c_int), ("flags", ctypes.c_uint32), ("native_dtype", cp)]


def sig(name, res, *args):
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = list(args)


sig("ferry_ctx_new", vp, vp)
sig("ferry_ctx_free", None, vp)
sig("ferry_ctx_error", cp, vp)
sig("ferry_open", ctypes.c_int, vp, cp, cp, ctypes.POINTER(vp))
sig("ferry_model_close", None, vp)
sig("ferry_model_format", cp, vp)
sig("ferry_model_tensor_count", ctypes.c_int64, vp)
sig("ferry_model_tensor_info", ctypes.c_int, vp, ctypes.c_int64, ctypes.POINTER(TensorInfo))
sig("ferry_tensor_read", ctypes.c_int, vp, ctypes.c_int64, ctypes.c_uint64, vp, ctypes.c_size_t)
sig("ferry_model_metadata", vp, vp)
sig("ferry_meta_get", vp, vp, cp)
sig("ferry_meta_int", ctypes.c_int64, vp)
sig("ferry_meta_float", ctypes.c_double, vp)
sig("ferry_meta_bool", ctypes.c_int, vp)
sig("ferry_dtype_name", cp, ctypes.c_int)

CTX = lib.ferry_ctx_new(None)
passed = failed = skipped = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what}", file=sys.stderr)


def open_model(path):
    m = vp()
    rc = lib.ferry_open(CTX, path.encode(), None, ctypes.byref(m))
    if rc != 0:
        return None, lib.ferry_ctx_error(CTX).decode(errors="replace")
    return m, None


def read_all(m):
    """{name: (dtype_name, shape, bytes)} of every tensor of an open model."""
    out = {}
    for i in range(lib.ferry_model_tensor_count(m)):
        ti = TensorInfo()
        ti.struct_size = ctypes.sizeof(TensorInfo)
        assert lib.ferry_model_tensor_info(m, i, ctypes.byref(ti)) == 0
        shape = tuple(ti.shape[d] for d in range(ti.ndim))
        buf = ctypes.create_string_buffer(max(ti.nbytes, 1))
        rc = lib.ferry_tensor_read(m, i, 0, buf, ti.nbytes)
        data = buf.raw[:ti.nbytes] if rc == 0 else None
        out[ti.name.decode()] = (lib.ferry_dtype_name(ti.dtype).decode(), shape, data)
    return out


DTYPE_NAMES = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32",
               torch.float64: "F64", torch.int8: "I8", torch.uint8: "U8", torch.int16: "I16",
               torch.int32: "I32", torch.int64: "I64", torch.bool: "BOOL",
               torch.complex64: "C64", torch.complex128: "C128"}


def tbytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def flatten(obj, prefix, out):
    """The tensors of a pickled object with ferry's naming rules."""
    if isinstance(obj, torch.Tensor):
        out[prefix or "tensor"] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, f"{prefix}.{i}" if prefix else str(i), out)
    return out


def compare(path, expected, what):
    m, err = open_model(path)
    check(m is not None, f"{what}: open: {err}")
    if m is None:
        return None
    got = read_all(m)
    check(set(got) == set(expected),
          f"{what}: names {sorted(got)[:8]} != {sorted(expected)[:8]}")
    for name, t in expected.items():
        if name not in got:
            continue
        dt, shape, data = got[name]
        check(dt == DTYPE_NAMES[t.dtype], f"{what}: {name}: dtype {dt} != {t.dtype}")
        check(shape == tuple(t.shape), f"{what}: {name}: shape {shape} != {tuple(t.shape)}")
        check(data == tbytes(t), f"{what}: {name}: bytes differ")
    return m


def save(obj, path, **kw):
    torch.save(obj, path, **kw)
    return path


def rewrite_zip(src, dst, method=zipfile.ZIP_STORED):
    """Copies a torch archive record by record with another compression method."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", method) as zout:
        for n in zin.namelist():
            zout.writestr(n, zin.read(n))
    return dst


def swap_record(data, width):
    if width <= 1:
        return data
    a = np.frombuffer(data, dtype=np.dtype(f"u{width}"))
    return a.byteswap().tobytes()


def main():
    torch.manual_seed(0)
    tmp = tempfile.mkdtemp(prefix="ferry-pt-")

    # ---- every dtype, shapes ------------------------------------------------------------
    sd = {}
    for dt in DTYPE_NAMES:
        if dt == torch.bool:
            t = torch.rand(3, 5) > 0.5
        elif dt.is_complex:
            t = torch.randn(3, 5, dtype=dt)
        elif dt.is_floating_point:
            t = torch.randn(3, 5).to(dt)
        else:
            t = torch.randint(-100 if dt != torch.uint8 else 0, 100, (3, 5)).to(dt)
        sd["t_" + str(dt).split(".")[1]] = t
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 4)
    sd["big"] = torch.randn(256, 1024)
    sd["int_scalar"] = torch.tensor(7, dtype=torch.int64)
    for proto in (2, 3, 4, 5):
        p = save(sd, os.path.join(tmp, f"dtypes_p{proto}.pt"), pickle_protocol=proto)
        m = compare(p, flatten(sd, "", {}), f"dtypes protocol {proto}")
        if m:
            lib.ferry_model_close(m)

    # ---- views and shared storages --------------------------------------------------------
    base = torch.arange(60, dtype=torch.float32).reshape(6, 10)
    views = {
        "base": base,
        "row_slice": base[2:5],
        "col_slice": base[:, 3:7],
        "transpose": base.t(),
        "step": base[::2, 1::3],
        "expand": torch.arange(4, dtype=torch.int32).expand(3, 4),
        "permute": torch.randn(2, 3, 4).permute(2, 0, 1),
        "flat_tail": base.view(-1)[17:],
        "single": base[4, 7],
        "neg_free_diag": base.as_strided((5,), (11,), 2),
    }
    views["tied_a"] = torch.randn(4, 4)
    views["tied_b"] = views["tied_a"]
    views["half_t"] = torch.randn(5, 3).half().t()
    views["cplx_t"] = torch.randn(3, 2, dtype=torch.complex64).t()
    p = save(views, os.path.join(tmp, "views.pt"))
    m = compare(p, flatten(views, "", {}), "views")
    if m:
        lib.ferry_model_close(m)

    # ---- big-endian and deflated rewrites ------------------------------------------------
    simple = {"a": torch.randn(3, 4), "b": torch.randn(3, 4).double().t(),
              "c": torch.arange(10, dtype=torch.int16)[2:8],
              "d": torch.randn(2, dtype=torch.complex64),
              "e": torch.randint(0, 100, (5,), dtype=torch.int64),
              "f": torch.tensor([1, 2], dtype=torch.uint8)}
    ps = save(simple, os.path.join(tmp, "simple.pt"))
    # storage keys are assigned in order of first appearance: a, b, c, d, e, f -> 0..5
    widths = {"0": 4, "1": 8, "2": 2, "3": 4, "4": 8, "5": 1}
    with zipfile.ZipFile(ps) as zin:
        names = zin.namelist()
        root = names[0].split("/")[0]
        big = os.path.join(tmp, "big.pt")
        with zipfile.ZipFile(big, "w") as zout:
            for n in names:
                data = zin.read(n)
                if n.startswith(root + "/data/"):
                    data = swap_record(data, widths[n.split("/")[-1]])
                if n == root + "/byteorder":
                    data = b"big"
                zout.writestr(n, data)
            if root + "/byteorder" not in names:
                zout.writestr(root + "/byteorder", b"big")
    m = compare(big, flatten(simple, "", {}), "big-endian archive")
    if m:
        lib.ferry_model_close(m)
    defl = rewrite_zip(ps, os.path.join(tmp, "deflated.pt"), method=zipfile.ZIP_DEFLATED)
    m = compare(defl, flatten(simple, "", {}), "deflated archive")
    if m:
        lib.ferry_model_close(m)
    renamed = os.path.join(tmp, "renamed.pt")
    with zipfile.ZipFile(ps) as zin, zipfile.ZipFile(renamed, "w") as zout:
        for n in zin.namelist():
            zout.writestr("some_other_root/" + n.split("/", 1)[1], zin.read(n))
    m = compare(renamed, flatten(simple, "", {}), "arbitrary root folder")
    if m:
        lib.ferry_model_close(m)

    # ---- nested checkpoints -------------------------------------------------------------------
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss = model(torch.randn(5, 4)).sum()
    loss.backward()
    opt.step()
    ckpt = {"state_dict": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 7,
            "best": 0.25, "name": "run-1", "flags": [True, False],
            "history": [torch.tensor([1.0, 2.0]), 3]}
    p = save(ckpt, os.path.join(tmp, "ckpt.pt"))
    exp = flatten(ckpt, "", {})
    m = compare(p, exp, "nested checkpoint")
    if m:
        meta = lib.ferry_model_metadata(m)
        ep = lib.ferry_meta_get(meta, b"epoch")
        check(ep and lib.ferry_meta_int(ep) == 7, "checkpoint: epoch metadata")
        best = lib.ferry_meta_get(meta, b"best")
        check(best and lib.ferry_meta_float(best) == 0.25, "checkpoint: best metadata")
        optm = lib.ferry_meta_get(meta, b"optimizer")
        pg = optm and lib.ferry_meta_get(optm, b"param_groups")
        check(bool(pg), "checkpoint: optimizer.param_groups metadata")
        ts = lib.ferry_meta_get(meta, b"pytorch.torchscript")
        check(ts and lib.ferry_meta_bool(ts) == 0, "checkpoint: not torchscript")
        lib.ferry_model_close(m)

    # ---- parameters, whole modules, lists ----------------------------------------------------
    par = {"w": torch.nn.Parameter(torch.randn(2, 3)), "lst": [torch.ones(2), torch.zeros(3)],
           "tup": (torch.arange(3),)}
    p = save(par, os.path.join(tmp, "params.pt"))
    m = compare(p, flatten(par, "", {}), "parameters and lists")
    if m:
        lib.ferry_model_close(m)
    p = save(model, os.path.join(tmp, "module.pt"))
    m = compare(p, dict(model.state_dict()), "whole module pickle")
    if m:
        lib.ferry_model_close(m)
    p = save(torch.randn(2, 2), os.path.join(tmp, "bare.pt"))
    m, err = open_model(p)
    check(m is not None and set(read_all(m)) == {"tensor"}, f"bare tensor: {err}")
    if m:
        lib.ferry_model_close(m)

    # ---- legacy format -------------------------------------------------------------------------
    for name, obj in (("legacy_dtypes", sd), ("legacy_views", views), ("legacy_ckpt", ckpt)):
        p = save(obj, os.path.join(tmp, name + ".pt"), _use_new_zipfile_serialization=False)
        m = compare(p, flatten(obj, "", {}), name)
        if m:
            lib.ferry_model_close(m)

    # ---- corrupt archives -------------------------------------------------------------------
    bad = os.path.join(tmp, "missing_record.pt")
    with zipfile.ZipFile(ps) as zin, zipfile.ZipFile(bad, "w") as zout:
        for n in zin.namelist():
            if not n.endswith("/data/0"):
                zout.writestr(n, zin.read(n))
    m, err = open_model(bad)
    check(m is None and "no record" in (err or ""), f"missing storage record: {err}")
    short = os.path.join(tmp, "short_record.pt")
    with zipfile.ZipFile(ps) as zin, zipfile.ZipFile(short, "w") as zout:
        for n in zin.namelist():
            data = zin.read(n)
            zout.writestr(n, data[:-4] if n.endswith("/data/0") else data)
    m, err = open_model(short)
    check(m is None and err is not None and "storage" in err, f"short storage record: {err}")

    finish(passed, failed, skipped)


main()
