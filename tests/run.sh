#!/usr/bin/env bash
# Runs Check suites and CLI tests; prints each failure and a closing
# "N passed, N failed" line. Check suites are counted per test case
# (their "Checks: N, Failures: F, Errors: E" line); CLI scripts per "ok"/"not ok" line.
set -u
passed=0 failed=0 broken=()
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export BN_TMP="$tmp"
for t in "$@"; do
  name=$(basename "$t")
  log="$tmp/$name.log"
  if [[ "$t" == *.sh ]]; then
    bash "$t" >"$log" 2>&1; rc=$?
    p=$(grep -c '^ok ' "$log"); f=$(grep -c '^not ok ' "$log")
  else
    CK_VERBOSITY=normal "$t" >"$log" 2>&1; rc=$?
    line=$(grep -Eo 'Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$log" | tail -1)
    if [ -n "$line" ]; then
      read -r n fl er <<<"$(echo "$line" | grep -Eo '[0-9]+' | tr '\n' ' ')"
      f=$((fl + er)); p=$((n - f))
    else
      p=0; f=1
    fi
  fi
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -gt 0 ]; then
    broken+=("$name"); echo "FAIL $name (exit $rc)"; sed 's/^/    /' "$log" | grep -v '^    ok ' | tail -40
  else
    echo "PASS $name ($p)"
  fi
done
echo
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
