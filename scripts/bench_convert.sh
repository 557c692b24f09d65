#!/usr/bin/env bash
# scripts/bench_convert.sh [BUILD] - bn-convert against llama.cpp's convert_hf_to_gguf.py on a
# latent checkpoint shaped like 1bitLLM/bitnet_b1_58-large (bench_convert --make-large: fp16,
# 24 layers, 1536/4096, vocabulary 32002, 1.46 GB), to TQ2_0.
#
# Runs, alternating, REPS times (default 3): bn-convert -t 1, bn-convert -t 2, bn-convert -t 2
# --report (its cost), and the Python converter; wall seconds, CPU seconds (user + system) and
# peak RSS of each from /usr/bin/time, and their medians with the spread (min..max), as the
# machine may be shared. Then checks that the two converters wrote the same bytes for every
# tensor (the GGUF headers differ: general.* and tokenizer keys). Figures go in closing notes.
#
# Environment: BN_BENCH_DIR (default /tmp) holds the checkpoint (written once) and the outputs;
# REPS; BN_BASE_CONVERT: another bn-convert (say, main's) timed the same way (-t 1 and -t 2) in
# the same alternation, for before/after figures; LLAMA_CPP (default /work/peers/llama.cpp: convert_hf_to_gguf.py and gguf-py/); PY
# (default /usr/bin/python3, with numpy, torch and sentencepiece: Debian's python3-numpy,
# python3-torch, python3-sentencepiece, python3-tqdm). Debian 12 has no python3-safetensors and
# its torch (1.13) lacks the float8 dtypes the converter's table names, so the script puts a
# small stand-in on PYTHONPATH: a safetensors reader over numpy.memmap (what safe_open does:
# map the file, hand out tensors) and the two missing dtype names. Without PY or the
# converter, only bn-convert is timed (with the Llama-2 tokenizer.json from shared/).
set -euo pipefail
B=${1:-build}
DIR=${BN_BENCH_DIR:-/tmp}
REPS=${REPS:-3}
LLAMA_CPP=${LLAMA_CPP:-/work/peers/llama.cpp}
PY=${PY:-/usr/bin/python3}
SHARED=${BN_SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CK="$DIR/bntk-bench-large-hf"
SHIM="$DIR/bntk-bench-pyshim"
T=$(mktemp -d "$DIR/bntk-bench-convert.XXXXXX")
trap 'rm -rf "$T"' EXIT
[ -x /usr/bin/time ] || { echo "bench_convert.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

[ -f "$CK/model.safetensors" ] || "$B/bench/bench_convert" --make-large "$CK"

have_py=0
if [ -f "$LLAMA_CPP/convert_hf_to_gguf.py" ] && "$PY" -c 'import numpy, torch, sentencepiece, tqdm' 2>/dev/null; then
  have_py=1
fi
if [ "$have_py" = 1 ]; then
  # a SentencePiece tokenizer.model both converters read: the 3072-piece fixture grown to
  # 32000 pieces (protobuf repeated fields may be appended); config.json pads it to 32002
  rm -f "$CK/tokenizer.json"
  "$PY" - "$ROOT/fixtures/tiny-b158/tokenizer.model" "$CK/tokenizer.model" 32000 <<'EOF'
import struct, sys
import sentencepiece as spm
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
have = spm.SentencePieceProcessor(model_file=src).vocab_size()
def varint(v):
    out = bytearray()
    while True:
        b, v = v & 0x7f, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)
extra = bytearray()
for i in range(have, n):
    piece = ("\u2581w%d" % i).encode()
    body = b"\x0a" + varint(len(piece)) + piece + b"\x15" + struct.pack("<f", -1000.0 - i)
    extra += b"\x0a" + varint(len(body)) + body
open(dst, "wb").write(open(src, "rb").read() + bytes(extra))
assert spm.SentencePieceProcessor(model_file=dst).vocab_size() == n
EOF
  mkdir -p "$SHIM/safetensors"
  cat >"$SHIM/safetensors/__init__.py" <<'EOF'
# bench stand-in for the safetensors package: safe_open over numpy.memmap
import contextlib, json, struct
import numpy as np
import torch
_NP = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.int16, "I64": np.int64,
       "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
class _Slice:
    def __init__(self, f, name):
        self.f, self.name = f, name
    def get_dtype(self):
        return self.f.meta[self.name]["dtype"]
    def get_shape(self):
        return list(self.f.meta[self.name]["shape"])
    def __getitem__(self, idx):
        return self.f.get_tensor(self.name)[idx]
class _File:
    def __init__(self, path):
        with open(path, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            self.meta = json.loads(fh.read(n))
        self.meta.pop("__metadata__", None)
        self.base = 8 + n
        self.mm = np.memmap(path, dtype=np.uint8, mode="r")
    def keys(self):
        return list(self.meta.keys())
    def get_slice(self, name):
        return _Slice(self, name)
    def get_tensor(self, name):
        m = self.meta[name]
        a, b = m["data_offsets"]
        arr = self.mm[self.base + a:self.base + b].view(_NP[m["dtype"]]).reshape(m["shape"])
        t = torch.from_numpy(np.array(arr))
        return t.view(torch.bfloat16) if m["dtype"] == "BF16" else t
@contextlib.contextmanager
def safe_open(path, framework="pt", device="cpu"):
    yield _File(str(path))
EOF
  cat >"$SHIM/sitecustomize.py" <<'EOF'
# torch 1.13 has no float8 dtypes; convert_hf_to_gguf.py only names them in a table
try:
    import torch
    for _n in ("float8_e4m3fn", "float8_e5m2"):
        if not hasattr(torch, _n):
            setattr(torch, _n, torch.uint8)
except ImportError:
    pass
EOF
else
  echo "(python converter not run: $LLAMA_CPP/convert_hf_to_gguf.py or numpy/torch/sentencepiece/tqdm for $PY missing)"
  rm -f "$CK/tokenizer.model"
  cp "$SHARED/data/tokenizers/llama2/tokenizer.json" "$CK/tokenizer.json"
fi

# one run: NAME CMD...; appends "NAME wall cpu rss_kb" to $T/runs
run() {
  local name=$1
  shift
  /usr/bin/time -f "%e %U %S %M" -o "$T/time" "$@" >"$T/log" 2>&1 || { cat "$T/log" >&2; exit 3; }
  read -r wall user sys rss <"$T/time"
  echo "$name $wall $(echo "$user + $sys" | bc -l) $rss" >>"$T/runs"
}

cat "$CK/model.safetensors" >/dev/null # page cache
s0=$(date +%s.%N)
cat "$CK/model.safetensors" >/dev/null
s1=$(date +%s.%N)
echo "read once (cat, page cache): $(echo "$s1 - $s0" | bc -l | cut -c1-5) s; load: $(cut -d' ' -f1-3 /proc/loadavg)"
BASE=${BN_BASE_CONVERT:-}
for r in $(seq "$REPS"); do
  if [ -n "$BASE" ]; then
    run base-t1 "$BASE" "$CK" "$T/base.gguf" --type tq2_0 -t 1 -q
    run base-t2 "$BASE" "$CK" "$T/base.gguf" --type tq2_0 -t 2 -q
    run base-t2-report "$BASE" "$CK" "$T/base.gguf" --type tq2_0 -t 2 -q --report "$T/base-report.json"
  fi
  run bn-t1 "$B/bn-convert" "$CK" "$T/bn.gguf" --type tq2_0 -t 1 -q
  run bn-t2 "$B/bn-convert" "$CK" "$T/bn.gguf" --type tq2_0 -t 2 -q
  run bn-t2-report "$B/bn-convert" "$CK" "$T/bnr.gguf" --type tq2_0 -t 2 -q --report "$T/report.json"
  if [ "$have_py" = 1 ]; then
    (cd "$T" && run py env PYTHONPATH="$SHIM:$LLAMA_CPP/gguf-py" "$PY" "$LLAMA_CPP/convert_hf_to_gguf.py" \
      "$CK" --outtype tq2_0 --outfile "$T/py.gguf")
  fi
  echo "rep $r/$REPS done; load: $(cut -d' ' -f1-3 /proc/loadavg)"
done

echo
echo "| converter | runs | wall s median (min..max) | CPU s median (min..max) | peak RSS MB |"
echo "| --- | ---: | ---: | ---: | ---: |"
for name in base-t1 base-t2 base-t2-report bn-t1 bn-t2 bn-t2-report py; do
  grep -q "^$name " "$T/runs" || continue
  grep "^$name " "$T/runs" | awk -v n="$name" '
    { w[NR] = $2; c[NR] = $3; if ($4 > r) r = $4 }
    function med(a, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                                   return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
    END { k = NR; mw = med(w, k); lw = w[1]; hw = w[k]; mc = med(c, k); lc = c[1]; hc = c[k]
          printf "| %s | %d | %.2f (%.2f..%.2f) | %.2f (%.2f..%.2f) | %.0f |\n", n, k, mw, lw, hw, mc, lc, hc, r / 1024 }'
done

cmp -s "$T/bn.gguf" "$T/bnr.gguf" && echo "bn-convert with --report wrote the same file" ||
  { echo "bn-convert --report changed the GGUF" >&2; exit 1; }
if [ -n "$BASE" ]; then
  cmp -s "$T/bn.gguf" "$T/base.gguf" && echo "$BASE wrote the same file" || echo "$BASE wrote a different file"
fi
if [ "$have_py" = 1 ]; then
  "$PY" - "$B/bn-info" "$T/bn.gguf" "$T/py.gguf" <<'EOF'
import json, subprocess, sys
bn_info, a, b = sys.argv[1:4]
def table(p):
    d = json.loads(subprocess.check_output([bn_info, "--json", p]))
    return d["data_offset"], {t["name"]: t for t in d["tensors"]}
(oa, ta), (ob, tb) = table(a), table(b)
bad = sorted(set(ta) ^ set(tb))
with open(a, "rb") as fa, open(b, "rb") as fb:
    for n in sorted(set(ta) & set(tb)):
        x, y = ta[n], tb[n]
        fa.seek(oa + x["offset"]); fb.seek(ob + y["offset"])
        if (x["type"], x["bytes"]) != (y["type"], y["bytes"]) or fa.read(x["bytes"]) != fb.read(y["bytes"]):
            bad.append(n)
print(f"tensor data: {len(ta)} tensors, {len(bad)} differ between bn-convert and convert_hf_to_gguf.py"
      + (": " + ", ".join(bad[:5]) if bad else " (byte-identical)"))
sys.exit(1 if bad else 0)
EOF
fi
