#!/usr/bin/env bash
# bn-serve end to end with curl on loopback: usage errors, every endpoint
# (streaming and not), OpenAI errors for hostile requests, auth, limits (body,
# queue, context, timeout), a client leaving mid-stream, SIGTERM with a request
# in flight, 64 concurrent clients, and batch invariance (the same request and
# seed give the same text alone and beside 31 others).
#
# Servers listen on --port 0 (the kernel picks a free port; --port-file tells
# us which) and every loop here is bounded. Models: the demo model
# (fixtures/tiny-b158 converted to I2_S) and a wider random model from bn-synth
# that generates slowly enough (~100 tokens/s on one thread) for requests that
# must still be running when something happens to them.
. "$(dirname "$0")/lib.sh"
S=$BN_BUILD/bn-serve
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"' EXIT
for tool in curl jq; do
  command -v $tool >/dev/null || { not_ok "$tool is installed (scripts/install-deps.sh)"; exit 1; }
done

# ---- usage ------------------------------------------------------------------------
check "--help exits 0" run_rc 0 "$T/o" "$S" --help
check "--version exits 0" run_rc 0 "$T/o" "$S" --version
check "no model: exit 2" run_rc 2 "$T/o" "$S"
check "unknown option: exit 2" run_rc 2 "$T/o" "$S" m.gguf --frobnicate 1
check "bad --port: exit 2 naming it" bash -c "'$S' m.gguf --port 70000 >'$T/o' 2>&1; [ \$? -eq 2 ] && grep -q -- --port '$T/o'"
check "bad --parallel: exit 2" run_rc 2 "$T/o" "$S" m.gguf --parallel 0
check "bad --chat-template: exit 2 listing names" bash -c "'$S' m.gguf --chat-template nope >'$T/o' 2>&1; [ \$? -eq 2 ] && grep -q nope '$T/o'"
check "--api-key and --api-key-file together: exit 2" run_rc 2 "$T/o" "$S" m.gguf --api-key a --api-key-file "$T/k"
check "missing --api-key-file: exit 2 naming it" bash -c "'$S' m.gguf --api-key-file '$T/nokey' >'$T/o' 2>&1; [ \$? -eq 2 ] && grep -q nokey '$T/o'"
check "missing model: exit 2 naming the file" bash -c "'$S' '$T/missing.gguf' --port 0 >'$T/o' 2>&1; [ \$? -eq 2 ] && grep -q missing.gguf '$T/o'"
printf 'not a gguf file' >"$T/junk.gguf"
check "junk model: exit 2" run_rc 2 "$T/o" "$S" "$T/junk.gguf" --port 0
check "non-numeric --host: exit 2" run_rc 2 "$T/o" "$S" "$T/junk.gguf" --host localhost
"$BN_BUILD/bn-synth" -q -o "$T/novocab.gguf" --no-vocab --layers 1 -t 1 || not_ok "bn-synth"
check "model without a tokenizer: exit 2" bash -c "'$S' '$T/novocab.gguf' --port 0 >'$T/o' 2>&1; [ \$? -eq 2 ] && grep -q tokenizer '$T/o'"

"$BN_BUILD/bn-convert" "$BN_ROOT/fixtures/tiny-b158" "$T/tiny.gguf" --quiet >"$T/conv.log" 2>&1 ||
  { not_ok "bn-convert the demo model"; cat "$T/conv.log"; exit 1; }
"$BN_BUILD/bn-synth" -q -o "$T/slow.gguf" --embd 1024 --ff 2816 --layers 8 --heads 8 --heads-kv 8 \
  --vocab 2048 --ctx 2048 -t 1 || { not_ok "bn-synth slow model"; exit 1; }

# ---- helpers ----------------------------------------------------------------------
# start NAME MODEL ARGS...: a server on a free port; sets PID_NAME and URL_NAME.
start() {
  local name=$1 model=$2; shift 2
  rm -f "$T/$name.port"
  "$S" "$model" --port 0 --port-file "$T/$name.port" -t 1 "$@" >"$T/$name.log" 2>&1 &
  local pid=$! url=""
  PIDS+=("$pid")
  for _ in $(seq 300); do
    if [ -s "$T/$name.port" ]; then
      url="http://127.0.0.1:$(cat "$T/$name.port")"
      curl -sf -m 2 "$url/health" >/dev/null && break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  printf -v "PID_$name" %s "$pid"
  printf -v "URL_$name" %s "$url"
}
# stop NAME: SIGTERM, then the exit status (0 after a clean drain).
stop() {
  local pid_var="PID_$1"
  kill -TERM "${!pid_var}" 2>/dev/null
  wait "${!pid_var}"
}
# req OUT METHOD URL [curl args...]: prints the HTTP status, body in OUT.
req() {
  local out=$1 method=$2 url=$3; shift 3
  curl -s -m 300 -o "$out" -w '%{http_code}' -X "$method" "$url" "$@"
}
post() { local out=$1 url=$2 body=$3; shift 3; req "$out" POST "$url" -H 'Content-Type: application/json' --data-binary "$body" "$@"; }
# wait_metric URL NAME VALUE: poll /metrics until NAME has VALUE (at most 30 s).
wait_metric() {
  for _ in $(seq 300); do
    curl -s -m 2 "$1/metrics" | grep -q "^$2 $3\$" && return 0
    sleep 0.1
  done
  echo "  $2 never became $3" >&2; curl -s -m 2 "$1/metrics" | grep "^$2" >&2
  return 1
}
jqe() { jq -e "$@" >/dev/null; }
# stream_text FILE: the concatenated content of an SSE stream (chat deltas or text).
stream_text() {
  sed -n 's/^data: //p' "$1" | grep -v '^\[DONE\]$' |
    jq -j '.choices[0] | (.delta.content // .text // "")'
}

# ---- endpoints on the demo model ---------------------------------------------------------
start main "$T/tiny.gguf" --parallel 4
U=$URL_main
check "server starts and /health answers" test -n "$U"
check "/health: 200 {status: ok}" bash -c "[ \"\$(curl -s -m 5 -o '$T/h' -w '%{http_code}' $U/health)\" = 200 ] && jq -e '.status == \"ok\"' '$T/h' >/dev/null"
check "listens on 127.0.0.1 by default (its log, and the kernel's socket table)" bash -c "
  grep -q 'listening on http://127.0.0.1:' '$T/main.log' &&
  grep -q \"^ *[0-9]*: 0100007F:\$(printf %04X \"\$(cat '$T/main.port')\") 00000000:0000 0A \" /proc/net/tcp"
check "/v1/models lists the model" bash -c "curl -s -m 5 $U/v1/models | jq -e '.object == \"list\" and .data[0].id == \"tiny.gguf\" and .data[0].object == \"model\"' >/dev/null"
code=$(req "$T/page" GET "$U/")
check "/ serves the chat page (200, HTML)" bash -c "[ $code = 200 ] && grep -q '<title>bntk chat</title>' '$T/page'"
check "the chat page has no external URLs" bash -c "! grep -Eq '(src|href)=\"(https?:)?//' '$T/page' && ! grep -Eq 'https?://' '$T/page'"

body='{"model":"x","prompt":"The history of the","max_tokens":12,"temperature":0,"unknown_field":{"a":[1,2]}}'
code=$(post "$T/c1" "$U/v1/completions" "$body")
check "/v1/completions: 200, unknown fields ignored" test "$code" = 200
check "/v1/completions: text_completion with text, finish_reason length, usage" \
  jqe '.object == "text_completion" and (.choices[0].text | length > 0) and .choices[0].finish_reason == "length"
    and .usage.completion_tokens == 12 and .usage.prompt_tokens > 0
    and .usage.total_tokens == .usage.prompt_tokens + 12' "$T/c1"
text1=$(jq -r '.choices[0].text' "$T/c1")
post "$T/c2" "$U/v1/completions" "$body" >/dev/null
check "greedy completions are reproducible" test "$(jq -r '.choices[0].text' "$T/c2")" = "$text1"
post "$T/c3" "$U/v1/completions" "${body/\"max_tokens\":12,/\"max_tokens\":12,\"stream\":true,}" >/dev/null
check "streamed completion: same text as the whole one" test "$(stream_text "$T/c3")" = "$text1"
check "streamed completion ends with data: [DONE]" test "$(grep -v '^$' "$T/c3" | tail -1)" = "data: [DONE]"

# stop strings: stop at a piece of the greedy text, which is then never released
stop_str=$(printf %s "$text1" | cut -c4-6)
post "$T/c4" "$U/v1/completions" "$(jq -cn --arg s "$stop_str" '{prompt:"The history of the",max_tokens:12,temperature:0,stop:[$s]}')" >/dev/null
want_prefix=${text1%%"$stop_str"*}
check "stop string: text cut before it, finish_reason stop" \
  jqe --arg w "$want_prefix" '.choices[0].text == $w and .choices[0].finish_reason == "stop"' "$T/c4"

chat='{"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Tell me about the history of the city."}],"max_tokens":16,"temperature":0}'
code=$(post "$T/ch1" "$U/v1/chat/completions" "$chat")
check "/v1/chat/completions: 200 chat.completion with an assistant message" bash -c "[ $code = 200 ] && jq -e '.object == \"chat.completion\" and .choices[0].message.role == \"assistant\" and (.choices[0].message.content | type == \"string\") and (.choices[0].finish_reason == \"length\" or .choices[0].finish_reason == \"stop\") and .usage.completion_tokens <= 16' '$T/ch1' >/dev/null"
post "$T/ch2" "$U/v1/chat/completions" "${chat%\}},\"stream\":true,\"stream_options\":{\"include_usage\":true}}" >/dev/null
check "streamed chat: same text as the whole one" test "$(stream_text "$T/ch2")" = "$(jq -r '.choices[0].message.content' "$T/ch1")"
check "streamed chat: every event is a chat.completion.chunk; the first carries the role" bash -c "
  sed -n 's/^data: //p' '$T/ch2' | grep -v '^\[DONE\]\$' | jq -s -e '(map(.object == \"chat.completion.chunk\") | all)
    and .[0].choices[0].delta.role == \"assistant\"' >/dev/null"
check "streamed chat: a closing chunk with finish_reason, then usage, then [DONE]" bash -c "
  sed -n 's/^data: //p' '$T/ch2' | tail -3 | head -2 | jq -s -e '(.[0].choices[0].finish_reason | type == \"string\")
    and .[1].choices == [] and .[1].usage.completion_tokens == $(jq '.usage.completion_tokens' "$T/ch1")' >/dev/null &&
  [ \"\$(grep -v '^\$' '$T/ch2' | tail -1)\" = 'data: [DONE]' ]"
start tpl "$T/tiny.gguf" --chat-template chatml --parallel 1 # chatml spells its markers out in this vocabulary: 69 tokens
post "$T/tp1" "$U/v1/chat/completions" "$chat" >/dev/null
post "$T/tp2" "$URL_tpl/v1/chat/completions" "$chat" >/dev/null
check "--chat-template chatml overrides the model's (bitnet): named in the log, another prompt" bash -c "
  grep -q 'chat template chatml (--chat-template)' '$T/tpl.log' && grep -q 'chat template bitnet (from the model)' '$T/main.log' &&
  [ \"\$(jq .usage.prompt_tokens '$T/tp2')\" -gt 0 ] && [ \"\$(jq .usage.prompt_tokens '$T/tp1')\" != \"\$(jq .usage.prompt_tokens '$T/tp2')\" ]"
check "tpl: SIGTERM, exit 0" stop tpl
check "content given as text parts equals the plain string" bash -c "
  [ \"\$(curl -s -m 30 $U/v1/chat/completions -d '{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Tell me \"},{\"type\":\"text\",\"text\":\"more.\"}]}],\"max_tokens\":6,\"temperature\":0}' | jq -r .choices[0].message.content)\" = \
     \"\$(curl -s -m 30 $U/v1/chat/completions -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Tell me more.\"}],\"max_tokens\":6,\"temperature\":0}' | jq -r .choices[0].message.content)\" ]"
check "sampling with a seed is reproducible" bash -c "
  a=\$(curl -s -m 30 $U/v1/completions -d '{\"prompt\":\"It was\",\"max_tokens\":16,\"temperature\":1.2,\"seed\":99}' | jq -r .choices[0].text)
  b=\$(curl -s -m 30 $U/v1/completions -d '{\"prompt\":\"It was\",\"max_tokens\":16,\"temperature\":1.2,\"seed\":99}' | jq -r .choices[0].text)
  [ -n \"\$a\" ] && [ \"\$a\" = \"\$b\" ]"
check "penalties are accepted (frequency, presence, repeat)" bash -c "[ \"\$(curl -s -m 30 -o /dev/null -w '%{http_code}' $U/v1/completions -d '{\"prompt\":\"a a a\",\"max_tokens\":8,\"frequency_penalty\":1.5,\"presence_penalty\":0.5,\"repeat_penalty\":1.3,\"top_k\":20,\"top_p\":0.9,\"min_p\":0.1}')\" = 200 ]"

post "$T/tk" "$U/tokenize" '{"content":"The history of the city"}' >/dev/null
check "/tokenize: {tokens: [ids]}" jqe '.tokens | length > 0 and all(type == "number")' "$T/tk"
post "$T/dt" "$U/detokenize" "$(jq -c '{tokens: .tokens}' "$T/tk")" >/dev/null
check "/detokenize inverts /tokenize" jqe '.content == "The history of the city"' "$T/dt"
post "$T/tkp" "$U/tokenize" '{"content":"history","with_pieces":true}' >/dev/null
check "/tokenize with_pieces: ids and pieces" jqe '.tokens | all(has("id") and has("piece")) and (map(.piece) | join("") | test("history"))' "$T/tkp"
check "/detokenize: an id out of range is 400" bash -c "[ \"\$(curl -s -m 5 -o '$T/e' -w '%{http_code}' $U/detokenize -d '{\"tokens\":[1,99999999]}')\" = 400 ]"

curl -s -m 5 "$U/metrics" >"$T/m"
check "/metrics: Prometheus text with requests, tokens, queue, slots, tokens/s" bash -c "
  for k in bntk_completion_requests_total bntk_prompt_tokens_total bntk_generated_tokens_total bntk_queue_depth \
           bntk_slots_busy bntk_slots_total bntk_generated_tokens_per_second bntk_time_to_first_token_seconds_count; do
    grep -q \"^\$k [0-9.e+-]*\$\" '$T/m' || { echo missing \$k; exit 1; }; done
  grep -q '^# TYPE bntk_generated_tokens_total counter' '$T/m' && grep -q '^bntk_slots_total 4$' '$T/m'"
check "/metrics counts generated tokens" bash -c "awk '/^bntk_generated_tokens_total /{exit !(\$2 >= 12)}' '$T/m'"

# ---- hostile requests: each gets a status and an error body; the server keeps serving --------
C=$U/v1/completions
hostile() { # DESCRIPTION WANT_STATUS PARAM BODY
  local code; code=$(post "$T/hb" "$C" "$4")
  check "$1: $2 with an error body" bash -c "[ '$code' = '$2' ] && jq -e --arg p '$3' '(.error.message | length > 0) and (\$p == \"\" or .error.param == \$p)' '$T/hb' >/dev/null"
}
hostile "malformed JSON" 400 "" '{"prompt": "a",'
hostile "not an object" 400 "" '[1,2,3]'
hostile "empty body" 400 "" ''
hostile "prompt missing" 400 prompt '{"max_tokens":3}'
hostile "max_tokens a string" 400 max_tokens '{"prompt":"a","max_tokens":"ten"}'
hostile "max_tokens fractional" 400 max_tokens '{"prompt":"a","max_tokens":2.5}'
hostile "max_tokens huge" 400 max_tokens '{"prompt":"a","max_tokens":1e300}'
hostile "temperature a string" 400 temperature '{"prompt":"a","temperature":"hot"}'
hostile "temperature overflowing to infinity" 400 temperature '{"prompt":"a","temperature":1e999}'
hostile "temperature negative" 400 temperature '{"prompt":"a","temperature":-1}'
hostile "top_p above 1" 400 top_p '{"prompt":"a","top_p":1.5}'
hostile "top_k negative" 400 top_k '{"prompt":"a","top_k":-5}'
hostile "seed huge" 400 seed '{"prompt":"a","seed":1e40}'
hostile "stream not a boolean" 400 stream '{"prompt":"a","stream":"yes"}'
hostile "stop a number" 400 stop '{"prompt":"a","stop":5}'
hostile "too many stop strings" 400 stop '{"prompt":"a","stop":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}'
hostile "n = 2" 400 n '{"prompt":"a","n":2}'
hostile "prompt an object" 400 prompt '{"prompt":{"a":1}}'
hostile "prompt token id out of range" 400 prompt '{"prompt":[1,2,99999]}'
hostile "deeply nested JSON" 400 "" "$(printf '%.0s[' $(seq 3000))"
printf '{"prompt":"caf\xc3\x28 \xff\xfe"}' >"$T/badutf8"
hostile "invalid UTF-8 in the prompt" 400 prompt "@$T/badutf8"
printf '{"prompt":"a","stop":["\xed\xa0\x80"]}' >"$T/surrogate"
hostile "a UTF-8-encoded surrogate in stop" 400 stop "@$T/surrogate"
C=$U/v1/chat/completions
hostile "messages missing" 400 messages '{"max_tokens":3}'
hostile "messages not an array" 400 messages '{"messages":"hi"}'
hostile "messages empty" 400 messages '{"messages":[]}'
hostile "a message without a role" 400 messages '{"messages":[{"content":"hi"}]}'
hostile "an unknown role" 400 messages '{"messages":[{"role":"wizard","content":"hi"}]}'
hostile "content a number" 400 messages '{"messages":[{"role":"user","content":42}]}'
hostile "an image part" 400 messages '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}'
check "wrong types do not count as generation" bash -c "curl -s -m 5 $U/metrics | grep -q '^bntk_http_responses_total{code=\"400\"} [1-9]'"

head -c 10000000 /dev/zero | tr '\0' a >"$T/big"
code=$(req "$T/hb" POST "$U/v1/completions" --data-binary "@$T/big")
check "10 MB body: 413 with an error body" bash -c "[ $code = 413 ] && jq -e '.error.message | test(\"max-body\")' '$T/hb' >/dev/null"
code=$(req "$T/hb" POST "$U/v1/completions" -H 'Transfer-Encoding: chunked' --data-binary "@$T/big")
check "10 MB chunked body (no length): 413 with an error body" bash -c "[ $code = 413 ] && jq -e '.error.message | test(\"max-body\")' '$T/hb' >/dev/null"
code=$(req "$T/hb" GET "$U/v1/nothing-here")
check "unknown path: 404 with an error body" bash -c "[ $code = 404 ] && jq -e '.error.message | test(\"nothing-here\")' '$T/hb' >/dev/null"
code=$(req "$T/hb" GET "$U/../../etc/passwd" --path-as-is)
check "path traversal: 404, no file served" bash -c "[ $code = 404 ] && ! grep -q root: '$T/hb'"
# the error message quotes the path and the method: bytes that are not UTF-8 must not reach the JSON
code=$(req "$T/hb" GET "$U/caf%C3%28%ff%fe%E2%82")
check "a path that is not UTF-8: 404, its error body valid UTF-8 (U+FFFD for the bad bytes)" bash -c '
  [ "$1" = 404 ] && iconv -f UTF-8 -t UTF-8 "$2" >/dev/null && jq -e ".error.message | contains(\"caf\\ufffd(\\ufffd\")" "$2" >/dev/null' _ "$code" "$T/hb"
code=$(req "$T/hb" $'BR\xffW' "$U/health")
check "a method that is not UTF-8: 405, its error body valid UTF-8" bash -c '
  [ "$1" = 405 ] && iconv -f UTF-8 -t UTF-8 "$2" >/dev/null && jq -e ".error.message | contains(\"BR\\ufffdW\")" "$2" >/dev/null' _ "$code" "$T/hb"
code=$(req "$T/hb" GET "$U/v1/completions")
check "GET on a POST endpoint: 405 with an error body" bash -c "[ $code = 405 ] && jq -e '.error.message | length > 0' '$T/hb' >/dev/null"
code=$(req "$T/hb" DELETE "$U/health")
check "DELETE /health: 405" test "$code" = 405
code=$(req "$T/hb" BREW "$U/")
check "an unknown method: 405" test "$code" = 405
# floods: header lines in a file for curl -H @FILE (a long argv would hit the kernel's limit)
flood() { for i in $(seq "$1"); do printf 'X-Flood-%d: %080d\n' "$i" 0; done >"$2"; }
flood 1500 "$T/flood"
code=$(req "$T/hb" GET "$U/health" -H @"$T/flood")
check "header flood (1500 headers, 130 KB): 431 with an error body naming the limit" \
  bash -c "[ $code = 431 ] && jq -e '.error.type == \"invalid_request_error\" and (.error.message | test(\"65536 bytes\"))' '$T/hb' >/dev/null"
flood 600 "$T/flood"
code=$(req "$T/hb" GET "$U/health" -H @"$T/flood")
check "too many header fields (600, 52 KB): 431 with an error body" \
  bash -c "[ $code = 431 ] && jq -e '.error.message | test(\"512 fields\")' '$T/hb' >/dev/null"
flood 300 "$T/flood"
check "300 headers (26 KB) are within the limits: 200" test "$(req "$T/hb" GET "$U/health" -H @"$T/flood")" = 200
flood 8000 "$T/flood"
code=$(req "$T/hb" GET "$U/health" -H @"$T/flood")
check "header flood past the connection's memory (8000 headers, 740 KB): 431" test "$code" = 431
code=$(req "$T/hb" GET "$U/v1/models?q=$(head -c 20000 /dev/zero | tr '\0' a)")
check "a 20 KB query string: 414 with an error body" \
  bash -c "[ $code = 414 ] && jq -e '.error.message | test(\"16384\")' '$T/hb' >/dev/null"
code=$(req "$T/hb" GET "$U/$(head -c 20000 /dev/zero | tr '\0' a)")
check "a 20 KB path: 414 with an error body" bash -c "[ $code = 414 ] && jq -e '.error.message | length > 0' '$T/hb' >/dev/null"
# requests libmicrohttpd refuses itself before any handler runs (so the bodies are its own, see
# http.c): the status line is what is checked
# libmicrohttpd closes such a connection at once, and a close with request bytes still unread
# resets it: now and then the reset overtakes the status line on its way to the client, which
# then reads nothing. So up to three tries for a status line (a reset is not a wrong answer).
raw_status() {
  local st=""
  for _ in 1 2 3; do
    st=$( ( exec 3<>"/dev/tcp/127.0.0.1/$(cat "$T/main.port")" || exit 1
            printf "$1" >&3; timeout 10 cat <&3 ) 2>/dev/null | head -1 | tr -d '\r')
    [ -n "$st" ] && break
  done
  echo "$st"
}
st=$(raw_status 'GET /health HTTP/2.0\r\nHost: x\r\n\r\n')
check "an HTTP/2.0 request line: 505 ($st)" bash -c '[[ $1 == "HTTP/1.1 505 "* ]]' _ "$st"
st=$(raw_status 'GET /health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n')
check "a header line without a colon: 400 ($st)" bash -c '[[ $1 == "HTTP/1.1 400 "* ]]' _ "$st"
st=$(raw_status 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')
check "broken chunked framing: 400 ($st)" bash -c '[[ $1 == "HTTP/1.1 400 "* ]]' _ "$st"
again=$(curl -s -m 30 "$U/v1/completions" -d "$body" | jq -r .choices[0].text)
check "after all that, the server still serves (the same greedy text)" test "$again" = "$text1"

# ---- loading: /health answers 503 until the model is loaded ---------------------------------
# BN_SERVE_TEST_LOAD_GATE holds the load until the file exists, so the loading state is seen
# whatever the machine's speed.
rm -f "$T/gate" "$T/gated.port"
BN_SERVE_TEST_LOAD_GATE="$T/gate" "$S" "$T/tiny.gguf" --port 0 --port-file "$T/gated.port" -t 1 \
  >"$T/gated.log" 2>&1 &
PID_gated=$!; PIDS+=("$PID_gated")
for _ in $(seq 300); do [ -s "$T/gated.port" ] && break; sleep 0.1; done
G=http://127.0.0.1:$(cat "$T/gated.port" 2>/dev/null)
curl -s -m 5 -D "$T/gh" -o "$T/hb" "$G/health"
check "loading: /health is 503 with Retry-After and an error body" bash -c "
  grep -q '^HTTP/1.1 503' '$T/gh' && grep -qi '^Retry-After: [0-9]' '$T/gh' && jq -e '.error.message | test(\"loading\")' '$T/hb' >/dev/null"
check "loading: completions are 503 too" test "$(post "$T/hb" "$G/v1/completions" '{"prompt":"a","max_tokens":1}')" = 503
check "loading: the page is served already" test "$(req "$T/hb" GET "$G/")" = 200
touch "$T/gate"
for _ in $(seq 300); do [ "$(req "$T/hb" GET "$G/health")" = 200 ] && break; sleep 0.1; done
check "loaded: /health turns 200" test "$(req "$T/hb" GET "$G/health")" = 200
check "loaded: completions work" test "$(post "$T/hb" "$G/v1/completions" '{"prompt":"a","max_tokens":1}')" = 200
check "gated: SIGTERM, exit 0" stop gated

# prompts longer than a slot's context are refused naming the limit
start small "$T/tiny.gguf" -c 64 --parallel 1
long=$(printf 'word %.0s' $(seq 100))
code=$(post "$T/hb" "$URL_small/v1/completions" "{\"prompt\":\"$long\"}")
check "prompt longer than the context: 400 naming the limit" bash -c "[ $code = 400 ] && jq -e '.error.code == \"context_length_exceeded\" and (.error.message | test(\"64\"))' '$T/hb' >/dev/null"
ids() { printf '[%s1]' "$(printf '1,%.0s' $(seq $(($1 - 1))))"; }
code=$(post "$T/hb" "$URL_small/v1/completions" "{\"prompt\":$(ids 63),\"max_tokens\":1}")
check "a prompt of 63 tokens in a 64-position slot (room for one more): 200" \
  bash -c "[ $code = 200 ] && jq -e '.usage.prompt_tokens == 63 and .usage.completion_tokens == 1' '$T/hb' >/dev/null"
code=$(post "$T/hb" "$URL_small/v1/completions" "{\"prompt\":$(ids 64),\"max_tokens\":1}")
check "a prompt of 64 tokens in a 64-position slot: 400 naming the limit" \
  bash -c "[ $code = 400 ] && jq -e '.error.code == \"context_length_exceeded\" and (.error.message | test(\"64 tokens\"))' '$T/hb' >/dev/null"
post "$T/hb" "$URL_small/v1/completions" '{"prompt":"The","max_tokens":500,"ignore_eos":true,"temperature":0}' >/dev/null
check "generation that fills the context (64 cached + the last sampled) ends with finish_reason length" \
  jqe '.choices[0].finish_reason == "length" and .usage.total_tokens == 65' "$T/hb"
check "SIGTERM on an idle server: exit 0" stop small

# ---- authentication -------------------------------------------------------------------------
printf 's3cret-key\n' >"$T/key"
start auth "$T/tiny.gguf" --api-key-file "$T/key"
A=$URL_auth
check "auth: /health needs no key" test "$(req "$T/hb" GET "$A/health")" = 200
code=$(req "$T/page" GET "$A/")
check "auth: / serves the chat page without the key (it asks for one; tests/clients/page.mjs)" \
  bash -c "[ $code = 200 ] && grep -q 'id=\"key\"' '$T/page' && grep -q 'needs an API key' '$T/page'"
check "auth: no key is 401 with an error body" bash -c "[ \"\$(curl -s -m 5 -o '$T/hb' -w '%{http_code}' $A/v1/models)\" = 401 ] && jq -e '.error.message | length > 0' '$T/hb' >/dev/null"
check "auth: a wrong key is 401" test "$(req "$T/hb" GET "$A/v1/models" -H 'Authorization: Bearer s3cret-kex')" = 401
check "auth: a longer key is 401" test "$(req "$T/hb" GET "$A/v1/models" -H 'Authorization: Bearer s3cret-key2')" = 401
check "auth: a prefix of the key is 401" test "$(req "$T/hb" GET "$A/metrics" -H 'Authorization: Bearer s3cret')" = 401
check "auth: completions without the key are 401" test "$(post "$T/hb" "$A/v1/completions" '{"prompt":"a"}')" = 401
check "auth: the right key works" test "$(req "$T/hb" GET "$A/v1/models" -H 'Authorization: Bearer s3cret-key')" = 200
check "auth: the scheme name is case-insensitive (RFC 9110)" test "$(req "$T/hb" GET "$A/v1/models" -H 'Authorization: bearer s3cret-key')" = 200
check "auth: completions with the key work" test "$(post "$T/hb" "$A/v1/completions" '{"prompt":"a","max_tokens":2}' -H 'Authorization: Bearer s3cret-key')" = 200
check "auth: SIGTERM, exit 0" stop auth

# ---- slow clients -----------------------------------------------------------------------------
start slowc "$T/tiny.gguf" --header-timeout 1 --idle-timeout 2
port=$(cat "$T/slowc.port")
# slowloris: headers trickle in a line at a time, never finishing; what the server
# says is read meanwhile
( trap '' PIPE
  exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
  timeout 20 cat <&3 >"$T/slow408" &
  printf 'GET /health HTTP/1.1\r\nHost: x\r\n' >&3
  for i in $(seq 40); do
    sleep 0.2
    printf 'X-Slow-%d: y\r\n' "$i" >&3 2>/dev/null || { echo "closed after $i lines"; wait; exit 0; }
  done
  echo "still open"; wait ) >"$T/slowloris" 2>/dev/null &
slow_pid=$!
sleep 0.3
check "slowloris: others are served meanwhile" test "$(req "$T/hb" GET "$URL_slowc/health")" = 200
wait $slow_pid
check "slowloris: the connection is closed by the header timeout ($(cat "$T/slowloris"))" grep -q closed "$T/slowloris"
check "slowloris: the server answered 408 first" bash -c "head -1 '$T/slow408' | grep -q '^HTTP/1.1 408 '"
check "slowloris: the 408 has an error body naming --header-timeout" \
  bash -c "sed '1,/^\r\$/d' '$T/slow408' | jq -e '.error.type == \"timeout_error\" and (.error.message | test(\"header-timeout\"))' >/dev/null"
# an idle connection that never sends anything
( exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1; timeout 10 cat <&3 >"$T/idle.out"; echo "eof $?" ) >"$T/idle" 2>/dev/null
check "a silent connection is closed by the server" grep -q 'eof 0' "$T/idle"
check "a silent connection gets a 408 before the close" bash -c "head -1 '$T/idle.out' | grep -q '^HTTP/1.1 408 '"
# a keep-alive connection idle after its request is closed without a word (a 408
# there could be read as the answer to a request crossing it)
( exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
  printf 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' >&3; timeout 10 cat <&3 >"$T/ka.out"; echo "eof $?" ) >"$T/ka" 2>/dev/null
check "an idle keep-alive connection: one 200, then closed" \
  bash -c "grep -q 'eof 0' '$T/ka' && [ \"\$(grep -c '^HTTP/1.1 ' '$T/ka.out')\" = 1 ] && head -1 '$T/ka.out' | grep -q ' 200 '"
check "/metrics counts the 408s" bash -c "curl -s -m 5 $URL_slowc/metrics | grep -q '^bntk_http_responses_total{code=\"408\"} 2\$'"
check "after slow clients, the server still serves" test "$(post "$T/hb" "$URL_slowc/v1/completions" '{"prompt":"a","max_tokens":2}')" = 200
check "slow clients: SIGTERM, exit 0" stop slowc

# ---- a client leaving mid-stream frees its slot; a full queue is 503 + Retry-After -------------
start slow "$T/slow.gguf" --parallel 1 --queue 1
W=$URL_slow
long_req='{"prompt":"The","max_tokens":1500,"ignore_eos":true,"stream":true}'
# wait_data FILE: until FILE holds a data event (at most 60 s).
wait_data() { for _ in $(seq 600); do grep -q '"text":"' "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
curl -s -N -m 120 "$W/v1/completions" -d "$long_req" >"$T/cut" 2>/dev/null &
cut_pid=$!; PIDS+=($cut_pid)
wait_data "$T/cut"
kill $cut_pid 2>/dev/null; wait $cut_pid 2>/dev/null
check "disconnect mid-stream: the stream had started" grep -q '^data: {' "$T/cut"
check "disconnect mid-stream: the job is cancelled and the slot freed" bash -c "
  $(declare -f wait_metric); wait_metric $W bntk_jobs_cancelled_total 1 && wait_metric $W bntk_slots_busy 0"
# the same for a whole (non-streamed) request: its handler hears of the client while text arrives
gen_tokens() { curl -s -m 2 "$W/metrics" | awk '/^bntk_generated_tokens_total /{print $2}'; }
gen0=$(gen_tokens)
curl -s -m 120 "$W/v1/completions" -d "${long_req/,\"stream\":true/}" >/dev/null 2>&1 &
cut_pid=$!; PIDS+=($cut_pid)
for _ in $(seq 300); do [ "$(gen_tokens)" -ge $((gen0 + 20)) ] 2>/dev/null && break; sleep 0.1; done
kill $cut_pid 2>/dev/null; wait $cut_pid 2>/dev/null
check "disconnect while a whole response is generated: the job is cancelled and the slot freed" bash -c "
  $(declare -f wait_metric); wait_metric $W bntk_jobs_cancelled_total 2 && wait_metric $W bntk_slots_busy 0"
curl -s -N -m 60 "$W/v1/completions" -d "$long_req" >"$T/q1" 2>/dev/null &
q1=$!; PIDS+=($q1)
wait_metric "$W" bntk_slots_busy 1 >/dev/null
curl -s -m 60 "$W/v1/completions" -d '{"prompt":"b","max_tokens":1}' >"$T/q2" 2>/dev/null &
q2=$!; PIDS+=($q2)
wait_metric "$W" bntk_queue_depth 1 >/dev/null
curl -s -m 10 -D "$T/q3h" -o "$T/q3" "$W/v1/completions" -d '{"prompt":"c","max_tokens":1}'
check "queue full: 503 with Retry-After and an error body" bash -c "grep -q '^HTTP/1.1 503' '$T/q3h' && grep -qi '^Retry-After: [0-9]' '$T/q3h' && jq -e '.error.message | test(\"busy\")' '$T/q3' >/dev/null"
kill $q1 2>/dev/null; wait $q1 2>/dev/null
wait $q2
check "the queued request runs once the slot is free" jqe '.usage.completion_tokens == 1' "$T/q2"
check "/metrics counts the rejected request" bash -c "curl -s -m 5 $W/metrics | grep -q '^bntk_requests_rejected_total 1$'"
check "slow: SIGTERM, exit 0" stop slow

# --timeout bounds a request's wall time
start tmo "$T/slow.gguf" --parallel 1 --timeout 1
code=$(post "$T/hb" "$URL_tmo/v1/completions" '{"prompt":"The","max_tokens":1500,"ignore_eos":true}')
check "--timeout: a long request is 504 with an error body" bash -c "[ $code = 504 ] && jq -e '.error.message | test(\"timeout\")' '$T/hb' >/dev/null"
post "$T/hs" "$URL_tmo/v1/completions" '{"prompt":"The","max_tokens":1500,"ignore_eos":true,"stream":true}' >/dev/null
check "--timeout: a long stream ends with an error event and [DONE]" bash -c "grep -q '^data: {\"error\"' '$T/hs' && [ \"\$(grep -v '^\$' '$T/hs' | tail -1)\" = 'data: [DONE]' ]"
check "--timeout: SIGTERM, exit 0" stop tmo

# ---- a stream whose text piled up is sent in pieces cut between characters -------------------
# A random model sampled at a high temperature writes byte tokens, many of them characters of
# two to four bytes or U+FFFD. BN_SERVE_TEST_STREAM_GATE holds the stream's first text until
# the job is done, so its ~6 KB go out in pieces of at most 4096 bytes: each must be valid UTF-8
# on its own, and together the whole response's text. (With seed 3 the first cut falls inside a
# character.)
"$BN_BUILD/bn-synth" -q -o "$T/fast.gguf" --ctx 4096 -t 1 || not_ok "bn-synth fast model"
rm -f "$T/sgate" "$T/sgate.port"
BN_SERVE_TEST_STREAM_GATE="$T/sgate" "$S" "$T/fast.gguf" --port 0 --port-file "$T/sgate.port" -t 1 \
  --parallel 1 -c 4096 >"$T/sgate.log" 2>&1 &
PID_sgate=$!; PIDS+=("$PID_sgate")
for _ in $(seq 300); do [ -s "$T/sgate.port" ] && curl -sf -m 2 "http://127.0.0.1:$(cat "$T/sgate.port")/health" >/dev/null && break; sleep 0.1; done
G=http://127.0.0.1:$(cat "$T/sgate.port" 2>/dev/null)
rnd='{"prompt":[1,2,3],"max_tokens":3000,"temperature":100,"top_k":0,"top_p":1,"min_p":0,"ignore_eos":true,"seed":3'
curl -s -N -m 120 "$G/v1/completions" -d "$rnd,\"stream\":true}" >"$T/piled" 2>/dev/null &
pl=$!; PIDS+=($pl)
wait_metric "$G" bntk_jobs_finished_total 1 >/dev/null
touch "$T/sgate"; wait $pl
post "$T/piled.whole" "$G/v1/completions" "$rnd}" >/dev/null
check "piled-up stream: pieces of up to 4096 bytes, each one valid UTF-8" bash -c "
  iconv -f UTF-8 -t UTF-8 '$T/piled' >/dev/null &&
  sed -n 's/^data: //p' '$T/piled' | grep -v '^\[DONE\]\$' | jq -s -e 'map(.choices[0].text | utf8bytelength) | max > 3000 and max <= 4096' >/dev/null"
check "piled-up stream: the pieces make the whole response's text" \
  bash -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$(stream_text "$T/piled")" "$(jq -j '.choices[0].text' "$T/piled.whole")"
check "sgate: SIGTERM, exit 0" stop sgate

# ---- SIGTERM with a request in flight: it finishes, then exit 0 ------------------------------
start drain "$T/slow.gguf" --parallel 2 --drain 300
curl -s -N -m 300 "$URL_drain/v1/completions" -d '{"prompt":"The","max_tokens":60,"ignore_eos":true,"stream":true}' >"$T/d1" 2>/dev/null &
d1=$!; PIDS+=($d1)
curl -s -m 300 "$URL_drain/v1/completions" -d '{"prompt":"The","max_tokens":60,"ignore_eos":true}' >"$T/d2" 2>/dev/null &
d2=$!; PIDS+=($d2)
wait_data "$T/d1"
kill -TERM "$PID_drain"
sleep 0.3
code=$(curl -s -m 5 -o "$T/hb" -w '%{http_code}' "$URL_drain/health")
check "draining: new requests are refused (connection refused or 503)" bash -c "[ '$code' = 000 ] || [ '$code' = 503 ]"
wait "$PID_drain"; rc=$?
wait $d1 $d2
check "SIGTERM mid-request: exit 0 after the drain" test "$rc" -eq 0
check "SIGTERM mid-request: the stream finished (finish_reason length, [DONE])" bash -c "
  grep -q '\"finish_reason\":\"length\"' '$T/d1' && [ \"\$(grep -v '^\$' '$T/d1' | tail -1)\" = 'data: [DONE]' ]"
check "SIGTERM mid-request: the whole response finished too" jqe '.usage.completion_tokens == 60' "$T/d2"

# ---- load: batch invariance beside 31 others; 64 concurrent clients ---------------------------
# The same sampled request (seed 7) alone, then again while 31 different streams run in the
# other slots: they ask for a whole slot of tokens, so they are still running when it ends
# (they are cut off afterwards), and it is evaluated in their batches whatever the load.
start inv "$T/slow.gguf" --parallel 32 -c 16384 --kv f16 --queue 64
V=$URL_inv
inv='{"messages":[{"role":"user","content":"Tell me about the river."}],"max_tokens":24,"temperature":1.0,"seed":7,"ignore_eos":true}'
post "$T/alone" "$V/v1/chat/completions" "$inv" >/dev/null
alone=$(jq -r '.choices[0].message.content' "$T/alone")
bg=()
for i in $(seq 31); do
  b=$(jq -cn --arg p "Request number $i about $((i * 37)) things" --argjson s "$i" \
       '{prompt:$p,max_tokens:480,temperature:0.9,seed:$s,ignore_eos:true,stream:true}')
  curl -s -N -m 600 "$V/v1/completions" -d "$b" >"$T/bg$i" 2>/dev/null & bg+=($!)
done
PIDS+=("${bg[@]}")
wait_metric "$V" bntk_slots_busy 31 >/dev/null
post "$T/beside" "$V/v1/chat/completions" "$inv" >/dev/null
max_batch=$(curl -s -m 5 "$V/metrics" | awk '/^bntk_batch_sequences_max /{print $2}')
busy=$(curl -s -m 5 "$V/metrics" | awk '/^bntk_slots_busy /{print $2}')
kill "${bg[@]}" 2>/dev/null; wait "${bg[@]}" 2>/dev/null
beside=$(jq -r '.choices[0].message.content' "$T/beside")
check "batch invariance: same seed, same text alone and beside 31 others (batches of up to $max_batch)" \
  bash -c '[ -n "$1" ] && [ "$1" = "$2" ] && [ "$3" -eq 32 ]' _ "$alone" "$beside" "$max_batch"
check "batch invariance: the 31 others were still running when it ended ($busy busy)" test "$busy" -ge 31
check "batch invariance: their clients left, their slots are freed" wait_metric "$V" bntk_slots_busy 0
check "inv: SIGTERM, exit 0" stop inv

start load "$T/tiny.gguf" --parallel 8 --queue 64
L=$URL_load
# 64 clients: 8 different requests, each 8 times; every answer equals the request's answer alone
for k in $(seq 8); do
  post "$T/ref$k" "$L/v1/completions" "{\"prompt\":\"Story $k:\",\"max_tokens\":16,\"temperature\":0.8,\"seed\":$k,\"ignore_eos\":true}" >/dev/null
done
cl=()
for i in $(seq 64); do
  k=$(( (i - 1) % 8 + 1 ))
  curl -s -m 120 -o "$T/l$i" -w '%{http_code}' "$L/v1/completions" \
    -d "{\"prompt\":\"Story $k:\",\"max_tokens\":16,\"temperature\":0.8,\"seed\":$k,\"ignore_eos\":true}" >"$T/l$i.code" 2>/dev/null &
  cl+=($!)
done
PIDS+=("${cl[@]}")
wait "${cl[@]}"
good=0
for i in $(seq 64); do
  k=$(( (i - 1) % 8 + 1 ))
  [ "$(cat "$T/l$i.code")" = 200 ] && [ "$(jq -r '.choices[0].text' "$T/l$i")" = "$(jq -r '.choices[0].text' "$T/ref$k")" ] &&
    [ "$(jq '.usage.completion_tokens' "$T/l$i")" = 16 ] && good=$((good + 1))
done
check "64 concurrent clients: all answered, each equal to its request alone ($good/64)" test $good -eq 64
check "after the load: no slot busy, nothing queued" bash -c "$(declare -f wait_metric); wait_metric $L bntk_slots_busy 0 && wait_metric $L bntk_queue_depth 0"
check "load: SIGTERM, exit 0 (no leaks under make asan)" stop load
check "main: SIGTERM, exit 0 (no leaks under make asan)" stop main
