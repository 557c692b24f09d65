#!/usr/bin/python3
"""Train the tiny BitNet b1.58 fixture models that bntk's tests convert and run.

Two architectures (FORMATS.md §3), both trained with quantization-aware training as BitNet
b1.58 is: every projection is a BitLinear whose forward uses absmean-ternarized weights
(per tensor) and per-token int8 absmax activations, gradients pass straight through.

  b158  microsoft/bitnet-b1.58-2B-4T(-bf16) layout: BitNetForCausalLM, model_type "bitnet",
        relu2 FFN, sub-norms self_attn.attn_sub_norm / mlp.ffn_sub_norm, GQA, tied
        embeddings; saved as model.safetensors with bf16 latent weights (written by hand).
  pt    1bitLLM/bitnet_b1_58-large layout: BitnetForCausalLM, model_type "llama", SiLU gate,
        sub-norms self_attn.inner_attn_ln / mlp.ffn_layernorm, no GQA; saved with
        torch.save(state_dict) as pytorch_model.bin (zip) with fp16 latent weights.

Exactness by construction (why the exported weights are "snapped"):
  The converter written in C must reproduce PyTorch's absmean scale s = mean|W| bit for bit,
  but a float32 sum depends on summation order. On export every projection weight is moved
  to a grid k*u (|k| <= 128, u a power of two), so every partial sum of |W| is an integer
  multiple of u below 2^24*u and therefore exact in float32 in any order; a few elements
  are nudged by one grid step (never across a ternary threshold) so that sum|W|/n equals a
  chosen float32 target exactly. Targets are s = float32(1/b) for a bf16 number b, so the
  offline-packed variant can store weight_scale = b (bf16, as the official checkpoint) and
  float32(1/weight_scale) reproduces s exactly. Targets are distinct per tensor (a converter
  that mixes up scales fails) and are not fp16-representable (the TQ2_0 fp16 scale differs).
  During training each projection is renormalized after every step to mean|W| = target, which
  costs no expressiveness: every BitLinear reads a learnable RMSNorm output.

Usage: train_tiny.py --arch b158|pt --out DIR [--steps N] [--spm PATH | --train-spm PATH]
"""
import argparse
import json
import math
import os
import struct
import sys
import time
from fractions import Fraction

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("BN_TORCH_THREADS", "2")))

DATA = os.environ.get("BN_SHARED", "/work/shared") + "/data/wikitext-2/wiki.valid.tokens"


# ----------------------------------------------------------------------------------------
# tokenizer

def training_text():
    """wiki.valid.tokens without its " <unk>" markers: the raw evaluation text has none, and
    kept they are ~10% of all tokens (five byte/BPE tokens each) and dominate what a tiny
    model learns to say."""
    with open(DATA, encoding="utf-8") as f:
        return f.read().replace(" <unk>", "")


def train_sentencepiece(prefix, vocab_size):
    import sentencepiece as spm
    src = prefix + ".train.txt"
    with open(src, "w", encoding="utf-8") as f:
        f.write(training_text())
    spm.SentencePieceTrainer.train(
        input=src, model_prefix=prefix, vocab_size=vocab_size, model_type="bpe",
        byte_fallback=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, split_digits=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, character_coverage=0.9995,
        max_sentence_length=1 << 16, input_sentence_size=0, num_threads=1,
        minloglevel=2)
    os.remove(src)


# ----------------------------------------------------------------------------------------
# model (training graph; the independent reference is scripts/reference_forward.py)

def weight_quant(w):
    """absmean ternarization per tensor: s*clamp(round(w/s),-1,1), s = max(mean|w|,1e-5)."""
    s = w.abs().mean().clamp(min=1e-5)
    return (w / s).round().clamp(-1, 1) * s


def act_quant(x):
    """per-token int8 absmax fake quantization."""
    sa = 127.0 / x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    return (x * sa).round().clamp(-128, 127) / sa


class BitLinear(nn.Linear):
    def __init__(self, n_in, n_out):
        super().__init__(n_in, n_out, bias=False)

    def forward(self, x):
        w = self.weight
        w = w + (weight_quant(w) - w).detach()
        x = x + (act_quant(x) - x).detach()
        return F.linear(x, w)


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_neox(x, cos, sin):
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class Attention(nn.Module):
    def __init__(self, c, sub_norm_name):
        super().__init__()
        d, self.nh, self.nkv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        self.hd = d // self.nh
        self.q_proj = BitLinear(d, self.nh * self.hd)
        self.k_proj = BitLinear(d, self.nkv * self.hd)
        self.v_proj = BitLinear(d, self.nkv * self.hd)
        self.o_proj = BitLinear(self.nh * self.hd, d)
        self.sub_norm_name = sub_norm_name
        setattr(self, sub_norm_name, RMSNorm(self.nh * self.hd, c["rms_norm_eps"]))

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q, k = rope_neox(q, cos, sin), rope_neox(k, cos, sin)
        rep = self.nh // self.nkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        y = att.softmax(-1) @ v
        y = y.transpose(1, 2).reshape(B, T, self.nh * self.hd)
        return self.o_proj(getattr(self, self.sub_norm_name)(y))


class MLP(nn.Module):
    def __init__(self, c, sub_norm_name, act):
        super().__init__()
        d, f = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = BitLinear(d, f)
        self.up_proj = BitLinear(d, f)
        self.down_proj = BitLinear(f, d)
        self.sub_norm_name = sub_norm_name
        setattr(self, sub_norm_name, RMSNorm(f, c["rms_norm_eps"]))
        self.act = act

    def forward(self, x):
        g = self.gate_proj(x)
        g = F.relu(g).square() if self.act == "relu2" else F.silu(g)
        return self.down_proj(getattr(self, self.sub_norm_name)(g * self.up_proj(x)))


class Layer(nn.Module):
    def __init__(self, c, arch):
        super().__init__()
        eps = c["rms_norm_eps"]
        self.input_layernorm = RMSNorm(c["hidden_size"], eps)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], eps)
        if arch == "b158":
            self.self_attn = Attention(c, "attn_sub_norm")
            self.mlp = MLP(c, "ffn_sub_norm", "relu2")
        else:
            self.self_attn = Attention(c, "inner_attn_ln")
            self.mlp = MLP(c, "ffn_layernorm", "silu")

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Inner(nn.Module):
    def __init__(self, c, arch):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([Layer(c, arch) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class CausalLM(nn.Module):
    """Module names mirror the HF checkpoints: model.embed_tokens, model.layers.N..., model.norm."""

    def __init__(self, c, arch):
        super().__init__()
        self.c = c
        self.model = Inner(c, arch)
        hd = c["hidden_size"] // c["num_attention_heads"]
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        ang = torch.arange(c["max_position_embeddings"], dtype=torch.float64)[:, None] * inv[None]
        self.register_buffer("cos", ang.cos().float(), persistent=False)
        self.register_buffer("sin", ang.sin().float(), persistent=False)

    def forward(self, ids):
        T = ids.shape[1]
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, self.cos[:T], self.sin[:T], mask)
        return self.model.norm(x) @ self.model.embed_tokens.weight.t()

    def projections(self):
        return [(n, m) for n, m in self.named_modules() if isinstance(m, BitLinear)]


# ----------------------------------------------------------------------------------------
# scale targets and exact snapping

def bf16_values(lo, hi):
    """All positive bf16 numbers in [lo, hi], as float64."""
    out = []
    for bits in range(0x0080, 0x7F80):
        v = struct.unpack("<f", struct.pack("<I", bits << 16))[0]
        if lo <= v <= hi:
            out.append(v)
    return out


def f32(x):
    return float(np.float32(x))


def odd_part(x):
    """float32 x = m * 2^E with m odd: return (m, E)."""
    fr = Fraction(x)
    m, E = fr.numerator, 0
    d = fr.denominator
    while m % 2 == 0:
        m //= 2
        E += 1
    while d % 2 == 0:
        d //= 2
        E -= 1
    assert d == 1
    return m, E


def scale_targets(count, lo, hi):
    """`count` distinct float32 scales s = f32(1/b), b bf16, s in [lo, hi], spread evenly.
    Each has an odd mantissa m < 2^24/3 (so sum|W| = m*3*2^k units stays exact) and
    fp16(s) != s (so the TQ2_0 fp16 scale really differs from the I2_S f32 one)."""
    cands = []
    for b in bf16_values(1.0 / hi, 1.0 / lo):
        s = f32(1.0 / b)
        m, _ = odd_part(s)
        if lo <= s <= hi and 3 * m < (1 << 24) and float(np.float16(s)) != s:
            cands.append((s, b))
    cands.sort()
    if len(cands) < count:
        raise SystemExit("not enough scale targets in [%g, %g]" % (lo, hi))
    idx = np.linspace(0, len(cands) - 1, count).round().astype(int)
    return [cands[i] for i in idx]


def snap_to_target(w, s, rng, what):
    """Return w (float32 numpy) moved to bf16 values on a grid of v = 2^k such that
    sum|W| = S*v with S < 2^24 (exact in float32 in any order) and sum|W|/n == s exactly."""
    n = w.size
    m, E = odd_part(s)
    n_odd, t = n, 0
    while n_odd % 2 == 0:
        n_odd //= 2
        t += 1
    # the finest grid v = 2^k whose target sum S = s*n/v is an integer below 2^24
    k = E + t
    while m * n_odd << (E + t - (k - 1)) < 1 << 24:
        k -= 1
    S = m * n_odd << (E + t - k)
    v = 2.0 ** k
    x = torch.from_numpy(w).bfloat16().double().numpy()
    x = np.rint(x / v) * v                      # values below v go to the grid too
    x = torch.from_numpy(x).float().bfloat16().double().numpy()
    a = np.rint(np.abs(x) / v).astype(np.int64).reshape(-1)  # |W| in units of v
    sign = np.where(x < 0, -1, 1).reshape(-1)
    half = Fraction(s) / 2 / Fraction(v)        # ternary threshold in units
    # keep every element at least a unit off the threshold (no ties, no fp32 doubt)
    near = np.abs(a - float(half)) < 1
    a[near] = np.where(a[near] > float(half), a[near] + 1, a[near] - 1)
    assert np.all(a[near] < 256)

    def bf16_ok(u):
        return float(torch.tensor(float(u) * v).bfloat16().double()) == float(u) * v

    diff = S - int(a.sum())
    step = 1 if diff > 0 else -1
    # elements small enough that one unit is a bf16 step, away from the threshold
    lim = 2 ** 8  # below 256 units every integer is a bf16 value
    ok = (a >= 1) & (a + step >= 1) & (a + step < lim) & (a < lim)
    ok &= np.abs((a + step) - float(half)) >= 1
    ok &= (a > float(half)) == (a + step > float(half))
    cand = np.flatnonzero(ok)
    if abs(diff) > cand.size:
        raise SystemExit("%s: cannot adjust the sum by %d" % (what, diff))
    pick = rng.choice(cand, size=abs(diff), replace=False)
    a[pick] += step
    assert int(a.sum()) == S and all(bf16_ok(u) for u in np.unique(a))
    out = (sign * a * v).astype(np.float32).reshape(w.shape)
    # checks: exact mean in torch float32, bf16/fp16 representable, codes unambiguous
    tt = torch.from_numpy(out)
    got = tt.abs().mean().item()
    if got != s or tt.abs().sum().item() != S * v:
        raise SystemExit("%s: snapped mean %r != target %r" % (what, got, s))
    if not torch.equal(tt.bfloat16().float(), tt) or not torch.equal(tt.half().float(), tt):
        raise SystemExit("%s: snapped weights not bf16/fp16 exact" % what)
    q32 = (tt / torch.tensor(s)).round().clamp(-1, 1)
    q64 = np.clip(np.rint(out.astype(np.float64) / s), -1, 1)
    if not np.array_equal(q32.numpy(), q64) or np.any(np.abs(np.abs(out / np.float32(s)) - 0.5) < 1e-4):
        raise SystemExit("%s: ternary codes ambiguous" % what)
    return out


def exact_in(x, dtypes):
    """Round float32 tensor x so that it is exactly representable in every dtype given."""
    for dt in dtypes:
        x = x.to(dt).float()
    for dt in dtypes:  # tiny values may lose bits in fp16's subnormal range: flush them
        x = torch.where(x.to(dt).float() == x, x, torch.zeros_like(x))
    return x


# ----------------------------------------------------------------------------------------
# writers

def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (dtype_str, shape, bytes)}; keys sorted, offsets contiguous."""
    header, off, blobs = {}, 0, []
    for name in sorted(tensors):
        dt, shape, data = tensors[name]
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(data)]}
        off += len(data)
        blobs.append(data)
    if metadata:
        header["__metadata__"] = metadata
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def bf16_bytes(t):
    return t.contiguous().to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# ----------------------------------------------------------------------------------------
# configs

def make_config(arch, vocab, layers):
    if arch == "b158":
        return {
            "architectures": ["BitNetForCausalLM"],
            "attention_bias": False,
            "attention_dropout": 0.0,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "hidden_act": "relu2",
            "hidden_size": 256,
            "initializer_range": 0.02,
            "intermediate_size": 768,
            "max_position_embeddings": 256,
            "model_type": "bitnet",
            "num_attention_heads": 4,
            "num_hidden_layers": layers,
            "num_key_value_heads": 2,
            "rms_norm_eps": 1e-05,
            "rope_theta": 500000.0,
            "tie_word_embeddings": True,
            "torch_dtype": "bfloat16",
            "use_cache": True,
            "vocab_size": vocab,
            "quantization_config": {
                "quant_method": "bitnet",
                "linear_class": "autobitlinear",
                "quantization_mode": "online",
            },
        }
    return {
        "architectures": ["BitnetForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": 256,
        "initializer_range": 0.02,
        "input_bits": 8,
        "intermediate_size": 768,
        "max_position_embeddings": 256,
        "model_type": "llama",
        "num_attention_heads": 4,
        "num_hidden_layers": layers,
        "num_key_value_heads": 4,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "torch_dtype": "float16",
        "use_cache": True,
        "vocab_size": vocab,
        "weight_bits": 1,
    }


CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}"
    "{{ message['role'] | capitalize }}: {{ message['content'] }}<|eot_id|>"
    "{% endfor %}{% if add_generation_prompt %}Assistant: {% endif %}")


def tokenizer_config():
    return {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": None,
        "clean_up_tokenization_spaces": False,
        "legacy": True,
        "model_max_length": 256,
        "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer",
        "chat_template": CHAT_TEMPLATE.replace("<|eot_id|>", "</s>"),
    }


# ----------------------------------------------------------------------------------------
# training

def batches(ids, T, B, gen):
    starts = torch.randint(0, len(ids) - T, (B,), generator=gen)
    x = torch.stack([ids[s:s + T] for s in starts])
    y = torch.stack([ids[s + 1:s + T + 1] for s in starts])
    x[:, 0] = 1  # BOS at position 0, as llama-perplexity evaluates chunks
    return x, y


def evaluate(model, ids, T):
    model.eval()
    nll, cnt = 0.0, 0
    with torch.no_grad():
        for i in range(0, min(len(ids) - T - 1, 24 * T), T):
            x = ids[i:i + T].clone()[None]
            x[0, 0] = 1
            y = ids[i + 1:i + T + 1][None]
            logits = model(x)
            h = T // 2  # score the second half, as the PPL fixture does
            nll += F.cross_entropy(logits[0, h:], y[0, h:], reduction="sum").item()
            cnt += T - h
    model.train()
    return math.exp(nll / cnt)


def sample(model, sp, prompt, n=40):
    model.eval()
    ids = [1] + sp.encode(prompt)
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ids[-256:]]))[0, -1]
            ids.append(int(logits.argmax()))
    model.train()
    return sp.decode(ids[1:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=["b158", "pt"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--train-spm", help="train the SentencePiece model to this path")
    ap.add_argument("--spm", help="reuse this SentencePiece model")
    ap.add_argument("--vocab", type=int, default=3072)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--budget", type=float, default=0,
                    help="wall-clock seconds: the schedule runs on max(step, time) progress "
                         "and training stops when either is used up (0: steps only)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--stats", help="write training statistics (JSON) here")
    args = ap.parse_args()

    import sentencepiece as spm
    os.makedirs(args.out, exist_ok=True)
    spm_path = args.spm
    if args.train_spm:
        prefix = args.train_spm[:-len(".model")]
        train_sentencepiece(prefix, args.vocab)
        os.remove(prefix + ".vocab")
        spm_path = args.train_spm
    sp = spm.SentencePieceProcessor(model_file=spm_path)
    vocab = sp.get_piece_size()
    assert (sp.id_to_piece(0), sp.id_to_piece(1), sp.id_to_piece(2)) == ("<unk>", "<s>", "</s>")

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    ids = torch.tensor(sp.encode(training_text()), dtype=torch.long)
    n_val = len(ids) // 20
    train_ids, val_ids = ids[:-n_val], ids[-n_val:]
    print("tokens: %d train, %d held out" % (len(train_ids), len(val_ids)), file=sys.stderr)

    c = make_config(args.arch, vocab, args.layers)
    model = CausalLM(c, args.arch)
    T = c["max_position_embeddings"]
    projs = model.projections()
    targets = scale_targets(len(projs), 0.02, 0.16)
    order = rng.permutation(len(projs))  # decorrelate target size from layer/role
    target_of = {}
    with torch.no_grad():
        nn.init.normal_(model.model.embed_tokens.weight, std=0.05)
        for i, (name, m) in enumerate(projs):
            s, b = targets[order[i]]
            target_of[name] = (s, b)
            nn.init.normal_(m.weight)
            m.weight.mul_(s / m.weight.abs().mean())

    decay = [p for n, p in model.named_parameters() if n.endswith("embed_tokens.weight")]
    other = [p for n, p in model.named_parameters() if not n.endswith("embed_tokens.weight")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(args.seed)
    t0, ema = time.time(), None
    step = 0
    while True:
        prog = step / args.steps
        if args.budget:
            prog = max(prog, (time.time() - t0) / args.budget)
        if prog >= 1.0:
            break
        # linear warm-up over the first 5%, then cosine down to 10% of the peak
        lr = args.lr * prog / 0.05 if prog < 0.05 else \
            args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (prog - 0.05) / 0.95)))
        lr = max(lr, args.lr / args.steps)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batches(train_ids, T, args.batch, gen)
        loss = F.cross_entropy(model(x).view(-1, vocab), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for name, m in projs:
                m.weight.mul_(target_of[name][0] / m.weight.abs().mean())
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 25 == 0:
            print("step %4d  loss %.3f  (ema %.3f)  lr %.2e  %.0fs" %
                  (step, loss.item(), ema, lr, time.time() - t0), file=sys.stderr)
        step += 1
    print("trained %d steps in %.0fs, final loss (ema) %.3f" % (step, time.time() - t0, ema),
          file=sys.stderr)

    # ---- export: snap, then measure the model exactly as saved
    with torch.no_grad():
        for name, m in projs:
            s, _ = target_of[name]
            m.weight.copy_(torch.from_numpy(snap_to_target(m.weight.numpy(), s, rng, name)))
        emb = model.model.embed_tokens.weight
        emb.copy_(exact_in(emb, [torch.bfloat16, torch.float16]))
        for n, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(exact_in(p, [torch.bfloat16, torch.float16]))
    val_ppl = evaluate(model, val_ids, T)
    print("held-out PPL (training graph, first 24 chunks of %d tokens): %.3f" % (len(val_ids), val_ppl),
          file=sys.stderr)
    print("sample:", repr(sample(model, sp, "The game")), file=sys.stderr)

    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if args.arch == "b158":
        write_safetensors(os.path.join(args.out, "model.safetensors"),
                          {k: ("BF16", tuple(v.shape), bf16_bytes(v)) for k, v in sd.items()},
                          {"format": "pt"})
    else:
        torch.save({k: v.half() for k, v in sd.items()}, os.path.join(args.out, "pytorch_model.bin"))
    write_json(os.path.join(args.out, "generation_config.json"),
               {"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 2,
                "do_sample": True, "temperature": 0.6, "top_p": 0.9, "max_length": 256})
    write_json(os.path.join(args.out, "tokenizer_config.json"), tokenizer_config())
    write_json(os.path.join(args.out, "config.json"), c)
    if spm_path != os.path.join(args.out, "tokenizer.model"):
        with open(spm_path, "rb") as f, open(os.path.join(args.out, "tokenizer.model"), "wb") as g:
            g.write(f.read())
    if args.stats:
        write_json(args.stats, {
            "arch": args.arch, "steps": step, "batch": args.batch, "seq": T,
            "trained_tokens": step * args.batch * T,
            "train_tokens": len(train_ids), "heldout_tokens": len(val_ids),
            "final_train_loss_ema": round(ema, 4), "heldout_ppl": round(val_ppl, 4),
            "seconds": round(time.time() - t0, 1),
            "weight_scale_targets": {n: {"scale": s, "inv_bf16": b} for n, (s, b) in target_of.items()},
        })


if __name__ == "__main__":
    main()
