#!/usr/bin/env bash
# bn-convert on real inputs: the Llama-3 tokenizer as a vocab-only GGUF that must
# reproduce llama.cpp's conformance ids, and the bundled fixture models.
. "$(dirname "$0")/lib.sh"
C="$BN_BUILD/bn-convert"
TESTS="$BN_SHARED/data/tokenizer-tests"

# --vocab-only from a bare tokenizer directory (tokenizer.json + tokenizer_config.json)
check "llama3 tokenizer.json -> vocab-only GGUF" run_rc 0 "$T/v.log" "$C" --vocab-only --quiet \
  "$BN_SHARED/data/tokenizers/llama3" "$T/llama3-vocab.gguf"
check "its pre-tokenizer is llama-bpe" grep -q 'llama-bpe' <("$BN_BUILD/bn-info" "$T/llama3-vocab.gguf")
check "llama-bpe conformance ids (46 strings)" run_rc 0 "$T/vt.log" "$BN_BUILD/bn-tokenize" \
  "$T/llama3-vocab.gguf" --vocab-test "$TESTS/ggml-vocab-llama-bpe.gguf.inp" "$TESTS/ggml-vocab-llama-bpe.gguf.out"
check "llama2 tokenizer.json -> vocab-only GGUF" run_rc 0 "$T/v2.log" "$C" --vocab-only --quiet \
  "$BN_SHARED/data/tokenizers/llama2" "$T/llama2-vocab.gguf"
check "llama-spm conformance ids from our export" run_rc 0 "$T/vt2.log" "$BN_BUILD/bn-tokenize" \
  "$T/llama2-vocab.gguf" --vocab-test "$TESTS/ggml-vocab-llama-spm.gguf.inp" "$TESTS/ggml-vocab-llama-spm.gguf.out"

# usage errors: exit 2 and one line
check "no arguments: exit 2" run_rc 2 "$T/u.log" "$C"
check "unknown option: exit 2" run_rc 2 "$T/u2.log" "$C" --bogus a b
check "missing directory: exit 2, names it" bash -c "'$C' '$T/nope' '$T/x.gguf' 2>&1 | grep -q '$T/nope'; [ \${PIPESTATUS[0]} -eq 2 ]"
check "no output left after a failure" test ! -e "$T/x.gguf"

# the bundled models, every architecture and container
for m in tiny-b158 tiny-b158-packed tiny-bitnet-pt; do
  check "$m converts to I2_S" run_rc 0 "$T/$m.log" "$C" "$BN_ROOT/fixtures/$m" "$T/$m.gguf" --quiet
  check "$m: bn-info reads it back" run_rc 0 "$T/$m.info" "$BN_BUILD/bn-info" "$T/$m.gguf"
done
check "summary line names the types" bash -c "'$C' '$BN_ROOT/fixtures/tiny-b158' '$T/s.gguf' 2>&1 | grep -q '28 I2_S'"
check "the packed model is already ternary (kept exactly)" \
  bash -c "'$C' '$BN_ROOT/fixtures/tiny-b158-packed' '$T/p.gguf' 2>&1 | grep -q '28 projections were already ternary'"
check "--report writes an HTML page" run_rc 0 "$T/r.log" "$C" "$BN_ROOT/fixtures/tiny-b158" "$T/r.gguf" --quiet \
  --report "$T/report.html"
check "the HTML report has inline SVG and no external references" \
  bash -c "grep -q '<svg' '$T/report.html' && ! grep -qiE 'https?://|src=' '$T/report.html'"

# bn-quant on a Hugging Face directory goes through the same pipeline
Q="$BN_BUILD/bn-quant"
check "bn-quant --report on an HF directory (JSON)" run_rc 0 "$T/q.json" "$Q" --json "$BN_ROOT/fixtures/tiny-b158"
check "the JSON report lists the 28 projections" \
  bash -c "[ \$(grep -oE '\"name\":[[:space:]]*\"blk\.[0-9]+\.[a-z_]+\.weight\"' '$T/q.json' | sort -u | wc -l) -eq 28 ]"
check "bn-quant HF_DIR OUT --type tq2_0 --method mse" run_rc 0 "$T/q2.log" "$Q" "$BN_ROOT/fixtures/tiny-b158" \
  "$T/q.gguf" --type tq2_0 --method mse --quiet
check "... writes TQ2_0 projections" bash -c "'$BN_BUILD/bn-info' '$T/q.gguf' | grep -q 'blk.0.attn_q.weight *TQ2_0'"
check "a failing NMSE gate exits 1" run_rc 1 "$T/q3.log" "$Q" --report "$T/q3.txt" "$BN_ROOT/fixtures/tiny-b158" \
  --max-nmse 0.000001
check "a passing NMSE gate exits 0" run_rc 0 "$T/q4.log" "$Q" --report "$T/q4.txt" "$BN_ROOT/fixtures/tiny-b158" \
  --max-nmse 0.5
