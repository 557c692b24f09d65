#!/usr/bin/python3
"""Write the training-checkpoint fixtures (issue 14 §4) with torch.save.

Run with Debian's /usr/bin/python3 (python3-torch):  /usr/bin/python3 scripts/make_training_checkpoints.py

fixtures/training/train-model/pytorch_model.bin is what a training loop saves:
    {"model": state_dict, "optimizer": AdamW state, "step": 3, "rng": bytes,
     "extras": {every other kind of value torch.load(weights_only=True) accepts}}
(torch's weights-only allow-list, torch/_weights_only_unpickler.py: bytes pickle
through _codecs.encode at protocol 2, plus set, bytearray, complex, Counter,
torch.Size, torch.device, dtypes). fixtures/training/train-ddp/pytorch_model.bin
holds the same weights as {"state_dict": {"module.<key>": tensor}}, the way a
DistributedDataParallel model's state dict is saved. Both directories share a
tiny 1bitLLM-style config (BitnetForCausalLM, model_type llama, 1 layer,
hidden 32) and the SentencePiece tokenizer of fixtures/tiny-bitnet-pt, so
bn-convert turns both into the same GGUF. Weights are random (seed 14): the
tests compare the two conversions with each other and the names with
expected.json, not with a trained model.

tests/corpus/pickle/ gets plain-pickle cases (stdlib pickle, protocol 2): a
frozenset (torch refuses it), ADDITEMS (protocol 4 sets; torch refuses the
opcode), _codecs.encode with a codec other than latin1/utf-8, a blocked module
(posix.system), and ok_allowlist.pkl, a control that must load.
"""
import collections
import json
import os
import pickle
import shutil

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
OUT = os.path.join(FIX, "training")
CORPUS = os.path.join(HERE, "..", "tests", "corpus", "pickle")
torch.manual_seed(14)

CONFIG = {
    "architectures": ["BitnetForCausalLM"], "model_type": "llama", "hidden_act": "silu",
    "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
    "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 64,
    "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": True,
    "vocab_size": 3072, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16",
}


def state_dict():
    h, f, v = CONFIG["hidden_size"], CONFIG["intermediate_size"], CONFIG["vocab_size"]
    sd = collections.OrderedDict()
    sd["model.embed_tokens.weight"] = torch.randn(v, h).half()
    p = "model.layers.0."
    for n, shape in [("self_attn.q_proj", (h, h)), ("self_attn.k_proj", (h, h)),
                     ("self_attn.v_proj", (h, h)), ("self_attn.o_proj", (h, h)),
                     ("mlp.gate_proj", (f, h)), ("mlp.up_proj", (f, h)), ("mlp.down_proj", (h, f))]:
        sd[p + n + ".weight"] = (torch.randn(*shape) * 0.05).half()
    sd[p + "input_layernorm.weight"] = (1 + 0.1 * torch.randn(h)).half()
    sd[p + "post_attention_layernorm.weight"] = (1 + 0.1 * torch.randn(h)).half()
    sd[p + "self_attn.inner_attn_ln.weight"] = (1 + 0.1 * torch.randn(h)).half()
    sd[p + "mlp.ffn_layernorm.weight"] = (1 + 0.1 * torch.randn(f)).half()
    sd["model.norm.weight"] = (1 + 0.1 * torch.randn(h)).half()
    return sd


def optimizer_state(sd):
    """A real AdamW state after one step, over the projections only (small)."""
    params = [torch.nn.Parameter(t.float()) for k, t in sd.items() if k.endswith("_proj.weight")]
    opt = torch.optim.AdamW(params, lr=1e-3)
    for q in params:
        q.grad = torch.randn_like(q) * 1e-3
    opt.step()
    return opt.state_dict()


def write_dir(name, obj):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
        f.write("\n")
    for t in ("tokenizer.model", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(FIX, "tiny-bitnet-pt", t), os.path.join(d, t))
    torch.save(obj, os.path.join(d, "pytorch_model.bin"))


def main():
    sd = state_dict()
    extras = {
        "rng": bytes(range(256)),               # every byte value through _codecs.encode
        "empty_set": set(), "seen": {1, 2, 3},  # builtins.set
        "buf": bytearray(b"\x00\xff abc"),      # builtins.bytearray
        "z": complex(1.5, -2.0),                # builtins.complex
        "counts": collections.Counter({"a": 2, "b": 1}),
        "shape": torch.Size([2, 3]), "device": torch.device("cpu"),
        "dtype": torch.bfloat16, "lr": 1e-3, "name": "run-14",
    }
    ckpt = {"model": sd, "optimizer": optimizer_state(sd), "step": 3,
            "rng": torch.get_rng_state()[:32].numpy().tobytes(), "extras": extras}
    write_dir("train-model", ckpt)
    # Loads back with torch, weights_only where this torch's list allows it.
    back = torch.load(os.path.join(OUT, "train-model", "pytorch_model.bin"))
    assert torch.equal(back["model"]["model.norm.weight"], sd["model.norm.weight"])
    ddp = {"state_dict": collections.OrderedDict(("module." + k, t) for k, t in sd.items()),
           "epoch": 1}
    write_dir("train-ddp", ddp)
    expected = {
        "train-model": {"state_dict_key": "model", "tensors": list(sd.keys())},
        "train-ddp": {"state_dict_key": "state_dict.module", "tensors": list(sd.keys())},
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")

    # Plain pickles for the corpus (tests/test_checkpoint.c wraps each in a zip).
    def dump(name, data):
        with open(os.path.join(CORPUS, name), "wb") as f:
            f.write(data)
    dump("frozenset.pkl", pickle.dumps({"x": frozenset([1, 2])}, protocol=2))
    dump("additems_set.pkl", pickle.dumps({"x": {1, 2}}, protocol=4))
    dump("codecs_rot13.pkl", b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R.")
    dump("posix_system.pkl", b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00true\x85R.")
    dump("ok_allowlist.pkl", pickle.dumps({
        "rng": b"\x00\x80\xff", "seen": {1, 2}, "buf": bytearray(b"ab"), "z": complex(1, 2),
        "counts": collections.Counter({"a": 1}), "empty": set(), "od": collections.OrderedDict(a=1),
    }, protocol=2))


if __name__ == "__main__":
    main()
