# tests/cli/lib.sh - sourced by CLI tests. Prints TAP-like "ok"/"not ok" lines
# that tests/run.sh counts. Environment: BN_BUILD (tools), BN_SHARED, BN_ROOT, BN_TMP.
set -u
BN_BUILD=${BN_BUILD:-$(pwd)/build}
BN_SHARED=${BN_SHARED:-$(pwd)/../shared}
BN_ROOT=${BN_ROOT:-$(pwd)}
T=$(mktemp -d "${BN_TMP:-/tmp}/cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
_n=0
ok()     { _n=$((_n+1)); echo "ok $_n - $*"; }
not_ok() { _n=$((_n+1)); echo "not ok $_n - $*"; }
# check DESCRIPTION COMMAND...: passes when the command exits 0.
check()  { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# run_rc EXPECTED_RC OUTFILE CMD...: run, capture stdout+stderr, compare the exit code.
run_rc() {
  local want=$1 out=$2; shift 2
  "$@" >"$out" 2>&1; local rc=$?
  if [ "$rc" -eq "$want" ]; then return 0; fi
  echo "  expected exit $want, got $rc from: $*" >&2; sed 's/^/  | /' "$out" | head -20 >&2
  return 1
}
