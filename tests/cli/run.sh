#!/usr/bin/env bash
# bn-run and bn-synth end to end: usage errors, hostile files, greedy
# generation identical across thread counts and kernels, --logits, --bench,
# --chat on a pipe, prompts through the tokenizer.
. "$(dirname "$0")/lib.sh"
RUN=$BN_BUILD/bn-run
SYNTH=$BN_BUILD/bn-synth

check "bn-run --help exits 0" run_rc 0 "$T/o" "$RUN" --help
check "bn-run --version exits 0" run_rc 0 "$T/o" "$RUN" --version
check "bn-synth --help exits 0" run_rc 0 "$T/o" "$SYNTH" --help
check "no model: exit 2" run_rc 2 "$T/o" "$RUN"
check "unknown option: exit 2" run_rc 2 "$T/o" "$RUN" m.gguf --frobnicate 1
check "bad -n: exit 2, names the option" bash -c "'$RUN' m.gguf -p x -n -3 >'$T/o' 2>&1; [ \$? -eq 2 ] && grep -q -- '-n' '$T/o'"
check "bad --temp: exit 2" run_rc 2 "$T/o" "$RUN" m.gguf -p x --temp abc
check "bad --kv: exit 2" run_rc 2 "$T/o" "$RUN" m.gguf -p x --kv q4
check "bn-synth bad --type: exit 2" run_rc 2 "$T/o" "$SYNTH" -o "$T/x.gguf" --type q4_0
check "bn-synth bad shape: exit 2" run_rc 2 "$T/o" "$SYNTH" -o "$T/x.gguf" --embd 100

# a file that is not GGUF, and a truncated model
printf 'not a gguf file at all' >"$T/junk.gguf"
check "junk file: exit 2 with the path" bash -c "'$RUN' '$T/junk.gguf' --ids 1 >'$T/o' 2>&1; [ \$? -eq 2 ] && grep -q junk.gguf '$T/o'"
"$SYNTH" -q -o "$T/m.gguf" --no-vocab --layers 2 || not_ok "bn-synth tiny model"
head -c 100000 "$T/m.gguf" >"$T/trunc.gguf"
check "truncated model: exit 2" run_rc 2 "$T/o" "$RUN" "$T/trunc.gguf" --ids 1
check "no tokenizer and a text prompt: exit 2" bash -c "'$RUN' '$T/m.gguf' -p hello >'$T/o' 2>&1; [ \$? -eq 2 ] && grep -q 'no tokenizer' '$T/o'"
check "token id out of range: exit 2" run_rc 2 "$T/o" "$RUN" "$T/m.gguf" --ids 1,99999
check "unknown kernel: exit 2" run_rc 2 "$T/o" "$RUN" "$T/m.gguf" --ids 1 --kernel nope

# greedy generation: same tokens for 1, 2, 3 threads and every kernel
gen() { "$RUN" "$T/m.gguf" --ids 1,2,3,4,5 -n 16 --temp 0 -q "$@" 2>/dev/null; }
ref=$(gen -t 1)
check "greedy generation prints 16 ids" test "$(echo $ref | wc -w)" -eq 16
check "greedy: 2 threads == 1 thread" test "$(gen -t 2)" = "$ref"
check "greedy: 3 threads == 1 thread" test "$(gen -t 3)" = "$ref"
check "greedy: f16 KV cache runs" run_rc 0 "$T/o" "$RUN" "$T/m.gguf" --ids 1,2,3 -n 4 --temp 0 --kv f16
kernels=$("$RUN" "$T/m.gguf" --bench --bench-pp 8 --bench-tg 2 2>/dev/null | awk -F'|' 'NR>2{gsub(/ /,"",$5); print $5}' | sort -u)
check "--bench lists at least one kernel" test -n "$kernels"
same=1
for k in $kernels; do [ "$(gen -t 2 --kernel "$k")" = "$ref" ] || same=0; done
check "greedy: every kernel gives the same tokens ($(echo $kernels))" test $same -eq 1
check "sampling with a seed is reproducible" test "$(gen --temp 1 --seed 5)" = "$(gen --temp 1 --seed 5 -t 2)"

# --act q8_k (llama.cpp's activations for TQ files): kernel-independent too; refused for I2_S
"$SYNTH" -q -o "$T/tq.gguf" --no-vocab --layers 2 --type tq2_0 || not_ok "bn-synth TQ2_0 model"
genq() { "$RUN" "$T/tq.gguf" --ids 1,2,3,4,5 -n 16 --temp 0 -q --act q8_k "$@" 2>/dev/null; }
refq=$(genq -t 1)
check "--act q8_k: greedy generation on TQ2_0 prints 16 ids" test "$(echo $refq | wc -w)" -eq 16
same=1
for k in $kernels; do [ "$(genq -t 2 --kernel "$k")" = "$refq" ] || same=0; done
check "--act q8_k: every kernel gives the same tokens" test $same -eq 1
"$RUN" "$T/tq.gguf" --ids 7,8,9 --logits 1 -q >"$T/lt" 2>&1
"$RUN" "$T/tq.gguf" --ids 7,8,9 --logits 1 -q --act q8_k >"$T/lq" 2>&1
check "--act q8_k changes the logits of a TQ2_0 model" bash -c "! cmp -s '$T/lt' '$T/lq'"
check "--act q8_k on an I2_S model: exit 2 naming I2_S" bash -c "'$RUN' '$T/m.gguf' --ids 1 --act q8_k >'$T/o' 2>&1; [ \$? -eq 2 ] && grep -q I2_S '$T/o'"
check "--act other: exit 2" run_rc 2 "$T/o" "$RUN" "$T/m.gguf" --ids 1 --act q8_0

# --bench table
"$RUN" "$T/m.gguf" --bench --bench-pp 16 --bench-tg 4 --kernel basic >"$T/bench" 2>&1
check "--bench has pp16 and tg4 rows" bash -c "grep -q '| pp16 |' '$T/bench' && grep -q '| tg4 |' '$T/bench'"

# --logits: one line per position (position, token, n_vocab values)
"$RUN" "$T/m.gguf" --ids 7,8,9 --logits 2 >"$T/lg" 2>&1
check "--logits prints 2 rows of 512 values" bash -c "[ \$(grep -vc '^#' '$T/lg') -eq 2 ] && awk '!/^#/{ if (NF != 514) exit 1 }' '$T/lg'"
"$RUN" "$T/m.gguf" --ids 7,8,9 --logits 1 -t 3 >"$T/lg1" 2>&1
check "--logits of the last position match across thread counts" bash -c "[ \"\$(tail -1 '$T/lg')\" = \"\$(tail -1 '$T/lg1')\" ]"

# a model with a tokenizer: text prompts and chat
"$SYNTH" -q -o "$T/v.gguf" --layers 1 || not_ok "bn-synth with vocabulary"
check "text prompt generates and reports speed" bash -c "'$RUN' '$T/v.gguf' -p 'abc def' -n 5 --temp 0 >'$T/o' 2>'$T/e' && grep -q 'generation' '$T/e'"
printf 'hello there\nsecond turn\n' >"$T/chat.in"
check "--chat on a pipe answers two turns" bash -c "'$RUN' '$T/v.gguf' --chat -n 4 --temp 0 <'$T/chat.in' >'$T/o' 2>&1"
printf 'some prompt text' >"$T/p.txt"
check "-f reads the prompt from a file" run_rc 0 "$T/o" "$RUN" "$T/v.gguf" -f "$T/p.txt" -n 2
check "-f on a missing file fails" bash -c "! '$RUN' '$T/v.gguf' -f '$T/missing.txt' -n 2 >'$T/o' 2>&1 && grep -q missing.txt '$T/o'"
check "--chat starts a new conversation when the context is full" bash -c "printf 'a b c\nd e f\n' | '$RUN' '$T/v.gguf' --chat -n 8 --temp 0 -c 48 >/dev/null 2>'$T/e' && grep -q 'context full' '$T/e'"
check "--chat: a message longer than the context fails with exit 2" bash -c "printf 'a b c d e f g h i j k l m n o p\n' | '$RUN' '$T/v.gguf' --chat -n 8 -c 16 >/dev/null 2>'$T/e'; [ \$? -eq 2 ] && grep -q 'does not fit' '$T/e'"

# -c beyond the training context is refused (not clamped or extended silently)
check "-c beyond the model's context: exit 2 naming context_length" bash -c "'$RUN' '$T/v.gguf' -p 'a b' -n 4 -c 100000 >'$T/o' 2>&1; [ \$? -eq 2 ] && grep -q 'context_length = 512' '$T/o' && grep -q -- '-c 100000' '$T/o'"
check "-c at the model's context is fine" run_rc 0 "$T/o" "$RUN" "$T/v.gguf" -p 'a b' -n 4 -c 512 -q
# -n larger than the context allows: generation stops at the end and says so
"$RUN" "$T/v.gguf" -p 'a b' -n 600 --temp 0 --ignore-eos >"$T/o" 2>"$T/e"; rc=$?
check "-n 600 on a 512-position model: exit 0, 'context full' on stderr with the counts" bash -c "[ $rc -eq 0 ] && grep -q 'context full: stopped after [0-9]* of 600 tokens' '$T/e'"
check "-n within the context: no 'context full'" bash -c "'$RUN' '$T/v.gguf' -p 'a b' -n 20 --temp 0 --ignore-eos >/dev/null 2>'$T/e' && ! grep -q 'context full' '$T/e'"
# a model whose weights hold NaN: generation refuses with the model's name, never prints garbage
cp "$T/v.gguf" "$T/nan.gguf"
off=$("$BN_BUILD/bn-info" "$T/nan.gguf" | sed -n 's/.*data at offset \([0-9]*\).*/\1/p')
yes '~' | tr -d '\n' | head -c 262144 | dd of="$T/nan.gguf" bs=32 seek=$((off / 32)) conv=notrunc 2>/dev/null # F16 0x7e7e = NaN over token_embd
"$RUN" "$T/nan.gguf" -p 'a b' -n 4 --temp 0 >"$T/o" 2>"$T/e"; rc=$?
check "NaN weights: exit 2, one line naming the model and NaN" bash -c "[ $rc -eq 2 ] && grep -q 'nan.gguf: generate: .*NaN' '$T/e' && [ \$(wc -l <'$T/e') -eq 1 ]"
check "NaN weights in --chat: exit 2" bash -c "echo hi | '$RUN' '$T/nan.gguf' --chat -n 4 -q >/dev/null 2>'$T/e'; [ \$? -eq 2 ] && grep -q NaN '$T/e'"
check "--ignore-eos and penalties are accepted" run_rc 0 "$T/o" "$RUN" "$T/v.gguf" -p 'a b' -n 4 --ignore-eos --frequency-penalty 0.5 --presence-penalty -0.5 -q
check "--frequency-penalty out of range: exit 2" run_rc 2 "$T/o" "$RUN" "$T/v.gguf" -p 'a b' --frequency-penalty 3
