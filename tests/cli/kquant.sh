#!/bin/bash
# kquant.sh - Q6_K / Q4_K embeddings (FORMATS.md §2.3): bn-convert --embd-type and
# bn-quant --embd-type write token_embd bytes identical to bitnet.cpp's llama-quantize
# (sha256 in fixtures/kquant/golden.txt, scripts/make_kquant_golden.sh), and the
# runtime loads, verifies and runs such a file.
. "$(dirname "$0")/lib.sh"
FX=$BN_ROOT/fixtures
# tensor_sha FILE NAME: sha256 of a tensor's bytes, located by bn-info --json.
tensor_sha() {
  local j off data bytes
  j=$("$BN_BUILD/bn-info" --json "$1") || return 1
  data=$(jq -r '.data_offset' <<<"$j")
  off=$(jq -r --arg n "$2" '.tensors[] | select(.name == $n) | .offset' <<<"$j")
  bytes=$(jq -r --arg n "$2" '.tensors[] | select(.name == $n) | .bytes' <<<"$j")
  tail -c +$((data + off + 1)) "$1" | head -c "$bytes" | sha256sum | cut -d' ' -f1
}
golden() { awk -v t="$1" '$1 == "tiny-b158" && $2 == t { print $5 }' "$FX/kquant/golden.txt"; }

for t in q6_k q4_k; do
  check "bn-convert --embd-type $t" run_rc 0 "$T/c.out" \
    "$BN_BUILD/bn-convert" "$FX/tiny-b158" "$T/$t.gguf" --embd-type $t -q
  check "bn-convert $t token_embd = llama-quantize's bytes" \
    test "$(tensor_sha "$T/$t.gguf" token_embd.weight)" = "$(golden $t)"
  check "bn-quant --embd-type $t token_embd = llama-quantize's bytes" bash -c "
    '$BN_BUILD/bn-convert' '$FX/tiny-b158' '$T/f16.gguf' --type f16 -q &&
    '$BN_BUILD/bn-quant' '$T/f16.gguf' '$T/rq-$t.gguf' --embd-type $t -q >/dev/null"
  check "bn-quant $t bytes" test "$(tensor_sha "$T/rq-$t.gguf" token_embd.weight)" = "$(golden $t)"
  check "bn-verify --check passes a $t file" run_rc 0 "$T/v.out" "$BN_BUILD/bn-verify" --check "$T/$t.gguf"
done
# hostile bytes: an infinite block scale is refused at load with the tensor and block
tensor_off() {
  local j; j=$("$BN_BUILD/bn-info" --json "$1") || return 1
  echo $(( $(jq -r '.data_offset' <<<"$j") + $(jq -r --arg n "$2" '.tensors[] | select(.name == $n) | .offset' <<<"$j") ))
}
cp "$T/q6_k.gguf" "$T/bad6.gguf"; cp "$T/q4_k.gguf" "$T/bad4.gguf"
printf '\x00\x7c' | dd of="$T/bad6.gguf" bs=1 seek=$(( $(tensor_off "$T/bad6.gguf" token_embd.weight) + 3 * 210 + 208 )) conv=notrunc status=none
printf '\x00\x7e' | dd of="$T/bad4.gguf" bs=1 seek=$(( $(tensor_off "$T/bad4.gguf" token_embd.weight) + 5 * 144 + 2 )) conv=notrunc status=none
check "Q6_K block with an infinite scale: exit 2" run_rc 2 "$T/b6.out" "$BN_BUILD/bn-run" "$T/bad6.gguf" -p hi -n 1
check "  the message names the tensor and block" grep -q "token_embd.weight.*block 3 has scale inf" "$T/b6.out"
check "Q4_K block with a NaN min scale: --check fails (exit 1)" run_rc 1 "$T/b4.out" "$BN_BUILD/bn-verify" --check "$T/bad4.gguf"
check "  the message names the min scale" grep -q "block 5 has min scale nan" "$T/b4.out"
# the K-quant head computes as ggml does: PPL as upstream llama-perplexity within 0.05 %
# (fixtures/kquant/ppl.txt: tiny-bitnet-pt, TQ2_0 projections, Q8_K activations)
WT=$BN_SHARED/data/wikitext-2/wiki.test.raw
while read -r model ptype t ctx chunks want; do
  "$BN_BUILD/bn-convert" "$FX/$model" "$T/ppl-$t.gguf" --type "$ptype" --embd-type "$t" -q
  got=$("$BN_BUILD/bn-verify" "$T/ppl-$t.gguf" --perplexity "$WT" -c "$ctx" --chunks "$chunks" -t 2 --act q8_k 2>&1 |
        sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p')
  check "$model $ptype/$t: PPL $got = llama.cpp's $want within 0.05 %" \
    awk -v a="${got:-0}" -v b="$want" 'BEGIN { r = a / b - 1; exit !(r < 0.0005 && r > -0.0005) }'
done <"$FX/kquant/ppl.txt"
check "golden.txt names both types" test -n "$(golden q6_k)" -a -n "$(golden q4_k)"
check "an unknown --embd-type lists the valid ones" bash -c \
  "! '$BN_BUILD/bn-convert' '$FX/tiny-b158' '$T/x.gguf' --embd-type q5_k 2>'$T/e' ; grep -q 'q6_k' '$T/e' || grep -qi 'unknown type' '$T/e'"
echo "1..$_n"
