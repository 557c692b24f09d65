#!/bin/bash
# make_kquant_golden.sh - golden Q6_K / Q4_K bytes from the reference engines' own
# quantizer (llama-quantize, ggml's quantize_row_q{6,4}_K_ref) for fixtures/kquant/:
# bitnet.cpp's build (LLAMA_QUANTIZE, default ../peers/bitnet-build/build/bin/
# llama-quantize relative to the repo) and upstream llama.cpp's (LLAMA_QUANTIZE_UP,
# default ../peers/llama.cpp/build/bin/llama-quantize), whose bytes differ in a few
# blocks (bitnet.cpp's clang -march=native build fuses multiply-adds, upstream's
# ggml-base does not; include/bn/quant.h). Needs a built bntk (BUILD, default build)
# and /usr/bin/python3 (standard library only); make check needs none of them.
#
# 1. tiny-b158 converted with F16 projections and embeddings, then
#    llama-quantize --token-embedding-type q6_k|q4_k ... F16: the sha256 of its
#    token_embd bytes (tests/cli/kquant.sh converts with --embd-type and compares).
# 2. stress.f16: 192 rows x 256 of awkward values (gen_kquant_stress.py) written
#    into the first rows of that F16 file's token_embd, quantized the same way;
#    the first 192 rows of the result are stress.q6_k / stress.q4_k
#    (test_kquant.c packs stress.f16 and compares byte for byte).
# 3. the same stress rows through upstream's llama-quantize, in tiny-bitnet-pt
#    (architecture "bitnet", which upstream knows): stress.q6_k.upstream, .q4_k.upstream.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$here/build}
LQ=${LLAMA_QUANTIZE:-$here/../peers/bitnet-build/build/bin/llama-quantize}
LQU=${LLAMA_QUANTIZE_UP:-$here/../peers/llama.cpp/build/bin/llama-quantize}
out=$here/fixtures/kquant
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
"$BUILD/bn-convert" "$here/fixtures/tiny-b158" "$tmp/f16.gguf" --type f16 -q
$py "$here/scripts/gen_kquant_stress.py" "$out/stress.f16"
$py "$here/scripts/gen_kquant_stress.py" --patch "$BUILD/bn-info" "$tmp/f16.gguf" "$out/stress.f16" \
    "$tmp/stress.gguf"
: >"$out/golden.txt"
for t in q6_k q4_k; do
    "$LQ" --token-embedding-type $t "$tmp/f16.gguf" "$tmp/ref-$t.gguf" F16 >/dev/null 2>&1
    echo "tiny-b158 $t $($py "$here/scripts/gguf_tensor_bytes.py" "$BUILD/bn-info" "$tmp/ref-$t.gguf" token_embd.weight)" \
        >>"$out/golden.txt"
    "$LQ" --token-embedding-type $t "$tmp/stress.gguf" "$tmp/stress-$t.gguf" F16 >/dev/null 2>&1
    $py "$here/scripts/gguf_tensor_bytes.py" "$BUILD/bn-info" "$tmp/stress-$t.gguf" token_embd.weight \
        "$tmp/stress-$t.bin"
    bs=$([ $t = q6_k ] && echo 210 || echo 144)
    head -c $((192 * bs)) "$tmp/stress-$t.bin" >"$out/stress.$t"
done
"$BUILD/bn-convert" "$here/fixtures/tiny-bitnet-pt" "$tmp/pt.gguf" --type f16 -q
$py "$here/scripts/gen_kquant_stress.py" --patch "$BUILD/bn-info" "$tmp/pt.gguf" "$out/stress.f16" "$tmp/pt-stress.gguf"
for t in q6_k q4_k; do
    LD_LIBRARY_PATH=$(dirname "$LQU") "$LQU" --token-embedding-type $t "$tmp/pt-stress.gguf" "$tmp/up-$t.gguf" F16 \
        >/dev/null 2>&1
    $py "$here/scripts/gguf_tensor_bytes.py" "$BUILD/bn-info" "$tmp/up-$t.gguf" token_embd.weight "$tmp/up-$t.bin"
    bs=$([ $t = q6_k ] && echo 210 || echo 144)
    head -c $((192 * bs)) "$tmp/up-$t.bin" >"$out/stress.$t.upstream"
done
# 4. upstream llama-perplexity (wiki.test.raw, n_ctx 256, 4 chunks) on tiny-bitnet-pt with TQ2_0
#    projections and a K-quant head: tests/cli/kquant.sh checks bn-verify --act q8_k within 0.05 %.
LPU=$(dirname "$LQU")/llama-perplexity
WT=${WIKI_TEST:-$here/../shared/data/wikitext-2/wiki.test.raw}
: >"$out/ppl.txt"
for t in q6_k q4_k; do
    "$BUILD/bn-convert" "$here/fixtures/tiny-bitnet-pt" "$tmp/ppl-$t.gguf" --type tq2_0 --embd-type $t -q
    p=$(LD_LIBRARY_PATH=$(dirname "$LQU") "$LPU" -m "$tmp/ppl-$t.gguf" -f "$WT" -c 256 --chunks 4 -t 2 2>&1 |
        sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p')
    echo "tiny-bitnet-pt tq2_0 $t 256 4 $p" >>"$out/ppl.txt"
done
# 5. bitnet.cpp's own head numbers (tests/test_kquant.c): a bn-synth model with a Q6_K / Q4_K
#    head of 6 blocks per row run by scripts/kquant_head_ref.cpp (built against bitnet.cpp's
#    static libraries; CXX, default clang++) on 4 token ids: the head's input and the logits.
LB=$(dirname "$LQ")/..
CXX=${CXX:-clang++}
"$CXX" -O2 -std=c++17 -I"$LB/../3rdparty/llama.cpp/include" -I"$LB/../3rdparty/llama.cpp/ggml/include" \
    "$here/scripts/kquant_head_ref.cpp" "$LB/3rdparty/llama.cpp/src/libllama.a" \
    "$LB/3rdparty/llama.cpp/ggml/src/libggml.a" -lpthread -lm -fopenmp -o "$tmp/head_ref"
for t in q6_k q4_k; do
    "$BUILD/bn-synth" -q -o "$tmp/head-$t.gguf" --embd 1536 --ff 1536 --layers 1 --heads 12 --heads-kv 4 \
        --vocab 1000 -s 7 --embd-type $t
    "$tmp/head_ref" "$tmp/head-$t.gguf" "$out/head-$t.f32" 1 17 999 500 2>/dev/null
done
echo "upstream: llama.cpp $(git -C "$(dirname "$LQU")/../.." rev-parse --short HEAD 2>/dev/null) llama-quantize" >>"$out/golden.txt"
echo "reference: bitnet.cpp $(git -C "$(dirname "$LQ")/../.." rev-parse --short HEAD 2>/dev/null) ggml $(git -C "$(dirname "$LQ")/../../3rdparty/llama.cpp" rev-parse --short HEAD 2>/dev/null) llama-quantize" >>"$out/golden.txt"
cat "$out/golden.txt"
