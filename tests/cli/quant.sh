#!/usr/bin/env bash
# bn-quant end to end: every packing type, report formats, CI gates, bad input.
# The input model is written by the Check suite's own GGUF-writing helper
# (`test_quant_report --write-model`), so this script needs no Python.
. "$(dirname "$0")/lib.sh"
Q="$BN_BUILD/bn-quant"
MK="$BN_BUILD/tests/test_quant_report"
M="$T/m.gguf"
N="$T/nan.gguf"

check "writes the float test model" "$MK" --write-model "$M"
check "writes the model with a NaN" "$MK" --write-model "$N" --nan
check "writes the model with 320-wide rows" "$MK" --write-model "$T/odd.gguf" --odd

check "--help exits 0" run_rc 0 "$T/out" "$Q" --help
check "--help shows usage" grep -q "usage: bn-quant IN OUT.gguf" "$T/out"
check "--version exits 0" run_rc 0 "$T/out" "$Q" --version
check "no arguments: exit 2" run_rc 2 "$T/out" "$Q"
check "unknown option: exit 2" run_rc 2 "$T/out" "$Q" "$M" "$T/x.gguf" --bogus
check "unknown --type: exit 2, names it" run_rc 2 "$T/out" "$Q" "$M" "$T/x.gguf" --type q4_0
check "  ... message names the value" grep -q "q4_0" "$T/out"
check "bad thread count: exit 2" run_rc 2 "$T/out" "$Q" "$M" "$T/x.gguf" -t 0
check "bad --fail-on flag: exit 2" run_rc 2 "$T/out" "$Q" --report "$M" --fail-on bogus
check "nothing written on usage errors" test ! -e "$T/x.gguf"

for ty in i2_s tq2_0 tq1_0; do
  check "quantize --type $ty" run_rc 0 "$T/out" "$Q" "$M" "$T/m.$ty.gguf" --type $ty -t 2 --quiet
  check "  ... --quiet prints nothing" test ! -s "$T/out"
  # Re-reading a ternary file recovers every projection exactly: NMSE 0.
  check "  ... re-read $ty is exactly ternary (--max-nmse 0)" \
    run_rc 0 "$T/out" "$Q" --report "$T/re.$ty.csv" "$T/m.$ty.gguf" --max-nmse 0 --fail-on sign-like --quiet
  check "  ... every projection flagged already-ternary" \
    test "$(grep -c ',already-ternary$' "$T/re.$ty.csv")" -eq 14
done
size() { stat -c %s "$1"; }
check "TQ1_0 < I2_S < TQ2_0 in size" \
  test "$(size "$T/m.tq1_0.gguf")" -lt "$(size "$T/m.i2_s.gguf")" -a "$(size "$T/m.i2_s.gguf")" -lt "$(size "$T/m.tq2_0.gguf")"
check "--embd-type q8_0 --method mse" run_rc 0 "$T/out" "$Q" "$M" "$T/m.q8.gguf" --embd-type q8_0 --method mse --quiet
check "--embd-type f32 --method absmax" run_rc 0 "$T/out" "$Q" "$M" "$T/m.f32.gguf" --embd-type f32 --method absmax --quiet

# Reports
check "report to stdout (text)" run_rc 0 "$T/rep.txt" "$Q" --report "$M" --quiet
check "  ... has the per-kind totals" grep -q "^total" "$T/rep.txt"
check "  ... fits 120 columns" test "$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$T/rep.txt")" -le 120
check "JSON report by extension" run_rc 0 "$T/out" "$Q" --report "$T/r.json" "$M" --quiet
check "  ... lists the 14 projections" test "$(grep -c '"name":' "$T/r.json")" -eq 14
check "--json: the JSON report on stdout" run_rc 0 "$T/j.json" "$Q" "$M" --json --quiet
check "  ... same tensors" test "$(grep -c '"name":' "$T/j.json")" -eq 14
check "--json with a report file: exit 2" run_rc 2 "$T/out" "$Q" --report "$T/x.csv" "$M" --json
check "CSV report" run_rc 0 "$T/out" "$Q" --report "$T/r.data" "$M" --format csv --quiet
check "  ... header + 14 rows" test "$(wc -l <"$T/r.data")" -eq 15
check "HTML report" run_rc 0 "$T/out" "$Q" --report "$T/r.html" "$M" --quiet
check "  ... one SVG chart per kind" test "$(grep -o '<svg class="kind-chart"' "$T/r.html" | wc -l)" -eq 7
check "  ... self-contained" bash -c "! grep -Eq 'http|src=|<script' '$T/r.html'"
check "--focus picks the histogram tensor" run_rc 0 "$T/out" "$Q" --report "$T/f.html" "$M" --focus blk.1.ffn_up.weight --quiet
check "  ... shown" grep -q "Distribution of |W| / s: blk.1.ffn_up.weight" "$T/f.html"
check "--focus on a missing tensor: exit 2" run_rc 2 "$T/out" "$Q" --report "$T/g.html" "$M" --focus blk.9.attn_q.weight
check "quantize and report together" run_rc 0 "$T/out" "$Q" "$M" "$T/both.gguf" --report "$T/both.csv" --quiet
check "  ... both files written" test -s "$T/both.gguf" -a "$(wc -l <"$T/both.csv")" -eq 15

# Gates
check "--max-nmse 0.01 fails (exit 1)" run_rc 1 "$T/gate" "$Q" --report - "$M" --max-nmse 0.01 --quiet
check "  ... names the tensors" grep -q "blk.0.attn_q.weight: nmse" "$T/gate"
check "--max-nmse 0.9 passes" run_rc 0 "$T/out" "$Q" --report - "$M" --max-nmse 0.9 --quiet
check "--fail-on sign-like passes on Gaussian weights" \
  run_rc 0 "$T/out" "$Q" --report - "$M" --fail-on sign-like,nan-inf --quiet
check "report on NaN weights: listed, exit 0 without a gate" run_rc 0 "$T/out" "$Q" --report "$T/nan.json" "$N" --quiet
check "  ... flagged nan-inf" grep -q '"nan-inf"' "$T/nan.json"
check "--fail-on nan-inf: exit 1" run_rc 1 "$T/gate" "$Q" --report - "$N" --fail-on nan-inf --quiet
check "  ... names the tensor" grep -q "blk.1.ffn_down.weight: flagged nan-inf" "$T/gate"

# Bad input: one line, exit 2, nothing written, an existing OUT untouched
echo old >"$T/keep.gguf"
check "quantizing NaN weights: exit 2" run_rc 2 "$T/err" "$Q" "$N" "$T/keep.gguf" --quiet
check "  ... one line naming the tensor" \
  test "$(wc -l <"$T/err")" -eq 1 -a "$(grep -c 'blk.1.ffn_down.weight' "$T/err")" -eq 1
check "  ... existing output untouched" test "$(cat "$T/keep.gguf")" = old
check "  ... no temp files left" test -z "$(ls "$T" | grep '\.tmp\.')"
for ty in i2_s tq1_0; do
  check "rows of 320 as $ty: exit 2" run_rc 2 "$T/err" "$Q" "$T/odd.gguf" "$T/odd.$ty.gguf" --type $ty
  check "  ... names the tensor and the row length" grep -q "blk.0.attn_q.weight.*320" "$T/err"
  check "  ... nothing written" test ! -e "$T/odd.$ty.gguf"
done
head -c 100 "$M" >"$T/trunc.gguf"
check "truncated GGUF: exit 2" run_rc 2 "$T/err" "$Q" "$T/trunc.gguf" "$T/y.gguf"
check "  ... one line" test "$(wc -l <"$T/err")" -eq 1
printf 'not a gguf at all' >"$T/junk.gguf"
check "not a GGUF: exit 2" run_rc 2 "$T/err" "$Q" --report "$T/junk.gguf"
check "  ... nothing written" test ! -e "$T/y.gguf"
