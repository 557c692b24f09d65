#!/usr/bin/python3
"""bench_serve.py - one round of N concurrent streamed completions against an
OpenAI-compatible server (bn-serve or llama-server), for scripts/bench_serve.sh.

Each stream sends the same-length prompt of token ids (so both servers see
exactly the same tokens, no tokenizer involved), asks for max_tokens tokens
with ignore_eos and greedy sampling, and records when its first text arrived
and when it ended. Prints one JSON line: aggregate generated tokens/s (all
streams' tokens over the wall time of the round), and the median and maximum
time to first token. Standard library only (Debian's /usr/bin/python3).
This is a benchmark driver, not a test.
"""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse


def one_stream(url, body, out, i):
    u = urllib.parse.urlparse(url)
    t0 = time.monotonic()
    first = None
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    conn.request("POST", "/v1/completions", body=json.dumps(body),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    if r.status != 200:
        out[i] = {"error": f"HTTP {r.status}: {r.read()[:200]!r}"}
        return
    usage = prompt_n = None
    while True:
        line = r.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        data = line[6:]
        if data == b"[DONE]":
            break
        j = json.loads(data)
        # OpenAI chunks (bn-serve), or llama-server's native ones: that version's
        # /v1/completions streams {"content", "stop", "tokens_predicted", ...}
        if j.get("usage"):
            usage = j["usage"].get("completion_tokens")
            prompt_n = j["usage"].get("prompt_tokens")
        if j.get("stop") and "tokens_predicted" in j:
            usage, prompt_n = j["tokens_predicted"], j.get("tokens_evaluated")
        ch = j.get("choices") or []
        text = ch[0].get("text", "") if ch else j.get("content", "")
        if first is None and text:
            first = time.monotonic()
    t1 = time.monotonic()
    conn.close()
    out[i] = {"t0": t0, "t1": t1, "ttft": (first or t1) - t0, "n": usage, "prompt": prompt_n}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--prompt-tokens", type=int, default=33)
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=128256)
    ap.add_argument("--round", type=int, default=0, help="varies the prompts between rounds")
    a = ap.parse_args()
    out = [None] * a.streams
    threads = []
    for i in range(a.streams):
        # distinct prompts per stream and round (no prompt cache can help), fixed length
        seed = 1 + i + 1000 * a.round
        ids = [(seed * 7919 + k * 104729) % (a.vocab - 300) + 256 for k in range(a.prompt_tokens)]
        body = {"prompt": ids, "max_tokens": a.gen, "temperature": 0, "ignore_eos": True,
                "stream": True, "stream_options": {"include_usage": True}, "cache_prompt": False}
        threads.append(threading.Thread(target=one_stream, args=(a.url, body, out, i)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errs = [o["error"] for o in out if "error" in o]
    if errs:
        print(json.dumps({"error": errs[0]}))
        sys.exit(1)
    wall = max(o["t1"] for o in out) - min(o["t0"] for o in out)
    counts = [o["n"] for o in out]
    gen = sum(c if c is not None else a.gen for c in counts)
    ttft = [o["ttft"] for o in out]
    print(json.dumps({"streams": a.streams, "tokens": gen, "wall_s": round(wall, 4),
                      "agg_tps": round(gen / wall, 3), "ttft_median_s": round(statistics.median(ttft), 4),
                      "ttft_max_s": round(max(ttft), 4),
                      "counted": sum(c is not None for c in counts),
                      "prompt_tokens": sorted({o["prompt"] for o in out if o["prompt"] is not None})}))


if __name__ == "__main__":
    main()
