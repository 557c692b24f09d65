#!/usr/bin/env bash
# bn-run --bench (src/tools/common/run_bench.c): defaults that fit the model's
# context, the real size and parameter count, -o md|json|csv, bad input.
. "$(dirname "$0")/lib.sh"
RUN=$BN_BUILD/bn-run
SYNTH=$BN_BUILD/bn-synth

# a model trained for 256 positions, like the bundled demo model: the default
# pp512 would not fit, so the defaults become pp256 and tg128
"$SYNTH" -q -o "$T/m.gguf" --no-vocab --layers 2 --ctx 256 || not_ok "bn-synth model"
check "--bench with its defaults: exit 0" run_rc 0 "$T/md" "$RUN" "$T/m.gguf" --bench --kernel blocked -t 1
check "--bench defaults cut to the context: pp256 and tg128" \
  bash -c "grep -q '| pp256 |' '$T/md' && grep -q '| tg128 |' '$T/md'"
check "--bench size in MiB and parameters in M, not zero" \
  bash -c "grep '| pp256 |' '$T/md' | grep -Eq '\| [0-9.]+ MiB \| [0-9.]+ M \|' && ! grep -q '| 0.00 ' '$T/md'"
check "-o json: exit 0" run_rc 0 "$T/json" "$RUN" "$T/m.gguf" --bench --bench-pp 8 --bench-tg 2 \
  --bench-reps 2 --kernel blocked -o json
check "-o json: two tests with llama-bench's fields" bash -c "
  [ \$(grep -c '\"avg_ts\"' '$T/json') -eq 2 ] && grep -q '\"n_prompt\":[[:space:]]*8' '$T/json' &&
  grep -q '\"n_gen\":[[:space:]]*2' '$T/json' && grep -q '\"samples_ts\"' '$T/json' &&
  head -c 1 '$T/json' | grep -q '\['"
if command -v jq >/dev/null; then
  check "-o json parses" bash -c "jq -e 'length == 2 and .[0].n_prompt == 8 and (.[1].samples_ns | length) == 2' '$T/json' >/dev/null"
  check "-o json: every record carries docs/json.md's header" bash -c "jq -e 'all(.[]; .tool == \"bn-run\" and .schema == 1 and (.version | startswith(\"0.\")) and .input == .model_filename)' '$T/json' >/dev/null"
fi
check "-o csv: exit 0" run_rc 0 "$T/csv" "$RUN" "$T/m.gguf" --bench --bench-pp 8 --bench-tg 2 --kernel blocked -o csv
check "-o csv: a header and two rows of 12 fields" bash -c "
  [ \$(wc -l <'$T/csv') -eq 3 ] && head -1 '$T/csv' | grep -q '^model_filename,.*,avg_ts,stddev_ts$' &&
  [ \$(awk -F, 'NR>1{print NF}' '$T/csv' | sort -u) = 12 ]"
check "-o xml: exit 2 naming it" bash -c "'$RUN' '$T/m.gguf' --bench -o xml >'$T/o' 2>&1; [ \$? -eq 2 ] && grep -q xml '$T/o'"
check "-o without --bench: exit 2" run_rc 2 "$T/o" "$RUN" "$T/m.gguf" --ids 1 -o json
check "--bench-pp beyond the context: exit 2 naming it" bash -c "
  '$RUN' '$T/m.gguf' --bench --bench-pp 300 --kernel blocked >'$T/o' 2>&1; [ \$? -eq 2 ] &&
  grep -q 'bench-pp 300 exceeds the context of 256' '$T/o'"
check "-c widens the context for --bench-pp" run_rc 0 "$T/o" "$RUN" "$T/m.gguf" --bench --bench-pp 300 \
  --bench-tg 2 -c 512 --kernel blocked
# --bench-depth (KV depth, llama-bench's -d): tests start after that many cached positions
check "--bench-depth 200: exit 0" run_rc 0 "$T/d" "$RUN" "$T/m.gguf" --bench --bench-pp 8 --bench-tg 4 \
  --bench-depth 200 --kernel blocked -t 1
check "--bench-depth names the tests as llama-bench: pp8 @ d200, tg4 @ d200" \
  bash -c "grep -q '| pp8 @ d200 |' '$T/d' && grep -q '| tg4 @ d200 |' '$T/d'"
check "--bench-depth: the defaults fit what the depth leaves (pp56, tg56)" bash -c "
  '$RUN' '$T/m.gguf' --bench --bench-depth 200 --kernel blocked -t 1 >'$T/d2' 2>&1 &&
  grep -q '| pp56 @ d200 |' '$T/d2' && grep -q '| tg56 @ d200 |' '$T/d2'"
check "--bench-depth -o json: n_depth" bash -c "
  '$RUN' '$T/m.gguf' --bench --bench-pp 8 --bench-tg 2 --bench-depth 16 --kernel blocked -o json >'$T/dj' &&
  [ \$(grep -c '\"n_depth\":[[:space:]]*16' '$T/dj') -eq 2 ]"
check "--bench-depth beyond the context: exit 2 naming it" bash -c "
  '$RUN' '$T/m.gguf' --bench --bench-depth 256 --kernel blocked >'$T/o' 2>&1; [ \$? -eq 2 ] &&
  grep -q 'bench-depth 256 leaves no room in the context of 256' '$T/o'"
check "--bench-tg after --bench-depth beyond the context: exit 2" bash -c "
  '$RUN' '$T/m.gguf' --bench --bench-depth 250 --bench-tg 10 --kernel blocked >'$T/o' 2>&1; [ \$? -eq 2 ] &&
  grep -q 'bench-tg 10 after --bench-depth exceeds the context of 256' '$T/o'"
