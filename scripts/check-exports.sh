#!/usr/bin/env bash
# scripts/check-exports.sh LIBBN.so [LIBBN.a] - part of `make lint`: the shared
# library exports exactly what the public headers declare, and every other
# extern symbol of the static library is visibly internal.
#
#  declared: every non-static function (and `extern` object) declared in
#            include/bn/*.h, as the compiler sees them: one translation unit
#            including every header, its prototypes listed by gcc -aux-info.
#  exported: the symbols `nm -D --defined-only` lists.
#  extern:   the global symbols the objects of LIBBN.a define (nm -g).
# Fails (exit 1) on an exported symbol no header declares (a helper that
# should be static or internal), on a declared function the library does
# not export (a prototype without a definition, or one defined hidden), and
# on an extern symbol of LIBBN.a that no header declares and that lacks the
# internal prefix: bn<letter>_, the module's letter (bnu_ util, bng_ gguf,
# bna_ arch, bnq_ quant, bnc_ convert, bnr_ runtime, bnv_ verify). Public
# names are bn_*, so the two can never be confused.
set -euo pipefail
cd "$(dirname "$0")/.."
lib=${1:?usage: check-exports.sh LIBBN.so [LIBBN.a]}
alib=${2:-}
CC=${CC:-cc}
[ -f "$lib" ] || { echo "check-exports: $lib not found (make it first)" >&2; exit 2; }
[ -z "$alib" ] || [ -f "$alib" ] || { echo "check-exports: $alib not found (make it first)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in include/bn/*.h; do echo "#include \"bn/${h##*/}\""; done >"$tmp/all.c"
"$CC" -std=c11 -D_DEFAULT_SOURCE -Iinclude -fsyntax-only -aux-info "$tmp/aux" "$tmp/all.c"
# "/* include/bn/x.h:12:NC */ extern bn_status bn_x_open (const char *, ...);"
grep '^/\* include/bn/[^ ]*:[0-9]*:[NO][CF] \*/ extern ' "$tmp/aux" |
  sed -E 's/ \(.*$//; s/^.*[ *]([A-Za-z_][A-Za-z0-9_]*)$/\1/' >"$tmp/declared"
# objects: "extern <type> name;" or "extern <type> name[...];" on one line
sed -nE 's/^extern [^(]*[ *]([A-Za-z_][A-Za-z0-9_]*) *(\[[^]]*\])? *;.*/\1/p' include/bn/*.h >>"$tmp/declared"
sort -u "$tmp/declared" -o "$tmp/declared"
nm -D --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sed 's/@.*//' |
  grep -vxE '_init|_fini|_edata|_end|__bss_start' | sort -u >"$tmp/exported"
extra=$(comm -13 "$tmp/declared" "$tmp/exported")
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
rc=0
if [ -n "$extra" ]; then
  echo "check-exports: $lib exports symbols no public header declares (make them static, or declare them in include/bn/):" >&2
  echo "$extra" | sed 's/^/  /' >&2; rc=1
fi
if [ -n "$missing" ]; then
  echo "check-exports: functions declared in include/bn/ that $lib does not export (no definition, or defined without the header):" >&2
  echo "$missing" | sed 's/^/  /' >&2; rc=1
fi
if [ -n "$alib" ]; then
  # "build/libbn.a:x.o:0000000000000040 T bn_x_open" (nm -A: archive, member, value)
  nm -A -g --defined-only "$alib" | awk 'NF == 3 { n = split($1, p, ":"); print $3, p[n - 1] }' |
    sort -k1,1 >"$tmp/extern"
  [ -s "$tmp/extern" ] || { echo "check-exports: nm lists no symbols of $alib" >&2; exit 2; }
  unprefixed=$(join -v1 "$tmp/extern" "$tmp/declared" | grep -vE '^bn[a-z]_' || true)
  if [ -n "$unprefixed" ]; then
    echo "check-exports: $alib defines extern symbols no public header declares and without the internal" \
         "prefix bn<letter>_ (make them static, or rename them with their module's prefix):" >&2
    echo "$unprefixed" | awk '{ printf "  %s (%s)\n", $1, $2 }' >&2; rc=1
  fi
fi
[ $rc -ne 0 ] || echo "check-exports: $lib exports exactly the $(wc -l <"$tmp/declared") functions the public headers declare${alib:+; every other extern symbol of $alib carries the internal prefix}"
exit $rc
