#!/usr/bin/python3
"""Writes samples/tiny-llama.safetensors: a small LLaMA-shaped model (2 layers, hidden 64,
vocab 256) with deterministic values, in the exact layout of the reference safetensors
writer (tensors sorted by dtype then name, compact JSON padded with spaces to 8 bytes).
The file is committed; this script documents how it was made and can regenerate it.
Uses only numpy (Debian's python3-numpy)."""
import json, os, struct, sys
import numpy as np

rng = np.random.default_rng(20261122)
H, F, V, L = 64, 176, 256, 2
tensors = {"token_embd.weight": rng.standard_normal((V, H), dtype=np.float32) * 0.02,
           "output_norm.weight": np.ones(H, dtype=np.float32),
           "output.weight": (rng.standard_normal((V, H), dtype=np.float32) * 0.02).astype(np.float16)}
for i in range(L):
    p = f"blk.{i}."
    tensors[p + "attn_norm.weight"] = np.ones(H, dtype=np.float32)
    tensors[p + "ffn_norm.weight"] = np.ones(H, dtype=np.float32)
    for n in ("attn_q", "attn_k", "attn_v", "attn_output"):
        tensors[p + n + ".weight"] = (rng.standard_normal((H, H), dtype=np.float32) * 0.05).astype(np.float16)
    tensors[p + "ffn_gate.weight"] = (rng.standard_normal((F, H), dtype=np.float32) * 0.05).astype(np.float16)
    tensors[p + "ffn_up.weight"] = (rng.standard_normal((F, H), dtype=np.float32) * 0.05).astype(np.float16)
    tensors[p + "ffn_down.weight"] = (rng.standard_normal((H, F), dtype=np.float32) * 0.05).astype(np.float16)

names = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}
order = {"F32": 0, "F16": 1}  # reference writer: larger alignment first, then name
items = sorted(tensors.items(), key=lambda kv: (order[names[kv[1].dtype]], kv[0]))
header = {"__metadata__": {"format": "pt", "description": "ferry sample: tiny LLaMA-shaped model"}}
off, blobs = 0, []
for name, a in items:
    b = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
    header[name] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
    off += len(b)
    blobs.append(b)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "samples", "tiny-llama.safetensors")
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
print(out)
