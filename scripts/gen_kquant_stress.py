#!/usr/bin/python3
"""Awkward inputs for the K-quant packers: 192 rows of 256 fp16 values, one
Q6_K/Q4_K super-block per row, each row a case the reference search handles
specially (zeros, one value, constants, tiny and huge values, exact rounding
ties, one-signed rows, sparse rows, outliers, constant or zero sub-groups) or a
random distribution of another width.

  gen_kquant_stress.py OUT.f16
  gen_kquant_stress.py --patch BN_INFO IN.gguf STRESS.f16 OUT.gguf
      copy IN.gguf (an F16 token_embd, ne0 256) with its first rows replaced.
Used by scripts/make_kquant_golden.sh."""
import json
import math
import random
import struct
import subprocess
import sys

ROWS, COLS = 192, 256


def stress():
    """Row-major ROWS x COLS values as fp16 bytes (struct 'e' rounds to nearest even)."""
    rng = random.Random(20261202)
    r = [[0.0] * COLS for _ in range(ROWS)]
    gauss = lambda s: [rng.gauss(0, s) for _ in range(COLS)]
    uni = lambda a, b: [rng.uniform(a, b) for _ in range(COLS)]
    i = 0
    for k in range(32):                              # gaussian rows of many widths
        r[i] = gauss(1e-4 * (3e5) ** (k / 31)); i += 1
    for _ in range(16):                              # outliers
        r[i] = gauss(0.02)
        for c in rng.sample(range(COLS), 3):
            r[i][c] *= 300
        i += 1
    i += 1                                           # all zero
    r[i][77] = -0.5; i += 1                          # one value
    r[i] = [0.25] * COLS; i += 1                     # constants
    r[i] = [-3.0] * COLS; i += 1
    r[i] = gauss(1e-7); i += 1                       # fp16 subnormals
    for k in range(8):                               # zero / constant sub-groups
        r[i] = gauss(0.1)
        r[i][16 * k:16 * k + 16] = [0.0] * 16
        g = (k + 3) % 8
        r[i][32 * g:32 * g + 32] = [-0.01 * (k + 1)] * 32
        i += 1
    for _ in range(10):                              # near the fp16 maximum
        r[i] = uni(-65504, 65504); i += 1
    for _ in range(10):                              # one-signed
        r[i] = uni(0, 1); i += 1
    for _ in range(10):
        r[i] = [-v for v in uni(0, 1)]; i += 1
    for _ in range(10):                              # exact ties: halves, quarters, eighths
        r[i] = [rng.randint(-64, 63) * 0.5 ** rng.randint(1, 3) for _ in range(COLS)]; i += 1
    for _ in range(20):                              # sparse
        r[i] = [v if rng.random() < 0.1 else 0.0 for v in gauss(0.05)]; i += 1
    for _ in range(20):                              # laplace, trained-embedding-like
        r[i] = [rng.choice((-1, 1)) * rng.expovariate(100.0) for _ in range(COLS)]; i += 1
    for k in range(ROWS - i):                        # ramps, alternating signs, uniform
        kind = k % 3
        if kind == 0:
            r[i] = [-1 + (2 + k) * c / (COLS - 1) for c in range(COLS)]
        elif kind == 1:
            r[i] = [(-1.0) ** c * rng.uniform(0.5, 1) * (k + 1) for c in range(COLS)]
        else:
            r[i] = uni(-(k + 1) * 0.01, (k + 1) * 0.02)
        i += 1
    assert all(math.isfinite(v) and abs(v) <= 65504 for row in r for v in row)
    return b"".join(struct.pack("<%de" % COLS, *row) for row in r)


def patch(bn_info, src, stress_path, dst):
    d = json.loads(subprocess.check_output([bn_info, "--json", src]))
    t = [x for x in d["tensors"] if x["name"] == "token_embd.weight"][0]
    assert t["type"] == "F16" and t["ne"][0] == COLS, t
    data = bytearray(open(src, "rb").read())
    s = open(stress_path, "rb").read()
    o = d["data_offset"] + t["offset"]
    data[o:o + len(s)] = s
    open(dst, "wb").write(data)


if __name__ == "__main__":
    if sys.argv[1] == "--patch":
        patch(*sys.argv[2:6])
    else:
        open(sys.argv[1], "wb").write(stress())
