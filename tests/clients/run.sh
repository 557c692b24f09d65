#!/usr/bin/env bash
# make check-clients: real clients against bn-serve on loopback.
#   - the official `openai` npm package (openai.mjs): chat completions whole and streamed
#   - the chat page in headless Debian chromium through playwright-core (page.mjs);
#     the screenshot is kept as $BN_BUILD/clients/chat-page.png
# The npm packages are installed into $BN_BUILD/clients (package.json here).
set -u
BN_BUILD=${BN_BUILD:-$(pwd)/build}
BN_ROOT=${BN_ROOT:-$(pwd)}
D=$BN_BUILD/clients
HERE=$BN_ROOT/tests/clients
mkdir -p "$D"
if [ ! -d "$D/node_modules/openai" ] || [ ! -d "$D/node_modules/playwright-core" ] ||
   ! cmp -s "$HERE/package.json" "$D/package.json"; then
  cp "$HERE/package.json" "$D/package.json"
  (cd "$D" && npm install --no-audit --no-fund --loglevel=error) || { echo "check-clients: npm install failed" >&2; exit 3; }
fi
cp "$HERE"/*.mjs "$D/"
"$BN_BUILD/bn-convert" "$BN_ROOT/fixtures/tiny-b158" "$D/tiny.gguf" --quiet || exit 3
key=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
rm -f "$D/port"
# 20 ms after every step (a test hook, see sched.c): the tiny model is so fast that a loaded
# machine could otherwise hand the page its whole reply in one event
BN_SERVE_TEST_STEP_MS=20 "$BN_BUILD/bn-serve" "$D/tiny.gguf" --port 0 --port-file "$D/port" \
  --api-key "$key" -t 1 >"$D/server.log" 2>&1 &
pid=$!
trap 'kill -KILL $pid 2>/dev/null' EXIT
url=""
for _ in $(seq 150); do
  if [ -s "$D/port" ]; then
    url="http://127.0.0.1:$(cat "$D/port")"
    curl -sf -m 2 "$url/health" >/dev/null && break
  fi
  sleep 0.1
done
failed=0
echo "# openai npm package"
(cd "$D" && timeout 120 node openai.mjs "$url" "$key") || failed=1
echo "# chat page in headless chromium"
(cd "$D" && timeout 180 node page.mjs "$url" "$key" "$D/chat-page.png") || failed=1
kill -TERM $pid
wait $pid; rc=$?
if [ $rc -ne 0 ]; then echo "not ok - bn-serve exit $rc after SIGTERM"; sed 's/^/  | /' "$D/server.log"; failed=1; fi
trap - EXIT
[ -s "$D/chat-page.png" ] && echo "# screenshot: $D/chat-page.png"
if [ $failed -ne 0 ]; then echo "check-clients: FAILED"; exit 1; fi
echo "check-clients: passed"
