#!/usr/bin/python3
"""Write the checkpoint fixtures under fixtures/checkpoints/ and their expectations.

Run with Debian's /usr/bin/python3 (python3-torch):  /usr/bin/python3 scripts/make_checkpoint_fixtures.py

PyTorch files are real torch.save outputs. safetensors files are written here by
hand (the format is u64 header length + JSON + data; the safetensors package is
not installed) from the same torch tensors' bytes.

expected.json maps each fixture path (relative to fixtures/checkpoints/) to
{"tensors": {name: {dtype, shape, sha256, sha256_f32, file, alias_of}}}, where
sha256 is the sha256 of the tensor's contiguous row-major little-endian bytes
(exactly what bn_ckpt_read_raw hands out and what `bn-info --sha256` prints)
and sha256_f32 the sha256 of the same values converted to float32 by PyTorch
(what bn_ckpt_read_f32 must produce). Names of nested objects are the dict
keys / list indices joined with '.', the naming rule of include/bn/checkpoint.h.
Rejected files are listed under "rejects" with a word their error must contain.
"""
import collections
import hashlib
import io
import json
import os
import shutil
import struct
import sys
import zipfile

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "checkpoints")
torch.manual_seed(1234)

ST_DTYPE = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def raw_bytes(t):
    """Contiguous row-major little-endian bytes of t (any dtype, any view)."""
    c = t.detach().contiguous().reshape(-1)
    if c.numel() == 0:
        return b""
    return c.view(torch.uint8).numpy().tobytes()


def f32_bytes(t):
    return t.detach().to(torch.float32).contiguous().numpy().tobytes()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def describe(t, file, alias_of=None):
    return {
        "dtype": ST_DTYPE[t.dtype], "shape": list(t.shape), "sha256": sha(raw_bytes(t)),
        "sha256_f32": sha(f32_bytes(t)), "file": file, "alias_of": alias_of,
    }


def flatten(obj, prefix=""):
    """(name, tensor) pairs in pickle walk order: dict keys and list indices joined by '.'."""
    if isinstance(obj, torch.Tensor):
        yield (prefix if prefix else "tensor"), obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, (str, int)) and not isinstance(k, bool):
                yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from flatten(v, f"{prefix}.{i}" if prefix else str(i))


def expect_torch(obj, file):
    """Expectations for a torch.save file: aliases are names on one storage with the same view."""
    out, seen = {}, {}
    for name, t in flatten(obj):
        key = (t.storage().data_ptr(), t.storage_offset(), tuple(t.shape),
               tuple(s for s, n in zip(t.stride(), t.shape) if n > 1))
        alias = seen.get(key) if t.numel() > 0 else None
        if alias is None:
            seen[key] = name
        out[name] = describe(t, file, alias)
    return out


def save_torch(obj, rel, **kw):
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(obj, path, **kw)
    return path


def write_safetensors(path, tensors, metadata=None, raw=None):
    """tensors: ordered (name, torch tensor); raw: extra (name, dtype, shape, bytes) for dtypes torch lacks."""
    header, data = {}, bytearray()
    items = [(n, ST_DTYPE[t.dtype], list(t.shape), raw_bytes(t)) for n, t in tensors] + list(raw or [])
    for name, dt, shape, b in items:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the reference writer pads the header with spaces to 8 bytes
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + bytes(data))


def f8e4m3(b):
    s = -1.0 if b & 0x80 else 1.0
    e, m = (b >> 3) & 15, b & 7
    if e == 15 and m == 7:
        return float("nan")
    return s * (m / 8 * 2.0 ** -6 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7))


def f8e5m2(b):
    return float(np.frombuffer(bytes([0, b]), dtype="<f2")[0])


def all_dtypes():
    base = torch.randn(3, 4, dtype=torch.float64) * 100
    ts = collections.OrderedDict()
    ts["f64"] = base.clone()
    ts["f32"] = base.float()
    ts["f16"] = base.half()
    ts["bf16"] = base.bfloat16()
    ts["i64"] = torch.tensor([[-(2 ** 62), 2 ** 53 + 1, -1], [0, 7, 2 ** 24 + 1]], dtype=torch.int64)
    ts["i32"] = torch.tensor([-(2 ** 31), 2 ** 31 - 1, 16777217, 0], dtype=torch.int32)
    ts["i16"] = torch.tensor([-32768, 32767, 5], dtype=torch.int16)
    ts["i8"] = torch.tensor([[-128, 127, 0]], dtype=torch.int8)
    ts["u8"] = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
    ts["bool"] = torch.tensor([True, False, True], dtype=torch.bool)
    ts["scalar"] = torch.tensor(3.5)
    ts["empty"] = torch.zeros(0, 5)
    return ts


def main():
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    os.makedirs(ROOT)
    exp, rejects = {}, {}

    # ---- safetensors ----
    ts = all_dtypes()
    odd = torch.tensor([1, 2, 3], dtype=torch.int8)  # 3 bytes: every tensor after it is misaligned
    order = [("odd", odd)] + list(ts.items())
    # dtypes torch 1.13 cannot hold, written from bytes with values decoded here independently
    f8b = bytes([0x00, 0x01, 0x38, 0x7e, 0x7f, 0xb8, 0x08, 0xc0])
    u16 = np.array([0, 1, 65535, 40000], dtype="<u2")
    u32 = np.array([0, 4294967295, 16777217], dtype="<u4")
    u64 = np.array([0, 2 ** 64 - 1, 2 ** 53 + 1], dtype="<u8")
    raw = [("u16", "U16", [4], u16.tobytes()), ("u32", "U32", [3], u32.tobytes()),
           ("u64", "U64", [3], u64.tobytes()), ("f8_e4m3", "F8_E4M3", [2, 4], f8b),
           ("f8_e5m2", "F8_E5M2", [8], f8b)]
    write_safetensors(os.path.join(ROOT, "st_dtypes.safetensors"), order, {"format": "pt", "note": "fixture"}, raw)
    e = {n: describe(t, "st_dtypes.safetensors") for n, t in order}
    for name, dt, shape, b in raw:
        if dt == "U16": vals = u16.astype(np.float32)
        elif dt == "U32": vals = u32.astype(np.float32)
        elif dt == "U64": vals = np.array([float(int(x)) for x in u64], dtype=np.float32)
        elif dt == "F8_E4M3": vals = np.array([f8e4m3(x) for x in b], dtype=np.float32)
        else: vals = np.array([f8e5m2(x) for x in b], dtype=np.float32)
        e[name] = {"dtype": dt, "shape": shape, "sha256": sha(b), "sha256_f32": sha(vals.tobytes()),
                   "file": "st_dtypes.safetensors", "alias_of": None}
    exp["st_dtypes.safetensors"] = {"tensors": e, "metadata": {"format": "pt", "note": "fixture"}}

    write_safetensors(os.path.join(ROOT, "st_empty.safetensors"), [])
    exp["st_empty.safetensors"] = {"tensors": {}}

    emb, norm = torch.randn(8, 4).bfloat16(), torch.ones(4)
    write_safetensors(os.path.join(ROOT, "st_tied", "model.safetensors"),
                      [("model.embed_tokens.weight", emb), ("model.norm.weight", norm)])
    with open(os.path.join(ROOT, "st_tied", "config.json"), "w") as f:
        json.dump({"architectures": ["LlamaForCausalLM"], "tie_word_embeddings": True, "vocab_size": 8,
                   "hidden_size": 4}, f, indent=1)
    exp["st_tied"] = {"tensors": {
        "model.embed_tokens.weight": describe(emb, "model.safetensors"),
        "model.norm.weight": describe(norm, "model.safetensors"),
        "lm_head.weight": describe(emb, "model.safetensors", "model.embed_tokens.weight")}}

    sd = collections.OrderedDict((f"layers.{i}.w", torch.randn(4, 3).half()) for i in range(5))
    names = list(sd)
    shards = {"model-00001-of-00002.safetensors": names[:3], "model-00002-of-00002.safetensors": names[3:]}
    wm = {}
    for fn, ns in shards.items():
        write_safetensors(os.path.join(ROOT, "st_sharded", fn), [(n, sd[n]) for n in reversed(ns)])
        wm.update({n: fn for n in ns})
    with open(os.path.join(ROOT, "st_sharded", "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(t.numel() * 2 for t in sd.values())}, "weight_map": wm}, f, indent=1)
    exp["st_sharded"] = {"tensors": {n: describe(sd[n], wm[n]) for n in names}}

    # ---- PyTorch zip ----
    d = all_dtypes()
    big = torch.arange(60, dtype=torch.float32).reshape(6, 10)
    d["view_offset"] = big[2:4]                    # storage offset 20
    d["view_strided"] = big[1:5:2, 3:9:2]          # offset and strides in both dims
    d["view_transposed"] = big.t()                 # column-major view of the same storage
    d["view_column"] = big[:, 7]
    d["big"] = big
    d["big_again"] = big                           # the same tensor under two names: an alias
    d["param"] = torch.nn.Parameter(torch.randn(2, 3))
    d["param_frozen"] = torch.nn.Parameter(torch.randn(3).half(), requires_grad=False)
    obj = dict(d)                                  # a plain dict
    save_torch(obj, "pt_dtypes.bin")
    exp["pt_dtypes.bin"] = {"tensors": expect_torch(obj, "pt_dtypes.bin")}

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = torch.nn.Embedding(10, 4)
            self.norm = torch.nn.LayerNorm(4)
            self.proj = torch.nn.Linear(4, 4, bias=False)
            self.lm_head = torch.nn.Linear(4, 10, bias=False)
            self.lm_head.weight = self.embed_tokens.weight  # tied: both names on one storage
            self.register_buffer("steps", torch.tensor(7, dtype=torch.int64))

    model = Tiny()
    state = model.state_dict()                     # OrderedDict with _metadata (BUILD)
    assert hasattr(state, "_metadata")
    save_torch(state, "pt_state_dict.bin")
    exp["pt_state_dict.bin"] = {"tensors": expect_torch(state, "pt_state_dict.bin")}

    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss = model.lm_head(model.norm(model.proj(model.embed_tokens(torch.tensor([1, 2]))))).sum()
    loss.backward()
    opt.step()
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3, "best": 0.25,
            "tag": "run-1", "history": [1.5, None, True, (2, "x")]}
    save_torch(ckpt, "pt_nested.bin")
    exp["pt_nested.bin"] = {"tensors": expect_torch(ckpt, "pt_nested.bin")}

    many = collections.OrderedDict((f"t.{i}", torch.tensor([float(i)])) for i in range(300))
    save_torch(many, "pt_many.bin")
    exp["pt_many.bin"] = {"tensors": expect_torch(many, "pt_many.bin")}

    p4 = collections.OrderedDict([("a", torch.randn(2, 2)), ("b", torch.randn(3).bfloat16()),
                                  ("b_view", None), ("c", torch.arange(6, dtype=torch.int16).reshape(2, 3).t())])
    p4["b_view"] = p4["b"][1:]
    save_torch(p4, "pt_proto4.bin", pickle_protocol=4)
    exp["pt_proto4.bin"] = {"tensors": expect_torch(p4, "pt_proto4.bin")}

    # The same zip re-written with deflated entries (as some re-zipping tools do).
    src = os.path.join(ROOT, "pt_dtypes.bin")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(os.path.join(ROOT, "pt_deflated.bin"), "w",
                                                       zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    exp["pt_deflated.bin"] = {"tensors": {k: dict(v, file="pt_deflated.bin")
                                          for k, v in exp["pt_dtypes.bin"]["tensors"].items()}}

    sd2 = collections.OrderedDict([("model.embed_tokens.weight", torch.randn(6, 4)),
                                   ("model.layers.0.w", torch.randn(4, 4).bfloat16()),
                                   ("model.layers.1.w", torch.randn(4, 4).bfloat16()),
                                   ("model.norm.weight", torch.ones(4))])
    n2 = list(sd2)
    wm = {}
    for fn, ns in {"pytorch_model-00001-of-00002.bin": n2[:2], "pytorch_model-00002-of-00002.bin": n2[2:]}.items():
        part = collections.OrderedDict((n, sd2[n]) for n in ns)
        save_torch(part, os.path.join("pt_sharded", fn))
        wm.update({n: fn for n in ns})
    with open(os.path.join(ROOT, "pt_sharded", "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f, indent=1)
    exp["pt_sharded"] = {"tensors": {n: describe(sd2[n], wm[n]) for n in n2}}

    # A directory with both kinds: safetensors is preferred.
    both = os.path.join(ROOT, "prefer_st")
    write_safetensors(os.path.join(both, "model.safetensors"), [("x", torch.ones(2))])
    save_torch({"y": torch.zeros(2)}, os.path.join("prefer_st", "pytorch_model.bin"))
    exp["prefer_st"] = {"tensors": {"x": describe(torch.ones(2), "model.safetensors")}}

    # Files that must be recognised and refused.
    save_torch({"w": torch.ones(2)}, "legacy.bin", _use_new_zipfile_serialization=False)
    rejects["legacy.bin"] = "legacy"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(ROOT, "torchscript.pt"))
    rejects["torchscript.pt"] = "TorchScript"

    with open(os.path.join(ROOT, "expected.json"), "w") as f:
        json.dump({"fixtures": exp, "rejects": rejects}, f, indent=1, sort_keys=True)
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(ROOT) for fn in fns)
    print(f"wrote {len(exp)} fixtures and {len(rejects)} rejects, {total} bytes, into {ROOT}", file=sys.stderr)


if __name__ == "__main__":
    main()
