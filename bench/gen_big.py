#!/usr/bin/python3
"""gen_big.py OUT [MiB] -- a safetensors file of about MiB mebibytes (default 1024) of
random F16/F32 tensors in LLaMA-like shapes, written the way the reference writer lays
files out. Benchmark input only."""
import json, os, struct, sys
import numpy as np

out = sys.argv[1]
mib = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
rng = np.random.default_rng(1)
chunk = rng.standard_normal(8 << 20, dtype=np.float32)  # 32 MiB of values, reused
tensors, total, i = [], 0, 0
while total < mib << 20:
    shape, dt = ((4096, 1024), "F32") if i % 2 == 0 else ((4096, 2048), "F16")
    n = shape[0] * shape[1] * (4 if dt == "F32" else 2)
    tensors.append((f"blk.{i // 2}.{'attn_q' if dt == 'F32' else 'ffn_up'}.weight", dt, shape, n))
    total += n
    i += 1
tensors.sort(key=lambda t: (0 if t[1] == "F32" else 1, t[0]))
header, off = {}, 0
for name, dt, shape, n in tensors:
    header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + n]}
    off += n
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for name, dt, shape, n in tensors:
        a = chunk[: n // 4] if dt == "F32" else chunk[: n // 2].astype(np.float16)
        f.write(a.tobytes())
print(f"{out}: {len(tensors)} tensors, {off / 2**20:.0f} MiB")
