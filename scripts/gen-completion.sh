#!/usr/bin/env bash
# scripts/gen-completion.sh TOOL_BINARY OUT - bash completion for a tool,
# generated from its --help so that it cannot drift from the tool: every
# option the help text names (-x, --long), and for an option shown as
# `--opt a|b|c` its values. Other words complete as file names.
set -euo pipefail
bin=$1 out=$2
tool=$(basename "$bin")
help=$("$bin" --help 2>&1) || { echo "gen-completion: $bin --help failed" >&2; exit 2; }
# options: a - or -- not glued to a word before it (so "per-block" is not one)
opts=$(grep -oP '(?<![A-Za-z0-9_.-])--?[A-Za-z][A-Za-z0-9-]*' <<<"$help" | sort -u | paste -sd' ' -)
[ -n "$opts" ] || { echo "gen-completion: no options in $tool --help" >&2; exit 2; }
# "--opt v1|v2|v3": enumerated values
cases=$({ grep -oP '(?<![A-Za-z0-9_.-])--[A-Za-z][A-Za-z0-9-]*[ =][A-Za-z0-9_.-]+(\|[A-Za-z0-9_.-]+)+' <<<"$help" || true; } |
        sed -E 's/[ =]/ /' | sort -u |
        awk '{ gsub(/\|/, " ", $2); printf "    %s) COMPREPLY=($(compgen -W \"%s\" -- \"$cur\")); return ;;\n", $1, $2 }')
fn="_$(tr -c 'A-Za-z0-9\n' _ <<<"$tool")"
{
  echo "# bash completion for $tool (generated from \`$tool --help\` by scripts/gen-completion.sh)"
  echo "$fn() {"
  echo '  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}'
  if [ -n "$cases" ]; then
    echo '  case $prev in'
    echo "$cases"
    echo '  esac'
  fi
  echo '  if [[ $cur == -* ]]; then'
  echo "    COMPREPLY=(\$(compgen -W \"$opts\" -- \"\$cur\"))"
  echo '    return'
  echo '  fi'
  echo '  COMPREPLY=() # file names (complete -o default)'
  echo '}'
  echo "complete -o default -F $fn $tool"
} >"$out.tmp"
bash -n "$out.tmp"
mv "$out.tmp" "$out"
