#!/usr/bin/env bash
# tests/cli/verify.sh - bn-verify on the bundled models converted by bn-convert:
# perplexity equal to the PyTorch reference (scripts/reference_forward.py,
# fixtures/reference/*/ppl.json) to 4 significant digits for I2_S and TQ2_0,
# --check and --kernels pass, --reference agrees almost exactly in quantized
# mode and measurably less in latent mode, gates give the right exit codes.
# Usage errors run always; the model tests need build/bn-convert (skipped,
# visibly, only when it is absent).
source "$(dirname "$0")/lib.sh"
V="$BN_BUILD/bn-verify"
CONV="$BN_BUILD/bn-convert"
FIX="$BN_ROOT/fixtures"
WIKI="$BN_SHARED/data/wikitext-2/wiki.test.raw"

# ---- usage and bad input (no model needed) ----
check "--help exits 0" run_rc 0 "$T/help" "$V" --help
check "--help lists the gates" grep -q -- "--max-ppl-ratio" "$T/help"
check "no arguments exit 2" run_rc 2 "$T/o" "$V"
check "unknown option exits 2" run_rc 2 "$T/o" "$V" m.gguf --check --frobnicate
check "the message names the option" grep -q "unknown option '--frobnicate'" "$T/o"
check "missing model exits 2 naming the file" run_rc 2 "$T/o" "$V" "$T/none.gguf" --check
check "  ... and the message names it" grep -q "none.gguf" "$T/o"
printf 'GGUF\003\000\000\000garbage' >"$T/bad.gguf"
check "truncated GGUF exits 2" run_rc 2 "$T/o" "$V" "$T/bad.gguf" --check
check "reference gates without --reference exit 2" run_rc 2 "$T/o" "$V" m.gguf --check --max-kld 1
check "--reference-mode other than quantized/latent exits 2" \
  run_rc 2 "$T/o" "$V" m.gguf --reference d --data x --reference-mode fuzzy

# ---- the converted fixtures ----
skip_all() { for d in "$@"; do ok "# SKIP $d (build/bn-convert not built yet)"; done; }
if [ ! -x "$CONV" ]; then
  skip_all "tiny-b158 I2_S/TQ2_0 perplexity vs PyTorch" "--check / --kernels on converted models" \
    "--reference quantized/latent" "reference gates" "tiny-bitnet-pt --check and --reference" \
    "tiny-b158-packed reference"
  exit 0
fi

# "n_ctx mode ppl chunks" lines of a ppl.json written by reference_forward.py (json.dump indent=2)
ref_ppl() { # FILE N_CTX MODE -> "ppl chunks"
  awk -v c="$2" -v m="\"$3\"," '
    /"n_ctx":/ {nc=$2; sub(/,/, "", nc)}
    /"mode":/ {md=$2}
    /"chunks":/ {ch=$2; sub(/,/, "", ch)}
    /"ppl": / {p=$2; sub(/,/, "", p); if (nc == c && md == m) print p, ch}' "$1" | head -1
}
# same to 4 significant digits: within half a unit of the 4th significant digit of b
# (b is a perplexity, >= 1): 442.17 allows 442.12 .. 442.22
same4() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (b < 1) exit 1; e = int(log(b) / log(10)); tol = 0.5 * 10 ^ (e - 3)
                                 d = a - b; if (d < 0) d = -d; exit !(d <= tol) }'
}
json_num() { # FILE SECTION KEY (the first "KEY": number after "SECTION")
  awk -v s="\"$2\":" -v k="\"$3\":" '$1 == s {in_s=1} in_s && $1 == k {v=$2; sub(/,/, "", v); print v; exit}' "$1"
}

# tiny-b158, the demo model, in both ternary formats; TQ2_0 also as upstream llama.cpp
# evaluates it (--act q8_k: Q8_K activations), against the reference's tq2-q8k mode
for m in tiny-b158; do
  for run in i2_s:token:i2s tq2_0:token:tq2 tq2_0:q8_k:tq2-q8k; do
    IFS=: read -r ty act mode <<<"$run"
    g="$T/$m-$ty.gguf"
    if [ ! -f "$g" ]; then
      check "bn-convert $m --type $ty" run_rc 0 "$T/conv" "$CONV" "$FIX/$m" "$g" --type "$ty" -q -t 2
      check "--check passes on $m $ty" run_rc 0 "$T/o" "$V" "$g" --check
    fi
    read -r want chunks <<<"$(ref_ppl "$FIX/reference/$m/ppl.json" 256 "$mode")"
    if [ -z "${want:-}" ]; then
      not_ok "$m: no n_ctx 256 $mode result in fixtures/reference/$m/ppl.json"; continue
    fi
    check "--perplexity on $m $ty, $act activations ($chunks chunks)" run_rc 0 "$T/ppl" "$V" "$g" \
      -q -t 2 --act "$act" --perplexity "$WIKI" -c 256 --chunks "$chunks" --json "$T/ppl.json"
    got=$(json_num "$T/ppl.json" perplexity ppl)
    if same4 "$got" "$want"; then ok "$m $ty $act PPL $got = PyTorch $want (4 significant digits)"
    else not_ok "$m $ty $act PPL $got != PyTorch $want"; fi
    # every int8 code agrees with the reference (test_model_reference.c): far closer than that
    if awk -v a="$got" -v b="$want" 'BEGIN { d = (a - b) / b; if (d < 0) d = -d; exit !(d < 1e-6) }'; then
      ok "  ... and within 1e-6 relative"
    else not_ok "  ... PPL $got differs from PyTorch $want by more than 1e-6 relative"; fi
    check "  ... printed as llama-perplexity does" grep -q "^Final estimate: PPL = [0-9.]* +/- [0-9.]*$" "$T/ppl"
    check "  ... the JSON names the activations" grep -Eq "\"activations\":[[:space:]]*\"$act\"" "$T/ppl.json"
  done
done
check "--act q8_k on an I2_S file: exit 2 naming the type" run_rc 2 "$T/q8" "$V" "$T/tiny-b158-i2_s.gguf" \
  --act q8_k --perplexity "$WIKI" -c 256 --chunks 1
check "  ... one line naming I2_S" test "$(grep -c I2_S "$T/q8")$(wc -l <"$T/q8")" = 11
check "--act q4: exit 2 listing the known ones" run_rc 2 "$T/q4" "$V" "$T/tiny-b158-i2_s.gguf" \
  --act q4 --perplexity "$WIKI"
check "  ... token, q8_k" grep -q "token, q8_k" "$T/q4"

g="$T/tiny-b158-i2_s.gguf"
check "--kernels: every kernel agrees with basic" run_rc 0 "$T/k" "$V" "$g" --kernels --tokens 32 -t 2
check "  ... the table lists basic" grep -q "^  basic " "$T/k"
grep -q "FAIL" "$T/k" && not_ok "--kernels table shows a failure" || ok "--kernels table shows no failure"

# quantized reference: proves the conversion. The reference computes in the runtime's
# float order wherever a value feeds an int8 quantization (reference.c), so every int8
# code agrees and only the output head's rounding differs: KLD < 1e-9
check "--reference quantized: KLD < 1e-9, top-1 > 99.9 %" run_rc 0 "$T/rq" "$V" "$g" -q -t 2 \
  --reference "$FIX/tiny-b158" --data "$WIKI" -c 256 --chunks 8 --max-kld 1e-9 --min-top1 99.9 \
  --max-ppl-ratio 1.000001 --json "$T/rq.json"
kq=$(json_num "$T/rq.json" reference kld_mean)
# latent reference: what quantization costs - larger but plausible
check "--reference latent runs" run_rc 0 "$T/rl" "$V" "$g" -q -t 2 \
  --reference "$FIX/tiny-b158" --reference-mode latent --data "$WIKI" -c 256 --chunks 4 --json "$T/rl.json"
kl=$(json_num "$T/rl.json" reference kld_mean)
t1=$(json_num "$T/rl.json" reference top1)
if awk -v q="$kq" -v l="$kl" -v t="$t1" 'BEGIN { exit !(l > 10 * q && l > 1e-4 && l < 2 && t > 0.1 && t < 1) }'; then
  ok "latent KLD $kl > quantized $kq, top-1 $t1: plausible"
else not_ok "latent KLD $kl / top-1 $t1 vs quantized KLD $kq not plausible"; fi
check "failing reference gates exit 1" run_rc 1 "$T/rg" "$V" "$g" -q -t 2 \
  --reference "$FIX/tiny-b158" --reference-mode latent --data "$WIKI" -c 256 --chunks 2 \
  --max-kld 1e-6 --min-top1 100
check "  ... naming each failed gate" bash -c "grep -q 'gate max-kld failed' '$T/rg' && grep -q 'gate min-top1 failed' '$T/rg'"
check "-c above context_length exits 2" run_rc 2 "$T/o" "$V" "$g" --perplexity "$WIKI" -c 512
check "  ... with a clear message" grep -q "exceeds the model's context_length 256" "$T/o"

# the 1bitLLM layout (BitnetForCausalLM, fp16 pytorch_model.bin, SiLU, no GQA) through the
# PyTorch-zip reader: the same agreement
gp="$T/tiny-bitnet-pt-i2_s.gguf"
check "bn-convert tiny-bitnet-pt --type i2_s" run_rc 0 "$T/conv" "$CONV" "$FIX/tiny-bitnet-pt" "$gp" --type i2_s -q -t 2
check "--check passes on tiny-bitnet-pt" run_rc 0 "$T/o" "$V" "$gp" --check
check "--reference on tiny-bitnet-pt: KLD < 1e-9, top-1 > 99.9 %" run_rc 0 "$T/rb" "$V" "$gp" -q -t 2 \
  --reference "$FIX/tiny-bitnet-pt" --data "$WIKI" -c 256 --chunks 8 --max-kld 1e-9 --min-top1 99.9

# the offline-packed checkpoint carries the same codes: same agreement
check "--reference on tiny-b158-packed: KLD < 1e-9" run_rc 0 "$T/rp" "$V" "$g" -q -t 2 \
  --reference "$FIX/tiny-b158-packed" --data "$WIKI" -c 256 --chunks 2 --max-kld 1e-9 --min-top1 99.9
