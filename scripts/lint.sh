#!/usr/bin/env bash
# scripts/lint.sh - `make lint`: cppcheck and clang-tidy (curated checks in
# .clang-tidy) over every C file under src/. Prints the findings and fails if
# there is any; silent apart from a summary when the tree is clean.
#
# Compile flags mirror the Makefile (C11, _DEFAULT_SOURCE, include paths,
# pkg-config flags, the SIMD -m flags for *_avx2.c / *_avx512.c on x86-64).
# Files for another architecture (*_neon.c on x86-64, *_avx*.c elsewhere)
# are analysed only by cppcheck.
set -u
cd "$(dirname "$0")/.."
for tool in cppcheck clang-tidy; do
  command -v "$tool" >/dev/null || { echo "lint: $tool is not installed (apt-get install $tool)" >&2; exit 2; }
done
mapfile -t files < <(find src -name '*.c' | sort)
[ ${#files[@]} -gt 0 ] || { echo "lint: no sources under src/" >&2; exit 2; }
pkg=$(pkg-config --cflags libzip libcjson zlib 2>/dev/null)
arch=$(uname -m)
base=(-std=c11 -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 -Iinclude -Isrc -pthread $pkg)
fail=0 out=$(mktemp)
trap 'rm -f "$out"' EXIT

# cppcheck: bugs, portability and the style checks that point at bugs
# (unread variables, redundant code). Inline `// cppcheck-suppress id`
# comments are honoured, each with its reason. Off: knownConditionTrueFalse
# and shadowFunction (value flow without the caller's context: every report
# on this tree was wrong), and the const/scope style suggestions.
# bn-synth.c builds names with a macro that pastes a literal into a format
# (`"blk.%d." s ".weight"`), which cppcheck misreads as %s arguments.
if ! nice -n 10 cppcheck --std=c11 --enable=warning,style,portability,performance --inline-suppr \
     --quiet --error-exitcode=1 -D_DEFAULT_SOURCE -D__GNUC__ -Iinclude -Isrc $pkg \
     --suppress=knownConditionTrueFalse --suppress=shadowFunction \
     --suppress=invalidPrintfArgType_s:src/tools/bn-synth.c \
     --suppress=missingIncludeSystem --suppress=unusedFunction --suppress=constParameter \
     --suppress=constVariable --suppress=constParameterPointer --suppress=variableScope \
     "${files[@]}" >"$out" 2>&1; then
  cat "$out"; fail=1
fi
n_cpp=${#files[@]}

# clang-tidy: one process per file, LINT_JOBS at a time (default: all cores).
tidy_one() { # FILE OUTDIR: findings of FILE into OUTDIR/<n>.log, only when there are some
  local f=$1 log extra=()
  log="$2/$(echo "$f" | tr / _).log"
  case "$f" in
    *_avx2.c)   extra=(-mavx2 -mfma -mf16c) ;;
    *_avx512.c) extra=(-mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c) ;;
  esac
  if ! nice -n 10 clang-tidy --quiet "$f" -- "${base[@]}" "${extra[@]}" >"$log" 2>&1; then
    grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated|^Suppressed|^Use -header-filter' "$log" >"$log.bad"
  fi
  rm -f "$log"
}
tidy_files=()
for f in "${files[@]}"; do
  case "$f" in
    *_avx2.c|*_avx512.c) [ "$arch" = x86_64 ] || continue ;;
    *_neon.c) [ "$arch" = aarch64 ] || continue ;;
  esac
  tidy_files+=("$f")
done
n_tidy=${#tidy_files[@]}
tdir=$(mktemp -d)
trap 'rm -f "$out"; rm -rf "$tdir"' EXIT
export -f tidy_one
export base_str="${base[*]}"
printf '%s\0' "${tidy_files[@]}" |
  xargs -0 -P "${LINT_JOBS:-$(nproc)}" -I{} bash -c 'base=($base_str); tidy_one "$1" "$2"' _ {} "$tdir"
if compgen -G "$tdir/*.bad" >/dev/null; then
  cat "$tdir"/*.bad; fail=1
fi
if [ $fail -ne 0 ]; then
  echo "lint: findings above (cppcheck over $n_cpp files, clang-tidy over $n_tidy)" >&2
  exit 1
fi
echo "lint: clean (cppcheck over $n_cpp files, clang-tidy over $n_tidy)"
