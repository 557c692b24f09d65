#!/usr/bin/python3
"""Write fixtures/tiny-falcon3/ and fixtures/reference/tiny-falcon3/: a synthetic checkpoint in
the layout of tiiuae Falcon3-*-1.58bit, and its logits from scripts/reference_forward.py.

Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy):
    /usr/bin/python3 scripts/make_falcon3_fixture.py

The checkpoint is what a Falcon3 1.58-bit repository holds, scaled down: config.json of
LlamaForCausalLM (model_type llama, explicit head_dim, rope_theta 1000042, rms_norm_eps 1e-6,
GQA, tie_word_embeddings false, quantization_config {quant_method: bitnet} and no
quantization_mode), model.safetensors with every projection offline-packed (uint8 [out/4, in],
rows r, r+R, r+2R, r+3R in bits 1:0 .. 7:6, value = code - 1, FORMATS.md §4) plus a BF16
one-element weight_scale, BF16 embeddings, lm_head and norms; and a byte-level BPE
tokenizer.json with Llama-3's pre-tokenizer (Falcon3's is llama.cpp's "falcon3", a Llama-3 one),
its merges learned here from the start of wiki.valid.tokens.

Weights are random (the model is not trained: it exists for the layout, not for text) but
exact: embeddings, head and norms are k/256 and 1 + k/64, exact in bf16 and fp16;
1/weight_scale is computed in float32 as the converter does. Everything is seeded.

fixtures/reference/tiny-falcon3/logits-{i2s,tq2}.f32 are the reference's logits
[n_pos, n_vocab] for token_ids in logits.json (BOS + the tokenizer's ids of a fixed text,
computed here with the same merges; the C test uses the ids, not the text).
"""
import collections
import hashlib
import json
import os
import re
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_forward as ref  # noqa: E402

ROOT = os.path.join(HERE, "..")
OUT = os.path.join(ROOT, "fixtures", "tiny-falcon3")
REF = os.path.join(ROOT, "fixtures", "reference", "tiny-falcon3")
SHARED = os.environ.get("BN_SHARED", "/work/shared")
TRAIN = SHARED + "/data/wikitext-2/wiki.valid.tokens"

E, N_HEAD, N_KV, HEAD_DIM, FF, N_LAYER, CTX = 256, 2, 1, 128, 512, 2, 128
N_MERGES = 190
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| "
                r"?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
TEXT = "The album was released in 1988 and the song reached number one ."


def bytes_to_unicode():
    """GPT-2's byte -> printable character map (byte-level BPE)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()


def words(text):
    """A plain approximation of the pre-tokenizer for learning merges: ' word' pieces."""
    return ["".join(B2U[b] for b in w.encode("utf-8")) for w in re.findall(r" ?[^\s]+", text)]


def learn_bpe(text):
    vocab = [B2U[b] for b in range(256)]
    freq = collections.Counter(words(text))
    seqs = {w: list(w) for w in freq}
    merges = []
    for _ in range(N_MERGES):
        pairs = collections.Counter()
        for w, f in freq.items():
            s = seqs[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += f
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))  # ties: deterministic
        merges.append(a + " " + b)
        vocab.append(a + b)
        for w in freq:
            s, out, i = seqs[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return vocab, merges


def encode(text, vocab, merges):
    """BPE with the learned merges (rank order), on the same ' word' pieces."""
    rank = {m: i for i, m in enumerate(merges)}
    ids = {t: i for i, t in enumerate(vocab)}
    out = []
    for w in words(text):
        s = list(w)
        while len(s) > 1:
            best = min(range(len(s) - 1), key=lambda i: rank.get(s[i] + " " + s[i + 1], 1 << 30))
            if s[best] + " " + s[best + 1] not in rank:
                break
            s = s[:best] + [s[best] + s[best + 1]] + s[best + 2:]
        out += [ids[t] for t in s]
    return out


def bf16_bytes(t):
    return t.to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes()


def pack_rows(codes):
    """codes int8 [out, in] in {-1, 0, 1} -> uint8 [out/4, in], row r + iR in bits 2i+1:2i."""
    R = codes.shape[0] // 4
    c = (codes.to(torch.int64) + 1).reshape(4, R, -1)
    return (c[0] | c[1] << 2 | c[2] << 4 | c[3] << 6).to(torch.uint8)


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    torch.manual_seed(1583)
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(REF, exist_ok=True)
    with open(TRAIN, encoding="utf-8") as f:
        text = f.read(60000).replace(" <unk>", "")
    vocab, merges = learn_bpe(text)
    bos, eos = len(vocab), len(vocab) + 1
    n_vocab = len(vocab) + 2

    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": c, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for i, c in ((bos, "<|begin_of_text|>"), (eos, "<|end_of_text|>"))],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": True, "vocab": {t: i for i, t in enumerate(vocab)}, "merges": merges},
    }
    with open(os.path.join(OUT, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    with open(os.path.join(OUT, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>",
                   "tokenizer_class": "PreTrainedTokenizerFast"}, f, indent=1)
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False,
        "attention_dropout": 0.0, "bos_token_id": bos, "eos_token_id": eos, "head_dim": HEAD_DIM,
        "hidden_act": "silu", "hidden_size": E, "initializer_range": 0.02, "intermediate_size": FF,
        "max_position_embeddings": CTX, "mlp_bias": False, "num_attention_heads": N_HEAD,
        "num_hidden_layers": N_LAYER, "num_key_value_heads": N_KV, "pretraining_tp": 1,
        "quantization_config": {"modules_to_not_convert": None, "quant_method": "bitnet"},
        "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 1000042.0,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.46.1",
        "use_cache": True, "vocab_size": n_vocab,
    }
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)

    T = collections.OrderedDict()

    def floats(name, t):
        T[name] = ("BF16", list(t.shape), bf16_bytes(t))

    floats("model.embed_tokens.weight", torch.randint(-64, 65, (n_vocab, E)).float() / 256)
    q, kv = N_HEAD * HEAD_DIM, N_KV * HEAD_DIM
    shapes = [("self_attn.q_proj", q, E), ("self_attn.k_proj", kv, E), ("self_attn.v_proj", kv, E),
              ("self_attn.o_proj", E, q), ("mlp.gate_proj", FF, E), ("mlp.up_proj", FF, E),
              ("mlp.down_proj", E, FF)]
    for l in range(N_LAYER):
        p = "model.layers.%d." % l
        floats(p + "input_layernorm.weight", 1 + torch.randint(-8, 9, (E,)).float() / 64)
        floats(p + "post_attention_layernorm.weight", 1 + torch.randint(-8, 9, (E,)).float() / 64)
        for hf, rows, cols in shapes:
            codes = (torch.randint(0, 3, (rows, cols)) - 1).to(torch.int8)
            T[p + hf + ".weight"] = ("U8", [rows // 4, cols], pack_rows(codes).numpy().tobytes())
            # HF's BitLinear divides by weight_scale; ~sqrt(fan-in) keeps activations O(1)
            ws = torch.tensor([float(cols) ** 0.5 * (0.8 + 0.4 * torch.rand(()).item())])
            floats(p + hf + ".weight_scale", ws)
    floats("model.norm.weight", 1 + torch.randint(-8, 9, (E,)).float() / 64)
    floats("lm_head.weight", torch.randint(-64, 65, (n_vocab, E)).float() / 256)
    write_safetensors(os.path.join(OUT, "model.safetensors"), T)

    m = ref.Model(OUT)
    assert m.arch == "llama" and m.packed and m.head is not m.embd
    ids = [bos] + encode(TEXT, vocab, merges)
    info = {"model": "tiny-falcon3", "text": TEXT, "token_ids": ids, "shape": [len(ids), n_vocab],
            "dtype": "float32 little-endian, row-major [n_pos, n_vocab]", "files": {}}
    for mode in ("i2s", "tq2"):
        lg = ref.forward(m, ids, mode)
        fn = "logits-%s.f32" % mode
        lg.numpy().astype("<f4").tofile(os.path.join(REF, fn))
        info["files"][fn] = {"mode": mode, "argmax": lg.argmax(-1).tolist(),
                             "sha256": hashlib.sha256(lg.numpy().astype("<f4").tobytes()).hexdigest()}
    with open(os.path.join(REF, "logits.json"), "w") as f:
        json.dump(info, f, indent=1)
    print("tiny-falcon3: %d tokens, %d merges, %d prompt ids" % (n_vocab, len(merges), len(ids)),
          file=sys.stderr)


if __name__ == "__main__":
    main()
