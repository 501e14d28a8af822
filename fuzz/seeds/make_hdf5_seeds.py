#!/usr/bin/python3
"""make_hdf5_seeds.py -- writes fuzz/seeds/hdf5/: small valid HDF5 files made with h5py
(libver earliest / latest, a user block) and byte-patched corruptions of them. tests/test_hdf5.c
uses the same files as its corruption matrix (expected outcome per file name).

Run with Debian's h5py: /usr/bin/python3 fuzz/seeds/make_hdf5_seeds.py
"""
import os
import struct

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hdf5")


def populate(f):
    g = f.create_group("g")
    g.create_dataset("x", data=np.arange(24, dtype="<f4").reshape(4, 6))
    g.create_dataset("be", data=np.arange(5, dtype=">i2"))
    f.create_dataset("gz", data=np.arange(100, dtype="<i4"), chunks=(16,), compression="gzip",
                     shuffle=True, fletcher32=True)
    f.create_dataset("dims", data=np.zeros(12345, dtype="u1"))
    f.attrs["model_config"] = '{"class_name": "Sequential"}'
    f.attrs["n"] = np.int64(3)
    g.attrs["names"] = np.array([b"a", b"bc"])


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as fh:
        fh.write(data)


def make(name, **kw):
    p = os.path.join(OUT, name)
    with h5py.File(p, "w", **kw) as f:
        populate(f)
    return open(p, "rb").read()


def patch(b, off, new):
    return b[:off] + new + b[off + len(new):]


os.makedirs(OUT, exist_ok=True)
early = make("earliest.h5", libver="earliest")
late = make("latest.h5", libver="latest")
make("userblock.h5", libver="earliest", userblock_size=512)

write("truncated_super.h5", early[:40])
write("truncated_half.h5", early[: len(early) // 2])
write("bad_version.h5", patch(early, 8, b"\x07"))
write("bad_offsets_size.h5", patch(early, 13, b"\x03"))
root = struct.unpack_from("<Q", early, 64)[0]
write("bad_root.h5", patch(early, 64, struct.pack("<Q", 1 << 40)))
write("root_not_header.h5", patch(early, 64, struct.pack("<Q", 8)))
t = early.find(b"TREE")
write("bad_tree_sig.h5", patch(early, t, b"TRXE"))
write("bad_heap_sig.h5", patch(early, early.find(b"HEAP"), b"HEXP"))
s = early.find(b"SNOD")
write("bad_snod_sig.h5", patch(early, s, b"SNXD"))
# A cycle: the first symbol of the root's symbol table node points back at the root.
write("cycle.h5", patch(early, s + 8 + 8, struct.pack("<Q", root)))
# The first entry's name offset points past the local heap.
write("bad_name_offset.h5", patch(early, s + 8, struct.pack("<Q", 1 << 30)))
# Oversized dimensions: 12345 -> 2^40 and 2^63 - 1.
d = early.find(struct.pack("<Q", 12345))
write("huge_dims.h5", patch(early, d, struct.pack("<Q", 1 << 40)))
write("overflow_dims.h5", patch(early, d, struct.pack("<Q", (1 << 63) - 1)))
# v2 object header checksum.
o = late.find(b"OHDR")
write("bad_ohdr_checksum.h5", patch(late, o + 12, bytes([late[o + 12] ^ 0xFF])))
write("bad_superblock_checksum.h5", patch(late, 20, bytes([late[20] ^ 1])))
# A corrupt deflate stream: the file opens; reading "gz" fails.
with h5py.File(os.path.join(OUT, "earliest.h5"), "r") as f:
    off = f["gz"].id.get_chunk_info(0).byte_offset
write("bad_deflate.h5", patch(early, off, b"\xff\xff\xff\xff"))

# Dense storage (latest format, more than 8 links / attributes): fractal heap + v2 B-tree.
p = os.path.join(OUT, "dense.h5")
with h5py.File(p, "w", libver="latest") as f:
    for i in range(20):
        f.create_dataset(f"x{i:02d}", data=np.arange(i + 1, dtype="<i2"))
    for i in range(12):
        f.attrs[f"a{i:02d}"] = np.int32(i)
dense = open(p, "rb").read()
write("dense_bad_frhp.h5", patch(dense, dense.find(b"FRHP"), b"FRXP"))
o = dense.find(b"BTHD") + 7
write("dense_bad_bthd.h5", patch(dense, o, bytes([dense[o] ^ 0xFF])))
write("dense_bad_fhdb.h5", patch(dense, dense.find(b"FHDB"), b"FHXB"))

# h5py's LZF filter (32000) after shuffle.
with h5py.File(os.path.join(OUT, "lzf.h5"), "w") as f:
    f.create_dataset("a", data=np.arange(500, dtype="<i4") % 37, chunks=(100,),
                     compression="lzf", shuffle=True)
