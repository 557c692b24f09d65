#!/usr/bin/env bash
# make bench: runs every bench/bench_* binary. Figures go in closing notes.
set -euo pipefail
B=${1:-build}
shopt -s nullglob
benches=("$B"/bench/bench_*)
if [ ${#benches[@]} -eq 0 ]; then
  echo "bench: no benchmarks yet (kernel, tokenizer and model benchmarks land with issues 6 and 7)"
  exit 0
fi
for b in "${benches[@]}"; do echo "== $(basename "$b")"; "$b"; done
