#!/usr/bin/env bash
# tests/cli/readme.sh - README.md for someone with their own model (issue 14
# §5): a quickstart naming the real model repositories, a table of what each
# output type loads in, BN_SKIP_DEPS and building elsewhere than Debian, the
# TQ claim restricted to the architectures upstream llama.cpp knows. Every
# command of the README's code lines uses only options its tool's --help lists,
# so the quickstart cannot rot silently.
source "$(dirname "$0")/lib.sh"
R="$BN_ROOT/README.md"
check "README has a quickstart for your own model" grep -q "^## Quickstart with your own model" "$R"
for repo in microsoft/bitnet-b1.58-2B-4T microsoft/bitnet-b1.58-2B-4T-bf16 microsoft/bitnet-b1.58-2B-4T-gguf \
            1bitLLM/bitnet_b1_58-large HF1BitLLM/Llama3-8B-1.58-100B-tokens tiiuae/Falcon3-; do
  check "  ... naming $repo" grep -qF "$repo" "$R"
done
check "  ... saying where wiki.test.raw comes from" grep -q "wiki.test.raw.*WikiText-2" "$R"
check "a supported-models table" grep -q "^| checkpoint | GGUF arch | \`--type i2_s\` (default) |" "$R"
for a in bitnet-b1.58 bitnet llama; do
  check "  ... with a row for $a" grep -Eq "^\| .* \| \`$a\` \| bntk" "$R"
done
check "  ... TQ of bitnet-b1.58 does not load in upstream llama.cpp" \
  grep -Eq '^\| microsoft/bitnet-b1.58-2B-4T.*\*\*not\*\* upstream llama.cpp' "$R"
check "the TQ claim names the architectures" \
  grep -q "upstream llama.cpp loads as" "$R"
check "  ... no unqualified 'upstream llama.cpp (TQ1_0/TQ2_0) load'" bash -c "! grep -q 'upstream llama.cpp (TQ1_0/TQ2_0) load' '$R'"
check "BN_SKIP_DEPS is documented" grep -q "BN_SKIP_DEPS=1 make" "$R"
check "  ... and the Makefile honours it (make -n runs no install-deps.sh)" \
  bash -c "cd '$BN_ROOT' && BN_SKIP_DEPS=1 make -n all 2>&1 | { ! grep -q 'scripts/install-deps.sh'; }"
check "that plain make may install packages is said" grep -q "Plain \`make\`.*runs \`scripts/install-deps.sh\`" "$R"
check "building elsewhere than Debian is described" grep -q "^Elsewhere than Debian/Ubuntu" "$R"

# every "    bn-TOOL ... --opt" line: each option is in `bn-TOOL --help`
grep -E '^    bn-[a-z]+ ' "$R" | sed 's/#.*//' >"$T/cmds"
check "the README has tool command lines" test "$(wc -l <"$T/cmds")" -ge 6
bad=0
while read -r tool rest; do
  "$BN_BUILD/$tool" --help >"$T/help" 2>&1 || { echo "  $tool --help failed" >&2; bad=1; continue; }
  for w in $rest; do
    case $w in
      --*|-[a-z]) grep -qe "$w\b" "$T/help" || { echo "  $tool: $w not in --help" >&2; bad=1; } ;;
    esac
  done
done <"$T/cmds"
check "every option in the README's commands is one its tool lists" test $bad -eq 0
