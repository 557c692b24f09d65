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
            zout.writestr(zipfile.ZipInfo(info.filename, (1980, 1, 1, 0, 0, 0)), zin.read(info.filename),
                          zipfile.ZIP_DEFLATED)
    # The same again with zip64 records on every entry (as big archives have).
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(os.path.join(ROOT, "pt_zip64.bin"), "w") as zout:
        for info in zin.infolist():
            with zout.open(zipfile.ZipInfo(info.filename, (1980, 1, 1, 0, 0, 0)), "w", force_zip64=True) as w:
                w.write(zin.read(info.filename))
    exp["pt_zip64.bin"] = {"tensors": {k: dict(v, file="pt_zip64.bin")
                                       for k, v in exp["pt_dtypes.bin"]["tensors"].items()}}
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

    # The legacy (pre-1.6) format: a tiny file, and the dtype/view/shared/Parameter object.
    legacy = {"w": torch.ones(2)}
    save_torch(legacy, "legacy.bin", _use_new_zipfile_serialization=False)
    exp["legacy.bin"] = {"tensors": expect_torch(legacy, "legacy.bin")}
    save_torch(obj, "legacy_dtypes.bin", _use_new_zipfile_serialization=False)
    exp["legacy_dtypes.bin"] = {"tensors": expect_torch(obj, "legacy_dtypes.bin")}

    # Files that must be recognised and refused.
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(ROOT, "torchscript.pt"))
    rejects["torchscript.pt"] = "TorchScript"

    with open(os.path.join(ROOT, "expected.json"), "w") as f:
        json.dump({"fixtures": exp, "rejects": rejects}, f, indent=1, sort_keys=True)
    # The same digests as plain lines "fixture name sha256" for shell tests (no JSON parser there).
    with open(os.path.join(ROOT, "expected_sha256.txt"), "w") as f:
        for fx in sorted(exp):
            for name in sorted(exp[fx]["tensors"]):
                f.write(f"{fx} {name} {exp[fx]['tensors'][name]['sha256']}\n")
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(ROOT) for fn in fns)
    print(f"wrote {len(exp)} fixtures and {len(rejects)} rejects, {total} bytes, into {ROOT}", file=sys.stderr)


# ---- malformed corpora: every file must be rejected with a message ----------------

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "corpus")


def st_file(header, data=b"", raw_len=None):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(h) if raw_len is None else raw_len
    return struct.pack("<Q", n) + h + data


def safetensors_corpus():
    f32 = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
    four = b"\0" * 4
    c = {
        "short_file": b"\x02\0\0\0\0",
        "header_over_100mb": struct.pack("<Q", 100_000_001) + b"{}",
        "header_past_end": st_file(b"{}", raw_len=1000),
        "header_len_zero": st_file(b""),
        "bad_utf8": st_file(b'{"a\xff": {"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', four),
        "overlong_utf8": st_file(b'{"a\xc0\xaf": {"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', four),
        "surrogate_utf8": st_file(b'{"a\xed\xa0\x80": {"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', four),
        "bom": st_file(b"\xef\xbb\xbf{}"),
        "raw_control_char": st_file(b'{"a\x01": {"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', four),
        "trailing_garbage": st_file(b"{} x"),
        "trailing_nul": st_file(b"{}\0"),
        "trailing_second_object": st_file(b"{}{}"),
        "not_json": st_file(b'{"a": '),
        "not_an_object": st_file(b"[1, 2]   "),
        "duplicate_tensor": st_file(b'{"a": {"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                    b' "a": {"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', four * 2),
        "duplicate_field": st_file(b'{"a": {"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}', four),
        "escaped_nul_name": st_file(b'{"a": {"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                    b' "a\\u0000b": {"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', four * 2),
        "negative_dim": st_file({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, four),
        "negative_zero_dim": st_file(b'{"a": {"dtype":"F32","shape":[-0],"data_offsets":[0,0]}}'),
        "fractional_dim": st_file({"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}, four),
        "offset_above_2p53": st_file(b'{"a": {"dtype":"U8","shape":[1],"data_offsets":[9007199254740993,9007199254740994]}}', b"\0"),
        "offset_exponent_huge": st_file(b'{"a": {"dtype":"U8","shape":[1],"data_offsets":[0,1e400]}}', b"\0"),
        "dim_is_string": st_file({"a": {"dtype": "F32", "shape": ["1"], "data_offsets": [0, 4]}}, four),
        "shape_overflow": st_file({"a": {"dtype": "F32", "shape": [2 ** 50, 2 ** 50], "data_offsets": [0, 4]}}, four),
        "too_many_dims": st_file({"a": {"dtype": "F32", "shape": [1] * 9, "data_offsets": [0, 4]}}, four),
        "metadata_value_not_string": st_file({"__metadata__": {"format": 1}}),
        "metadata_not_object": st_file({"__metadata__": "pt"}),
        "entry_not_object": st_file({"a": [1, 2]}),
        "missing_dtype": st_file({"a": {"shape": [1], "data_offsets": [0, 4]}}, four),
        "missing_shape": st_file({"a": {"dtype": "F32", "data_offsets": [0, 4]}}, four),
        "missing_offsets": st_file({"a": {"dtype": "F32", "shape": [1]}}, four),
        "unknown_dtype": st_file({"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, four * 4),
        "lowercase_dtype": st_file({"a": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}}, four),
        "offsets_not_pair": st_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}, four),
        "offsets_backwards": st_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, four),
        "offsets_size_mismatch": st_file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, four),
        "offsets_hole": st_file({"a": f32, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, four * 3),
        "offsets_overlap": st_file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                    "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, four * 2),
        "offsets_start_late": st_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, four * 2),
        "data_not_covered": st_file({"a": f32}, four * 2),
        "data_short": st_file({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, four),
        "empty_header_with_data": st_file(b"{}", b"xx"),
    }
    return {k + ".safetensors": v for k, v in c.items()}


def U(s):
    b = s.encode() if isinstance(s, str) else s
    return b"X" + struct.pack("<I", len(b)) + b


def G(mod, name):
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def J(n):
    return b"J" + struct.pack("<i", n)


def L1(n):  # LONG1, for values beyond 32 bits
    b = n.to_bytes(8, "little", signed=True)
    return b"\x8a\x08" + b


def pid(cls="FloatStorage", key="0", numel=16, kind="storage"):
    return b"(" + U(kind) + G("torch", cls) + U(key) + U("cpu") + (J(numel) if numel < 2 ** 31 else L1(numel)) + b"tQ"


def tensor(p=None, off=0, size=(4,), stride=(1,), nargs=6):
    args = [p if p is not None else pid(), J(off) if off < 2 ** 31 else L1(off),
            b"(" + b"".join(J(x) if x < 2 ** 31 else L1(x) for x in size) + b"t",
            b"(" + b"".join(J(x) if x < 2 ** 31 else L1(x) for x in stride) + b"t",
            b"\x89", G("collections", "OrderedDict") + b")R"][:nargs]
    return G("torch._utils", "_rebuild_tensor_v2") + b"(" + b"".join(args) + b"tR"


def pk(body):
    return b"\x80\x02" + body + b"."


def sd(*items):
    return b"}(" + b"".join(U(k) + v for k, v in items) + b"u"


def pickle_corpus():
    """Raw data.pkl bodies. The test puts each into a zip beside two 64-byte storages,
    data/0 and data/1 (16 floats each); ok_* files must load, the rest must not."""
    deep = b"]" * 5000 + b"a" * 4999
    # t[i+1] = (t[i], t[i]): 60 levels, 2^60 paths through shared references
    fan = b"]q\x000" + b"".join(b"h%ch%c\x86q%c0" % (i, i, i + 1) for i in range(60)) + b"h\x3c"
    c = {
        "ok_control": pk(sd(("w", tensor()), ("v", tensor(pid(key="1"), 2, (2, 3), (1, 2))))),
        "ok_sparse_memo": pk(sd(("w", tensor())) + b"r\xff\xff\xff\x7fj\xff\xff\xff\x7f0"),
        "os_system": pk(G("os", "system") + U("touch /tmp/bntk_ckpt_pwned") + b"\x85R"),
        "builtins_eval": pk(G("builtins", "eval") + U("__import__('os').system('touch /tmp/bntk_ckpt_pwned')") + b"\x85R"),
        "stack_global_exec": b"\x80\x04" + b"\x8c\x08builtins\x8c\x04exec\x93" + U("print(1)") + b"\x85R.",
        "posix_system_in_pid": pk(sd(("w", tensor(b"(" + U("storage") + G("posix", "system") + U("0") + U("cpu") + J(4) + b"tQ")))),
        "unset_memo": pk(b"h\x05"),
        "unset_memo_long": pk(b"]q\x01j\xff\xff\xff\xff"),
        "storage_larger_than_entry": pk(sd(("w", tensor(pid(numel=1000), 0, (1000,), (1,))))),
        "storage_numel_overflow": pk(sd(("w", tensor(pid(cls="LongStorage", numel=2 ** 62), 0, (1,), (1,))))),
        "view_past_storage": pk(sd(("w", tensor(pid(), 10, (10,), (1,))))),
        "view_stride_past_storage": pk(sd(("w", tensor(pid(), 0, (4, 4), (5, 1))))),
        "view_stride_overflow": pk(sd(("w", tensor(pid(), 0, (5,), (2 ** 62,))))),
        "view_negative_size": pk(sd(("w", tensor(pid(), 0, (-1,), (1,))))),
        "view_size_stride_rank": pk(sd(("w", tensor(pid(), 0, (2, 2), (1,))))),
        "rebuild_too_few_args": pk(sd(("w", tensor(nargs=3)))),
        "storage_key_traversal": pk(sd(("w", tensor(pid(key="../../etc/passwd"))))),
        "storage_key_missing_entry": pk(sd(("w", tensor(pid(key="7"))))),
        "storage_described_twice": pk(sd(("w", tensor(pid(numel=16))), ("v", tensor(pid(numel=8))))),
        "persid_not_storage": pk(sd(("w", tensor(pid(kind="module"))))),
        "persid_class_not_storage": pk(sd(("w", tensor(b"(" + U("storage") + G("collections", "OrderedDict") + U("0") + U("cpu") + J(4) + b"tQ")))),
        "call_storage_class": pk(G("torch", "FloatStorage") + b")R"),
        "ordered_dict_with_args": pk(G("collections", "OrderedDict") + b"(]t" + b"R"),
        "reduce_non_callable": pk(b"N)R"),
        "build_on_list": pk(b"]}b"),
        "build_on_plain_dict": pk(b"}}b"),
        "inst_opcode": pk(b"(ios\nsystem\n"),
        "obj_opcode": pk(b"(" + G("os", "system") + b"o"),
        "newobj_opcode": pk(G("collections", "OrderedDict") + b")\x81"),
        "ext1_opcode": pk(b"\x82\x01"),
        "persid_text_opcode": pk(b"P0\n"),
        "unknown_opcode": pk(b"\xff"),
        "protocol_6": b"\x80\x06N.",
        "long1_too_long": pk(b"\x8a\x09" + b"\x01" * 9),
        "truncated_unicode": b"\x80\x02X\xe8\x03\x00\x00abc",
        "truncated_binint": b"\x80\x02J\x01\x02",
        "frame_past_end": b"\x80\x04\x95\xff\xff\x00\x00\x00\x00\x00\x00N.",
        "no_stop": b"\x80\x02N",
        "stop_two_values": pk(b"NN"),
        "stop_empty_stack": pk(b""),
        "bytes_after_stop": pk(b"N") + b"N",
        "pop_empty": pk(b"0N"),
        "pop_mark_without_mark": pk(b"1N"),
        "setitems_odd": pk(b"}(Nu"),
        "setitem_on_list": pk(b"]NNs"),
        "append_on_dict": pk(b"}Na"),
        "tuple_without_mark": pk(b"Nt"),
        "string_not_utf8": pk(b"\x8c\x02\xc3\x28"),
        "global_without_newline": pk(b"cos"),
        "deep_nesting": pk(deep),
        "shared_reference_fan": pk(fan),
        "dict_key_with_nul": pk(sd(("w\0x", tensor()))),
        "duplicate_flat_name": pk(b"}(" + U("a.b") + tensor() + U("a") + sd(("b", tensor())) + b"u"),
        "marks_never_closed": pk(b"(" * 3000 + b"N"),
    }
    return {k + ".pkl": v for k, v in c.items()}


def zip_bytes(entries, compression=zipfile.ZIP_STORED):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", compression) as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, compression)
    return bio.getvalue()


def zip_corpus():
    """Whole .bin archives wrong at the zip level."""
    good_pkl = pk(sd(("w", tensor())))
    base = [("archive/data.pkl", good_pkl), ("archive/version", b"3\n"), ("archive/data/0", b"\0" * 64)]
    real = open(os.path.join(ROOT, "pt_state_dict.bin"), "rb").read()
    c = {
        "byteorder_big": zip_bytes(base + [("archive/byteorder", b"big")]),
        "byteorder_garbage": zip_bytes(base + [("archive/byteorder", b"middle")]),
        "no_data_pkl": zip_bytes(base[1:]),
        "no_version": zip_bytes([base[0], base[2]]),
        "version_garbage": zip_bytes([base[0], ("archive/version", b"three"), base[2]]),
        "two_roots": zip_bytes(base + [("other/data.pkl", good_pkl)]),
        "storage_entry_short_deflated": zip_bytes(base[:2] + [("archive/data/0", b"\0" * 60)], zipfile.ZIP_DEFLATED),
        "torchscript_like": zip_bytes(base + [("archive/constants.pkl", pk(b")"))]),
        "truncated_zip": real[: len(real) // 2],
        "zip_magic_only": b"PK\x03\x04" + b"\0" * 26,
        "legacy_magic_only": b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19",
    }
    # Legacy files wrong in one place each (legacy.bin holds one storage of 2 floats).
    leg = open(os.path.join(ROOT, "legacy.bin"), "rb").read()
    proto = b"\x80\x02M\xe9\x03."
    assert leg[15:21] == proto
    le_at = leg.index(b"little_endian")
    true_at = leg.index(b"\x88", le_at)
    kl = leg.rindex(b"\x80\x02]q\x00X")  # the key list pickle: [key]
    klen = struct.unpack("<I", leg[kl + 6:kl + 10])[0]
    key_at = kl + 10
    assert leg[key_at:key_at + klen].isdigit()
    c.update({
        "legacy_truncated_storage": leg[:-3],
        "legacy_trailing_bytes": leg + b"\0",
        "legacy_protocol_1000": leg[:15] + b"\x80\x02M\xe8\x03." + leg[21:],
        "legacy_big_endian": leg[:true_at] + b"\x89" + leg[true_at + 1:],
        "legacy_numel_mismatch": leg[:-16] + struct.pack("<Q", 3) + leg[-8:],
        "legacy_unknown_key": leg[:key_at] + b"9" * klen + leg[key_at + klen:],
        "legacy_no_key_list": leg[:kl],
    })
    return {k + ".bin": v for k, v in c.items()}


def write_corpora():
    for sub, files in (("safetensors", safetensors_corpus()), ("pickle", {**pickle_corpus(), **zip_corpus()})):
        d = os.path.join(CORPUS, sub)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"wrote {len(files)} files into {d}", file=sys.stderr)


if __name__ == "__main__":
    main()
    write_corpora()
