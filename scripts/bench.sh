#!/usr/bin/env bash
# make bench: every bench/bench_* binary. Figures go in closing notes, never into tests.
# The model benchmark runs on a BitNet-2B-shaped model with random ternary weights
# (bn-synth --preset 2b, ~1.1 GiB), generated once into $BN_BENCH_DIR (default /tmp);
# bench_convert writes a 2B-4T-layout Hugging Face checkpoint there once (~1.2 GB) and
# times bn-convert on it, with its peak memory.
set -euo pipefail
B=${1:-build}
DIR=${BN_BENCH_DIR:-/tmp}
MODEL="$DIR/bntk-bench-2b.i2_s.gguf"
if [ -z "${BN_BENCH_MODEL:-}" ]; then
  if [ ! -f "$MODEL" ]; then
    echo "bench: writing $MODEL (bn-synth --preset 2b)"
    "$B/bn-synth" --preset 2b -o "$MODEL" --quiet
  fi
  export BN_BENCH_MODEL="$MODEL"
fi
uname -m; grep -m1 'model name' /proc/cpuinfo || true; nproc
for b in "$B"/bench/bench_*; do
  echo; echo "== $(basename "$b")"
  "$b"
done
