#!/usr/bin/env bash
# tests/cli/progress.sh - progress on long work (issue 14 §2), through one
# display (src/tools/common/progress.c): on a terminal (script(1) gives the
# tools a pty) bn-verify --perplexity shows a live line with chunks done,
# tokens/s and an ETA, bn-convert its stages and an ETA from bytes, bn-quant
# and bn-info --sha256 theirs; with -q, or when stderr is not a terminal,
# there is no live line at all. bn-verify prints llama-perplexity's lines
# (chunk count, the first pass's time and ETA) unless -q.
source "$(dirname "$0")/lib.sh"
CONV="$BN_BUILD/bn-convert"
V="$BN_BUILD/bn-verify"
Q="$BN_BUILD/bn-quant"
INFO="$BN_BUILD/bn-info"
B158="$BN_ROOT/fixtures/tiny-b158"
if ! command -v script >/dev/null 2>&1; then
  not_ok "script(1) (util-linux/bsdutils) is needed to run the tools on a terminal"; exit 0
fi
# tty CMD...: run CMD with a pseudo-terminal as stdin/stdout/stderr; output in $T/tty
tty() { local c; printf -v c '%q ' "$@"; script -qfec "$c" /dev/null >"$T/tty" 2>&1 </dev/null; }
live() { grep -q $'\r\033\[K'"$1" "$T/tty"; }   # a redrawn line starting with $1

for i in $(seq 60); do printf 'The quick brown fox jumps over the lazy dog near the river bank. '; done >"$T/text.txt"
check "convert the model" run_rc 0 "$T/o" "$CONV" "$B158" "$T/m.gguf" -q

# ---- bn-verify --perplexity ----
PPL=("$V" "$T/m.gguf" --perplexity "$T/text.txt" -c 64 --chunks 8 -b 128)
"${PPL[@]}" >"$T/out" 2>"$T/err"; rc=$?
check "perplexity off a terminal exits 0" test $rc -eq 0
check "  ... says how many chunks it calculates" grep -q "^perplexity: calculating perplexity over 8 chunks, n_ctx=64" "$T/out"
check "  ... the first pass's time and the estimated total" grep -Eq "^perplexity: [0-9]+\.[0-9]{2} seconds per pass - ETA [0-9]+(s|m[0-9]{2}s|h[0-9]{2}m)$" "$T/out"
check "  ... before the chunk values" bash -c "grep -n 'seconds per pass' '$T/out' | cut -d: -f1 | { read a; b=\$(grep -n '^\[1\]' '$T/out' | cut -d: -f1); [ \"\$a\" -lt \"\$b\" ]; }"
check "  ... the chunk values of all 8 chunks" grep -q '^\[1\][0-9.]*,.*\[8\][0-9.]*,$' "$T/out"
check "  ... and no live line (stderr is not a terminal)" test ! -s "$T/err"
"${PPL[@]}" -q >"$T/out" 2>"$T/err"
check "perplexity -q: no chunk values, no ETA line" bash -c "! grep -Eq 'seconds per pass|^\[1\]' '$T/out' && [ ! -s '$T/err' ]"
check "  ... still the result" grep -q "^Final estimate: PPL = " "$T/out"
tty "${PPL[@]}"
check "perplexity on a terminal: a live line before the first chunk ends" live "perplexity: evaluating chunks 1-2 of 8"
check "  ... chunks done, tokens/s, elapsed and ETA" grep -Eq $'\r\033\\[Kperplexity: 8/8 chunks, [0-9.]+ tokens/s, [0-9]+s elapsed, ETA 0s' "$T/tty"
check "  ... the chunk values, printed when the line is gone" grep -q $'\r\033\\[K\\[1\\][0-9.]*,.*\\[8\\]' "$T/tty"
check "  ... the pass time and ETA" grep -q "seconds per pass - ETA" "$T/tty"
tty "${PPL[@]}" -q
check "perplexity -q on a terminal: no live line" bash -c "! grep -q \$'\\033\\[K' '$T/tty' && grep -q 'Final estimate' '$T/tty'"
tty "$V" "$T/m.gguf" --reference "$B158" --data "$T/text.txt" -c 64 --chunks 4 -b 64
check "reference on a terminal: the same live line" live "reference: 4/4 chunks, "

# ---- bn-convert ----
tty "$CONV" "$B158" "$T/c.gguf"
check "convert on a terminal: the planning steps are shown" \
  bash -c "grep -q \$'\\r\\033\\[Kbn-convert: reading config.json' '$T/tty' &&
           grep -q \$'\\r\\033\\[Kbn-convert: opening the checkpoint and planning the tensors' '$T/tty'"
check "  ... then how much it will read" live "bn-convert: 46 tensors, 7.9 MB to read"
check "  ... then tensor i/n, share of the bytes, MB/s and an ETA" \
  grep -Eq $'\r\033\\[Kbn-convert: 46/46 [a-z_.0-9]+ +100.0% +[0-9.]+ MB/s  ETA 0s' "$T/tty"
check "  ... and the summary on its own line, the progress line erased" live "bn-convert: wrote $T/c.gguf: 46 tensors"
tty "$CONV" "$B158" "$T/c.gguf" -q
check "convert -q on a terminal: nothing at all" test ! -s "$T/tty"
"$CONV" "$B158" "$T/c.gguf" 2>"$T/err"
check "convert off a terminal: the summary only" bash -c "[ \$(wc -l <'$T/err') -eq 1 ] && ! grep -q \$'\\r' '$T/err'"

# ---- bn-quant, bn-info --sha256: the same display ----
tty "$Q" --report "$T/r.txt" "$B158"
check "quant on a terminal: the same line" grep -Eq $'\r\033\\[Kbn-quant: [0-9]+/[0-9]+ .* MB/s  ETA ' "$T/tty"
tty "$Q" --report "$T/r.txt" "$B158" --quiet
check "quant --quiet: none" bash -c "! grep -q \$'\\033\\[K' '$T/tty'"
tty "$INFO" "$B158" --sha256
check "info --sha256 on a terminal: the same line" grep -Eq $'\r\033\\[Ksha256: [0-9]+/47 .* MB/s  ETA ' "$T/tty"
"$INFO" "$B158" --sha256 >"$T/out" 2>"$T/err"
check "info --sha256 off a terminal: none" test ! -s "$T/err"
