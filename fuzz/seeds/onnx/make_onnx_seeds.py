#!/usr/bin/env python3
"""make_onnx_seeds.py -- hand-made ONNX and protobuf fuzz seeds (bad ones, typed fields).

The other seeds in fuzz/seeds/onnx/ are copies of small models and test-data tensors of the
ONNX backend test corpus. Run from the repository root:
    python3 fuzz/seeds/onnx/make_onnx_seeds.py
"""
import os
import struct


def varint(v):
    v &= (1 << 64) - 1
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def fint(f, v):
    return varint(f << 3) + varint(v)


def fbytes(f, b):
    return varint(f << 3 | 2) + varint(len(b)) + b


def model(graph):
    return fint(1, 8) + fbytes(2, b"seed") + fbytes(7, graph) + fbytes(8, fbytes(1, b"") + fint(2, 17))


def tensor(name, dt, dims, extra=b""):
    return b"".join(fint(1, d) for d in dims) + fint(2, dt) + fbytes(8, name) + extra


def write(d, name, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


O = "fuzz/seeds/onnx"
typed = (fbytes(5, tensor(b"f", 1, [2], fbytes(4, struct.pack("<2f", 1, 2)))) +
         fbytes(5, tensor(b"h", 10, [2], fint(5, 0x3C00) + fint(5, 0xC000))) +
         fbytes(5, tensor(b"i", 7, [2], fbytes(7, varint(-1) + varint(5)))) +
         fbytes(5, tensor(b"d", 11, [1], fbytes(10, struct.pack("<d", 2.5)))) +
         fbytes(5, tensor(b"u", 12, [1], fint(11, 7))) +
         fbytes(5, tensor(b"q", 22, [4], fint(5, 0xE1) + fint(5, 0xC3))) +
         fbytes(5, tensor(b"s", 8, [2], fbytes(6, b"ab") + fbytes(6, b"c"))))
write(O, "typed_fields.onnx", model(typed))
write(O, "bad_raw_size.onnx", model(fbytes(5, tensor(b"a", 1, [2], fbytes(9, b"\0" * 4)))))
write(O, "bad_truncated.onnx", model(typed)[:-7])
write(O, "bad_external_memory.onnx", model(fbytes(5, tensor(b"e", 1, [1], fbytes(13, fbytes(1, b"location") + fbytes(2, b"../w.bin")) + fint(14, 1)))))
deep = fbytes(2, b"leaf")
for _ in range(50):
    deep = fbytes(1, fbytes(4, b"If") + fbytes(5, fbytes(1, b"then_branch") + fbytes(6, deep) + fint(20, 5)))
write(O, "bad_deep_if.onnx", model(deep))

P = "fuzz/seeds/protobuf"
write(P, "scalars.bin", fint(1, 150) + fbytes(2, b"hi") + b"\x1d\x01\x02\x03\x04" + b"\x21" + b"\x01" * 8)
write(P, "packed.bin", fbytes(4, struct.pack("<3f", 1, 2, 3)) + b"\x25\x00\x00\x40\x40" + fbytes(5, varint(1) + varint(300)))
write(P, "nested.bin", fbytes(1, fbytes(1, fbytes(1, fint(2, 3)))))
write(P, "groups.bin", b"\x08\x01\x13\x18\x02\x23\x24\x14\x28\x07")
write(P, "varint10.bin", fint(1, -1) + fint(2, 1 << 63))
write(P, "bad_varint11.bin", b"\x08" + b"\x80" * 10 + b"\x00")
write(P, "bad_varint_overflow.bin", b"\x08" + b"\xff" * 9 + b"\x02")
write(P, "bad_len.bin", b"\x0a\x05ab")
write(P, "bad_wire.bin", b"\x0e\x01\x0f")
write(P, "bad_group.bin", b"\x14\x13\x24")
write(P, "deep.bin", b"\x0b" * 200 + b"\x0c" * 200)
nest = b""
for _ in range(150):
    nest = fbytes(1, nest)
write(P, "deep_len.bin", nest)
write(P, "field_zero.bin", b"\x00\x01")
