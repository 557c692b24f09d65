#!/usr/bin/env bash
# bn-info on Hugging Face checkpoints: text and JSON reports, and --sha256
# digests cross-checked against the ones PyTorch computed for the fixtures
# (fixtures/checkpoints/expected_sha256.txt, from scripts/make_checkpoint_fixtures.py).
source "$(dirname "$0")/lib.sh"
INFO=$BN_BUILD/bn-info
FX=$BN_ROOT/fixtures/checkpoints

# Every fixture: "name sha256" pairs from the text report equal the expected ones.
while read -r fx; do
  grep "^$fx " "$FX/expected_sha256.txt" | cut -d' ' -f2- | sort >"$T/want"
  if run_rc 0 "$T/out" "$INFO" --sha256 "$FX/$fx"; then
    # tensor rows: two-space indent, name first, the 64-hex digest somewhere after
    awk '/^  / && $1 != "name" { for (i = 2; i <= NF; i++) if (length($i) == 64 && $i ~ /^[0-9a-f]+$/) print $1, $i }' \
      "$T/out" | sort >"$T/got"
    if cmp -s "$T/want" "$T/got"; then ok "sha256 of every tensor of $fx matches PyTorch"
    else diff "$T/want" "$T/got" | head -5 >&2; not_ok "sha256 of every tensor of $fx matches PyTorch"; fi
  else
    not_ok "bn-info --sha256 $fx"
  fi
done < <(cut -d' ' -f1 "$FX/expected_sha256.txt" | sort -u)

# Text report of a tied safetensors directory: config summary and the alias.
run_rc 0 "$T/tied" "$INFO" "$FX/st_tied"
check "text: format line" grep -q '^format  *safetensors, 1 shard (model.safetensors)' "$T/tied"
check "text: config summary" grep -q '^config .*tie_word_embeddings=true' "$T/tied"
check "text: tied head is an alias" \
  grep -Eq '^  lm_head.weight +BF16 +\[8, 4\] +64 +model.safetensors +\(alias of model.embed_tokens.weight\)' "$T/tied"
check "text: counts" grep -q '^tensors  *3 (1 alias), 80 bytes of data' "$T/tied"

# JSON report of a sharded PyTorch checkpoint.
run_rc 0 "$T/json" "$INFO" --json --sha256 "$FX/pt_sharded"
check "json: format" grep -q '"format":[[:space:]]*"pytorch-zip"' "$T/json"
check "json: both shards listed" grep -q '"shards":[[:space:]]*\["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"\]' "$T/json"
check "json: one sha256 per tensor" test "$(grep -c '"sha256":' "$T/json")" -eq 4
check "json: shard of a tensor" grep -q '"shard":[[:space:]]*"pytorch_model-00002-of-00002.bin"' "$T/json"
check "json: no config is null" grep -q '"config":[[:space:]]*null' "$T/json"
run_rc 0 "$T/json2" "$INFO" --json "$FX/pt_state_dict.bin"
check "json: alias named" grep -q '"alias_of":[[:space:]]*"embed_tokens.weight"' "$T/json2"
check "json: no sha256 unless asked" test "$(grep -c '"sha256":' "$T/json2")" -eq 0

# Bad input: exit 2 and one line naming the file.
expect_reject() { # DESCRIPTION FILE WORD
  if run_rc 2 "$T/err" "$INFO" "$2" && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "^bn-info: .*$3" "$T/err"; then
    ok "$1"; else not_ok "$1"; fi
}
expect_reject "a broken legacy file names the storage" "$BN_ROOT/tests/corpus/pickle/legacy_numel_mismatch.bin" "storage '[0-9]*' holds 3 elements but the object says 2"
expect_reject "TorchScript is named as such" "$FX/torchscript.pt" "TorchScript"
expect_reject "malformed safetensors names the file" "$BN_ROOT/tests/corpus/safetensors/offsets_hole.safetensors" "offsets_hole.safetensors: tensor 'b': hole"
expect_reject "hostile zip names the file" "$BN_ROOT/tests/corpus/pickle/byteorder_big.bin" "byteorder_big.bin: byteorder is 'big'"
mkdir -p "$T/empty"
expect_reject "a directory without weights says what it looked for" "$T/empty" "no model.safetensors"
