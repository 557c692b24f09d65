#!/usr/bin/python3
"""Independent PyTorch reference for bntk's converter and runtime (FORMATS.md §3, §4, §6).

Reads a Hugging Face BitNet checkpoint directory without transformers (safetensors parsed by
hand, pytorch_model.bin via torch.load(weights_only=True), offline-packed uint8 weights
unpacked), builds the graph itself and writes, under OUT/:

  quant.json        per projection: GGUF name, absmean scale (f32 bits and decimal, plus the
                    fp16 value TQ2_0 stores), sha256 of the int8 ternary codes [out, in]
                    row-major, counts of -1/0/+1
  logits.json       prompt, token ids, shape, argmax per position for each logits file
  logits-i2s.f32    quantized mode, per-tensor f32 scales (I2_S): float32 LE [n_pos, n_vocab]
  logits-tq2.f32    quantized mode with each scale rounded to fp16 (TQ2_0 stores d in fp16)
  logits-tq2-q8k.f32 TQ2_0 as upstream llama.cpp evaluates it: Q8_K activations per 256-block
  logits-latent.f32 latent mode: unquantized weights and activations
  ppl.json          llama-perplexity on wiki.test.raw (n_ctx 256 and 128; i2s, tq2, latent;
                    tq2-q8k at n_ctx 256)
  generate.json     greedy generation, quantized (I2_S) mode

Quantized mode follows bitnet.cpp exactly where it is defined: per token a = max|x| (exact),
sa = (float)(127.0 / a), q = round_half_even(x * sa) in float32, clamp to [-128, 127]; the
ternary dot product is an exact integer (float32 matmul of integers below 2^24 is exact), the
epilogue is ((float)sum / sa) * s_w in float32. RMSNorm as ggml: squares in float32 summed in
double, scale = 1.0f / sqrtf((float)(sum/n) + eps), then (x*scale)*w. RoPE NEOX with ggml's
iterative float32 theta (llama: q/k rows permuted as llama.cpp's converter does, NORM rope).
Attention, softmax and the output head (tied, or lm_head) are float32.

Usage: reference_forward.py MODEL_DIR OUT_DIR [--ppl-chunks N] [--skip-ppl]
"""
import argparse
import hashlib
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch

torch.set_num_threads(int(os.environ.get("BN_TORCH_THREADS", "2")))

SHARED = os.environ.get("BN_SHARED", "/work/shared")
TEST_RAW = SHARED + "/data/wikitext-2/wiki.test.raw"
GEN_PROMPT = "The album was released in"
GEN_TOKENS = 20


# ----------------------------------------------------------------------------------------
# checkpoint readers

ST_DTYPES = {"F32": (np.float32, 4), "F16": (np.float16, 2), "BF16": (None, 2),
             "U8": (np.uint8, 1), "I8": (np.int8, 1), "F64": (np.float64, 8)}


def read_safetensors(path):
    """Parse a .safetensors file by hand: u64 LE header length, JSON header, data."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack_from("<Q", buf, 0)
    header = json.loads(buf[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = buf[base + b:base + e]
        dt = info["dtype"]
        shape = info["shape"]
        if dt == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
            arr = (u16 << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(ST_DTYPES[dt][0]).newbyteorder("<"))
        assert arr.size * ST_DTYPES[dt][1] == e - b, name
        out[name] = (dt, torch.from_numpy(arr.reshape(shape).copy()))
    return out


def read_checkpoint(d):
    st = os.path.join(d, "model.safetensors")
    if os.path.exists(st):
        return read_safetensors(st)
    sd = torch.load(os.path.join(d, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.uint8: "U8"}
    return {k: (names[v.dtype], v) for k, v in sd.items()}


def unpack_rows(packed, out_rows):
    """Offline-packed [out/4, in] uint8: byte [r, c] holds rows r + i*R in bits 2i+1:2i,
    value = code - 1 (FORMATS §4)."""
    R = packed.shape[0]
    assert R * 4 == out_rows
    p = packed.to(torch.int16)
    return torch.cat([((p >> (2 * i)) & 3) - 1 for i in range(4)], dim=0).to(torch.int8)


# ----------------------------------------------------------------------------------------
# model description

PROJ = [("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"),
        ("self_attn.v_proj", "attn_v"), ("self_attn.o_proj", "attn_output"),
        ("mlp.gate_proj", "ffn_gate"), ("mlp.up_proj", "ffn_up"), ("mlp.down_proj", "ffn_down")]


def f32(x):
    return float(np.float32(x))


def f32_hex(x):
    return "0x%08x" % struct.unpack("<I", struct.pack("<f", x))[0]


class Model:
    def __init__(self, d):
        c = json.load(open(os.path.join(d, "config.json")))
        self.c = c
        arch = c["architectures"][0]
        if arch == "BitNetForCausalLM":
            self.arch, self.act = "bitnet-b1.58", "relu2"
            self.attn_sub, self.ffn_sub = "self_attn.attn_sub_norm", "mlp.ffn_sub_norm"
        elif arch == "BitnetForCausalLM":
            self.arch, self.act = "bitnet", "silu"
            self.attn_sub, self.ffn_sub = "self_attn.inner_attn_ln", "mlp.ffn_layernorm"
        elif arch == "LlamaForCausalLM":
            # llama (and falcon3): no sub-norms; q/k rows permuted and NORM rope, as
            # llama.cpp's converter and graph do (so attention dot products run in its order)
            self.arch, self.act = "llama", "silu"
            self.attn_sub = self.ffn_sub = None
        else:
            raise SystemExit("unsupported architecture %s" % arch)
        assert c["hidden_act"] == self.act
        qc = c.get("quantization_config") or {}
        # offline-packed: 2B-4T says quantization_mode "offline"; Falcon3 only quant_method
        self.packed = qc.get("quantization_mode") == "offline" or (
            qc.get("quant_method") == "bitnet" and "quantization_mode" not in qc)
        t = read_checkpoint(d)
        self.n_layer = c["num_hidden_layers"]
        self.n_embd = c["hidden_size"]
        self.n_head = c["num_attention_heads"]
        self.n_head_kv = c.get("num_key_value_heads", self.n_head)
        self.hd = c.get("head_dim") or self.n_embd // self.n_head
        self.eps = f32(c["rms_norm_eps"])
        self.theta = f32(c.get("rope_theta", 10000.0))
        self.n_ctx = c["max_position_embeddings"]
        self.vocab = c["vocab_size"]

        def fl(name):
            dt, v = t["model." + name]
            assert dt in ("F32", "F16", "BF16"), name
            return v.float()

        self.embd = fl("embed_tokens.weight")
        self.out_norm = fl("norm.weight")
        if "lm_head.weight" in t:  # untied head (llama, falcon3)
            assert t["lm_head.weight"][0] in ("F32", "F16", "BF16")
            self.head = t["lm_head.weight"][1].float()
        else:
            self.head = self.embd
        self.layers = []
        self.quant = []
        for i in range(self.n_layer):
            p = "layers.%d." % i
            L = {"attn_norm": fl(p + "input_layernorm.weight"),
                 "ffn_norm": fl(p + "post_attention_layernorm.weight")}
            if self.attn_sub:
                L["attn_sub_norm"] = fl(p + self.attn_sub + ".weight")
                L["ffn_sub_norm"] = fl(p + self.ffn_sub + ".weight")
            for hf, gg in PROJ:
                key = "model." + p + hf + ".weight"
                dt, w = t[key]
                if self.packed:
                    assert dt == "U8", key
                    sdt, ws = t["model." + p + hf + ".weight_scale"]
                    assert ws.numel() == 1
                    # HF divides by weight_scale: the I2_S scale is float32(1/weight_scale)
                    s = torch.tensor(1.0, dtype=torch.float32) / ws.float().reshape(())
                    codes = unpack_rows(w, w.shape[0] * 4)
                    latent = None
                    extra = {"weight_scale_dtype": sdt, "weight_scale": float(ws.float().reshape(()))}
                else:
                    latent = w.float()
                    # weight_quant as every converter computes it: fp32 absmean, per tensor
                    s = latent.abs().mean().clamp(min=1e-5)
                    codes = (latent / s).round().clamp(-1, 1).to(torch.int8)
                    extra = {}
                s = s.item()
                s16 = float(np.float16(s))
                cnt = torch.bincount((codes.reshape(-1).to(torch.int64) + 1), minlength=3).tolist()
                self.quant.append(dict(
                    gguf="blk.%d.%s.weight" % (i, gg), hf=key, shape=list(codes.shape),
                    scale=repr(s), scale_f32_hex=f32_hex(s),
                    scale_fp16=repr(s16), scale_fp16_hex="0x%04x" % np.float16(s).view(np.uint16),
                    codes_sha256=hashlib.sha256(codes.numpy().astype(np.int8).tobytes()).hexdigest(),
                    count_minus1=cnt[0], count_zero=cnt[1], count_plus1=cnt[2], **extra))
                if self.arch == "llama" and gg in ("attn_q", "attn_k"):
                    heads = self.n_head if gg == "attn_q" else self.n_head_kv
                    codes = permute_rows(codes, heads)
                    latent = None if latent is None else permute_rows(latent, heads)
                L[gg] = {"codes": codes.float(), "s": s, "s16": s16, "latent": latent}
            self.layers.append(L)
        self.rope_cache(self.n_ctx)

    def rope_cache(self, n):
        """ggml_rope_cache_init: theta = p * theta_scale^i accumulated in float32, cosf/sinf."""
        theta_scale = np.float32(math.pow(self.theta, -2.0 / self.hd))
        cos = np.zeros((n, self.hd // 2), dtype=np.float32)
        sin = np.zeros_like(cos)
        for p in range(n):
            th = np.float32(p)
            for i in range(self.hd // 2):
                cos[p, i] = np.float32(math.cos(float(th)))
                sin[p, i] = np.float32(math.sin(float(th)))
                th = np.float32(th * theta_scale)
        self.cos, self.sin = torch.from_numpy(cos), torch.from_numpy(sin)


# ----------------------------------------------------------------------------------------
# forward

def rms_norm(x, w, eps):
    """ggml_compute_forward_rms_norm_f32 followed by ggml_mul: [T, n] float32. Squares in
    float32, summed in double left to right (np.add.accumulate is sequential)."""
    sq = np.add.accumulate((x * x).double().numpy(), axis=-1)[..., -1:]
    mean = (torch.from_numpy(sq) / x.shape[-1]).float()
    scale = 1.0 / torch.sqrt(mean + torch.tensor(eps, dtype=torch.float32))
    return (x * scale) * w


def act_quant(x):
    """W1.58A8 per-token activations: returns (q as float32 integers, sa float32)."""
    a = x.abs().amax(-1, keepdim=True).double().clamp(min=1e-5)
    sa = (127.0 / a).float()
    q = (x * sa).round().clamp(-128, 127)
    return q, sa


def act_quant_q8k(x):
    """llama.cpp's Q8_K (quantize_row_q8_K_ref) per 256-block: m = the element of largest |x|
    (first on ties), iscale = -127/m, q = min(127, round_half_even(iscale*x)), d = 1/iscale;
    an all-zero block gets d = 0, q = 0. Returns q [T, nb, 256] and d [T, nb], float32."""
    T, n = x.shape
    xb = x.reshape(T, n // 256, 256)
    idx = xb.abs().argmax(-1, keepdim=True)  # first maximal index
    m = xb.gather(-1, idx)
    zero = m == 0
    iscale = torch.tensor(-127.0, dtype=torch.float32) / torch.where(zero, torch.ones_like(m), m)
    q = (iscale * xb).round().clamp(max=127)
    q = torch.where(zero, torch.zeros_like(q), q)
    d = torch.where(zero, torch.zeros_like(m), 1.0 / iscale)[..., 0]
    return q, d


def linear_q8k(x, P):
    """TQ2_0 weights (fp16 scale per 256-block) times Q8_K activations, as upstream llama.cpp's
    ggml_vec_dot_tq2_0_q8_K (generic C): per block an exact integer sum S_b, then
    acc += (float)S_b * (d_x * d_w) in float32, blocks in order."""
    q, d = act_quant_q8k(x)
    T, nb, _ = q.shape
    codes = P["codes"].reshape(-1, nb, 256)
    S = torch.einsum("tbk,nbk->tnb", q, codes)  # integers below 2^24: exact in float32
    dw = torch.tensor(P["s16"], dtype=torch.float32)
    acc = torch.zeros(T, codes.shape[0], dtype=torch.float32)
    for b in range(nb):
        acc = acc + S[:, :, b] * (d[:, b] * dw)[:, None]
    return acc


def linear(x, P, mode):
    if mode == "latent":
        return (x.double() @ P["latent"].double().t()).float()
    if mode == "f16":
        # F16 projections (bn-convert --type f16, as llama.cpp's converter writes them): the
        # ternary weights times the fp16-rounded scale, float activations, no int8 step
        w = P["codes"].double() * float(torch.tensor(P["s16"], dtype=torch.float32))
        return (x.double() @ w.t()).float()
    if mode == "tq2-q8k":
        return linear_q8k(x, P)
    q, sa = act_quant(x)
    if mode == "tq2":
        # TQ2_0 with per-token activations: one fp16 scale per 256-block, the block sums
        # accumulated in float32 in block order, then divided by sa (kernels.h, contract 3)
        T, n = q.shape
        nb = n // 256
        codes = P["codes"].reshape(-1, nb, 256)
        S = torch.einsum("tbk,nbk->tnb", q.reshape(T, nb, 256), codes)  # exact integers
        d = torch.tensor(P["s16"], dtype=torch.float32)
        acc = torch.zeros(T, codes.shape[0], dtype=torch.float32)
        for b in range(nb):
            acc = acc + S[:, :, b] * d
        return acc / sa
    acc = q @ P["codes"].t()  # integers below 2^24: exact in float32
    return (acc / sa) * torch.tensor(P["s"], dtype=torch.float32)


def permute_rows(w, heads):
    """llama.cpp's q/k permutation for NORM rope: row (h, i, p) <- row (h, p, i) of each
    head, i < d/2, p in {0, 1}. w [heads * d, in]."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, -1).transpose(1, 2).reshape(w.shape)


def rope_norm(x, cos, sin):
    """NORM: pairs (2i, 2i + 1). x [T, heads, d]."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[:, None, :], sin[:, None, :]
    return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).reshape(x.shape)


def rope(x, cos, sin):
    """NEOX: pairs (i, i + d/2). x [T, heads, d]."""
    h = x.shape[-1] // 2
    x0, x1 = x[..., :h], x[..., h:]
    c, s = cos[:, None, :], sin[:, None, :]
    return torch.cat([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1)


def exp_f32(x):
    """exp in double, rounded once to float32 (the runtime's bnr_exp)."""
    return torch.exp(x.double()).float()


def dot8(a, b):
    """The runtime's float dot product (bnr_dot) over the last axis, broadcasting: float32
    products, 8 interleaved partial sums in float32, combined pairwise, then the tail."""
    n = a.shape[-1]
    m = n // 8 * 8
    prod = (a[..., :m] * b[..., :m])
    prod = prod.reshape(*prod.shape[:-1], m // 8, 8)
    acc = prod[..., 0, :]
    for i in range(1, m // 8):
        acc = acc + prod[..., i, :]
    l = [acc[..., j] for j in range(8)]
    s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
    for i in range(m, n):
        s = s + a[..., i] * b[..., i]
    return s


def attention_head(q, k, v, hd):
    """Causal softmax(q k^T / sqrt(hd)) v for one head in the runtime's order (forward.c,
    att_task): scores by dot8 times 1.0f/sqrtf(hd); p = exp(score - max) in double rounded
    to float; their sum in double left to right; inv = (float)(1/sum); the output summed
    over keys in order, out += (p*inv) * v, in float32. q, k, v: [T, hd] float32."""
    T = q.shape[0]
    scale = torch.tensor(1.0, dtype=torch.float32) / torch.sqrt(torch.tensor(float(hd), dtype=torch.float32))
    sc = dot8(q[:, None, :], k[None, :, :]) * scale  # [query, key]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    sc = torch.where(causal, sc, torch.tensor(float("-inf")))
    mx = sc.max(-1, keepdim=True).values
    e = torch.where(causal, exp_f32(sc - mx), torch.zeros(()))
    total = np.add.accumulate(e.double().numpy(), axis=1)  # left to right; zeros past the diagonal
    inv = (1.0 / torch.from_numpy(total[:, -1:])).float()
    w = e * inv
    out = torch.zeros(T, hd, dtype=torch.float32)
    for p in range(T):  # rows t < p add w = 0: x + 0 == x
        out = out + w[:, p:p + 1] * v[p][None, :]
    return out


def forward(m, ids, mode):
    """ids: list of token ids (one sequence from position 0). Returns logits [T, vocab] f32."""
    T = len(ids)
    x = m.embd[torch.tensor(ids)]
    cos, sin = m.cos[:T], m.sin[:T]
    rep = m.n_head // m.n_head_kv
    for L in m.layers:
        a = rms_norm(x, L["attn_norm"], m.eps)
        q = linear(a, L["attn_q"], mode).view(T, m.n_head, m.hd)
        k = linear(a, L["attn_k"], mode).view(T, m.n_head_kv, m.hd)
        v = linear(a, L["attn_v"], mode).view(T, m.n_head_kv, m.hd)
        rot = rope_norm if m.arch == "llama" else rope
        q, k = rot(q, cos, sin), rot(k, cos, sin)
        att = torch.cat([attention_head(q[:, h], k[:, h // rep], v[:, h // rep], m.hd)
                         for h in range(m.n_head)], dim=-1)
        if "attn_sub_norm" in L:
            att = rms_norm(att, L["attn_sub_norm"], m.eps)
        x = x + linear(att, L["attn_output"], mode)
        f = rms_norm(x, L["ffn_norm"], m.eps)
        g = linear(f, L["ffn_gate"], mode)
        g = torch.relu(g).square() if m.act == "relu2" else g / (1.0 + exp_f32(-g))
        g = g * linear(f, L["ffn_up"], mode)
        if "ffn_sub_norm" in L:
            g = rms_norm(g, L["ffn_sub_norm"], m.eps)
        x = x + linear(g, L["ffn_down"], mode)
    x = rms_norm(x, m.out_norm, m.eps)
    return x @ m.head.t()


# ----------------------------------------------------------------------------------------
# perplexity (llama-perplexity, FORMATS §6)

def perplexity(m, tokens, n_ctx, mode, max_chunks):
    n_chunk_all = len(tokens) // n_ctx
    n_chunk = min(n_chunk_all, max_chunks) if max_chunks else n_chunk_all
    first = n_ctx // 2
    nll = nll2 = 0.0
    count = 0
    running = []
    for i in range(n_chunk):
        chunk = list(tokens[i * n_ctx:(i + 1) * n_ctx])
        chunk[0] = 1  # the vocab adds BOS: the first token of every chunk is replaced
        logits = forward(m, chunk, mode).double()
        lse = torch.logsumexp(logits[first:n_ctx - 1], dim=-1)
        tgt = torch.tensor(tokens[i * n_ctx + first + 1:(i + 1) * n_ctx])
        v = (lse - logits[first:n_ctx - 1].gather(1, tgt[:, None])[:, 0]).tolist()
        for x in v:  # sequential double sums, as llama.cpp
            nll += x
            nll2 += x * x
        count += len(v)
        if i < 5:
            running.append(round(math.exp(nll / count), 4))
    mean = nll / count
    mean2 = nll2 / count
    ppl = math.exp(mean)
    err = ppl * math.sqrt((mean2 - mean * mean) / (count - 1))
    return {"n_ctx": n_ctx, "mode": mode, "chunks": n_chunk, "chunks_available": n_chunk_all,
            "scored_tokens": count, "ppl": ppl, "ppl_err": err,
            "final_estimate": "Final estimate: PPL = %.4f +/- %.5f" % (ppl, err),
            "running_ppl_first_chunks": running, "mean_nll": mean}


# ----------------------------------------------------------------------------------------

def sha256_ids(ids):
    return hashlib.sha256(np.asarray(ids, dtype="<i4").tobytes()).hexdigest()


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--ppl-chunks", type=int, default=0, help="limit PPL to the first N chunks")
    ap.add_argument("--skip-ppl", action="store_true")
    ap.add_argument("--only-quant", action="store_true", help="write quant.json and generate.json")
    ap.add_argument("--only-logits", action="store_true", help="write quant.json and the logits files")
    args = ap.parse_args()

    import sentencepiece as spm
    os.makedirs(args.out, exist_ok=True)
    m = Model(args.model)
    name = os.path.basename(os.path.normpath(args.model))
    write_json(os.path.join(args.out, "quant.json"), {
        "model": name, "arch": m.arch, "packed": m.packed,
        "rule": ("scale = float32(1/weight_scale), codes unpacked" if m.packed else
                 "scale = max(mean|W|, 1e-5) in float32 (torch), codes = clamp(round_half_even(W/scale), -1, 1)"),
        "codes_layout": "int8 row-major [out, in] (HF orientation)",
        "tensors": m.quant})
    sp = spm.SentencePieceProcessor(model_file=os.path.join(args.model, "tokenizer.model"))

    # greedy generation in quantized mode
    ids = [1] + sp.encode(GEN_PROMPT)
    if args.only_logits:
        ids = []
    n_prompt = len(ids)
    for _ in range(GEN_TOKENS if ids else 0):
        ids.append(int(forward(m, ids, "i2s")[-1].argmax()))
    gen = {"prompt": GEN_PROMPT, "mode": "i2s", "add_bos": True, "prompt_ids": ids[:n_prompt],
           "generated_ids": ids[n_prompt:], "text": sp.decode(ids[n_prompt:]),
           "full_text": sp.decode(ids[1:])}
    if ids:
        write_json(os.path.join(args.out, "generate.json"), gen)
        print("%s generate: %r" % (name, gen["full_text"]), file=sys.stderr)
    if args.only_quant:
        return

    # logits for the fixed prompt
    text = open(TEST_RAW, encoding="utf-8").read()
    line = next(l for l in text.split("\n") if l.strip() and len(sp.encode(l.strip())) >= 64)
    prompt_ids = [1] + sp.encode(line.strip())[:64]
    info = {"prompt_source": "first line of wiki.test.raw with >= 64 tokens, stripped; "
                             "its first 64 tokens, BOS prepended",
            "prompt_text": sp.decode(prompt_ids[1:]), "token_ids": prompt_ids,
            "shape": [len(prompt_ids), m.vocab], "dtype": "float32 little-endian, row-major [n_pos, n_vocab]",
            "files": {}}
    for mode in ("i2s", "tq2", "tq2-q8k", "latent", "f16"):
        lg = forward(m, prompt_ids, mode)
        fn = "logits-%s.f32" % mode
        lg.numpy().astype("<f4").tofile(os.path.join(args.out, fn))
        info["files"][fn] = {"mode": mode, "argmax": lg.argmax(-1).tolist(),
                             "sha256": hashlib.sha256(lg.numpy().astype("<f4").tobytes()).hexdigest()}
    write_json(os.path.join(args.out, "logits.json"), info)
    if args.skip_ppl or args.only_logits:
        return

    # perplexity on wiki.test.raw
    if text.endswith("\n"):
        text = text[:-1]
    tokens = [1] + sp.encode(text)
    res = {"file": "wiki.test.raw", "n_tokens": len(tokens), "add_bos": True,
           "tokens_sha256_int32le": sha256_ids(tokens), "first_1000_ids": tokens[:1000],
           "chunk_limit": args.ppl_chunks or None, "results": []}
    for n_ctx in (m.n_ctx, m.n_ctx // 2):
        for mode in ("i2s", "tq2", "tq2-q8k", "latent"):
            if mode == "tq2-q8k" and n_ctx != m.n_ctx:
                continue
            t0 = time.time()
            r = perplexity(m, tokens, n_ctx, mode, args.ppl_chunks)
            r["seconds"] = round(time.time() - t0, 1)
            res["results"].append(r)
            print("%s n_ctx=%d %s: %s (%d chunks, %.0fs)" % (name, n_ctx, mode, r["final_estimate"],
                                                              r["chunks"], r["seconds"]), file=sys.stderr)
    write_json(os.path.join(args.out, "ppl.json"), res)


if __name__ == "__main__":
    main()
