#!/usr/bin/python3
"""Make fixtures/tokenizers/spm-tiny: a small SentencePiece BPE model (the
kind Llama-2's tokenizer.model is: identity normalization, dummy prefix,
byte fallback) and the ids the reference sentencepiece library gives for
tests/data strings, so that our protobuf reader + tokenizer export + runtime
SPM tokenizer can be checked against an independent implementation.

Usage: /usr/bin/python3 scripts/gen_spm_fixture.py [SHARED_DIR]
Writes: tokenizer.model, vocab-test.inp / vocab-test.out (llama.cpp's
test-tokenizer-0 layout: strings, and the ids sentencepiece gives, no BOS).
"""
import io
import os
import sys

import sentencepiece as spm

shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared")
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "tokenizers", "spm-tiny")
os.makedirs(out, exist_ok=True)

with open(os.path.join(shared, "data", "wikitext-2", "wiki.valid.tokens"), encoding="utf-8") as f:
    text = f.read(300_000)
lines = [l.strip() for l in text.split("\n") if l.strip()]

model = io.BytesIO()
spm.SentencePieceTrainer.train(
    sentence_iterator=iter(lines), model_writer=model, model_type="bpe", vocab_size=400,
    character_coverage=0.9995, byte_fallback=True, normalization_rule_name="identity",
    remove_extra_whitespaces=False, add_dummy_prefix=True, allow_whitespace_only_pieces=True,
    split_digits=True, user_defined_symbols=["<tool>"], control_symbols=["<sep>"],
    unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
with open(os.path.join(out, "tokenizer.model"), "wb") as f:
    f.write(model.getvalue())

sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
strings = [
    "Hello world", " Hello world", "Hello  world   ", "The quick brown fox, 1234567.",
    "naïve café — Zoë's “quotes”", "日本語のテキスト", "emoji 👍🏽 and 👨‍👩‍👧", "tab\tand here",
    "  leading spaces", "x", "ü", "<sep> is not parsed", "numbers 3.14159 and 2,000,000",
    "e\u0301 combining a\u0308 marks", "nbsp\u00a0em\u2003ideographic\u3000space", "line\r\nnext\n\nlast\n",
    "                spaces", "12345678901234567890", "", " ", "\u0000 nul and \u007f del",
]
# llama.cpp's test-tokenizer-0 layout: each string followed by a separator line;
# one line of ids per string (no BOS).
with open(os.path.join(out, "vocab-test.inp"), "w", encoding="utf-8", newline="") as f:
    for s in strings:
        f.write(s + "\n__ggml_vocab_test__\n")
with open(os.path.join(out, "vocab-test.out"), "w") as f:
    for s in strings:
        f.write(" ".join(str(i) for i in sp.encode(s)) + "\n")
print("pieces", sp.get_piece_size(), "model bytes", len(model.getvalue()))
