#!/usr/bin/python3
"""Small seed inputs for the tokenizer.json harness (tests/fuzz/seeds/tokjson/).

The real Llama-3 and Llama-2 tokenizer.json files (../shared/data/tokenizers)
are 9 MB and 1 MB: far too slow to mutate. Each seed keeps the structure of
one of them (model type, pre-tokenizer, normalizer, decoder, added tokens)
with the vocabulary cut to its first N ids and only the merges whose parts
and result survive. A harness input is tokenizer.json, then NUL-separated
tokenizer_config.json and config.json (see fuzz_tokjson.c).

Run from the repository root: /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import json
import os
import sys

SHARED = os.environ.get("BN_SHARED", "../shared")
OUT = "tests/fuzz/seeds/tokjson"


def cut(src, n_vocab, n_added):
    d = json.load(open(src, encoding="utf-8"))
    m = d["model"]
    vocab = {t: i for t, i in m["vocab"].items() if i < n_vocab}
    merges = []
    for mg in m["merges"]:
        a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(mg)
    m["vocab"] = vocab
    m["merges"] = merges
    added = d.get("added_tokens") or []
    # Added tokens inside the cut keep their ids; later ones (Llama-3's
    # specials at 128000+) are renumbered to follow the cut vocabulary.
    d["added_tokens"] = [t if t["id"] < n_vocab else dict(t, id=n_vocab + k)
                         for k, t in enumerate(added[:n_added])]
    return d


def write(name, parts):
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(b"\0".join(json.dumps(p, ensure_ascii=False).encode("utf-8") for p in parts))
    print(path, os.path.getsize(path), "bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    l3 = cut(os.path.join(SHARED, "data/tokenizers/llama3/tokenizer.json"), 400, 4)
    l2 = cut(os.path.join(SHARED, "data/tokenizers/llama2/tokenizer.json"), 400, 3)
    cfg3 = {"add_bos_token": True, "bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"}
    cfg2 = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
            "unk_token": "<unk>"}
    write("llama3-cut.json", [l3])
    write("llama3-cut-config.json", [l3, cfg3, {"vocab_size": 410, "bos_token_id": 400}])
    write("llama2-cut.json", [l2])
    write("llama2-cut-config.json", [l2, cfg2, {"vocab_size": 400, "bos_token_id": 1,
                                                "eos_token_id": 2}])
    return 0


if __name__ == "__main__":
    sys.exit(main())
