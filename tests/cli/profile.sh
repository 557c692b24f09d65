#!/usr/bin/env bash
# bn-run --profile (src/tools/common/run_profile.c, the timing hooks of
# forward.c): a prefill and a decode table with a row for every operation,
# shares that sum to 100 %, and bad sizes refused.
. "$(dirname "$0")/lib.sh"
RUN=$BN_BUILD/bn-run
SYNTH=$BN_BUILD/bn-synth

"$SYNTH" -q -o "$T/m.gguf" --no-vocab --layers 2 --ctx 256 || not_ok "bn-synth model"
check "--profile with its defaults: exit 0" run_rc 0 "$T/p" "$RUN" "$T/m.gguf" --profile -t 2
check "--profile: a prefill step of 128 tokens and 32 decode steps" \
  bash -c "grep -q '^prefill: 1 step of 128 tokens' '$T/p' && grep -q '^decode: 32 steps of 1 token' '$T/p'"
# every operation of model.h's bn_prof_op, in both tables
for op in embd attn_norm act_quant attn_q attn_k attn_v rope+kv_store attention attn_sub_norm \
          attn_output ffn_norm ffn_gate ffn_up ffn_act ffn_down residual output_norm head \
          sampling other total; do
  check "--profile: row '$op' in both tables" bash -c "[ \$(grep -c '^| $op |' '$T/p') -eq 2 ]"
done
# shares of the rows above 'total' sum to 100 % (each printed to 0.1 %)
check "--profile: shares sum to 100 % in each table" bash -c "
  awk -F'|' '/^(prefill|decode):/ { if (n) print s; s = 0; n = 1 }
             /^\| / && \$5 ~ /%/ && \$2 !~ /total/ { v = \$5; sub(/ %/, \"\", v); s += v }
             END { print s }' '$T/p' | awk '{ if (\$1 < 99.5 || \$1 > 100.5) bad = 1 } END { exit bad }'"
check "--profile decode: every projection called once per layer" bash -c "
  grep -q '^| attn_q | 2 |' '$T/p' && grep -q '^| ffn_down | 2 |' '$T/p' && grep -q '^| head | 1 |' '$T/p'"
check "--profile decode: the head reads bytes (a GB/s figure)" bash -c "
  awk -F'|' '/^decode:/ { d = 1 } d && \$2 == \" head \" { exit !(\$6 + 0 > 0) }' '$T/p'"
check "--profile with --bench-pp/--bench-tg sizes" run_rc 0 "$T/p2" "$RUN" "$T/m.gguf" --profile \
  --bench-pp 16 --bench-tg 4 --kernel blocked -t 1 --kv f16
check "--profile sizes: 16 and 4" \
  bash -c "grep -q '^prefill: 1 step of 16 tokens' '$T/p2' && grep -q '^decode: 4 steps of 1 token' '$T/p2'"
check "--profile beyond the context: exit 2 naming it" bash -c "
  '$RUN' '$T/m.gguf' --profile --bench-pp 250 --bench-tg 10 >'$T/o' 2>&1; [ \$? -eq 2 ] &&
  grep -q 'exceed the context of 256' '$T/o'"
check "--profile and --bench exclude each other: exit 2" run_rc 2 "$T/o" "$RUN" "$T/m.gguf" --profile --bench
