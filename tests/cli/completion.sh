#!/usr/bin/env bash
# Bash completion generated from --help (scripts/gen-completion.sh) for every
# tool: it is valid bash, offers each option the help names, offers the
# values of `--opt a|b|c` options, and leaves other words to file names.
. "$(dirname "$0")/lib.sh"
GEN="$BN_ROOT/scripts/gen-completion.sh"

# complete_words FILE WORD...: what completing the last WORD offers.
complete_words() {
  local f=$1; shift
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
           fn=$(complete -p "$1" | sed -E "s/.* -F ([^ ]+) .*/\1/"); "$fn"
           printf "%s\n" "${COMPREPLY[@]}"' _ "$f" "$@"
}
offers() { # FILE WANT WORD...: the completion of WORD... includes WANT
  local f=$1 want=$2; shift 2
  complete_words "$f" "$@" | grep -qxF -- "$want" ||
    { echo "  completing '$*' did not offer '$want': $(complete_words "$f" "$@" | tr '\n' ' ')" >&2; return 1; }
}

for bin in "$BN_BUILD"/bn-*; do
  tool=$(basename "$bin")
  [ -x "$bin" ] || continue
  c="$T/$tool"
  check "$tool: completion generated from --help" "$GEN" "$bin" "$c"
  check "$tool: the script is valid bash and registers $tool" \
    bash -c '. "$1" && complete -p "$2" >/dev/null' _ "$c" "$tool"
  # every option of the help text, completed from its first two characters
  opts=$("$bin" --help 2>&1 | grep -oP '(?<![A-Za-z0-9_.-])--[A-Za-z][A-Za-z0-9-]*' | sort -u)
  missing=0
  for o in $opts; do offers "$c" "$o" "$tool" "${o:0:3}" || missing=$((missing + 1)); done
  check "$tool: every --option of --help completes ($(wc -w <<<"$opts") options)" test "$missing" -eq 0
  check "$tool: --help is offered" offers "$c" --help "$tool" --he
  check "$tool: --version is offered" offers "$c" --version "$tool" --ver
  check "$tool: a non-option word is left to file names" \
    test -z "$(complete_words "$c" "$tool" fix)"
done

# enumerated values, where the help shows them as a|b|c
if [ -x "$BN_BUILD/bn-quant" ]; then
  c="$T/bn-quant"
  check "bn-quant --type offers tq2_0" offers "$c" tq2_0 bn-quant --type ""
  check "bn-quant --format offers json" offers "$c" json bn-quant --format j
  check "bn-quant --method offers only matching values" \
    test "$(complete_words "$c" bn-quant --method abs | sort | tr '\n' ' ')" = "absmax absmean "
fi
if [ -x "$BN_BUILD/bn-verify" ]; then
  check "bn-verify --act offers q8_k" offers "$T/bn-verify" q8_k bn-verify --act q
fi
# a tool without a --help fails loudly instead of writing an empty script
printf '#!/bin/sh\nexit 3\n' >"$T/bn-broken"; chmod +x "$T/bn-broken"
check "a tool whose --help fails: generator exits non-zero, writes nothing" \
  bash -c '! "$1" "$2" "$3" 2>/dev/null && [ ! -e "$3" ]' _ "$GEN" "$T/bn-broken" "$T/broken.out"
