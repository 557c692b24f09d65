#!/usr/bin/env bash
# scripts/fuzz.sh BUILD SECONDS HARNESS... - run each libFuzzer harness for
# SECONDS seconds, one after the other (make fuzz calls this).
#
# For harness BUILD/fuzz_NAME, tests/fuzz/NAME.conf says (one per line):
#   seeds DIR     a seed directory, relative to the repository root (read only)
#   dict FILE     a libFuzzer dictionary
#   flag -X=Y     an extra libFuzzer flag (e.g. -max_len)
# New inputs go to BUILD/corpus/NAME, which persists between runs, so short
# runs add up. A crash, leak, timeout or out-of-memory leaves its input in
# BUILD/artifacts/NAME/ and makes this script fail; turn it into
# tests/corpus/<format>/regress-* with a test that replays it.
# Each run appends "name seconds runs edges features corpus status" to
# BUILD/fuzz-log.tsv.
set -u
build=$1 seconds=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${BN_SHARED:-$root/../shared}
failed=()
for bin in "$@"; do
  name=$(basename "$bin"); name=${name#fuzz_}
  conf="$root/tests/fuzz/$name.conf"
  corpus="$build/corpus/$name" art="$build/artifacts/$name"
  mkdir -p "$corpus" "$art"
  args=() seeds=()
  if [ -f "$conf" ]; then
    while read -r kind val; do
      case "$kind" in
        seeds) val=${val//\$SHARED/$shared}; [ -d "$root/$val" ] && seeds+=("$root/$val")
               [ -d "$val" ] && [ "${val:0:1}" = / ] && seeds+=("$val") ;;
        dict)  args+=("-dict=$root/$val") ;;
        flag)  args+=("$val") ;;
        ''|'#'*) ;;
        *) echo "fuzz.sh: $conf: unknown line '$kind'" >&2; exit 2 ;;
      esac
    done <"$conf"
  fi
  log="$build/fuzz-$name.log"
  # -timeout: one input may take at most 10 s; -malloc_limit_mb: one
  # allocation above 1 GiB is a finding (limits must be checked before
  # allocating); -rss_limit_mb bounds the whole process.
  BN_SHARED=$shared nice -n 10 "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$art/" "${args[@]}" \
    "$corpus" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -aE '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$last")
  status=ok
  [ $rc -ne 0 ] && status=FAILED && failed+=("$name")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$seconds" "${runs:-0}" "${cov:-0}" "${ft:-0}" \
    "${corp:-0}" "$status" >>"$build/fuzz-log.tsv"
  echo "fuzz_$name: ${runs:-0} runs in ${seconds}s, edges ${cov:-?}, features ${ft:-?}, corpus ${corp:-?}: $status"
  if [ $rc -ne 0 ]; then
    grep -aE 'ERROR|SUMMARY|fuzz: |Test unit written|==[0-9]+==' "$log" | head -20 | sed 's/^/    /'
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]} (inputs in $build/artifacts/)"
  exit 1
fi
