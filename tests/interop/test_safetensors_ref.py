#!/usr/bin/env python3
"""test_safetensors_ref.py -- the safetensors module against the reference implementation.

Needs the `safetensors` Python package (Hugging Face's Rust reader and writer) and numpy; skips
when either is missing. Through the ferry CLI ($FERRY, else build/bin/ferry) it checks:

  - files written by safetensors.numpy.save_file with every dtype numpy can hold: `ferry ls
    --json` lists the same names, dtypes, shapes and sizes; `ferry cat` returns the same bytes;
  - `ferry convert ref.safetensors out.safetensors` reproduces the reference file byte for byte
    (one metadata entry, so the reference's HashMap order cannot differ);
  - files written by ferry load with safetensors.numpy.load_file and hold the same arrays;
  - differential: a set of crafted headers (leading whitespace, serde's array and map
    spellings, unknown fields, gaps, overlaps, trailing bytes, sub-byte sizes, ...) is accepted
    by ferry exactly when safetensors.deserialize accepts it. Duplicate keys are left out: ferry
    refuses them on purpose where serde keeps the last one (see safetensors.c).

Prints "safetensors_interop: N passed, N failed[, N skipped]".
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

NAME = "safetensors_interop"


def finish(p, f, s=0):
    print(f"{NAME}: {p} passed, {f} failed" + (f", {s} skipped" if s else ""))
    sys.exit(1 if f else 0)


try:
    import numpy as np
    import safetensors
    from safetensors.numpy import load_file, save_file
except ImportError as e:  # the reference package is not part of every machine
    print(f"skipped: {e}")
    finish(0, 0, 1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FERRY = os.environ.get("FERRY") or os.path.join(ROOT, "build", "bin", "ferry")
if not os.path.exists(FERRY):
    print(f"skipped: no ferry binary at {FERRY}")
    finish(0, 0, 1)

passed = failed = 0


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)
    return cond


def ferry(*args):
    return subprocess.run([FERRY, *args], capture_output=True)


NP_TO_ST = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "uint16": "U16", "int16": "I16",
            "float16": "F16", "uint32": "U32", "int32": "I32", "float32": "F32",
            "uint64": "U64", "int64": "I64", "float64": "F64", "complex64": "C64"}
# ferry's names where they differ from the safetensors strings
ST_TO_FERRY = {"F4": "F4_E2M1"}


def arrays():
    rng = np.random.default_rng(7)
    out = {}
    for i, (np_name, _) in enumerate(NP_TO_ST.items()):
        shape = [(2, 3), (5,), (), (0, 4), (1, 1, 3)][i % 5]
        if np_name == "bool":
            a = rng.integers(0, 2, size=shape).astype(bool)
        elif np_name == "complex64":
            a = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np_name)
        elif np_name.startswith("float"):
            a = rng.standard_normal(shape).astype(np_name)
        else:
            a = rng.integers(0, 100, size=shape).astype(np_name)
        out["t." + np_name] = a
    return out


def test_reference_files(tmp):
    arrs = arrays()
    ref = os.path.join(tmp, "ref.safetensors")
    try:
        save_file(arrs, ref, metadata={"format": "np"})
    except Exception as e:  # an older package without C64
        arrs.pop("t.complex64", None)
        save_file(arrs, ref, metadata={"format": "np"})
        print(f"note: {e}")
    r = ferry("ls", "--json", ref)
    if not ok(r.returncode == 0, f"ferry ls {ref}: {r.stderr.decode()}"):
        return
    listing = json.loads(r.stdout)
    got = {t["name"]: t for t in listing["tensors"]}
    ok(set(got) == set(arrs), f"tensor names {sorted(got)} != {sorted(arrs)}")
    ok(listing.get("metadata") == {"format": "np"}, f"metadata {listing.get('metadata')}")
    for name, a in arrs.items():
        t = got.get(name)
        if not ok(t is not None, f"{name} missing"):
            continue
        st = NP_TO_ST[a.dtype.name]
        ok(t["dtype"] == ST_TO_FERRY.get(st, st), f"{name}: dtype {t['dtype']} != {st}")
        ok(t["shape"] == list(a.shape), f"{name}: shape {t['shape']} != {list(a.shape)}")
        ok(t["nbytes"] == a.nbytes, f"{name}: nbytes {t['nbytes']} != {a.nbytes}")
        c = ferry("cat", ref, name)
        ok(c.returncode == 0 and c.stdout == a.tobytes(), f"{name}: ferry cat bytes differ")
    out = os.path.join(tmp, "out.safetensors")
    c = ferry("convert", ref, out)
    if ok(c.returncode == 0, f"ferry convert: {c.stderr.decode()}"):
        ok(open(out, "rb").read() == open(ref, "rb").read(),
           "ferry's rewrite differs from the reference writer's bytes")
        back = load_file(out)
        ok(set(back) == set(arrs) and all(np.array_equal(back[k], arrs[k]) for k in arrs),
           "load_file(ferry output) differs")


def st_file(header, data=b""):
    h = header.encode() if isinstance(header, str) else header
    return struct.pack("<Q", len(h)) + h + data


E = '{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
CASES = [
    ("minimal", st_file("{}")),
    ("leading whitespace", st_file(" \n\t{}")),
    ("trailing spaces", st_file("{}    ")),
    ("NUL padding", st_file("{}\0\0")),
    ("plain", st_file('{"a":' + E + "}", bytes(8))),
    ("array form", st_file('{"a":["F32",[2],[0,8]]}', bytes(8))),
    ("array form, 2 elements", st_file('{"a":["F32",[2]]}', bytes(8))),
    ("dtype map null", st_file('{"a":{"dtype":{"F32":null},"shape":[2],"data_offsets":[0,8]}}',
                               bytes(8))),
    ("dtype map {}", st_file('{"a":{"dtype":{"F32":{}},"shape":[2],"data_offsets":[0,8]}}',
                             bytes(8))),
    ("dtype map 1", st_file('{"a":{"dtype":{"F32":1},"shape":[2],"data_offsets":[0,8]}}',
                            bytes(8))),
    ("unknown field", st_file('{"a":{"dtype":"F32","x":[1,{}],"shape":[2],'
                              '"data_offsets":[0,8]}}', bytes(8))),
    ("missing field", st_file('{"a":{"dtype":"F32","shape":[2]}}', bytes(8))),
    ("metadata null", st_file('{"__metadata__":null}')),
    ("metadata int", st_file('{"__metadata__":{"a":1}}')),
    ("lowercase dtype", st_file('{"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}',
                                bytes(8))),
    ("float shape", st_file('{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}',
                            bytes(8))),
    ("gap", st_file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytes(8))),
    ("overlap", st_file('{"a":' + E + ',"b":{"dtype":"F32","shape":[2],'
                        '"data_offsets":[4,12]}}', bytes(12))),
    ("shared empty", st_file('{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},'
                             '"b":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}')),
    ("trailing byte", st_file('{"a":' + E + "}", bytes(9))),
    ("missing byte", st_file('{"a":' + E + "}", bytes(7))),
    ("F4 odd", st_file('{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}', bytes(2))),
    ("F4 even", st_file('{"a":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}}', bytes(2))),
    ("F6 x4", st_file('{"a":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[0,3]}}', bytes(3))),
    ("overflow", st_file('{"a":{"dtype":"U8","shape":[4294967296,4294967296,0],'
                         '"data_offsets":[0,0]}}')),
    ("0-rank", st_file('{"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}', bytes(8))),
    ("bad utf8", st_file(b'{"\xff":{}}')),
    ("lone surrogate", st_file('{"\\ud800":' + E + "}", bytes(8))),
    ("trailing garbage", st_file("{}x")),
    ("header past end", struct.pack("<Q", 100) + b"{}"),
    ("short file", b"\x02\0\0"),
]


def test_differential(tmp):
    for name, data in CASES:
        try:
            safetensors.deserialize(data)
            ref_ok = True
        except Exception:
            ref_ok = False
        path = os.path.join(tmp, "case.safetensors")
        with open(path, "wb") as f:
            f.write(data)
        r = ferry("ls", path)
        ok((r.returncode == 0) == ref_ok,
           f"{name}: reference {'accepts' if ref_ok else 'rejects'}, ferry exit "
           f"{r.returncode} {r.stderr.decode().strip()}")


with tempfile.TemporaryDirectory() as tmp:
    test_reference_files(tmp)
    test_differential(tmp)
finish(passed, failed)
