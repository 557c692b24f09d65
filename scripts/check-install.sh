#!/usr/bin/env bash
# scripts/check-install.sh MAKE BUILD - `make check-install`: install into a
# temporary DESTDIR, check what was installed, build examples/ from the
# installed files only (a copy outside the tree, pkg-config pointed at the
# DESTDIR), run it against the installed libbn.so and libbn.a, compare its
# perplexity with the installed bn-verify, uninstall, and check that nothing
# is left. TAP-like "ok"/"not ok" lines; exit 1 if any check failed.
set -u
cd "$(dirname "$0")/.."
MAKE=${1:-make} B=${2:-build}
SHARED=${BN_SHARED:-../shared}
PREFIX=/usr/local
d=$(mktemp -d "${TMPDIR:-/tmp}/bntk-destdir.XXXXXX") w=$(mktemp -d "${TMPDIR:-/tmp}/bntk-example.XXXXXX")
trap 'rm -rf "$d" "$w"' EXIT
n=0 failed=0
ok()    { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
check() { local what=$1; shift; if "$@" >"$w/.log" 2>&1; then ok "$what"; else notok "$what"; sed 's/^/  | /' "$w/.log" | tail -20; fi; }
p=$d$PREFIX
outside() { ls -la /usr/local/bin /usr/local/lib /usr/local/include /usr/local/share/man/man1 2>/dev/null | md5sum; }
before=$(outside)

check "make install DESTDIR=... PREFIX=$PREFIX" $MAKE --no-print-directory BN_SKIP_DEPS=1 BUILD="$B" \
  DESTDIR="$d" PREFIX="$PREFIX" install

# exactly the GNU layout, and nothing else
mapfile -t tools < <(ls src/tools/bn-*.c | sed 's#.*/##; s#\.c$##')
ver=$(sed -n 's/^#define BN_VERSION "\([^"]*\)".*/\1/p' include/bn/version.h)
abi=$(sed -n 's/^#define BN_ABI_VERSION \([0-9]*\).*/\1/p' include/bn/version.h)
{
  for t in "${tools[@]}"; do
    echo "$PREFIX/bin/$t"; echo "$PREFIX/share/man/man1/$t.1"
    echo "$PREFIX/share/bash-completion/completions/$t"
  done
  for h in include/bn/*.h; do echo "$PREFIX/include/bn/${h##*/}"; done
  echo "$PREFIX/lib/libbn.a"; echo "$PREFIX/lib/libbn.so.$ver"; echo "$PREFIX/lib/libbn.so.$abi"
  echo "$PREFIX/lib/libbn.so"; echo "$PREFIX/lib/pkgconfig/bntk.pc"
} | sort >"$w/want"
(cd "$d" && find . \( -type f -o -type l \) | sed 's#^\.##' | sort) >"$w/got"
check "installed files are exactly the GNU layout ($(wc -l <"$w/want") files)" diff "$w/want" "$w/got"
check "libbn.so -> libbn.so.$abi -> libbn.so.$ver, soname libbn.so.$abi" bash -c \
  "[ \"\$(readlink '$p/lib/libbn.so')\" = libbn.so.$abi ] && [ \"\$(readlink '$p/lib/libbn.so.$abi')\" = libbn.so.$ver ] &&
   readelf -d '$p/lib/libbn.so.$ver' | grep -q 'SONAME.*\[libbn.so.$abi\]'"
check "the installed libbn.so exports exactly the public API" ./scripts/check-exports.sh "$p/lib/libbn.so.$ver"

# tools from PATH, with man pages and completion
for t in "${tools[@]}"; do
  check "$t runs from PATH (--version)" env PATH="$p/bin:$PATH" bash -c \
    "[ \"\$(command -v $t)\" = '$p/bin/$t' ] && $t --version | grep -qx '$t (bntk) $ver'"
  if command -v man >/dev/null; then
    check "man $t finds the installed page" bash -c "[ \"\$(MANPATH='$p/share/man' man -w $t)\" = '$p/share/man/man1/$t.1' ]"
  fi
  check "$t.1: a man page with NAME, OPTIONS text and EXIT STATUS" bash -c \
    "grep -q '^\.TH ${t^^} \"1\"' '$p/share/man/man1/$t.1' && grep -q '^$t \\\\- ' '$p/share/man/man1/$t.1' &&
     grep -q '^\.SH \"EXIT STATUS\"' '$p/share/man/man1/$t.1' && grep -q 'fB\\\\-\\\\-help' '$p/share/man/man1/$t.1'"
  check "$t: bash completion registers" bash -c ". '$p/share/bash-completion/completions/$t' && complete -p $t"
done

# the example, from a copy outside the tree, through pkg-config only
cp examples/* "$w/"
export PKG_CONFIG_SYSROOT_DIR="$d" PKG_CONFIG_PATH="$p/lib/pkgconfig"
check "pkg-config finds bntk $ver in the DESTDIR" bash -c "[ \"\$(pkg-config --modversion bntk)\" = '$ver' ] &&
  pkg-config --cflags bntk | grep -qF -- '-I$p/include' && pkg-config --libs bntk | grep -qF -- '-L$p/lib'"
check "pkg-config --static adds zlib, libzip, libcjson" bash -c \
  "pkg-config --static --libs bntk | grep -q -- -lzip && pkg-config --static --libs bntk | grep -q -- -lcjson &&
   pkg-config --static --libs bntk | grep -q -- -lz"
printf '%s\n' include/bn/*.h | sed 's#include/#\#include <#; s#$#>#' >"$w/all_headers.c"
check "every installed header compiles together (-pedantic, installed headers only)" bash -c \
  "cc -std=c11 -Wall -Wextra -Werror -pedantic \$(pkg-config --cflags bntk) -fsyntax-only '$w/all_headers.c'"
check "examples/ builds against the installed libbn.so and libbn.a" $MAKE -C "$w" --no-print-directory all static
check "the example needs libbn.so.$abi and loads the installed one" bash -c \
  "readelf -d '$w/convert_and_score' | grep -q 'NEEDED.*\[libbn.so.$abi\]' &&
   LD_LIBRARY_PATH='$p/lib' ldd '$w/convert_and_score' | grep -qF 'libbn.so.$abi => $p/lib/libbn.so.$abi'"
check "the static example does not need libbn.so" bash -c "! readelf -d '$w/convert_and_score-static' | grep -q 'libbn.so'"
text="$SHARED/data/wikitext-2/wiki.test.raw"
check "the example converts, loads, scores and generates (libbn.so)" env LD_LIBRARY_PATH="$p/lib" \
  "$w/convert_and_score" fixtures/tiny-b158 "$w/out.gguf" "$text" 128 4
cp "$w/.log" "$w/dyn.out"
check "the same from libbn.a, byte for byte" bash -c "'$w/convert_and_score-static' fixtures/tiny-b158 '$w/out2.gguf' '$text' 128 4 >'$w/static.out' &&
  diff '$w/dyn.out' '$w/static.out' && cmp '$w/out.gguf' '$w/out2.gguf'"
full=$("$p/bin/bn-info" --version | sed -n 's/^version //p')
check "the example says which libbn it ran with (${full:-$ver})" grep -qxF "libbn ${full:-$ver}" "$w/dyn.out"
check "it generated 16 tokens after the prompt" bash -c "grep -qE '^generated: .+' '$w/dyn.out' && grep -qx '16 tokens generated' '$w/dyn.out'"
ppl=$(sed -n 's/^perplexity: \([0-9.]*\) .*/\1/p' "$w/dyn.out")
vppl=$(env PATH="$p/bin:$PATH" bn-verify "$w/out.gguf" --perplexity "$text" -c 128 --chunks 4 -q --json - 2>/dev/null |
       tr -d ' \t\n' | grep -oE '"perplexity":\{[^}]*' | grep -oE '"ppl":[0-9.eE+-]+' | cut -d: -f2)
[ -z "$vppl" ] || vppl=$(printf '%.6f' "$vppl")
check "its perplexity ($ppl) is the installed bn-verify's (${vppl:-none})" test -n "$ppl" -a "$ppl" = "$vppl"

check "make uninstall" $MAKE --no-print-directory BN_SKIP_DEPS=1 BUILD="$B" DESTDIR="$d" PREFIX="$PREFIX" uninstall
check "nothing of bntk is left in the DESTDIR (no file, no link, no include/bn)" bash -c \
  "[ -z \"\$(find '$d' \( -type f -o -type l \))\" ] && [ ! -e '$p/include/bn' ]"
check "nothing outside the DESTDIR changed (/usr/local)" test "$before" = "$(outside)"

echo "check-install: $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
