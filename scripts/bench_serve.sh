#!/usr/bin/env bash
# bench_serve.sh - bn-serve against bitnet.cpp's llama-server on the same GGUF:
# aggregate generated tokens/s with 1, 4 and 8 concurrent streams (33-token
# prompts, 32 generated tokens each, greedy), and time to first token under
# that load. A benchmark for closing notes, not a test.
#
#   scripts/bench_serve.sh [MODEL.gguf] [ROUNDS]
#
# MODEL defaults to build/bench/serve-2b.gguf, made with bn-synth --preset 2b
# (BitNet-b1.58-2B-4T shapes, I2_S, ~1.1 GB) when missing. Both servers run at
# once with 2 threads, 8 slots and 2048 context positions in all
# (llama-server -np 8 -cb -c 2048 -t 2); the rounds alternate between them
# (the order flips every round) and the medians are reported with their ratio.
# Besides wall-clock tokens/s, each round records the CPU time the server used
# (/proc/PID/stat), so a shared machine's load shows: tokens per CPU-second is
# far less sensitive to other processes than tokens per second (a spinning
# thread pool counts as CPU, though).
# One round is bench/serve_load (built by make bench): N streams started
# together, each timed from its request to its first text and its end.
# Environment: LLAMA_SERVER (default: llama-server on PATH), BUILD (build),
# THREADS (2), STREAMS ("1 4 8"), BN_SERVE_ARGS (more bn-serve options).
# Loopback only; every wait is bounded.
set -euo pipefail
BUILD=${BUILD:-build}
MODEL=${1:-$BUILD/bench/serve-2b.gguf}
ROUNDS=${2:-5}
THREADS=${THREADS:-2}
STREAMS=${STREAMS:-1 4 8}
LLAMA_SERVER=${LLAMA_SERVER:-$(command -v llama-server || true)}
DRIVER=$BUILD/bench/serve_load
[ -x "$LLAMA_SERVER" ] || { echo "bench_serve: set LLAMA_SERVER to bitnet.cpp's llama-server" >&2; exit 2; }
[ -x "$DRIVER" ] || { echo "bench_serve: $DRIVER is missing (make bench, or make $DRIVER)" >&2; exit 2; }
if [ ! -f "$MODEL" ]; then
  mkdir -p "$(dirname "$MODEL")"
  "$BUILD/bn-synth" -q --preset 2b -o "$MODEL"
fi
W=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

# a port nothing listens on (connecting is refused); a bounded number of tries
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}
wait_ready() { # URL PID
  for _ in $(seq 600); do
    curl -sf -m 2 "$1/health" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

"$BUILD/bn-serve" "$MODEL" --port 0 --port-file "$W/bn.port" -t "$THREADS" --parallel 8 -c 2048 \
  ${BN_SERVE_ARGS:-} >"$W/bn.log" 2>&1 &
pids+=($!); bn_pid=$!
for _ in $(seq 100); do [ -s "$W/bn.port" ] && break; sleep 0.1; done
BN=http://127.0.0.1:$(cat "$W/bn.port")
wait_ready "$BN" "$bn_pid" || { cat "$W/bn.log" >&2; exit 3; }
lport=$(free_port)
"$LLAMA_SERVER" -m "$MODEL" -np 8 -cb -c 2048 -t "$THREADS" --host 127.0.0.1 --port "$lport" \
  >"$W/llama.log" 2>&1 &
pids+=($!); llama_pid=$!
LL=http://127.0.0.1:$lport
wait_ready "$LL" "$llama_pid" || { tail -20 "$W/llama.log" >&2; exit 3; }

cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
echo "machine: $cpu, $(nproc) cores online; model $(basename "$MODEL") ($(du -h "$MODEL" | cut -f1))"
echo "threads $THREADS, 8 slots, 2048 positions; 33-token prompts, 32 tokens each, greedy; $ROUNDS rounds"
for s in $STREAMS; do # warm-up, untimed: faults the weights in
  "$DRIVER" --url "$BN" --streams "$s" --round 999 >/dev/null
  "$DRIVER" --url "$LL" --streams "$s" --round 999 >/dev/null
done
# user + system CPU of a process, in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  for s in $STREAMS; do
    if [ $((r % 2)) -eq 1 ]; then order="bn llama"; else order="llama bn"; fi
    for who in $order; do
      url=$BN pid=$bn_pid; [ "$who" = llama ] && url=$LL pid=$llama_pid
      c0=$(cpu_ticks "$pid")
      line=$("$DRIVER" --url "$url" --streams "$s" --round "$r")
      c1=$(cpu_ticks "$pid")
      echo "$line" | jq -c --argjson c "$(( c1 - c0 ))" --argjson t "$tck" \
        '. + {cpu_s: ($c / $t), tok_per_cpu_s: (if $c > 0 then .tokens / ($c / $t) else 0 end)}' \
        >>"$W/$who.$s.jsonl"
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { sort -g | awk '{a[NR]=$1} END{ if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
printf '\n| streams | bn-serve tok/s | llama-server tok/s | ratio | bn-serve tok/CPU-s | llama-server tok/CPU-s | ratio | bn-serve TTFT med/max s | llama-server TTFT med/max s |\n'
printf '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
for s in $STREAMS; do
  b=$(jq -r .agg_tps "$W/bn.$s.jsonl" | median)
  l=$(jq -r .agg_tps "$W/llama.$s.jsonl" | median)
  bt=$(jq -r .ttft_median_s "$W/bn.$s.jsonl" | median); bm=$(jq -r .ttft_max_s "$W/bn.$s.jsonl" | median)
  lt=$(jq -r .ttft_median_s "$W/llama.$s.jsonl" | median); lm=$(jq -r .ttft_max_s "$W/llama.$s.jsonl" | median)
  bc=$(jq -r .tok_per_cpu_s "$W/bn.$s.jsonl" | median); lc=$(jq -r .tok_per_cpu_s "$W/llama.$s.jsonl" | median)
  printf '| %s | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2fx | %.2f / %.2f | %.2f / %.2f |\n' "$s" "$b" "$l" \
    "$(echo "$b $l" | awk '{print $1/$2}')" "$bc" "$lc" "$(echo "$bc $lc" | awk '{print $1/$2}')" \
    "$bt" "$bm" "$lt" "$lm"
done
echo "(medians over $ROUNDS rounds; tokens counted from each server's usage or its ignore_eos budget)"
echo "raw rounds:"; for f in "$W"/*.jsonl; do sed "s|^|$(basename "$f" .jsonl) |" "$f"; done
