#!/usr/bin/env bash
# scripts/gen-man.sh TOOL_BINARY TOOL_SOURCE OUT.1 - a tool's man page from
# its --help and --version (help2man), so the page cannot drift from the tool.
# The one-line NAME comes from the source's header comment ("bn-x - what it
# does: ..." up to the first ':', ';' or sentence end); EXIT STATUS, the
# bntk-wide exit codes, and SEE ALSO (the other tools) are added.
set -euo pipefail
bin=$1 src=$2 out=$3
command -v help2man >/dev/null || { echo "gen-man: help2man is not installed (make deps-man)" >&2; exit 2; }
tool=$(basename "$bin")
desc=$(sed -n '1,12p' "$src" | sed -E 's#^ *(/\*+|\*) ?##; s# *\*/.*$##' | tr '\n' ' ' |
       sed -nE "s/.*$tool - ([^:;]*).*/\1/p" | sed -E 's/\. .*//; s/\.? *$//; s/  +/ /g')
[ -n "$desc" ] || { echo "gen-man: $src: no \"$tool - ...\" line in its header comment" >&2; exit 2; }
others=$(cd "$(dirname "$src")" && ls bn-*.c | sed 's/\.c$//' | grep -vx "$tool" | sed 's/$/(1)/' | paste -sd, - | sed 's/,/, /g')
# Reproducible dates: the commit's time (help2man honours SOURCE_DATE_EPOCH).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || stat -c %Y "$src")}
inc=$(mktemp)
trap 'rm -f "$inc" "$out.tmp"' EXIT
cat >"$inc" <<EOT
[EXIT STATUS]
0 success; 1 a check or gate failed; 2 bad input or usage (one line on
standard error names the file, tensor, field or option); 3 an I/O or system
failure.
[SEE ALSO]
$others
.PP
The formats bntk reads and writes, its JSON outputs (docs/json.md) and how
to validate a model in CI (docs/ci.md) are described in the bntk sources.
EOT
help2man --no-info --no-discard-stderr --section 1 --source "bntk" --manual "bntk manual" \
  --name "$desc" --include "$inc" --output "$out.tmp" "$bin"
mv "$out.tmp" "$out"
