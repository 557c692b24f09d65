#!/usr/bin/env bash
# make demo: the whole pipeline on the bundled model.
set -euo pipefail
B=${1:-build}
echo "demo: bn-convert of fixtures/tiny-b158 lands with issue 4 (bn-convert);"
echo "      bn-quant --report with issue 5, bn-verify --perplexity with issue 8."
ls "$B"/bn-* 2>/dev/null || true
