#!/usr/bin/python3
"""Export a latent BitNetForCausalLM fixture in the offline-packed form of
microsoft/bitnet-b1.58-2B-4T (FORMATS.md §4).

Every projection `*.weight` [out, in] becomes uint8 [out/4, in] packed along the output rows
(byte [r, c] holds rows r, r+R, r+2R, r+3R in bits 1:0, 3:2, 5:4, 7:6, value = code - 1), plus
`*.weight_scale`, a 1-element BF16 tensor as in the official checkpoint. HF's BitLinear
divides by weight_scale, so readers take float32(1/weight_scale) as the absmean scale. The
stored bf16 value is the neighbour of 1/s for which float32(1.0f / weight_scale) == s
exactly; train_tiny.py chose every latent scale s so that such a bf16 value exists, and this
script refuses to write the file otherwise. Everything else is copied unchanged.

Usage: pack_offline.py LATENT_DIR OUT_DIR
"""
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch

from train_tiny import write_json, write_safetensors

PROJ = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def read_bf16_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack_from("<Q", buf, 0)
    header = json.loads(buf[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "BF16", name
        b, e = info["data_offsets"]
        u16 = np.frombuffer(buf[8 + n + b:8 + n + e], dtype="<u2")
        out[name] = (info["shape"], u16.copy())
    return out


def bf16_to_f32(u16):
    return torch.from_numpy((u16.astype(np.uint32) << 16).view(np.float32))


def inverse_scale_bf16(s):
    """bf16 bits b with float32(1.0f / float32(b)) == s, the one nearest to 1/s first."""
    want = np.float32(s)
    center = struct.unpack("<I", struct.pack("<f", float(np.float32(1.0) / want)))[0] >> 16
    for d in sorted(range(-8, 9), key=lambda d: (abs(d), d)):
        b = np.array([(center + d) << 16], dtype=np.uint32).view(np.float32)[0]
        if np.float32(1.0) / b == want:
            return center + d
    return None


def pack_rows(codes):
    """codes int8 [out, in] in {-1,0,1} -> uint8 [out/4, in]."""
    out = codes.shape[0]
    assert out % 4 == 0
    R = out // 4
    c = (codes.to(torch.int16) + 1).to(torch.uint8)
    packed = torch.zeros((R, codes.shape[1]), dtype=torch.uint8)
    for i in range(4):
        packed |= c[i * R:(i + 1) * R] << (2 * i)
    return packed


def main():
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    t = read_bf16_safetensors(os.path.join(src, "model.safetensors"))
    out = {}
    for name, (shape, u16) in t.items():
        is_proj = name.endswith(".weight") and name.split(".")[-2] in PROJ
        if not is_proj:
            out[name] = ("BF16", shape, u16.astype("<u2").tobytes())
            continue
        w = bf16_to_f32(u16).reshape(shape)
        s = w.abs().mean().clamp(min=1e-5)
        codes = (w / s).round().clamp(-1, 1).to(torch.int8)
        bits = inverse_scale_bf16(s.item())
        if bits is None:
            raise SystemExit("%s: no bf16 weight_scale reproduces scale %r" % (name, s.item()))
        out[name] = ("U8", [shape[0] // 4, shape[1]], pack_rows(codes).numpy().tobytes())
        out[name + "_scale"] = ("BF16", [1], struct.pack("<H", bits))
    write_safetensors(os.path.join(dst, "model.safetensors"), out, {"format": "pt"})
    c = json.load(open(os.path.join(src, "config.json")))
    c["quantization_config"] = {"quant_method": "bitnet", "linear_class": "bitlinear",
                                "quantization_mode": "offline"}
    write_json(os.path.join(dst, "config.json"), c)
    for f in ("tokenizer.model", "tokenizer_config.json", "generation_config.json"):
        shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))


if __name__ == "__main__":
    main()
