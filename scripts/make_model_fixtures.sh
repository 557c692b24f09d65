#!/usr/bin/env bash
# Regenerate the bundled model fixtures and their PyTorch references from scratch:
#   fixtures/tiny-b158/         BitNetForCausalLM (2B-4T layout), bf16 latents, trained here
#   fixtures/tiny-bitnet-pt/    BitnetForCausalLM (1bitLLM layout), fp16 pytorch_model.bin
#   fixtures/tiny-b158-packed/  tiny-b158 in the offline-packed 2B-4T form
#   fixtures/reference/         quant.json, logits, ppl.json, generate.json per model
# Usage: scripts/make_model_fixtures.sh [--refs-only]
# Needs /usr/bin/python3 with torch, numpy and sentencepiece (never needed by `make check`).
# About 75 minutes (training has wall-clock budgets: 55 + 7 minutes; BN_TORCH_THREADS sets
# torch's threads, 2 by default); seeded, but budgets and
# float reductions make every rerun differ: regenerate fixtures and references together.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
export BN_SHARED=${BN_SHARED:-$(cd .. && pwd)/shared}
CHUNKS=${CHUNKS:-50}    # perplexity over the first CHUNKS chunks of wiki.test.raw (both n_ctx)

# --refs-only: keep the trained models, regenerate the references (after a change to
# reference_forward.py or to the runtime's documented float order)
if [ "${1:-}" != --refs-only ]; then
rm -rf fixtures/tiny-b158 fixtures/tiny-bitnet-pt fixtures/tiny-b158-packed fixtures/reference
mkdir -p fixtures/tiny-b158 fixtures/tiny-bitnet-pt fixtures/reference

"$PY" scripts/train_tiny.py --arch b158 --layers 4 --steps 1500 --budget 3300 --batch 8 \
    --out fixtures/tiny-b158 --train-spm fixtures/tiny-b158/tokenizer.model \
    --stats fixtures/reference/training-tiny-b158.json
"$PY" scripts/train_tiny.py --arch pt --layers 2 --steps 400 --budget 420 --batch 8 \
    --out fixtures/tiny-bitnet-pt --spm fixtures/tiny-b158/tokenizer.model \
    --stats fixtures/reference/training-tiny-bitnet-pt.json
"$PY" scripts/pack_offline.py fixtures/tiny-b158 fixtures/tiny-b158-packed
fi

for m in tiny-b158 tiny-bitnet-pt; do
    "$PY" scripts/reference_forward.py "fixtures/$m" "fixtures/reference/$m" --ppl-chunks "$CHUNKS"
done
"$PY" scripts/reference_forward.py fixtures/tiny-b158-packed fixtures/reference/tiny-b158-packed --only-quant

# the packed export must carry exactly the latent model's codes and scales
"$PY" - <<'PYEOF'
import json, sys
a = json.load(open("fixtures/reference/tiny-b158/quant.json"))["tensors"]
b = json.load(open("fixtures/reference/tiny-b158-packed/quant.json"))["tensors"]
keys = ("gguf", "shape", "scale_f32_hex", "codes_sha256", "count_minus1", "count_zero", "count_plus1")
bad = [x["gguf"] for x, y in zip(a, b) if any(x[k] != y[k] for k in keys)]
if len(a) != len(b) or bad:
    sys.exit("packed and latent tiny-b158 differ: %s" % bad)
ga = json.load(open("fixtures/reference/tiny-b158/generate.json"))["generated_ids"]
gb = json.load(open("fixtures/reference/tiny-b158-packed/generate.json"))["generated_ids"]
if ga != gb:
    sys.exit("packed and latent tiny-b158 generate differently")
print("tiny-b158-packed: %d tensors identical to the latent model" % len(a))
PYEOF
# the reference graph (written from FORMATS.md) must agree with the graph the models were
# trained with (scripts/train_tiny.py, written separately) up to float rounding
(cd scripts && "$PY" - <<'PYEOF'
import json, sys, numpy as np, torch
import train_tiny, reference_forward as ref
for name, arch in (("tiny-b158", "b158"), ("tiny-bitnet-pt", "pt")):
    d = "../fixtures/" + name
    m = ref.Model(d)
    c = json.load(open(d + "/config.json"))
    net = train_tiny.CausalLM(c, arch).eval()
    net.load_state_dict({k: v.float() for k, v in ref.read_checkpoint(d).items() for v in [v[1]]})
    info = json.load(open("../fixtures/reference/%s/logits.json" % name))
    want = np.fromfile("../fixtures/reference/%s/logits-i2s.f32" % name, dtype="<f4").reshape(info["shape"])
    with torch.no_grad():
        got = net(torch.tensor([info["token_ids"]]))[0].numpy()
    err = np.abs(got - want).max() / np.abs(want).max()
    agree = (got.argmax(-1) == want.argmax(-1)).mean()
    print("%s: training graph vs reference: max rel diff %.2e, argmax agreement %.3f" % (name, err, agree))
    if err > 1e-2 or agree < 0.95:
        sys.exit("%s: reference and training graph disagree" % name)
PYEOF
)
du -sh fixtures/*
