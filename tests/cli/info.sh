#!/usr/bin/env bash
# bn-info: every malformed GGUF of the corpus is refused with exit 2 and one
# line; llama.cpp's vocab files are described with the right counts; usage.
. "$(dirname "$0")/lib.sh"
INFO="$BN_BUILD/bn-info"
VOCAB="$BN_SHARED/data/tokenizer-tests"

# one_error FILE: exit 2, exactly one line, "bn-info: FILE: ..." on stderr, nothing on stdout.
one_error() {
  local f=$1
  "$INFO" "$f" >"$T/out" 2>"$T/err"; local rc=$?
  [ "$rc" -eq 2 ] || { echo "  $f: exit $rc" >&2; return 1; }
  [ ! -s "$T/out" ] || { echo "  $f: wrote to stdout" >&2; return 1; }
  [ "$(wc -l <"$T/err")" -eq 1 ] || { echo "  $f: $(wc -l <"$T/err") lines" >&2; return 1; }
  grep -qF "bn-info: $f: " "$T/err" || { echo "  $f: $(cat "$T/err")" >&2; return 1; }
}

n=0
for f in "$BN_ROOT"/tests/corpus/gguf/*.gguf; do
  check "corpus $(basename "$f"): exit 2, one line naming the file" one_error "$f"
  n=$((n + 1))
done
check "corpus has at least 25 files ($n)" test "$n" -ge 25
check "corpus base.valid is accepted" run_rc 0 "$T/base" "$INFO" "$BN_ROOT/tests/corpus/gguf/base.valid"

# kv_line OUT KEY PATTERN: the KV line for KEY matches PATTERN.
kv_line() { grep -E "^ +[0-9]+  $2 " "$1" | grep -qE -- "$3"; }

spm="$VOCAB/ggml-vocab-llama-spm.gguf"
check "llama-spm: exit 0" run_rc 0 "$T/spm" "$INFO" "$spm"
check "llama-spm: header counts" grep -qE "GGUF v3, 22 KVs, 0 tensors, alignment 32" "$T/spm"
check "llama-spm: 22 KV lines" test "$(grep -cE '^ +[0-9]+  [a-z]' "$T/spm")" -eq 22
check "llama-spm: 32000 tokens" kv_line "$T/spm" tokenizer.ggml.tokens '\[32000 x string\] "<unk>", "<s>", "</s>",'
check "llama-spm: 32000 scores" kv_line "$T/spm" tokenizer.ggml.scores '\[32000 x f32\]'
check "llama-spm: add_bos_token" kv_line "$T/spm" tokenizer.ggml.add_bos_token 'bool +true$'
check "llama-spm: model string" kv_line "$T/spm" tokenizer.ggml.model 'string +"llama"$'

gpt2="$VOCAB/ggml-vocab-gpt-2.gguf"
check "gpt-2: exit 0" run_rc 0 "$T/gpt2" "$INFO" "$gpt2"
check "gpt-2: header counts" grep -qE "GGUF v3, 16 KVs, 0 tensors" "$T/gpt2"
check "gpt-2: 50257 tokens" kv_line "$T/gpt2" tokenizer.ggml.tokens '\[50257 x string\] "!", "\\"", "#"'
check "gpt-2: 50000 merges" kv_line "$T/gpt2" tokenizer.ggml.merges '\[50000 x string\] "Ġ t", '
check "gpt-2: eos id" kv_line "$T/gpt2" tokenizer.ggml.eos_token_id 'u32 +50256$'
check "gpt-2: --items 2 shortens arrays" \
  bash -c "'$INFO' --items 2 '$gpt2' | grep -qF '[50257 x string] \"!\", \"\\\"\", ...'"

check "--json: token count" run_rc 0 "$T/json" "$INFO" --json "$gpt2"
check "--json: count 50257" grep -qE '"count":[[:space:]]+50257,' "$T/json"
check "--json: is one object" bash -c "head -c1 '$T/json' | grep -q '{' && tail -n1 '$T/json' | grep -qx '}'"

check "--version" bash -c "'$INFO' --version | grep -qx 'bn-info (bntk) 0.1.0'"
check "--help exits 0 with usage" bash -c "'$INFO' --help | grep -q '^usage: bn-info'"
check "no file: exit 2" run_rc 2 "$T/u1" "$INFO"
check "unknown option: exit 2" run_rc 2 "$T/u2" "$INFO" --bogus "$spm"
check "bad --items: exit 2" run_rc 2 "$T/u3" "$INFO" --items -1 "$spm"
check "missing file: exit 2, one line" bash -c "'$INFO' '$T/nope.gguf' 2>&1 >/dev/null | wc -l | grep -qx 1; '$INFO' '$T/nope.gguf' 2>/dev/null; test \$? -eq 2"
check "a directory: exit 2" run_rc 2 "$T/u4" "$INFO" "$T"
