#!/usr/bin/env bash
# tests/cli/options.sh - every tool parses options through the one table
# parser (src/tools/common/opt.c): --help ends with the shared exit-code
# paragraph, --version names the tool, and an unknown option, a missing
# value, a number out of range and an unknown choice each get one line in the
# one form, exit 2. -m/--model works where a model is the input.
source "$(dirname "$0")/lib.sh"
# one_line_rc2 EXPECTED_LINE CMD...: exit 2 and exactly that line on stderr, nothing on stdout
one_line_rc2() {
  local want=$1; shift
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  [ "$rc" -eq 2 ] && [ ! -s "$T/out" ] && [ "$(cat "$T/err")" = "$want" ] && return 0
  echo "  rc $rc, stderr: $(cat "$T/err")" >&2
  return 1
}
for tool in bn-convert bn-info bn-quant bn-run bn-serve bn-synth bn-tokenize bn-verify; do
  B="$BN_BUILD/$tool"
  "$B" --help >"$T/h" 2>&1; rc=$?
  check "$tool --help: exit 0" test "$rc" -eq 0
  check "  ... ends with the exit-code paragraph" \
    bash -c "tail -2 '$T/h' | tr '\n' ' ' | grep -q '^Exit status: 0 success, 1 a check or gate failed, 2 bad input or usage, 3 an I/O or system failure'"
  check "  ... lists -h, --help and --version" bash -c "grep -q -- '-h, --help' '$T/h' && grep -q -- '--version' '$T/h'"
  check "$tool --version names the tool" bash -c "'$B' --version | head -1 | grep -q '^$tool (bntk) '"
  check "$tool --bogus: one line, exit 2" one_line_rc2 "$tool: unknown option '--bogus' (see --help)" "$B" --bogus
  check "$tool --bogus=1: the same line" one_line_rc2 "$tool: unknown option '--bogus' (see --help)" "$B" --bogus=1
done
for tool in bn-convert bn-quant bn-run bn-serve bn-synth bn-verify; do
  B="$BN_BUILD/$tool"
  check "$tool -t (last, no value): one line" one_line_rc2 "$tool: option '-t' needs a value" "$B" -t
  check "$tool -t x: names the option and the range" \
    bash -c "'$B' -t x 2>&1 >/dev/null | grep -q \"^$tool: -t 'x' is not an integer in \\[\""
done
check "bn-run --kv f8: lists the valid choices" one_line_rc2 "bn-run: --kv 'f8' is not one of f32, f16" \
  "$BN_BUILD/bn-run" m.gguf --kv f8
check "bn-run --temp nan: names the range" one_line_rc2 "bn-run: --temp 'nan' is not a number in [0, 1e+06]" \
  "$BN_BUILD/bn-run" m.gguf --temp nan
check "bn-run: a model given twice is refused" one_line_rc2 "bn-run: two models given ('a.gguf' and 'b.gguf')" \
  "$BN_BUILD/bn-run" a.gguf -m b.gguf -p x
check "bn-synth --type q4_0: lists the valid choices" \
  one_line_rc2 "bn-synth: --type 'q4_0' is not one of i2_s, tq2_0, tq1_0, f16, bf16, f32" \
  "$BN_BUILD/bn-synth" -o "$T/x.gguf" --type q4_0

# -m/--model and the positional form reach the same model
"$BN_BUILD/bn-synth" -o "$T/m.gguf" -q --layers 1 || not_ok "bn-synth a model"
"$BN_BUILD/bn-info" "$T/m.gguf" >"$T/pos" 2>&1
"$BN_BUILD/bn-info" -m "$T/m.gguf" >"$T/opt" 2>&1
check "bn-info -m M = bn-info M" cmp -s "$T/pos" "$T/opt"
check "bn-tokenize --model M -p x" run_rc 0 "$T/o" "$BN_BUILD/bn-tokenize" --model "$T/m.gguf" -p abc
check "bn-run -m M --ids 1 -n 1" run_rc 0 "$T/o" "$BN_BUILD/bn-run" -m "$T/m.gguf" --ids 1 -n 1 -q
# --json [FILE]: stdout without FILE, FILE when the model is given as well
check "bn-info --json M: JSON on stdout" bash -c "'$BN_BUILD/bn-info' --json '$T/m.gguf' | head -1 | grep -qx '{'"
check "bn-info --json FILE M: JSON into FILE, nothing on stdout" \
  bash -c "[ -z \"\$('$BN_BUILD/bn-info' --json '$T/i.json' '$T/m.gguf')\" ] && grep -q '\"tool\":.*\"bn-info\"' '$T/i.json'"
check "bn-verify M --check --json FILE writes FILE" \
  bash -c "'$BN_BUILD/bn-verify' '$T/m.gguf' --check --json '$T/v.json' >/dev/null && grep -q '\"ok\":.*true' '$T/v.json'"
