#!/usr/bin/env python3
"""make_numpy_seeds.py -- writes the seed inputs of fuzz_npy, fuzz_npz and fuzz_zip.

Standard library only (struct, zipfile, zlib), so the seeds can be regenerated anywhere:

    python3 fuzz/seeds/make_numpy_seeds.py      # rewrites fuzz/seeds/{npy,npz,zip}/

Each folder gets valid variants (every header version, byte order, Fortran order, 0-d and
empty arrays, structured and object dtypes; stored, deflated, ZIP64 and streamed archives)
and broken ones (one rule violated each). The "object" seeds hold a pickle that only pushes
None: nothing in them does anything even if some tool were to unpickle it.
"""
import io
import os
import struct
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def npy(header, data=b"", version=(1, 0), pad=True):
    """An .npy with the given header text (padded like numpy when pad) and data."""
    h = header.encode("latin1" if version < (3, 0) else "utf8")
    pre = 10 if version == (1, 0) else 12
    if pad:
        h += b" " * (63 - (pre + len(h)) % 64) + b"\n"
    fmt = "<H" if version == (1, 0) else "<I"
    return b"\x93NUMPY" + bytes(version) + struct.pack(fmt, len(h)) + h + data


def hdr(descr, shape, fortran=False):
    return "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)


F4_2x3 = npy(hdr("'<f4'", "(2, 3)"), struct.pack("<6f", 1, 2, 3, 4, 5, 6))
BE_F = npy(hdr("'>i4'", "(2, 3)", True), struct.pack(">6i", 1, 2, 3, 4, 5, 6))
PICKLE_NONE = b"\x80\x03N."

NPY = {
    "f4_2x3.npy": F4_2x3,
    "be_i4_fortran.npy": BE_F,
    "f2_0d.npy": npy(hdr("'<f2'", "()"), b"\x00\x3e"),
    "u1_empty.npy": npy(hdr("'|u1'", "(0, 3)")),
    "c16_be_fortran.npy": npy(hdr("'>c16'", "(2, 2)", True), bytes(range(64))),
    "u3_strings.npy": npy(hdr("'<U3'", "(2,)"), "abcdé\0".encode("utf-32-le")),
    "s4_bytes.npy": npy(hdr("'|S4'", "(3,)"), b"abcdefghijkl"),
    "m8_ns.npy": npy(hdr("'<M8[ns]'", "(2,)"), struct.pack("<2q", 1, -1)),
    "structured.npy": npy(hdr("[('a', '<i8'), ('b', '<f4', (2,)), ('c', [('d', '|S2')])]",
                              "(1,)"), bytes(18)),
    "object.npy": npy(hdr("'|O'", "(1,)"), PICKLE_NONE),
    "v2_u2.npy": npy(hdr("'<u2'", "(3,)"), b"\x01\x00\x02\x00\x03\x00", (2, 0)),
    "v3_utf8.npy": npy(hdr("[('\u00e9t\u00e9', '<f8')]", "(1,)"), bytes(8), (3, 0)),
    "py2_long.npy": npy(hdr("'<i8'", "(2L,)"), bytes(16)),
    "unpadded.npy": npy("{'descr': '<i2', 'fortran_order': False, 'shape': (2,)}", b"\x01\x00"
                        b"\x02\x00", pad=False),
    # broken: one rule each
    "bad_magic.npy": b"\x93NUMPX" + F4_2x3[6:],
    "bad_version.npy": F4_2x3[:6] + b"\x04\x00" + F4_2x3[8:],
    "header_past_end.npy": F4_2x3[:8] + struct.pack("<H", 4000) + F4_2x3[10:],
    "short_data.npy": F4_2x3[:-1],
    "bad_descr.npy": npy(hdr("'<f3'", "(2,)"), bytes(8)),
    "bad_literal.npy": npy("{'descr': '<f4' 'fortran_order': False, 'shape': (2,), }", bytes(8)),
    "negative_dim.npy": npy(hdr("'<f4'", "(-2,)"), bytes(8)),
    "huge_shape.npy": npy(hdr("'<f8'", "(4611686018427387904, 4)"), bytes(8)),
    "deep.npy": npy(hdr("'<f4'", "[" * 80 + "]" * 80), bytes(8)),
    "missing_key.npy": npy("{'descr': '<f4', 'shape': (2,), }", bytes(8)),
}


def zip_bytes(members, compression=zipfile.ZIP_STORED, force_zip64=False, stream=False,
              comment=b""):
    """A zip of (name, bytes) members written by Python's zipfile."""
    raw = io.BytesIO()

    class Unseekable(io.RawIOBase):  # makes zipfile use data descriptors
        def writable(self):
            return True

        def write(self, b):
            return raw.write(b)

    target = Unseekable() if stream else raw
    with zipfile.ZipFile(target, "w", compression) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = compression
            with z.open(info, "w", force_zip64=force_zip64) as f:
                f.write(data)
        z.comment = comment
    return raw.getvalue()


def patched(b, off, new):
    b = bytearray(b)
    b[off:off + len(new)] = new
    return bytes(b)


def eocd(b):
    return b.rfind(b"PK\x05\x06")


MEMBERS = [("a.npy", F4_2x3), ("b.npy", BE_F), ("c.npy", NPY["u3_strings.npy"])]
STORED = zip_bytes(MEMBERS)
DEFLATED = zip_bytes(MEMBERS, zipfile.ZIP_DEFLATED)

NPZ = {
    "stored.npz": STORED,
    "deflated.npz": DEFLATED,
    "zip64_local.npz": zip_bytes(MEMBERS, force_zip64=True),
    "streamed.npz": zip_bytes(MEMBERS, zipfile.ZIP_DEFLATED, stream=True),
    "object_member.npz": zip_bytes([("o.npy", NPY["object.npy"]), ("x.npy", F4_2x3)]),
    "other_member.npz": zip_bytes([("x.npy", F4_2x3), ("README", b"not an array")]),
    "magic_no_suffix.npz": zip_bytes([("raw", F4_2x3)]),
    "empty.npz": zip_bytes([]),
    "dir_entry.npz": zip_bytes([("sub/", b""), ("sub/x.npy", F4_2x3)]),
    # broken
    "bad_member.npz": zip_bytes([("x.npy", NPY["short_data.npy"])], zipfile.ZIP_DEFLATED),
    "duplicate.npz": STORED + b"",  # patched below
    "truncated.npz": STORED[:-10],
    "bad_crc.npz": patched(DEFLATED, DEFLATED.find(b"PK\x01\x02") + 16, b"\xde\xad\xbe\xef"),
}
# Make the second member's directory name equal the first one's ("b.npy" -> "a.npy").
dup = bytearray(STORED)
first_cd = dup.find(b"PK\x01\x02")
second_cd = dup.find(b"PK\x01\x02", first_cd + 4)
dup[second_cd + 46:second_cd + 51] = b"a.npy"
NPZ["duplicate.npz"] = bytes(dup)

TEXT = b"the quick brown fox jumps over the lazy dog " * 8
BASIC = zip_bytes([("dir/a.txt", b"hello"), ("b.bin", TEXT)], zipfile.ZIP_DEFLATED)
BASIC_STORED = zip_bytes([("dir/a.txt", b"hello"), ("b.bin", TEXT)])
E = eocd(BASIC_STORED)
CD = BASIC_STORED.find(b"PK\x01\x02")

ZIP = {
    "basic_deflated.zip": BASIC,
    "basic_stored.zip": BASIC_STORED,
    "streamed.zip": zip_bytes([("a", TEXT), ("b", b"")], zipfile.ZIP_DEFLATED, stream=True),
    "zip64.zip": zip_bytes([("a", TEXT)], force_zip64=True),
    "comment.zip": zip_bytes([("a", b"x")], comment=b"a comment PK\x05\x06 inside"),
    "prefix.zip": b"#!/bin/sh\nexit 0\n" + BASIC_STORED,
    "empty.zip": zip_bytes([]),
    # broken / anomalous
    "truncated_eocd.zip": BASIC_STORED[:-5],
    "cd_offset.zip": patched(BASIC_STORED, E + 16, struct.pack("<I", CD + 1)),
    "local_sig.zip": patched(BASIC_STORED, 0, b"PK\x03\x05"),
    "encrypted.zip": patched(patched(BASIC_STORED, 6, b"\x01\x00"), CD + 8, b"\x01\x00"),
    "name_mismatch.zip": patched(BASIC_STORED, CD + 46, b"evil"),
    "bomb.zip": patched(BASIC, BASIC.find(b"PK\x01\x02", BASIC.find(b"PK\x01\x02") + 4) + 24,
                        struct.pack("<I", 0xF0000000)),
    "count.zip": patched(BASIC_STORED, E + 8, struct.pack("<HH", 900, 900)),
}


def main():
    for folder, files in (("npy", NPY), ("npz", NPZ), ("zip", ZIP)):
        d = os.path.join(HERE, folder)
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            os.unlink(os.path.join(d, old))
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{folder}: {len(files)} seeds")


if __name__ == "__main__":
    main()
