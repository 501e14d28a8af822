#!/usr/bin/python3
"""gen_vocab_gguf.py OUT [N] -- a GGUF v3 file shaped like llama.cpp's vocabulary-only
files, with N (default 150000) tokens: tokenizer.ggml.tokens (string array), .scores (f32
array), .token_type (i32 array), .merges (string array), plus a small tensor. Benchmark
input only; written by hand with struct (gguf-py is not in Debian)."""
import struct, sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 150000

def s(x):
    b = x.encode()
    return struct.pack("<Q", len(b)) + b

kv = []
kv.append(s("general.architecture") + struct.pack("<I", 8) + s("llama"))
kv.append(s("general.name") + struct.pack("<I", 8) + s("vocab-bench"))
kv.append(s("tokenizer.ggml.model") + struct.pack("<I", 8) + s("gpt2"))
toks = [f"tok{i:06d}\u0120x" for i in range(n)]
kv.append(s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, n) + b"".join(s(t) for t in toks))
kv.append(s("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, n) + struct.pack(f"<{n}f", *[float(-i) for i in range(n)]))
kv.append(s("tokenizer.ggml.token_type") + struct.pack("<IIQ", 9, 5, n) + struct.pack(f"<{n}i", *[1] * n))
merges = [f"t{i} o{i}" for i in range(n - 256)]
kv.append(s("tokenizer.ggml.merges") + struct.pack("<IIQ", 9, 8, len(merges)) + b"".join(s(m) for m in merges))
head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kv)) + b"".join(kv)
head += s("token_embd.weight") + struct.pack("<IQQIQ", 2, 8, 4, 0, 0)
head += b"\0" * (-len(head) % 32)
with open(out, "wb") as f:
    f.write(head + struct.pack("<32f", *range(32)))
print(f"{out}: {n} tokens")
