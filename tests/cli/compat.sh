#!/usr/bin/env bash
# Loader compatibility of bn-convert's GGUFs (docs/compat.md): synthetic Hugging Face
# checkpoints of each architecture are converted to every output type and checked
# against the loader manifests in fixtures/compat/ (KV names and exact GGUF types, tensor
# names and ggml shapes, allowed types, ggml_nbytes sizes, offsets as upstream gguf.cpp
# demands). The I2_S bytes of the q/k projections are recomputed here from the
# checkpoint by an independent packer (bitnet.cpp's quantize_i2_s layout), which also
# pins the q/k row order: NEOX archs unpermuted, llama permuted for NORM rope.
. "$(dirname "$0")/lib.sh"
C="$BN_BUILD/bn-convert"
I="$BN_BUILD/bn-info"
M="$BN_ROOT/scripts/compat_manifest.sh"
FX="$BN_ROOT/fixtures/compat"
TOK="$BN_ROOT/fixtures/tokenizers/spm-tiny/tokenizer.model"   # 400 pieces
PAT="$T/pattern"

# ---- a synthetic checkpoint writer -------------------------------------------------
# Every tensor is BF16 and holds the 7-value cycle 1, 0, -1, 0.5, -0.5, 0.25, 0 from its
# first element on, so absmean ternarization (s ~ 0.46) gives the codes 1 0 -1 1 -1 1 0.
le64() { local n=$1 i s=""; for i in 0 1 2 3 4 5 6 7; do s="$s\\x$(printf %02x $(((n >> (8 * i)) & 255)))"; done; printf "$s"; }
printf '\x80\x3f\x00\x00\x80\xbf\x00\x3f\x00\xbf\x80\x3e\x00\x00' >"$PAT"
for _ in $(seq 18); do cat "$PAT" "$PAT" >"$PAT.t" && mv "$PAT.t" "$PAT"; done

# gen DIR CLASS V E F L H HKV TIED(true|false|none)
gen() {
  local d=$1 cls=$2 V=$3 E=$4 F=$5 L=$6 H=$7 KV=$8 tied=$9
  local hd=$((E / H)) off=0 hdr="" sep="" act=silu extra="" tie=""
  local sub_a=self_attn.attn_sub_norm sub_f=mlp.ffn_sub_norm l p n r c nb shape
  mkdir -p "$d"
  case $cls in
    BitNetForCausalLM) act=relu2 ;;
    BitnetForCausalLM) sub_a=self_attn.inner_attn_ln sub_f=mlp.ffn_layernorm ;;
    LlamaForCausalLM) extra=', "quantization_config": {"quant_method": "bitnet"}' ;;
  esac
  [ "$tied" != none ] && tie=", \"tie_word_embeddings\": $tied"
  printf '{"architectures": ["%s"], "vocab_size": %d, "hidden_size": %d, "intermediate_size": %d, "num_hidden_layers": %d, "num_attention_heads": %d, "num_key_value_heads": %d, "max_position_embeddings": 128, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "hidden_act": "%s"%s%s}\n' \
    "$cls" "$V" "$E" "$F" "$L" "$H" "$KV" "$act" "$tie" "$extra" >"$d/config.json"
  {
    echo "model.embed_tokens.weight $V $E"
    for l in $(seq 0 $((L - 1))); do
      p=model.layers.$l
      echo "$p.input_layernorm.weight $E 0"
      echo "$p.self_attn.q_proj.weight $((H * hd)) $E"
      echo "$p.self_attn.k_proj.weight $((KV * hd)) $E"
      echo "$p.self_attn.v_proj.weight $((KV * hd)) $E"
      echo "$p.self_attn.o_proj.weight $E $((H * hd))"
      [ "$cls" != LlamaForCausalLM ] && echo "$p.$sub_a.weight $E 0"
      echo "$p.post_attention_layernorm.weight $E 0"
      echo "$p.mlp.gate_proj.weight $F $E"
      echo "$p.mlp.up_proj.weight $F $E"
      echo "$p.mlp.down_proj.weight $E $F"
      [ "$cls" != LlamaForCausalLM ] && echo "$p.$sub_f.weight $F 0"
    done
    echo "model.norm.weight $E 0"
    [ "$tied" = false ] && echo "lm_head.weight $V $E"
  } >"$d/tensors.txt"
  while read -r n r c; do
    if [ "$c" = 0 ]; then nb=$((r * 2)) shape="[$r]"; else nb=$((r * c * 2)) shape="[$r, $c]"; fi
    hdr="$hdr$sep\"$n\": {\"dtype\": \"BF16\", \"shape\": $shape, \"data_offsets\": [$off, $((off + nb))]}"
    sep=", " off=$((off + nb))
  done <"$d/tensors.txt"
  hdr="{$hdr}"
  while [ $((${#hdr} % 8)) -ne 0 ]; do hdr="$hdr "; done
  {
    le64 ${#hdr}
    printf '%s' "$hdr"
    while read -r n r c; do
      if [ "$c" = 0 ]; then nb=$((r * 2)); else nb=$((r * c * 2)); fi
      head -c "$nb" "$PAT"
    done <"$d/tensors.txt"
  } >"$d/model.safetensors"
  rm -f "$d/tensors.txt"
  cp "$TOK" "$d/tokenizer.model"
}

# hyperparameters of the synthetic models: 2 layers, n_embd 256 (a TQ block), head dim 64
V=400 E=256 F=512 NL=2 NH=4
vars() { echo "n_vocab=$V n_embd=$E n_ff=$F n_layer=$NL n_head=$NH n_head_kv=$1 n_embd_head=$((E / NH)) n_ctx=128"; }
gen "$T/bitnet" BitnetForCausalLM $V $E $F $NL $NH 4 none
gen "$T/b158" BitNetForCausalLM $V $E $F $NL $NH 2 true
gen "$T/llama" LlamaForCausalLM $V $E $F $NL $NH 2 false

# conv DIR ARCH KV TYPE EMBD: convert and check the result against the arch's manifest
conv() {
  local dir=$1 arch=$2 kv=$3 ty=$4 em=$5 out="$T/$(basename "$1")-$4-$5"
  if ! run_rc 0 "$out.log" "$C" -q -t 2 --type "$ty" --embd-type "$em" "$dir" "$out.gguf"; then
    not_ok "$arch $ty/$em: bn-convert failed"
    return
  fi
  "$I" --json "$out.gguf" >"$out.json" 2>"$out.err" || { not_ok "$arch $ty/$em: bn-info failed"; return; }
  # shellcheck disable=SC2046
  check "$arch $ty projections, $em embeddings: meets the loader manifest" \
    bash "$M" "$FX/$arch.txt" "$FX/ggml-types.txt" "$out.json" $(vars "$kv")
}
for ty in i2_s tq2_0 tq1_0 f16 f32; do
  conv "$T/bitnet" bitnet 4 $ty f16
  conv "$T/b158" bitnet-b1.58 2 $ty f16
  conv "$T/llama" llama 2 $ty f16
done
conv "$T/bitnet" bitnet 4 tq2_0 q8_0
conv "$T/b158" bitnet-b1.58 2 i2_s q8_0
conv "$T/llama" llama 2 tq1_0 f32

# The files carry what the loaders branch on.
kvval() { awk -v k="\"$2\"" '$0 ~ "\"key\":\t" k {f=1} f && /"value":/ {sub(/.*"value":\t/, ""); gsub(/"/, ""); print; exit}' "$1"; }
check "bitnet: rope.scaling.type linear, as the reference converter writes" \
  test "$(kvval "$T/bitnet-i2_s-f16.json" bitnet.rope.scaling.type)" = linear
check "bitnet-b1.58 I2_S: general.file_type 40 (LLAMA_FTYPE_MOSTLY_I2_S)" \
  test "$(kvval "$T/b158-i2_s-f16.json" general.file_type)" = 40
check "llama TQ1_0: general.file_type 36" test "$(kvval "$T/llama-tq1_0-f16.json" general.file_type)" = 36
check "llama untied: output.weight written (lm_head)" grep -q '"output.weight"' "$T/llama-tq2_0-f16.json"
check "bitnet-b1.58 tied: no output.weight" bash -c "! grep -q '\"output.weight\"' '$T/b158-i2_s-f16.json'"

# ---- the checker itself must fail on what a loader would refuse ----------------------
J="$T/b158-i2_s-f16.json"
mcheck() { bash "$M" "$FX/bitnet-b1.58.txt" "$FX/ggml-types.txt" "$1" $(vars 2) >"$1.out" 2>&1; }
tamper() { sed "$1" "$J" >"$T/bad.json"; ! mcheck "$T/bad.json" && grep -q "$2" "$T/bad.json.out"; }
check "checker: a u32 hyperparameter written as i32 is refused" \
  tamper '/"bitnet-b1.58.block_count"/{n;s/"u32"/"i32"/}' 'block_count has type i32'
check "checker: a missing required KV is refused" \
  tamper 's/"bitnet-b1.58.attention.layer_norm_rms_epsilon"/"x.eps"/' 'missing KV bitnet-b1.58.attention.layer_norm_rms_epsilon'
check "checker: a missing tensor is refused" \
  tamper 's/"blk.1.ffn_sub_norm.weight"/"blk.1.ffn_subnorm.weight"/' 'missing tensor blk.1.ffn_sub_norm.weight'
check "checker: a transposed projection is refused" \
  tamper '/"blk.0.ffn_down.weight"/{n;n;s/\[512, 256\]/[256, 512]/}' 'blk.0.ffn_down.weight has ne'
check "checker: a misplaced offset is refused" \
  tamper '/"blk.0.attn_k.weight"/,/"offset"/s/"offset":\t[0-9]*/"offset":\t8/' 'blk.0.attn_k.weight at offset 8'
check "checker: an I2_S size without the 32-byte tail is refused" \
  tamper '/"blk.0.attn_q.weight"/,/"bytes"/s/"bytes":\t16416/"bytes":\t16384/' 'ggml_nbytes says 16416'
check "checker: a wrong general.file_type is refused" \
  tamper '/"general.file_type"/,/"value"/s/"value":\t40/"value":\t1/' 'general.file_type 1'
check "checker: a norm stored as F16 is refused" \
  tamper '/"output_norm.weight"/{n;s/"F32"/"F16"/}' 'output_norm.weight has type F16'
check "checker: the bitnet loader refuses a bitnet-b1.58 file" \
  bash -c "! bash '$M' '$FX/bitnet.txt' '$FX/ggml-types.txt' '$J' $(vars 2) >/dev/null"
check "checker: the llama loader refuses sub-norms" \
  bash -c "! bash '$M' '$FX/llama.txt' '$FX/ggml-types.txt' '$J' $(vars 2) >'$T/ll.out' && grep -q 'attn_sub_norm.weight must not be written' '$T/ll.out'"

# ---- I2_S bytes and q/k row order, recomputed from the checkpoint ----------------------
# i2s_rows PERM HEADS ROWS...: expected I2_S bytes (hex) of those GGUF rows of a
# [HEADS*64, 256] projection built from the pattern. bitnet.cpp's quantize_i2_s: in each
# 128-element block, byte g = c[g]<<6 | c[g+32]<<4 | c[g+64]<<2 | c[g+96], c = code + 1.
# PERM=norm: GGUF row h*64 + 2i + p holds HF row h*64 + p*32 + i (llama.cpp's NORM rope
# permutation, as convert_hf_to_gguf.py LlamaModel.permute); PERM=neox: no permutation.
i2s_rows() {
  awk -v perm="$1" -v heads="$2" -v rows="${*:3}" -v E=$E 'BEGIN {
    split("2 1 0 2 0 2 1", c, " ")   # codes+1 of the 7-value cycle
    n = split(rows, R, " ")
    for (k = 1; k <= n; k++) {
      j = R[k]; hf = j
      if (perm == "norm") { h = int(j / 64); r = j % 64; hf = h * 64 + (r % 2) * 32 + int(r / 2) }
      s = ""
      for (b = 0; b < E / 128; b++)
        for (g = 0; g < 32; g++) {
          v = 0
          for (q = 0; q < 4; q++) v = v * 4 + c[1 + (hf * E + 128 * b + g + 32 * q) % 7]
          s = s sprintf("%02x", v)
        }
      print s
    }
  }'
}
# tpos JSON TENSOR: the file offset of a tensor's data (data section + tensor offset)
tpos() {
  awk -v t="\"$2\"" '/"data_offset":/ && !b {gsub(/[^0-9]/, ""); b = $0}
    $0 ~ "\"name\":\t" t {f = 1} f && /"offset":/ {gsub(/[^0-9]/, ""); print b + $0; exit}' "$1"
}
# rows_of GGUF JSON TENSOR ROWS...: the file's bytes of those rows (E/4 bytes a row)
rows_of() {
  local f=$1 at r
  at=$(tpos "$2" "$3")
  shift 3
  for r in "$@"; do
    od -An -v -tx1 -j $((at + r * E / 4)) -N $((E / 4)) "$f" | tr -d ' \n'
    echo
  done
}
# tail_zero GGUF JSON TENSOR ROWS: the 28 bytes after the f32 scale are zero
tail_zero() {
  local at
  at=$(tpos "$2" "$3")
  [ "$(od -An -v -tx1 -j $((at + $4 * E / 4 + 4)) -N 28 "$1" | tr -d ' \n')" = "$(printf '0%.0s' $(seq 56))" ]
}
ROWS="0 1 2 31 32 33 63 64 101 255"
KROWS="0 1 2 33 64 127"
for a in bitnet:neox:4 b158:neox:2 llama:norm:2; do
  IFS=: read -r m perm hkv <<<"$a"
  g="$T/$m-i2_s-f16"
  check "$m I2_S attn_q: bitnet.cpp's byte layout, rows in ${perm^^} rope order" \
    test "$(rows_of "$g.gguf" "$g.json" blk.0.attn_q.weight $ROWS)" = "$(i2s_rows $perm $NH $ROWS)"
  check "$m I2_S attn_k: the same for the $hkv KV heads" \
    test "$(rows_of "$g.gguf" "$g.json" blk.1.attn_k.weight $KROWS)" = "$(i2s_rows $perm $hkv $KROWS)"
  check "$m I2_S attn_v: never permuted" \
    test "$(rows_of "$g.gguf" "$g.json" blk.0.attn_v.weight $KROWS)" = "$(i2s_rows neox $hkv $KROWS)"
  check "$m I2_S tail: 28 zero bytes after the f32 scale" tail_zero "$g.gguf" "$g.json" blk.0.attn_q.weight $((NH * 64))
done

# ---- a Llama-3 vocabulary, as microsoft/bitnet-b1.58-2B-4T ships it ------------------
# llama.cpp's llm_load_vocab: "gpt2" needs tokenizer.ggml.merges, reads token_type as an
# i32 array, and throws on a tokenizer.ggml.pre name it does not know; "llama-bpe" selects
# LLAMA_VOCAB_PRE_TYPE_LLAMA3 (whose BOS default is on).
L3="$BN_SHARED/data/tokenizers/llama3"
if [ -r "$L3/tokenizer.json" ]; then
  mkdir -p "$T/v3"
  cp "$L3"/* "$T/v3/"
  sed 's/"vocab_size": 400/"vocab_size": 128256/' "$T/b158/config.json" >"$T/v3/config.json"
  kvf() { awk -v k="\"$2\"" -v f="\"$3\":" '$0 ~ "\"key\":\t" k {g=1} g && index($0, f) {sub(/.*:\t/, ""); gsub(/[",]/, ""); print; exit}' "$1"; }
  if run_rc 0 "$T/v3.log" "$C" -q --vocab-only "$T/v3" "$T/v3.gguf" && "$I" --json "$T/v3.gguf" >"$T/v3.json"; then
    check "llama3 vocab: tokenizer.ggml.model gpt2" test "$(kvf "$T/v3.json" tokenizer.ggml.model value)" = gpt2
    check "llama3 vocab: tokenizer.ggml.pre llama-bpe (a name llama.cpp knows)" \
      test "$(kvf "$T/v3.json" tokenizer.ggml.pre value)" = llama-bpe
    check "llama3 vocab: 128256 tokens, token_type an i32 array of the same length" \
      test "$(kvf "$T/v3.json" tokenizer.ggml.tokens count)/$(kvf "$T/v3.json" tokenizer.ggml.token_type elem_type)/$(kvf "$T/v3.json" tokenizer.ggml.token_type count)" = "128256/i32/128256"
    check "llama3 vocab: merges present (llama.cpp refuses gpt2 without them)" \
      test "$(kvf "$T/v3.json" tokenizer.ggml.merges count)" -gt 0
    check "llama3 vocab: bos/eos ids are u32" \
      test "$(kvf "$T/v3.json" tokenizer.ggml.bos_token_id type)/$(kvf "$T/v3.json" tokenizer.ggml.eos_token_id type)" = "u32/u32"
  else
    not_ok "llama3 vocab: bn-convert --vocab-only failed"
  fi
else
  ok "# SKIP llama3 tokenizer not in $L3"
fi
