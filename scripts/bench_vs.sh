#!/usr/bin/env bash
# bench_vs.sh (make bench-vs): bntk's bn-run --bench against the reference engines'
# llama-bench on the SAME files, run alternately (reference, bntk, reference, ...),
# with the medians and the ratio bntk/reference per test. A benchmark: figures go in
# closing notes, never into tests.
#
#   BN_VS_BITNET=/path/to/bitnet.cpp/build/bin/llama-bench \
#   BN_VS_LLAMA=/path/to/llama.cpp/build/bin/llama-bench scripts/bench_vs.sh [BUILD]
#
# Files: BitNet-2B-4T-shaped models from bn-synth --preset 2b (same seed, so the same
# ternary codes) as I2_S, TQ2_0 and TQ1_0 with an F16 tied head, written once into
# $BN_BENCH_DIR (default /tmp, ~3.5 GB). I2_S is compared with bitnet.cpp, TQ2_0 and
# TQ1_0 with upstream llama.cpp; a reference that is not given is skipped (bntk's
# figures are still printed).
#
# Tests: pp128, pp512 and tg32 at 2 and 1 threads ($BN_VS_THREADS, "2 1"), $BN_VS_REPS
# (default 3) rounds each. A run is discarded when other processes used more than
# $BN_VS_NOISE (default 0.10) of one CPU during it: the busy jiffies of /proc/stat
# minus the run's own user+system time, over its wall time. Discarded runs are retried
# up to $BN_VS_TRIES times in all (default twice the rounds); a median over fewer clean
# runs than asked is marked "*" and then includes the disturbed runs.
# bntk runs the kernel $BN_VS_KERNEL (default simd: the best one this CPU has), and
# TQ2_0/TQ1_0 files with the activation quantization $BN_VS_ACT (token, the default,
# or q8_k: llama.cpp's own); I2_S always runs per-token activations.
# With BN_VS_BASE=DIR (another build's directory), that build's bn-run runs in the same
# rounds, for a before/after table.
# Decode is also given as GB/s (the file's bytes read per token: every tensor except
# the token embedding, which is read one row per token; tied files read it as the head)
# against a read-bandwidth probe at the same thread count.
set -euo pipefail
B=${1:-build}
DIR=${BN_BENCH_DIR:-/tmp}
REPS=${BN_VS_REPS:-3}
THREADS=${BN_VS_THREADS:-2 1}
NOISE=${BN_VS_NOISE:-0.10}
TYPES=${BN_VS_TYPES:-i2_s tq2_0 tq1_0}
KERNEL=${BN_VS_KERNEL:-simd}
ACT=${BN_VS_ACT:-token}
case $ACT in token|q8_k) ;; *) echo "bench_vs: BN_VS_ACT is token or q8_k, not '$ACT'" >&2; exit 2;; esac
TRIES=${BN_VS_TRIES:-$((2 * REPS))}
BASE=${BN_VS_BASE:-}   # a second bntk build (its directory) to compare against: before/after
BN_ENGINES="${BASE:+base }bn"
HZ=$(getconf CLK_TCK)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench_vs.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

for t in $TYPES; do
  f="$DIR/bntk-vs-2b.$t.gguf"
  if [ ! -f "$f" ]; then
    # upstream llama.cpp knows the architecture as "bitnet", bitnet.cpp as "bitnet-b1.58"
    arch=$([ "$t" = i2_s ] && echo bitnet-b1.58 || echo bitnet)
    echo "bench_vs: writing $f (bn-synth --preset 2b --arch $arch --type $t)" >&2
    "$B/bn-synth" --preset 2b --arch "$arch" --type "$t" -o "$f" --quiet
  fi
done

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }

# run LOG CMD...: runs CMD with its output in LOG; prints "wall others_fraction".
# A failing CMD stops the script, unless MAY_FAIL=1: then it prints "fail 0" and LOG
# holds what CMD printed (a reference engine that crashes on one test loses that test).
run() {
  local log=$1; shift
  local b0 b1 t0 t1
  b0=$(busy); t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$log.time" "$@" >"$log" 2>"$log.err" || {
    if [ "${MAY_FAIL:-0}" = 1 ]; then
      echo "bench_vs: failed (test skipped): $* ($(head -1 "$log.time"))" >&2; echo "fail 0"; return 0
    fi
    echo "bench_vs: failed: $* (see below)" >&2; cat "$log.err" >&2; exit 1; }
  t1=$(date +%s.%N); b1=$(busy)
  awk -v b0="$b0" -v b1="$b1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" \
      'NR==1{own=$1+$2; w=t1-t0; o=(b1-b0)/hz-own; if(o<0)o=0; printf "%.3f %.3f\n", w, o/w}' "$log.time"
}

# t/s of test T (pp128, tg32, ...) from llama-bench csv / bn-run md output
ref_ts() { # LOG TEST
  awk -v want="$2" 'NR==1{n=split($0,hh,","); for(i=1;i<=n;i++){gsub(/"/,"",hh[i]); h[hh[i]]=i}; next}
    {sub(/^"/,""); sub(/"$/,""); split($0,v,"\",\""); np=v[h["n_prompt"]]; ng=v[h["n_gen"]];
     name=(np>0 ? "pp" np : "tg" ng); if(name==want) print v[h["avg_ts"]]}' "$1"
}
bn_ts() { awk -F'|' -v want="$2" '{gsub(/ /,"",$7); if($7==want){split($8,a," "); print a[1]}}' "$1"; }

# median of the numbers on stdin ("fail" entries, a crashed reference run, are left out)
median() { { grep -v '^fail$' || true; } | sort -g | awk '{v[NR]=$1} END{if(NR==0){print "-"; exit} m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.2f\n", m}'; }

bw_line=$("$B/bench/bench_kernels" --probe 1)
bw1=$(echo "$bw_line" | sed -n 's/.*: \([0-9.]*\) GB\/s with 1 thread.*/\1/p')
bw2=$(echo "$bw_line" | sed -n 's/.*, \([0-9.]*\) GB\/s with 2.*/\1/p')

echo "machine: $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs," \
     "$(grep -o 'avx512_vnni\|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "probe: $bw_line"
echo "runs: $REPS rounds, alternating; discarded when others used > $NOISE of a CPU"
echo
printf '| file | engine | threads | test | t/s (median) | clean/runs | x ref | GB/s | of probe |\n'
printf '| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n'

for t in $TYPES; do
  f="$DIR/bntk-vs-2b.$t.gguf"
  case $t in i2_s) ref=${BN_VS_BITNET:-}; rname="bitnet.cpp";; *) ref=${BN_VS_LLAMA:-}; rname="llama.cpp";; esac
  [ -n "$ref" ] && [ ! -x "$ref" ] && { echo "bench_vs: $ref is not an executable" >&2; exit 2; }
  # bytes read per decoded token: the file minus the embedding rows not used
  per_tok=$("$B/bn-info" "$f" --json 2>/dev/null | jq -r '
      ([.tensors[] | select(.name != "token_embd.weight") | .bytes] | add) as $rest
      | ([.tensors[] | select(.name == "token_embd.weight") | .bytes] | add) as $embd
      | if ([.tensors[] | select(.name == "output.weight")] | length) == 0
        then $rest + $embd else $rest end' 2>/dev/null || echo 0)
  act=$([ "$t" = i2_s ] && echo token || echo "$ACT")
  label=$t; [ "$act" = q8_k ] && label="$t (q8_k)"
  for th in $THREADS; do
    bw=$([ "$th" = 1 ] && echo "$bw1" || echo "$bw2")
    for eng in ref $BN_ENGINES; do [ $eng = ref ] && [ -z "$ref" ] && continue; : >"$TMP/$eng.$t.$th"; done
    clean=0 tries=0
    while [ $clean -lt "$REPS" ] && [ $tries -lt "$TRIES" ]; do
      tries=$((tries + 1)); ok=1
      if [ -n "$ref" ]; then
        # one test per call: bitnet.cpp's llama-bench (0f0e7dae) dies of SIGSEGV in
        # ggml_compute_forward_mul_mat on pp512 with -t 1, which took pp128 and tg32
        # down with it when all three ran in one call
        r=$(MAY_FAIL=1 run "$TMP/r" "$ref" -m "$f" -p 128 -n 32 -t "$th" -r 1 -o csv)
        awk -v x="${r#* }" -v n="$NOISE" 'BEGIN{exit !(x>n)}' && ok=0
        r=$(MAY_FAIL=1 run "$TMP/r2" "$ref" -m "$f" -p 512 -n 0 -t "$th" -r 1 -o csv)
        awk -v x="${r#* }" -v n="$NOISE" 'BEGIN{exit !(x>n)}' && ok=0
      fi
      for eng in $BN_ENGINES; do
        bin=$([ $eng = base ] && echo "$BASE" || echo "$B")/bn-run
        b=$(run "$TMP/$eng.1" "$bin" "$f" --bench --bench-pp 128 --bench-tg 32 -t "$th" --act "$act" ${KERNEL:+--kernel "$KERNEL"})
        awk -v x="${b#* }" -v n="$NOISE" 'BEGIN{exit !(x>n)}' && ok=0
        b=$(run "$TMP/$eng.2" "$bin" "$f" --bench --bench-pp 512 --bench-tg 1 -t "$th" --act "$act" ${KERNEL:+--kernel "$KERNEL"})
        awk -v x="${b#* }" -v n="$NOISE" 'BEGIN{exit !(x>n)}' && ok=0
      done
      # every run is kept: clean ones in the list, disturbed ones in a fallback list
      sfx=$([ $ok = 1 ] && echo "" || echo ".noisy")
      [ $ok = 1 ] && clean=$((clean + 1))
      if [ -n "$ref" ]; then
        echo "$(ref_ts "$TMP/r" pp128 | grep . || echo fail) $(ref_ts "$TMP/r2" pp512 | grep . || echo fail)" \
             "$(ref_ts "$TMP/r" tg32 | grep . || echo fail)" >>"$TMP/ref.$t.$th$sfx"
      fi
      for eng in $BN_ENGINES; do
        echo "$(bn_ts "$TMP/$eng.1" pp128) $(bn_ts "$TMP/$eng.2" pp512) $(bn_ts "$TMP/$eng.1" tg32)" >>"$TMP/$eng.$t.$th$sfx"
      done
    done
    for eng in ref $BN_ENGINES; do
      [ $eng = ref ] && [ -z "$ref" ] && continue
      src="$TMP/$eng.$t.$th"; mark=""
      if [ "$clean" -lt "$REPS" ]; then mark="*"; cat "$TMP/$eng.$t.$th.noisy" >>"$src" 2>/dev/null || true; fi
      for col in 1 2 3; do
        test=$(echo "pp128 pp512 tg32" | cut -d' ' -f$col)
        med=$(awk -v c=$col '{print $c}' "$src" | median)
        echo "$med" >"$TMP/med.$eng.$t.$th.$col"
        ratio="-"
        if [ $eng != ref ] && [ -n "$ref" ]; then
          rm=$(cat "$TMP/med.ref.$t.$th.$col")
          ratio=$(awk -v a="$med" -v b="$rm" 'BEGIN{if(b+0>0) printf "%.2f", a/b; else print "-"}')
        fi
        gbs="-" of="-"
        if [ "$test" = tg32 ] && [ "$per_tok" -gt 0 ]; then
          gbs=$(awk -v m="$med" -v p="$per_tok" 'BEGIN{printf "%.1f", m*p/1e9}')
          of=$(awk -v g="$gbs" -v w="$bw" 'BEGIN{if(w>0) printf "%.2f", g/w; else print "-"}')
        fi
        name=$(case $eng in ref) echo "$rname";; base) echo "bntk (base)";; *) echo "bntk";; esac)
        printf '| %s | %s | %s | %s | %s%s | %s/%s | %s | %s | %s |\n' "$label" "$name" "$th" "$test" \
          "$med" "$mark" "$clean" "$tries" "$ratio" "$gbs" "$of"
      done
    done
  done
done

# KV depth (issue 15 goal 5): bntk's tg32 after $BN_VS_DEPTHS cached positions (default
# none; e.g. "0 1024 4096"), F16 KV as llama.cpp's default, median of $REPS runs. The
# reference engines' llama-bench builds have no -d, so this table is bntk's alone. GB/s
# counts the weights a token reads plus the K and V it reads back: 2 x layers x kv_dim x
# 2 bytes x (depth + 16, the mean position of the 32 tokens).
DEPTHS=${BN_VS_DEPTHS:-}
if [ -n "$DEPTHS" ]; then
  echo
  printf '| file | engine | threads | test | t/s (median) | clean/runs | KV MB/token | GB/s | of probe |\n'
  printf '| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n'
  for t in $TYPES; do
    f="$DIR/bntk-vs-2b.$t.gguf"
    info=$("$B/bn-info" "$f" --json)
    per_tok=$(echo "$info" | jq -r '
        ([.tensors[] | select(.name != "token_embd.weight") | .bytes] | add) as $rest
        | ([.tensors[] | select(.name == "token_embd.weight") | .bytes] | add) as $embd
        | if ([.tensors[] | select(.name == "output.weight")] | length) == 0
          then $rest + $embd else $rest end')
    kv_row=$(echo "$info" | jq -r '
        def kv(s): [.kv[] | select(.key | endswith(s)) | .value][0];
        kv(".block_count") * 2 * 2 * (kv(".embedding_length") / kv(".attention.head_count")
                                      * kv(".attention.head_count_kv"))')
    for th in $THREADS; do
      bw=$([ "$th" = 1 ] && echo "$bw1" || echo "$bw2")
      for d in $DEPTHS; do
        : >"$TMP/depth"; clean=0 tries=0
        while [ $clean -lt "$REPS" ] && [ $tries -lt "$TRIES" ]; do
          tries=$((tries + 1))
          b=$(run "$TMP/d.out" "$B/bn-run" "$f" --bench --bench-pp 1 --bench-tg 32 --bench-depth "$d" \
                -c $((d + 32)) --kv f16 -t "$th" ${KERNEL:+--kernel "$KERNEL"})
          name=$([ "$d" -gt 0 ] && echo "tg32@d$d" || echo tg32)
          v=$(bn_ts "$TMP/d.out" "$name")
          if awk -v x="${b#* }" -v n="$NOISE" 'BEGIN{exit !(x<=n)}'; then clean=$((clean + 1)); echo "$v" >>"$TMP/depth"
          else echo "$v" >>"$TMP/depth.noisy"; fi
        done
        mark=""
        if [ "$clean" -lt "$REPS" ]; then mark="*"; cat "$TMP/depth.noisy" >>"$TMP/depth" 2>/dev/null || true; fi
        rm -f "$TMP/depth.noisy"
        med=$(median <"$TMP/depth")
        kvb=$(awk -v r="$kv_row" -v d="$d" 'BEGIN{printf "%.0f", r*(d+16)}')
        gbs=$(awk -v m="$med" -v p="$per_tok" -v k="$kvb" 'BEGIN{printf "%.1f", m*(p+k)/1e9}')
        of=$(awk -v g="$gbs" -v w="$bw" 'BEGIN{if(w>0) printf "%.2f", g/w; else print "-"}')
        printf '| %s | bntk | %s | tg32 @ d%s | %s%s | %s/%s | %.1f | %s | %s |\n' "$t" "$th" "$d" "$med" \
          "$mark" "$clean" "$tries" "$(awk -v k="$kvb" 'BEGIN{print k/1e6}')" "$gbs" "$of"
      done
    done
  done
fi
