#!/usr/bin/env python3
"""Writes the fuzz seeds of fuzz_json (fuzz/seeds/json/) and fuzz_safetensors
(fuzz/seeds/safetensors/): small valid variants and one broken file per common mistake.
Run from anywhere: python3 fuzz/seeds/make_json_safetensors_seeds.py"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(folder, name, data):
    d = os.path.join(HERE, folder)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- JSON ------------------------------------------------------------------------------------
JSON = {
    "nested.json": '{"a":[1,2,{"b":null,"c":[true,false]}],"d":{"e":{}},"f":[]}',
    "escapes.json": '["\\"\\\\\\/\\b\\f\\n\\r\\t","\\u0041\\u00e9\\u20ac","\\ud83d\\ude00",'
                    '"a\\u0000b","\u00e9\u4e2d"]',
    "numbers.json": '[0,-0,1,-1,18446744073709551615,18446744073709551616,'
                    '-9223372036854775808,-9223372036854775809,0.1,1e-400,2.5E+3,'
                    '9007199254740993.000000000000000000001,4.9406564584124654e-324]',
    "whitespace.json": ' \t\r\n{ "k" : [ 1 , 2 ] } \n',
    "config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
                               "rms_norm_eps": 1e-05, "rope_scaling": None,
                               "tie_word_embeddings": False}),
    "index.json": json.dumps({"metadata": {"total_size": 123},
                              "weight_map": {"a": "model-00001-of-00002.safetensors",
                                             "b": "model-00002-of-00002.safetensors"}}),
    "bad_trailing_comma.json": '[1,2,]',
    "bad_lone_surrogate.json": '["\\ud800"]',
    "bad_utf8.json": b'["\xc0\x80"]',
    "bad_deep.json": "[" * 100 + "]" * 100,
    "bad_dup_keys.json": '{"a":1,"b":{"a":2},"a":3}',
    "bad_leading_zero.json": '[01]',
    "bad_control.json": '["a\x01b"]',
    "bad_garbage.json": '{} x',
    "bad_out_of_range.json": '[1e400]',
}
for name, text in JSON.items():
    put("json", name, text)


# ---- safetensors -----------------------------------------------------------------------------
def st(header, data=b"", pad=True, n=None):
    h = header if isinstance(header, bytes) else header.encode("utf-8")
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h) if n is None else n) + h + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


DTYPES = [("U64", 64), ("I64", 64), ("F64", 64), ("C64", 64), ("F32", 32), ("U32", 32),
          ("I32", 32), ("BF16", 16), ("F16", 16), ("U16", 16), ("I16", 16),
          ("F8_E5M2FNUZ", 8), ("F8_E4M3FNUZ", 8), ("F8_E8M0", 8), ("F8_E4M3", 8),
          ("F8_E5M2", 8), ("I8", 8), ("U8", 8), ("F6_E3M2", 6), ("F6_E2M3", 6), ("F4", 4),
          ("BOOL", 8)]

hdr, off = {"__metadata__": {"format": "pt"}}, 0
for name, bits in DTYPES:
    nbytes = 8 * bits // 8
    hdr["t." + name] = entry(name, [8], off, off + nbytes)
    off += nbytes
put("safetensors", "valid_all_dtypes.safetensors",
    st(compact(hdr), bytes((i * 7) & 255 for i in range(off))))
basic = {"__metadata__": {"format": "pt", "note": "\u00e9"},
         "w": entry("F32", [2, 3], 0, 24), "b": entry("I16", [3], 24, 30)}
put("safetensors", "valid_basic.safetensors", st(compact(basic), bytes(range(30))))
put("safetensors", "valid_empty.safetensors", st("{}"))
put("safetensors", "valid_leading_ws.safetensors", st(" \n\t{}", pad=False))
put("safetensors", "valid_array_form.safetensors",
    st('{"a":["F32",[2],[0,8]],"b":{"dtype":{"U8":null},"shape":[1],"data_offsets":[8,9]}}',
       bytes(9)))
put("safetensors", "valid_scalar_and_empty.safetensors",
    st(compact({"s": entry("F64", [], 0, 8), "e": entry("U8", [0, 4], 8, 8)}), bytes(8)))
put("safetensors", "valid_unknown_fields.safetensors",
    st('{"a":{"dtype":"U8","x":{"y":[1,{"z":null}]},"shape":[2],"data_offsets":[0,2]}}',
       b"\x01\x02"))
put("safetensors", "bad_header_too_long.safetensors", st("{}", n=1000))
put("safetensors", "bad_gap.safetensors",
    st(compact({"a": entry("F32", [1], 0, 4), "b": entry("F32", [1], 8, 12)}), bytes(12)))
put("safetensors", "bad_overlap.safetensors",
    st(compact({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}), bytes(12)))
put("safetensors", "bad_misaligned_f4.safetensors",
    st(compact({"a": entry("F4", [3], 0, 2)}), bytes(2)))
put("safetensors", "bad_utf8.safetensors",
    st(b'{"\xff":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\x00"))
put("safetensors", "bad_dup_key.safetensors",
    st('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
       '"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\x00"))
put("safetensors", "bad_trailing_bytes.safetensors",
    st(compact({"a": entry("U8", [1], 0, 1)}), b"\x00\x01"))
put("safetensors", "bad_json.safetensors", st('{"a":{"dtype":"U8",}}'))
put("safetensors", "bad_overflow.safetensors",
    st(compact({"a": entry("U64", [2**62, 2**62], 0, 0)})))
put("safetensors", "bad_deep.safetensors",
    st('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":' + "[" * 80 + "]" * 80 +
       "}}", b"\x00"))
