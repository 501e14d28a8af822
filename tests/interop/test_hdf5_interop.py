#!/usr/bin/python3
"""test_hdf5_interop.py -- ferry's HDF5 reader against h5py (Debian python3-h5py, libhdf5).

Files are generated with h5py in a temporary directory: every integer and float dtype in both
byte orders, complex, bool, fixed strings, contiguous / compact / chunked layouts, gzip,
shuffle and fletcher32 filters, partial edge chunks, unwritten chunks with a fill value,
empty and scalar datasets, nested groups, attributes, libver 'earliest' and 'latest', and
user blocks. Every dataset ferry lists must have exactly h5py's shape and, through
`ferry cat` (raw little-endian C-order bytes), exactly h5py's values. Then every .h5 file of
the shared corpus must open, or fail with a precise error, and the counts are printed.

Prints "test_hdf5_interop: N passed, N failed[, N skipped]".
"""
import json
import os
import subprocess
import sys
import tempfile

FERRY = os.environ.get("FERRY", "build/bin/ferry")
CORPUS = "/work/shared/corpus"
passed = failed = skipped = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


try:
    import h5py
    import numpy as np
except ImportError:
    print("skipped: python3-h5py not installed")
    print("test_hdf5_interop: 0 passed, 0 failed, 1 skipped")
    sys.exit(0)


def ferry(*args):
    return subprocess.run([FERRY, *args], capture_output=True)


def le_bytes(a):
    a = np.ascontiguousarray(a)
    if a.dtype.kind in "iufc" and a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return a.tobytes()


def compare_file(path, expect_fail=()):
    """Every dataset h5py can read is listed by ferry with the same shape and bytes."""
    r = ferry("ls", path, "--json")
    check(r.returncode == 0, f"{path}: ferry ls failed: {r.stderr.decode()[:300]}")
    if r.returncode:
        return
    listed = {t["name"]: t for t in json.loads(r.stdout)["tensors"]}
    names = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        check(sorted(names) == sorted(listed), f"{path}: names {sorted(names)} vs "
              f"{sorted(listed)}")
        for n in names:
            if n not in listed:
                continue
            d, t = f[n], listed[n]
            check(list(d.shape) == t["shape"], f"{path}:{n}: shape {d.shape} vs {t['shape']}")
            if t["status"] != "plain":
                check(d.dtype.kind in "OV" or h5py.check_string_dtype(d.dtype) is not None,
                      f"{path}:{n}: not plain ({t['native_dtype']}) but h5py reads {d.dtype}")
                continue
            c = ferry("cat", path, n)
            if n in expect_fail:
                check(c.returncode != 0 and b"not supported" in c.stderr,
                      f"{path}:{n}: expected a precise refusal, got {c.stderr[:200]}")
                continue
            check(c.returncode == 0, f"{path}:{n}: cat failed: {c.stderr.decode()[:300]}")
            want = le_bytes(d[()])
            check(c.stdout == want, f"{path}:{n}: bytes differ ({len(c.stdout)} vs {len(want)})")


def meta(path):
    r = ferry("meta", path, "--json")
    if r.returncode:
        return None
    return json.loads(r.stdout)


def build(path, libver, userblock=0):
    rng = np.random.default_rng(7)
    kw = {"libver": libver}
    if userblock:
        kw["userblock_size"] = userblock
    with h5py.File(path, "w", **kw) as f:
        g = f.create_group("dtypes")
        for order in "<>":
            for k in ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"]:
                dt = np.dtype(order + k)
                a = (rng.standard_normal((3, 5)) * 100).astype(dt)
                g.create_dataset(f"{k}{'le' if order == '<' else 'be'}", data=a)
            for k in ["c8", "c16"]:
                a = (rng.standard_normal(6) + 1j * rng.standard_normal(6)).astype(order + k)
                g.create_dataset(f"{k}{'le' if order == '<' else 'be'}", data=a)
        g.create_dataset("bool", data=np.array([True, False, True, True]))
        g.create_dataset("fixed_str", data=np.array([b"ab", b"hello", b""], dtype="S6"))
        c = f.create_group("chunked")
        a = rng.standard_normal((37, 23)).astype("<f4")
        c.create_dataset("plain", data=a, chunks=(8, 5))
        c.create_dataset("gzip", data=a, chunks=(8, 5), compression="gzip", compression_opts=6)
        c.create_dataset("shuffle_gzip", data=a.astype(">f8"), chunks=(10, 7),
                         compression="gzip", shuffle=True)
        c.create_dataset("fletcher", data=a, chunks=(16, 16), fletcher32=True)
        c.create_dataset("all_filters", data=np.arange(1000, dtype="<i2").reshape(10, 100),
                         chunks=(3, 33), shuffle=True, compression="gzip", fletcher32=True)
        d = c.create_dataset("sparse", shape=(20, 20), dtype="<i4", chunks=(4, 4),
                             fillvalue=-7)
        d[5:9, 2:3] = 42
        c.create_dataset("one_chunk", data=np.arange(12.0).reshape(3, 4), chunks=(3, 4),
                         compression="gzip")
        c.create_dataset("lzf", data=np.tile(a, (3, 1)), chunks=(20, 23), compression="lzf",
                         shuffle=True)
        c.create_dataset("lzf_random", data=rng.integers(0, 1 << 30, 5000, dtype="<i8"),
                         chunks=(999,), compression="lzf")
        c.create_dataset("d3", data=rng.integers(0, 255, (5, 6, 7), dtype="u1"),
                         chunks=(2, 3, 4), compression="gzip")
        f.create_dataset("empty", shape=(0,), dtype="<f4")
        f.create_dataset("empty_chunked", shape=(0, 4), maxshape=(8, 4), dtype="<f4", chunks=(2, 4))
        f.create_dataset("scalar", data=np.float64(3.25))
        f.create_dataset("unwritten", shape=(4, 4), dtype="<i8", fillvalue=9)
        f.create_dataset("zero_fill", shape=(3,), dtype="<f4")
        # compact layout through the low-level API
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        sp = h5py.h5s.create_simple((4, 3))
        ds = h5py.h5d.create(f.id, b"compact", h5py.h5t.STD_I32BE, sp, dcpl=dcpl)
        ds.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(12, dtype=">i4").reshape(4, 3))
        deep = f.create_group("a/b/c/d")
        deep.create_dataset("leaf", data=np.arange(5, dtype="<u2"))
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {}})
        f.attrs["int_attr"] = np.int32(-5)
        f.attrs["float_attr"] = 1.5
        f.attrs["names"] = np.array([b"dense", b"dense_1"])
        deep.attrs["depth"] = np.uint16(4)
        # External links turn a group into a new-style one (link messages): keep them in a
        # small group so the root stays a symbol-table group under libver='earliest'.
        lk = f.create_group("links")
        lk["soft"] = h5py.SoftLink("/scalar")
        lk["ext"] = h5py.ExternalLink("other.h5", "/x")
        lk["hard_alias"] = f["scalar"]
        lk.create_dataset("own", data=np.arange(3, dtype="<i2"))


def build_small(path, libver, userblock=0):
    """At most 8 links per group: compact link messages under libver='latest'."""
    rng = np.random.default_rng(8)
    kw = {"libver": libver}
    if userblock:
        kw["userblock_size"] = userblock
    with h5py.File(path, "w", **kw) as f:
        c = f.create_group("c")
        a = rng.standard_normal((37, 23)).astype("<f4")
        c.create_dataset("plain", data=a, chunks=(8, 5))
        c.create_dataset("gzip", data=a, chunks=(8, 5), compression="gzip")
        c.create_dataset("shuffle_gzip", data=a.astype(">f8"), chunks=(10, 7),
                         compression="gzip", shuffle=True)
        c.create_dataset("fletcher", data=a, chunks=(16, 16), fletcher32=True)
        d = c.create_dataset("sparse", shape=(20, 20), dtype="<i4", chunks=(4, 4), fillvalue=-7)
        d[5:9, 2:3] = 42
        c.create_dataset("one_chunk", data=np.arange(12.0).reshape(3, 4), chunks=(3, 4),
                         compression="gzip")
        c.create_dataset("many", data=np.arange(3000, dtype="<i2"), chunks=(2,))
        c.create_dataset("many_gz", data=np.arange(3000, dtype=">i4"), chunks=(2,),
                         compression="gzip")
        t = f.create_group("t")
        for k in [">f4", ">i2", "<u8", ">c8", "<f2"]:
            t.create_dataset(k.replace(">", "be").replace("<", "le"),
                             data=(rng.standard_normal(7) * 50).astype(k))
        t.create_dataset("bool", data=np.array([True, False]))
        t.create_dataset("fixed_str", data=np.array([b"x", b"hello"], dtype="S5"))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        sp = h5py.h5s.create_simple((2, 3))
        ds = h5py.h5d.create(f.id, b"compact", h5py.h5t.IEEE_F32BE, sp, dcpl=dcpl)
        ds.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(6, dtype=">f4").reshape(2, 3))
        f.create_dataset("scalar", data=np.int64(-3))
        f.create_dataset("empty", shape=(0, 3), dtype="<f4")
        f.create_group("a/b/c").create_dataset("leaf", data=np.arange(4, dtype="u1"))
        f.attrs["model_config"] = json.dumps({"class_name": "Functional"})
        f["a"].attrs["n"] = np.array([1, 2, 3], dtype=">i8")


with tempfile.TemporaryDirectory() as tmp:
    for libver, ub in [("earliest", 0), ("earliest", 512), ("latest", 0), ("latest", 4096),
                       ("v110", 1024)]:
        p = os.path.join(tmp, f"small_{libver}_{ub}.h5")
        build_small(p, libver, ub)
        compare_file(p)
        m = meta(p)
        check(m is not None and "Functional" in json.dumps(m) and "a/n" in json.dumps(m),
              f"{p}: metadata {json.dumps(m)[:200]}")
    for libver, ub in [("earliest", 0), ("earliest", 512), ("latest", 0), ("latest", 2048)]:
        p = os.path.join(tmp, f"gen_{libver}_{ub}.h5")
        build(p, libver, ub)
        compare_file(p)
        m = meta(p)
        check(m is not None, f"{p}: meta failed")
        if m:
            flat = json.dumps(m)
            check("Sequential" in flat and "dense_1" in flat and "a/b/c/d/depth" in flat,
                  f"{p}: attributes missing from metadata: {flat[:300]}")
            check("soft link" in flat and "external link" in flat,
                  f"{p}: links not noted: {flat[:300]}")
    # Dense storage (fractal heap + v2 B-tree): a few links, thousands of links (indirect
    # heap blocks, B-tree depth > 0), and dense attributes.
    for nlinks in (20, 3000):
        p = os.path.join(tmp, f"dense_{nlinks}.h5")
        with h5py.File(p, "w", libver="latest") as f:
            g = f.create_group("g")
            for i in range(nlinks):
                g.create_dataset(f"x{i}_{'n' * (i % 40)}", data=np.arange(i % 5 + 1))
            for i in range(30):
                g.attrs[f"attr{i}"] = i * (1000 if nlinks > 100 else 1)
            g.attrs["long"] = "y" * 70000 if nlinks > 100 else "short"
        compare_file(p)
        m = meta(p)
        check(m is not None and "g/attr29" in json.dumps(m), f"{p}: dense attributes missing")
    # Refused precisely: the extensible-array chunk index.
    p = os.path.join(tmp, "earray.h5")
    with h5py.File(p, "w", libver="latest") as f:
        f.create_dataset("grow", data=np.arange(10.0), maxshape=(None,), chunks=(4,))
    compare_file(p, expect_fail=("grow",))
    p = os.path.join(tmp, "grow_earliest.h5")
    with h5py.File(p, "w") as f:
        f.create_dataset("grow", data=np.arange(10.0), maxshape=(None,), chunks=(4,))
    compare_file(p)

# Corpus: every HDF5 file opens, or fails precisely.
opened = refused = 0
for root, _, files in os.walk(CORPUS):
    for fn in sorted(files):
        if not fn.endswith((".h5", ".hdf5")):
            continue
        p = os.path.join(root, fn)
        r = ferry("ls", p, "--json")
        if r.returncode == 0:
            opened += 1
            try:
                compare_file(p)
            except OSError as e:  # h5py cannot read it either
                print("skipped:", p, e)
        else:
            refused += 1
            msg = r.stderr.decode()
            check(fn in msg and ("not supported" in msg or "corrupt" in msg or ":" in msg),
                  f"{p}: imprecise error {msg[:200]}")
print(f"corpus: {opened} opened, {refused} refused")
check(opened > 0, "no corpus file opened")
print(f"test_hdf5_interop: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
