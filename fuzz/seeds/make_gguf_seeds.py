#!/usr/bin/env python3
"""make_gguf_seeds.py -- writes the seed corpus of fuzz/fuzz_gguf.c into fuzz/seeds/gguf/.

Small hand-built GGUF files (FORMATS.md section 21, appendix A1): valid variants (v1, v2, v3,
big-endian, every metadata type, quantized and unknown tensor types, custom alignment, a
split shard) and broken ones (one rule of A1.4 each). Standard library only; run it again
after changing it and commit the output:

    python3 fuzz/seeds/make_gguf_seeds.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gguf")

# GGUF value types (A1.2)
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
FMT = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "B",
       U64: "Q", I64: "q", F64: "d"}
# ggml type id -> (block elements, block bytes), the ones used here (A2.1)
SIZES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 14: (256, 210),
         24: (1, 1), 26: (1, 4), 30: (1, 2), 39: (32, 17)}
SWAP = {0: 4, 1: 2, 26: 4, 30: 2}          # plain element widths swapped in big-endian files
BLOCK_SWAP = {2: [0], 8: [0], 12: [0, 2], 14: [208]}  # u16 fields per block (convert_endian)


class W:
    def __init__(self, version=3, be=False):
        self.b = bytearray()
        self.e = ">" if be else "<"
        self.v1 = version == 1

    def put(self, fmt, *v):
        self.b += struct.pack(self.e + fmt, *v)

    def len(self, n):
        self.put("I" if self.v1 else "Q", n)

    def str(self, s):
        s = s.encode() if isinstance(s, str) else s
        self.len(len(s))
        self.b += s

    def value(self, t, v):
        if t == STR:
            self.str(v)
        else:
            self.put(FMT[t], v)

    def pad(self, a):
        self.b += b"\0" * (-len(self.b) % a)


def gguf(kvs, tensors, version=3, be=False, align=32, unknown_bytes=None):
    """kvs: [(key, type, value)] with value (elem_type, [items]) for ARR;
    tensors: [(name, ne list, ggml type)]."""
    w = W(version, be)
    w.b += b"GGUF"
    w.put("I", version)
    w.len(len(tensors))
    w.len(len(kvs))
    for k, t, v in kvs:
        w.str(k)
        w.put("I", t)
        if t == ARR:
            et, items = v
            w.put("I", et)
            w.len(len(items))
            for x in items:
                w.value(et, x)
        else:
            w.value(t, v)
    blobs, off = [], 0
    for i, (name, ne, typ) in enumerate(tensors):
        n = 1
        for d in ne:
            n *= d
        if typ in SIZES:
            bs, bb = SIZES[typ]
            size = n // bs * bb
        else:
            size = (unknown_bytes or {}).get(name, 16)
        data = bytearray((j * 31 + i * 17 + 1) & 0xFF for j in range(size))
        if be and typ in SWAP:
            k = SWAP[typ]
            for j in range(0, size, k):
                data[j:j + k] = data[j:j + k][::-1]
        if be and typ in BLOCK_SWAP:
            bb = SIZES[typ][1]
            for j in range(0, size, bb):
                for f in BLOCK_SWAP[typ]:
                    data[j + f:j + f + 2] = data[j + f:j + f + 2][::-1]
        w.str(name)
        w.put("I", len(ne))
        for d in ne:
            w.put("I" if w.v1 else "Q", d)
        w.put("I", typ)
        w.put("Q", off)
        blobs.append(bytes(data))
        off += size + (-size % align)
    w.pad(align)
    for d in blobs:
        w.b += d
        w.pad(align)
    return bytes(w.b)


BASE_KV = [
    ("general.architecture", STR, "llama"),
    ("llama.block_count", U32, 1),
    ("tokenizer.ggml.tokens", ARR, (STR, ["<s>", "</s>", "a"])),
    ("tokenizer.ggml.scores", ARR, (F32, [0.0, -1.5, 2.25])),
]
BASE_T = [("t.f32", [4, 2], 0), ("t.f16", [3], 1), ("t.q8", [32, 2], 8)]
ALL_KV = [("k.%d" % t, t, v) for t, v in [(U8, 200), (I8, -3), (U16, 65535), (I16, -300),
                                           (U32, 7), (I32, -7), (F32, 0.5), (BOOL, 1),
                                           (STR, "x"), (U64, 2**40), (I64, -2**40),
                                           (F64, 1e-300)]]
ALL_KV += [("a.%d" % t, ARR, (t, v)) for t, v in [(U8, [1, 2]), (I16, [-1]), (F64, [0.25]),
                                                  (BOOL, [0, 1]), (STR, ["", "yy"]),
                                                  (I32, [])]]


def mutate(data, at, fmt, value):
    b = bytearray(data)
    struct.pack_into(fmt, b, at, value)
    return bytes(b)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "v3_le.gguf": gguf(BASE_KV, BASE_T),
        "v3_be.gguf": gguf(BASE_KV, BASE_T, be=True),
        "v2_le.gguf": gguf(BASE_KV, BASE_T, version=2),
        "v1_le.gguf": gguf(BASE_KV, BASE_T, version=1),
        "all_kv_types.gguf": gguf(ALL_KV, [("s", [], 0)]),
        "quant_be.gguf": gguf([("general.alignment", U32, 64)],
                              [("q4", [64], 2), ("q4k", [256], 12), ("q6k", [256], 14),
                               ("mx", [32], 39), ("bf", [2, 2], 30), ("i8", [5], 24),
                               ("i32", [1, 1, 1, 3], 26)], be=True, align=64),
        "unknown_type.gguf": gguf(BASE_KV, [("a", [2], 0), ("new", [4], 77), ("b", [2], 1)],
                                  unknown_bytes={"new": 40}),
        "split_shard.gguf": gguf([("split.no", U16, 1), ("split.count", U16, 2),
                                  ("split.tensors.count", I32, 2)], [("s1", [4], 0)]),
        "metadata_only.gguf": gguf(BASE_KV, []),
    }
    good = seeds["v3_le.gguf"]
    # broken ones: one rule each
    seeds["bad_magic.gguf"] = b"GGUX" + good[4:]
    seeds["bad_version.gguf"] = mutate(good, 4, "<I", 4)
    seeds["truncated.gguf"] = good[: len(good) // 2]
    seeds["huge_string.gguf"] = mutate(good, 24, "<Q", (1 << 30) + 1)
    seeds["nested_array.gguf"] = gguf([("a", ARR, (U8, [1]))], []).replace(
        b"a\x09\x00\x00\x00\x00", b"a\x09\x00\x00\x00\x09")
    seeds["duplicate_key.gguf"] = gguf([("k", U8, 1), ("k", U8, 2)], [])
    seeds["five_dims.gguf"] = gguf([], [("t", [1, 1, 1, 1, 2], 0)])
    seeds["bad_offset.gguf"] = gguf([], [("a", [8], 0), ("b", [8], 0)]).replace(
        struct.pack("<Q", 32), struct.pack("<Q", 48), 1)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(seeds), OUT))


if __name__ == "__main__":
    main()
