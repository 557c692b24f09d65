#!/usr/bin/env bash
# make demo: the whole pipeline on the bundled model (fixtures/tiny-b158, a
# BitNet b1.58 model trained with QAT on WikiText-2's validation split).
set -euo pipefail
B=${1:-build}
SHARED=${2:-../shared}
OUT="$B/demo"
MODEL=fixtures/tiny-b158
TEXT="$SHARED/data/wikitext-2/wiki.test.raw"
mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "bn-convert $MODEL -> I2_S (bitnet.cpp) and TQ2_0 (llama.cpp)"
"$B/bn-convert" "$MODEL" "$OUT/tiny-b158.i2_s.gguf" --report "$OUT/tiny-b158.report.html"
"$B/bn-convert" "$MODEL" "$OUT/tiny-b158.tq2_0.gguf" --type tq2_0 --quiet

step "bn-info $OUT/tiny-b158.i2_s.gguf"
"$B/bn-info" "$OUT/tiny-b158.i2_s.gguf" | head -60

if [ -x "$B/bn-quant" ]; then
  step "bn-quant --report (what ternarization does to each tensor)"
  "$B/bn-quant" --report - "$MODEL" --format text | head -40
fi

if [ -x "$B/bn-verify" ]; then
  step "bn-verify --check --kernels --perplexity (WikiText-2 test, 256-token chunks)"
  "$B/bn-verify" "$OUT/tiny-b158.i2_s.gguf" --check --kernels --perplexity "$TEXT" -c 256 --chunks 64
  step "bn-verify --act q8_k: the TQ2_0 file as upstream llama.cpp evaluates it (Q8_K activations)"
  "$B/bn-verify" "$OUT/tiny-b158.tq2_0.gguf" --act q8_k --perplexity "$TEXT" -c 256 --chunks 64 -q
fi

if [ -x "$B/bn-run" ]; then
  step "bn-run: greedy text from the I2_S model (repeat penalty 1.3)"
  "$B/bn-run" "$OUT/tiny-b158.i2_s.gguf" -p "The history of the" -n 48 --temp 0 --repeat-penalty 1.3
fi
printf '\nreport: %s\n' "$OUT/tiny-b158.report.html"
