#!/usr/bin/env bash
# ci-validate.sh - validate an exported BitNet GGUF in CI (see docs/ci.md).
#
#   scripts/ci-validate.sh MODEL.gguf [HF_DIR] [DATA]
#
# Runs bn-verify --check, --kernels, --perplexity DATA and, when the source
# checkpoint HF_DIR is given, --reference HF_DIR (quantized mode), each with a
# default gate; prints a summary table and exits non-zero if any step failed
# (1: a check or gate failed, 2: bad input). JSON results of every step go to
# $CI_VALIDATE_OUT (default ./ci-validate) as check.json, kernels.json, ...
#
# Environment (defaults in brackets):
#   BN_VERIFY       the bn-verify binary            [build/bn-verify next to this script]
#   CTX             tokens per chunk (-c)            [min(512, context_length)]
#   CHUNKS          perplexity chunks                [all]
#   REF_CHUNKS      chunks for --reference           [8]
#   THREADS         threads                          [all cores]
#   MAX_PPL         --max-ppl gate                   [none]
#   MAX_KLD         --max-kld gate (nats)            [0.001]
#   MIN_TOP1        --min-top1 gate (percent)        [99]
#   MAX_PPL_RATIO   --max-ppl-ratio gate             [1.01]
#   KERNEL_TOKENS   tokens of the --kernels model run [16]
set -uo pipefail

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then usage; exit 0; fi
if [ $# -lt 1 ] || [ $# -gt 3 ]; then usage >&2; exit 2; fi
MODEL=$1
HF_DIR=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${3:-$HERE/../../shared/data/wikitext-2/wiki.test.raw}
BN_VERIFY=${BN_VERIFY:-$HERE/../build/bn-verify}
OUT=${CI_VALIDATE_OUT:-ci-validate}
THREADS=${THREADS:-0}
REF_CHUNKS=${REF_CHUNKS:-8}
MAX_KLD=${MAX_KLD:-0.001}
MIN_TOP1=${MIN_TOP1:-99}
MAX_PPL_RATIO=${MAX_PPL_RATIO:-1.01}
KERNEL_TOKENS=${KERNEL_TOKENS:-16}

die() { echo "ci-validate: $*" >&2; exit 2; }
[ -x "$BN_VERIFY" ] || die "bn-verify not found at $BN_VERIFY (build bntk, or set BN_VERIFY)"
[ -r "$MODEL" ] || die "cannot read model '$MODEL'"
[ -r "$DATA" ] || die "cannot read perplexity text '$DATA' (give DATA as the third argument)"
[ -z "$HF_DIR" ] || [ -r "$HF_DIR/config.json" ] || die "'$HF_DIR' has no config.json"
mkdir -p "$OUT" || die "cannot create $OUT"

common=()
[ "$THREADS" -gt 0 ] 2>/dev/null && common+=(-t "$THREADS")

names=() results=() notes=()
step() { # NAME JSON -- bn-verify args...
  local name=$1 json=$2; shift 3
  echo "== $name"
  "$BN_VERIFY" "$MODEL" "$@" --json "$OUT/$json" 2>&1 | tee "$OUT/$name.log"
  local rc=${PIPESTATUS[0]}
  names+=("$name"); results+=("$rc")
  case $rc in
    0) notes+=("ok") ;;
    1) notes+=("FAILED: $(grep -E '^bn-verify: ' "$OUT/$name.log" | tail -1 | cut -c12-)") ;;
    *) notes+=("ERROR (exit $rc): $(grep -E '^bn-verify: ' "$OUT/$name.log" | tail -1 | cut -c12-)") ;;
  esac
  return "$rc"
}

step check check.json -- --check
step kernels kernels.json -- --kernels --tokens "$KERNEL_TOKENS" "${common[@]}"

if [ -z "${CTX:-}" ]; then
  CTX=512
  # a model with a shorter context: use all of it (bn-verify names the limit when it refuses)
  lim=$("$BN_VERIFY" "$MODEL" --perplexity "$DATA" -c 1048576 2>&1 | sed -n "s/.*context_length \([0-9]*\);.*/\1/p")
  if [ -n "$lim" ] && [ "$lim" -lt "$CTX" ]; then CTX=$lim; fi
fi
ppl_args=(--perplexity "$DATA" -c "$CTX" -q "${common[@]}")
[ -n "${CHUNKS:-}" ] && ppl_args+=(--chunks "$CHUNKS")
[ -n "${MAX_PPL:-}" ] && ppl_args+=(--max-ppl "$MAX_PPL")
step perplexity perplexity.json -- "${ppl_args[@]}"

if [ -n "$HF_DIR" ]; then
  step reference reference.json -- --reference "$HF_DIR" --data "$DATA" -c "$CTX" -q \
    --chunks "$REF_CHUNKS" --max-kld "$MAX_KLD" --min-top1 "$MIN_TOP1" \
    --max-ppl-ratio "$MAX_PPL_RATIO" "${common[@]}"
fi

echo
echo "== ci-validate summary: $MODEL"
worst=0
for i in "${!names[@]}"; do
  printf '  %-11s %s\n' "${names[$i]}" "${notes[$i]}"
  [ "${results[$i]}" -gt "$worst" ] && worst=${results[$i]}
done
ppl=$(grep -m1 '^Final estimate' "$OUT/perplexity.log" 2>/dev/null)
[ -n "$ppl" ] && echo "  $ppl (n_ctx $CTX)"
if [ "$worst" -eq 0 ]; then echo "  result: PASS"; else echo "  result: FAIL (exit $worst)"; fi
exit "$worst"
