#!/usr/bin/env bash
# Install the build dependencies that pkg-config cannot find (Debian/Ubuntu).
# Fast and silent when everything is present; the make targets that build or
# run something run it first (`make deps`).
set -eu
missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
have() { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1"; }
have libzip   || missing+=(libzip-dev)
have zlib     || missing+=(zlib1g-dev)
have libcjson || missing+=(libcjson-dev)
have check    || missing+=(check)
# --lint: the static analysers (make lint); --man: help2man (man pages, make install)
if [ "${1:-}" = "--lint" ]; then
  command -v cppcheck >/dev/null 2>&1 || missing+=(cppcheck)
  command -v clang-tidy >/dev/null 2>&1 || missing+=(clang-tidy)
fi
if [ "${1:-}" = "--man" ]; then
  command -v help2man >/dev/null 2>&1 || missing+=(help2man)
fi
# --fuzz: clang with the libFuzzer and sanitizer runtimes (make fuzz)
if [ "${1:-}" = "--fuzz" ]; then
  command -v clang >/dev/null 2>&1 || missing+=(clang)
  probe=$(mktemp -d)
  printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$probe/f.c"
  if ! clang -fsanitize=fuzzer,address,undefined -o "$probe/f" "$probe/f.c" >/dev/null 2>&1; then
    v=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
    missing+=("libclang-rt-${v:-14}-dev")
  fi
  rm -rf "$probe"
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: apt-get not found; install ${missing[*]} (or equivalents) by hand" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: not root and no sudo; install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2 || true
$sudo apt-get install -y -qq "${missing[@]}" >&2
