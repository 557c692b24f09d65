#!/usr/bin/env bash
# bn-tokenize: llama.cpp's conformance files pass through --vocab-test, a wrong
# expectation is reported with the string and both id lists (exit 1), ids and
# pieces print as documented, bad input is one line and exit 2.
. "$(dirname "$0")/lib.sh"
TOK="$BN_BUILD/bn-tokenize"
V="$BN_SHARED/data/tokenizer-tests"
spm="$V/ggml-vocab-llama-spm.gguf"
gpt2="$V/ggml-vocab-gpt-2.gguf"

for m in llama-spm gpt-2; do
  check "vocab-test $m: exit 0" run_rc 0 "$T/vt-$m" "$TOK" "$V/ggml-vocab-$m.gguf" --vocab-test \
    "$V/ggml-vocab-$m.gguf.inp" "$V/ggml-vocab-$m.gguf.out"
  check "vocab-test $m: 46/46 strings match" grep -qx "46/46 strings match" "$T/vt-$m"
done
head -n 5 "$V/ggml-vocab-llama-spm.gguf.out" >"$T/short.out"
check "vocab-test with too few expected lines: exit 2" run_rc 2 "$T/vt-short" "$TOK" "$spm" \
  --vocab-test "$V/ggml-vocab-llama-spm.gguf.inp" "$T/short.out"
check "vocab-test short .out: names the file" grep -q "short.out: no line for string 6" "$T/vt-short"

# One id changed on line 12 ("Hello world"): exit 1, the string and both lists shown.
awk 'NR == 12 { $1 = $1 + 1 } { print }' "$V/ggml-vocab-llama-spm.gguf.out" >"$T/bad.out"
check "vocab-test with a wrong id: exit 1" run_rc 1 "$T/vt-bad" "$TOK" "$spm" --vocab-test \
  "$V/ggml-vocab-llama-spm.gguf.inp" "$T/bad.out"
check "vocab-test mismatch names the string" grep -qx 'MISMATCH string 12: "Hello world"' "$T/vt-bad"
check "vocab-test mismatch shows both id lists" \
  bash -c "grep -q '^  expected: 15044 3186' '$T/vt-bad' && grep -q '^  got:      15043 3186' '$T/vt-bad'"
check "vocab-test counts 45/46" grep -qx "45/46 strings match" "$T/vt-bad"

check "ids with BOS" run_rc 0 "$T/ids" "$TOK" "$spm" -p "Hello world"
check "ids are '1 15043 3186'" grep -qx "1 15043 3186" "$T/ids"
check "--no-bos" run_rc 0 "$T/nobos" "$TOK" "$spm" -p "Hello world" --no-bos --ids
check "--no-bos ids are '15043 3186'" grep -qx "15043 3186" "$T/nobos"
check "--pieces" run_rc 0 "$T/pieces" "$TOK" "$spm" -p "Hello world" --pieces
check "--pieces lines" diff <(printf '1\t"<s>"\n15043\t" Hello"\n3186\t" world"\n') "$T/pieces"
check "--json" run_rc 0 "$T/json" "$TOK" "$spm" -p "Hi é" --json
check "--json object" grep -qxF '{"n_tokens":3,"ids":[1,6324,904],"pieces":["<s>"," Hi"," é"]}' "$T/json"
printf 'x\xff' >"$T/inv1.txt"
check "--json with an invalid byte: valid UTF-8 (U+FFFD)" run_rc 0 "$T/json2" "$TOK" "$gpt2" -f "$T/inv1.txt" --json
check "--json U+FFFD piece" grep -qF '"pieces":["x","'$'\xef\xbf\xbd''"]' "$T/json2"
printf 'a<|endoftext|>b' >"$T/special.txt"
check "--parse-special -f" run_rc 0 "$T/ps" "$TOK" "$gpt2" -f "$T/special.txt" --parse-special
check "--parse-special matches <|endoftext|>" grep -qx "64 50256 65" "$T/ps"
check "without --parse-special the text is plain" run_rc 0 "$T/nps" "$TOK" "$gpt2" -f "$T/special.txt"
check "without --parse-special no 50256" bash -c "! grep -qw 50256 '$T/nps'"
printf 'bad \xff\xfe utf8 \xe2\x82' >"$T/invalid.txt"
check "invalid UTF-8 input: exit 0" run_rc 0 "$T/inv" "$TOK" "$spm" -f "$T/invalid.txt" --pieces
check "invalid UTF-8 bytes come out as escaped byte pieces" grep -qxF "$(printf '258\t"\\xff"')" "$T/inv"

# one_error EXPECTED_TEXT CMD...: exit 2, nothing on stdout, one line on stderr containing the text.
one_error() {
  local want=$1; shift
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  [ "$rc" -eq 2 ] || { echo "  exit $rc from $*" >&2; return 1; }
  [ ! -s "$T/out" ] || { echo "  wrote to stdout" >&2; return 1; }
  [ "$(wc -l <"$T/err")" -eq 1 ] || { echo "  $(wc -l <"$T/err") lines: $(cat "$T/err")" >&2; return 1; }
  grep -qF -- "$want" "$T/err" || { echo "  '$(cat "$T/err")' lacks '$want'" >&2; return 1; }
}
check "missing model: exit 2, one line" one_error "nope.gguf" "$TOK" "$T/nope.gguf" -p x
check "not a GGUF: exit 2, one line" one_error "ggml-vocab-gpt-2.gguf.inp" "$TOK" "$V/ggml-vocab-gpt-2.gguf.inp" -p x
check "GGUF without a tokenizer: exit 2, names the key" one_error "tokenizer.ggml.model" \
  "$TOK" "$BN_ROOT/tests/corpus/gguf/base.valid" -p x
check "no text: exit 2" one_error "exactly one of" "$TOK" "$spm"
check "-p and -f together: exit 2" one_error "exactly one of" "$TOK" "$spm" -p x -f "$T/special.txt"
check "unknown option: exit 2" one_error "'--frobnicate'" "$TOK" "$spm" --frobnicate
check "missing -f file: exit 2 or 1, one line" bash -c "'$TOK' '$spm' -f '$T/none.txt' 2>&1 >/dev/null | grep -q none.txt"
printf '1 2 x\n' >"$T/junk.out"
check "malformed .out: exit 2 naming the line" one_error "junk.out:1" "$TOK" "$spm" --vocab-test \
  "$V/ggml-vocab-llama-spm.gguf.inp" "$T/junk.out"
check "--help: exit 0" run_rc 0 "$T/help" "$TOK" --help
check "--help mentions --vocab-test" grep -q -- "--vocab-test" "$T/help"
check "--version: exit 0" run_rc 0 "$T/ver" "$TOK" --version
