#!/usr/bin/python3
"""Reference results for tests/test_quant.c, computed independently of the C code.

absmean follows the PyTorch weight_quant used by every BitNet converter (1bitLLM
utils_quant.py, microsoft/BitNet convert-hf-to-gguf-bitnet.py, llama.cpp's
BitnetModel), in float32 torch:
    s = 1 / w.abs().mean().clamp(min=1e-5);  T = (w * s).round().clamp(-1, 1)
and the stored scale is max|T / s| = 1 / s (bitnet.cpp's quantize_i2_s).
absmax and mse are the definitions in include/bn/quant.h, in NumPy float64
(mse by sorting every magnitude: the exhaustive search the C code avoids).
Statistics are NumPy float64 over W and scale * T (scale as float32).

Run with the system Python that has torch:  /usr/bin/python3 scripts/quant_reference.py
Writes fixtures/quant/{NAME}.f32 (little-endian float32, row-major, ne = [cols, rows]),
{NAME}.{method}.i8 (codes) and reference.json.
"""
import json
import os
import struct

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "quant")


def absmean_torch(w):
    t = torch.from_numpy(w)
    s = 1 / t.abs().mean().clamp(min=1e-5)
    q = (t * s).round().clamp(-1, 1)
    scale = (torch.ones((), dtype=torch.float32) / s).item()
    return q.to(torch.int8).numpy(), np.float32(scale)


def absmax_np(w):
    a = np.abs(w.astype(np.float64))
    thr = np.float32(0.5) * np.float32(a.max())
    nz = a > thr
    codes = (np.sign(w) * nz).astype(np.int8)
    scale = np.float32(a[nz].mean()) if nz.any() else np.float32(0)
    return codes, scale


def mse_np(w):
    a = np.abs(w.astype(np.float64)).ravel()
    v = np.sort(a[a > 0])[::-1]
    csum = np.cumsum(v)
    k = np.arange(1, len(v) + 1)
    f = csum * csum / k
    # a threshold cannot split equal magnitudes: only the last of a run is valid
    valid = np.ones(len(v), dtype=bool)
    valid[:-1] = v[:-1] != v[1:]
    f[~valid] = -1
    i = int(np.argmax(f))
    kbest = i + 1
    vmin = v[i]
    codes = (np.sign(w) * (np.abs(w) >= vmin)).astype(np.int8)
    scale = np.float32(csum[i] / kbest)
    return codes, scale, kbest


def stats(w, codes, scale):
    x = w.astype(np.float64).ravel()
    q = (np.float32(scale) * codes.astype(np.float32)).astype(np.float64).ravel()
    e = x - q
    n = x.size
    sw2, se2, sq2, swq = float(x @ x), float(e @ e), float(q @ q), float(x @ q)
    return {
        "n_neg": int((codes < 0).sum()), "n_zero": int((codes == 0).sum()), "n_pos": int((codes > 0).sum()),
        "mse": se2 / n, "rmse": (se2 / n) ** 0.5, "nmse": se2 / sw2,
        "snr_db": 10 * np.log10(sw2 / se2) if se2 > 0 else None,
        "cosine": swq / (sw2 * sq2) ** 0.5 if sw2 * sq2 > 0 else 0.0, "max_abs_err": float(np.abs(e).max()),
    }


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", float(x)))[0]


def hashed(rows, cols):
    """Values exactly representable in float32, generated identically by the C test
    (tests/test_quant.c hashed_weights): h = i * 2654435761 mod 2^32,
    w = ((h >> 16) - 32768) * 2^-20."""
    i = np.arange(rows * cols, dtype=np.uint64)
    h = (i * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)
    v = ((h >> np.uint64(16)).astype(np.int64) - 32768).astype(np.float64) * 2.0 ** -20
    return v.astype(np.float32).reshape(rows, cols)


def checksum(codes):
    i = np.arange(codes.size, dtype=np.int64)
    return int((codes.ravel().astype(np.int64) * (i % 1000003 + 1)).sum())


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261126)
    cases = {
        # Gaussian latent weights, the usual case
        "gauss_32x256": rng.standard_normal((32, 256)).astype(np.float32) * np.float32(0.02),
        # heavy tails
        "laplace_16x384": rng.laplace(0.0, 0.05, (16, 384)).astype(np.float32),
        # tiny weights: absmean's 1e-5 floor engages
        "tiny_8x128": (rng.standard_normal((8, 128)) * 1e-7).astype(np.float32),
    }
    ref = {"generator": "scripts/quant_reference.py", "torch": torch.__version__, "numpy": np.__version__,
           "cases": []}
    for name, w in cases.items():
        w.tofile(os.path.join(OUT, name + ".f32"))
        entry = {"name": name, "ne": [int(w.shape[1]), int(w.shape[0])], "methods": {}}
        c, s = absmean_torch(w)
        c2, s2 = absmax_np(w)
        c3, s3, k3 = mse_np(w)
        for method, codes, scale in (("absmean", c, s), ("absmax", c2, s2), ("mse", c3, s3)):
            codes.tofile(os.path.join(OUT, f"{name}.{method}.i8"))
            m = {"scale": float(scale), "scale_bits": f32_bits(scale)}
            m.update(stats(w, codes, scale))
            if method == "mse":
                m["k"] = k3
            entry["methods"][method] = m
        ref["cases"].append(entry)
    # A 4M-element tensor: torch's float32 cascade sum against our double sum, at a
    # size where they can differ. Only the summary is stored; the C test
    # regenerates the input.
    w = hashed(2048, 2048)
    c, s = absmean_torch(w)
    ref["hashed_2048x2048"] = {"scale": float(s), "scale_bits": f32_bits(s), "checksum": checksum(c),
                               "n_neg": int((c < 0).sum()), "n_zero": int((c == 0).sum()),
                               "n_pos": int((c > 0).sum()),
                               "torch_mean_bits": f32_bits(torch.from_numpy(w).abs().mean().item()),
                               "exact_mean_bits": f32_bits(np.float32(np.abs(w.astype(np.float64)).mean()))}
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
