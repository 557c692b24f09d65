#!/usr/bin/env bash
# bn-run --chat: scripted turns on a pipe (the bundled model and its own
# template, every --chat-template family, /reset /system /help, a context
# shift that keeps the system prompt, --verbose speed lines), template errors,
# and a real terminal (script(1) gives a pty): the banner, Ctrl-C stopping a
# reply and returning to the prompt, Ctrl-D and Ctrl-C at the prompt exiting 0.
. "$(dirname "$0")/lib.sh"
RUN=$BN_BUILD/bn-run
SYNTH=$BN_BUILD/bn-synth
CONVERT=$BN_BUILD/bn-convert

"$CONVERT" -q "$BN_ROOT/fixtures/tiny-b158" "$T/tiny.gguf" >"$T/o" 2>&1 || not_ok "convert the bundled model"
"$SYNTH" -q -o "$T/v.gguf" --layers 1 || not_ok "bn-synth with vocabulary"

# two turns on a pipe with the model's own template
printf 'The album was released in\nWhat happened next?\n' >"$T/two.in"
"$RUN" "$T/tiny.gguf" --chat -n 12 --temp 0 <"$T/two.in" >"$T/o" 2>"$T/e"; rc=$?
check "pipe: two turns, exit 0, replies on stdout" bash -c "[ $rc -eq 0 ] && [ -s '$T/o' ]"
check "banner: model, template from the model, how to quit" bash -c "grep -q 'chatting with .*tiny.gguf (template bitnet, from the model' '$T/e' && grep -q 'Ctrl-D' '$T/e'"
check "no prompt characters on a pipe" bash -c "! grep -q '^> ' '$T/o'"
check "greedy chat is reproducible" bash -c "'$RUN' '$T/tiny.gguf' --chat -n 12 --temp 0 -q <'$T/two.in' | cmp -s - '$T/o'"
check "-q: no banner, no speed line" bash -c "'$RUN' '$T/tiny.gguf' --chat -n 4 --temp 0 -q <'$T/two.in' 2>&1 >/dev/null | wc -c | grep -qx 0"

# --verbose: a speed line per reply
"$RUN" "$T/tiny.gguf" --chat -n 6 --temp 0 -v <"$T/two.in" >/dev/null 2>"$T/e"
check "--verbose: one speed line per reply" test "$(grep -c 'generation [0-9]* tokens' "$T/e")" -eq 2

# every family by name (two replies: two speed lines); an unknown name lists the known ones
for t in bitnet llama3 llama2 chatml phi3 falcon3 zephyr gemma; do
  check "--chat-template $t answers two turns" bash -c "'$RUN' '$T/v.gguf' --chat --chat-template $t -n 3 --temp 0 -v <'$T/two.in' >'$T/o' 2>'$T/e' && grep -q 'template $t, chosen with --chat-template' '$T/e' && [ \$(grep -c 'generation 3 tokens' '$T/e') -eq 2 ]"
done
check "--chat-template vicuna: exit 2 listing the known names" bash -c "'$RUN' '$T/v.gguf' --chat --chat-template vicuna </dev/null >'$T/o' 2>&1; [ \$? -eq 2 ] && grep -q 'vicuna' '$T/o' && grep -q 'bitnet, llama3, llama2, chatml, phi3, falcon3, zephyr, gemma' '$T/o'"
check "a model without a template gets bitnet and says so" bash -c "echo hi | '$RUN' '$T/v.gguf' --chat -n 2 2>&1 >/dev/null | grep -q 'template bitnet, the default: the model has no chat template'"

# a model whose chat_template matches no family: an error, never a fallback
cp -r "$BN_ROOT/fixtures/tiny-b158" "$T/odd"
sed -i 's|"chat_template": ".*"|"chat_template": "{% for m in messages %}USER: {{ m.content }} ASSISTANT:{% endfor %}"|' "$T/odd/tokenizer_config.json"
"$CONVERT" -q "$T/odd" "$T/odd.gguf" >"$T/o" 2>&1 || not_ok "convert the odd-template model"
echo hi | "$RUN" "$T/odd.gguf" --chat -n 2 >"$T/o" 2>"$T/e"; rc=$?
check "unknown template in the model: exit 2, one line naming the file and --chat-template" bash -c "[ $rc -eq 2 ] && [ \$(wc -l <'$T/e') -eq 1 ] && grep -q 'odd.gguf: tokenizer.chat_template' '$T/e' && grep -q -- '--chat-template' '$T/e'"
check "unknown template in the model, --chat-template chatml: runs" bash -c "echo hi | '$RUN' '$T/odd.gguf' --chat --chat-template chatml -n 2 >/dev/null 2>&1"

# commands
printf '/help\n/system You answer in one word.\nhello\n/reset\nagain\n/nope\n' >"$T/cmd.in"
"$RUN" "$T/tiny.gguf" --chat -n 4 --temp 0 <"$T/cmd.in" >"$T/o" 2>"$T/e"; rc=$?
check "commands: exit 0" test $rc -eq 0
check "/help lists the commands" bash -c "grep -q '/reset forgets the conversation, /system TEXT' '$T/e'"
check "/system sets the system prompt" grep -q 'system prompt set; conversation reset' "$T/e"
check "/reset says the system prompt stays" grep -q 'conversation reset (the system prompt stays)' "$T/e"
check "an unknown command is named, not sent to the model" bash -c "grep -q \"unknown command '/nope'\" '$T/e' && [ \$(printf '/nope\\n' | '$RUN' '$T/tiny.gguf' --chat -v 2>&1 >/dev/null | grep -c generation) -eq 0 ]"
# /system changes what the model sees: more prompt tokens than the plain turn
printf 'hello\n' | "$RUN" "$T/tiny.gguf" --chat -n 8 --temp 0 -v >"$T/plain" 2>"$T/plain.e"
printf '/system You are a poet.\nhello\n' | "$RUN" "$T/tiny.gguf" --chat -n 8 --temp 0 -v >"$T/sys" 2>"$T/sys.e"
np() { sed -n 's/.*prompt \([0-9]*\) tokens.*/\1/p' "$1" | head -1; }
check "/system reaches the model ($(np "$T/plain.e") -> $(np "$T/sys.e") prompt tokens)" test "$(np "$T/sys.e")" -gt "$(np "$T/plain.e")"
printf 'hello\n' | "$RUN" "$T/tiny.gguf" --chat -n 8 --temp 0 -v --system 'You are a poet.' >"$T/sys2" 2>"$T/sys2.e"
check "--system TEXT equals /system TEXT" bash -c "cmp -s '$T/sys' '$T/sys2' && [ '$(np "$T/sys.e")' = '$(np "$T/sys2.e")' ]"
# /reset: the next turn sees no history (the same reply as a fresh start)
printf 'one two three\n/reset\nhello\n' | "$RUN" "$T/tiny.gguf" --chat -n 8 --temp 0 -q >"$T/o" 2>/dev/null
check "/reset: the next reply equals a fresh conversation's" bash -c "[ \"\$(tail -c \$(wc -c <'$T/plain') '$T/o')\" = \"\$(cat '$T/plain')\" ]"

# context shift: the oldest turns go, the system prompt stays, the chat goes on
printf 'first turn here\nsecond turn here\nthird turn here\nfourth turn\n' >"$T/long.in"
"$RUN" "$T/tiny.gguf" --chat -n 16 --temp 0 -c 80 --ignore-eos --system 'Be brief.' -v <"$T/long.in" >"$T/o" 2>"$T/e"; rc=$?
check "context shift: exit 0, four replies of 16 tokens" bash -c "[ $rc -eq 0 ] && [ \$(grep -c 'generation 16 tokens' '$T/e') -eq 4 ]"
check "context shift: one line saying what was dropped and kept" bash -c "grep -q 'context full (80 positions): dropped the oldest [0-9]* message(s), kept the system prompt' '$T/e'"

# a real terminal: script(1) runs bn-run on a pty; keys are sent with bounded waits
SCRIPT=$(command -v script)
if [ -z "$SCRIPT" ]; then
  ok "# SKIP real-terminal tests: script(1) is not installed"
else
  # slow enough that a reply is still running when Ctrl-C comes (4096 positions)
  "$SYNTH" -q -o "$T/big.gguf" --layers 8 --embd 1024 --ff 2048 --heads 8 --heads-kv 4 --ctx 4096 || not_ok "bn-synth big model"
  ts="$T/ts"
  # wait_for PATTERN COUNT: until the typescript holds COUNT matching lines (at most 30 s)
  wait_for() {
    local i=0
    local n
    while n=$(grep -a -c -- "$1" "$ts" 2>/dev/null); [ "${n:-0}" -lt "$2" ]; do
      sleep 0.1; i=$((i + 1)); [ $i -gt 300 ] && return 1
    done
    return 0
  }
  pty() { # pty KEYS-FUNCTION: run the chat on a pty, feeding the keys the function prints
    rm -f "$ts"
    # script(1) runs the command with $SHELL (sh when unset): bash, because it outlives the
    # Ctrl-C it shares with bn-run when bn-run handles it (dash dies of it, and EXIT= is lost)
    "$1" | SHELL=/bin/bash timeout 90 "$SCRIPT" -qfec "'$RUN' '$T/big.gguf' --chat --temp 0 --ignore-eos; echo EXIT=\$?" "$ts" >/dev/null 2>&1
  }
  keys_interrupt() {
    wait_for '^> ' 1 && sleep 0.3
    printf 'hello there\r'
    sleep 2
    printf '\003'                       # Ctrl-C during the reply
    wait_for '^> ' 2 && sleep 0.5       # the prompt is back
    printf '\004'                       # Ctrl-D at the prompt
    wait_for 'EXIT=' 1
  }
  pty keys_interrupt
  check "terminal: the banner names the model, the template and how to quit" bash -c "grep -q 'chatting with .*big.gguf (template bitnet' '$ts' && grep -q 'Ctrl-C stops a reply' '$ts'"
  check "terminal: Ctrl-C stops the reply and the prompt comes back" bash -c "[ \$(grep -c '^> ' '$ts') -ge 2 ]"
  check "terminal: Ctrl-D at the prompt exits 0" grep -q 'EXIT=0' "$ts"
  keys_quit() {
    wait_for '^> ' 1 && sleep 0.5
    printf '\003'                       # Ctrl-C at the empty prompt
    wait_for 'EXIT=' 1
  }
  pty keys_quit
  check "terminal: Ctrl-C at the empty prompt exits 0" grep -q 'EXIT=0' "$ts"
  keys_edit() {
    wait_for '^> ' 1 && sleep 0.5
    printf 'helo\033[D\033[Dl\r'        # line editing: two cursor-lefts, insert 'l'
    sleep 2
    printf '\003'
    wait_for '^> ' 2 && sleep 0.5
    printf '\033[A'                     # history: the previous line comes back
    sleep 0.5
    printf '\003'                       # ... and Ctrl-C with text at the prompt quits too
    wait_for 'EXIT=' 1
  }
  pty keys_edit
  # the edited line "hello" is never typed as such: it comes back whole from the history
  check "terminal: line editing (cursor keys) and history (up arrow)" bash -c "grep -a -q '> hello' '$ts' && grep -q 'EXIT=0' '$ts'"
fi
