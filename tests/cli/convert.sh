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
