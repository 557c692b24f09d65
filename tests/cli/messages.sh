#!/usr/bin/env bash
# tests/cli/messages.sh - messages that say what to do next (issue 14 §1): a
# file or a missing path where bn-convert wants HF_DIR, swapped arguments, a
# Hugging Face checkpoint given to the GGUF tools, files named on bn-verify's
# command line checked before anything else, options silently ignored before
# (--report r.pdf, --kernel with --check alone), a --reference checkpoint that
# is not the one the GGUF came from, TQ types of an architecture upstream
# llama.cpp cannot load. Each: one line, exit 2, no output file left behind.
source "$(dirname "$0")/lib.sh"
CONV="$BN_BUILD/bn-convert"
V="$BN_BUILD/bn-verify"
RUN="$BN_BUILD/bn-run"
INFO="$BN_BUILD/bn-info"
Q="$BN_BUILD/bn-quant"
FIX="$BN_ROOT/fixtures"
B158="$FIX/tiny-b158"

# ---- bn-convert: HF_DIR must be a directory ----
check "convert: a file as HF_DIR exits 2" run_rc 2 "$T/o" "$CONV" "$B158/model.safetensors" "$T/a.gguf"
check "  ... saying a directory with config.json is expected" \
  grep -q "model.safetensors is a file; HF_DIR must be a directory with config.json" "$T/o"
check "  ... in one line, no output" bash -c "[ \$(wc -l <'$T/o') -eq 1 ] && [ ! -e '$T/a.gguf' ]"
check "convert: a missing HF_DIR exits 2" run_rc 2 "$T/o" "$CONV" "$T/nowhere" "$T/a.gguf"
check "  ... naming it as a missing directory" grep -q "nowhere: no such directory; HF_DIR must be" "$T/o"
check "convert: swapped arguments exit 2" run_rc 2 "$T/o" "$CONV" "$T/a.gguf" "$B158"
check "  ... asking whether they were swapped" grep -q "did you swap HF_DIR and OUT.gguf?" "$T/o"
check "  ... and the checkpoint directory is untouched" test -f "$B158/config.json" -a ! -e "$T/a.gguf"
cp "$B158/tokenizer.model" "$T/existing.gguf"
check "convert: swapped with an existing OUT exits 2" run_rc 2 "$T/o" "$CONV" "$T/existing.gguf" "$B158"
check "  ... asking whether they were swapped" grep -q "did you swap HF_DIR and OUT.gguf?" "$T/o"
check "  ... the file given as HF_DIR is unchanged" cmp -s "$B158/tokenizer.model" "$T/existing.gguf"

# ---- bn-convert --report with an unknown extension ----
check "convert --report r.pdf exits 2" run_rc 2 "$T/o" "$CONV" "$B158" "$T/a.gguf" --report "$T/r.pdf"
check "  ... listing the known extensions" grep -q "unknown report extension '.pdf' (known: .txt .json .csv .html)" "$T/o"
check "  ... before converting anything" test ! -e "$T/a.gguf" -a ! -e "$T/r.pdf"
check "convert --report r.pdf --report-format html is fine" \
  run_rc 0 "$T/o" "$CONV" "$B158" "$T/a.gguf" --report "$T/r.pdf" --report-format html -q
check "  ... and writes HTML" grep -q "<html" "$T/r.pdf"
rm -f "$T/a.gguf"
check "quant --report r.pdf exits 2" run_rc 2 "$T/o" "$Q" --report "$T/r.pdf" "$B158"
check "  ... listing the known extensions" grep -q "unknown report extension '.pdf'" "$T/o"

# ---- bn-convert --type tq2_0|tq1_0 of a bitnet-b1.58 model: where it loads ----
for t in tq2_0 tq1_0; do
  check "convert --type $t of bitnet-b1.58 succeeds" run_rc 0 "$T/o" "$CONV" "$B158" "$T/$t.gguf" --type "$t"
  check "  ... warning in one line where it loads and where not" \
    bash -c "[ \$(grep -c 'warning: ${t^^} projections of a .bitnet-b1.58. model' '$T/o') -eq 1 ] &&
             grep -q 'load in bntk and bitnet.cpp, but not in upstream llama.cpp' '$T/o'"
done
check "convert --type tq2_0 of a bitnet (1bitLLM) model: no warning" \
  run_rc 0 "$T/o" "$CONV" "$FIX/tiny-bitnet-pt" "$T/pt.gguf" --type tq2_0
check "  ... (upstream llama.cpp loads it)" bash -c "! grep -q warning '$T/o'"
check "convert --type i2_s of bitnet-b1.58: no warning" run_rc 0 "$T/o" "$CONV" "$B158" "$T/m.gguf"
check "  ... none" bash -c "! grep -q warning '$T/o'"

# ---- a Hugging Face checkpoint given to the GGUF tools ----
for tool in bn-run bn-verify; do
  case $tool in bn-run) args=(-p hi) ;; bn-verify) args=(--check) ;; esac
  for f in "$B158" "$B158/model.safetensors" "$FIX/tiny-bitnet-pt/pytorch_model.bin" "$FIX/checkpoints/legacy.bin"; do
    n=${f#"$FIX/"}
    check "$tool $n: exit 2" run_rc 2 "$T/o" "$BN_BUILD/$tool" "$f" "${args[@]}"
    check "  ... 'this is a Hugging Face checkpoint; convert it first: bn-convert DIR OUT.gguf'" \
      grep -Eq "Hugging Face checkpoint( directory)?[;,].*convert it first: bn-convert $(dirname "$f" | sed 's/[.]/[.]/g')(/tiny-b158)? OUT.gguf" "$T/o"
  done
done
check "bn-info on a GGUF-named safetensors file still describes it" \
  bash -c "cp '$B158/model.safetensors' '$T/x.gguf' && '$INFO' '$T/x.gguf' >'$T/o' 2>&1; grep -q 'safetensors' '$T/o'"
check "bn-run on a plain directory: not a GGUF, exit 2" run_rc 2 "$T/o" "$RUN" "$FIX/checkpoints" -p hi
check "  ... says it is a directory" grep -q "checkpoints is a directory, not a GGUF file" "$T/o"

# ---- bn-verify: files first, options that would be ignored ----
check "verify --perplexity MISSING exits 2" run_rc 2 "$T/o" "$V" "$T/m.gguf" --perplexity "$T/missing.raw"
check "  ... reporting the missing file, not the context length" \
  bash -c "grep -q 'perplexity .*missing.raw: No such file' '$T/o' && ! grep -q context_length '$T/o' && [ \$(wc -l <'$T/o') -eq 1 ]"
check "verify --reference MISSING exits 2" run_rc 2 "$T/o" "$V" "$T/m.gguf" --reference "$T/nodir" --data "$B158/config.json"
check "  ... naming the directory" grep -q "reference .*nodir: not a directory" "$T/o"
check "verify --data MISSING exits 2 before -c is checked" \
  run_rc 2 "$T/o" "$V" "$T/m.gguf" --reference "$B158" --data "$T/none.txt" -c 100000
check "  ... naming the file" grep -q "data .*none.txt: No such file" "$T/o"
check "verify --kernel foo --check exits 2" run_rc 2 "$T/o" "$V" "$T/m.gguf" --kernel foo --check
check "  ... listing the known kernels" grep -q "unknown kernel 'foo' (known: .*basic" "$T/o"
check "verify --kernel basic --check alone exits 2" run_rc 2 "$T/o" "$V" "$T/m.gguf" --kernel basic --check
check "  ... saying --check does not run the model" grep -q "nothing to run: --check reads the file" "$T/o"
check "verify --kernel basic --kernels is fine" run_rc 0 "$T/o" "$V" "$T/m.gguf" --kernel basic --kernels --tokens 2

# ---- bn-verify --reference of another checkpoint: hyperparameters first ----
printf 'The quick brown fox jumps over the lazy dog. %.0s' $(seq 40) >"$T/text.txt"
check "verify --reference of another architecture exits 2" \
  run_rc 2 "$T/o" "$V" "$T/m.gguf" --reference "$FIX/tiny-bitnet-pt" --data "$T/text.txt" -c 64
check "  ... naming both architectures" grep -q "tiny-bitnet-pt is a 'bitnet' model (BitnetForCausalLM) but .*m.gguf is 'bitnet-b1.58'" "$T/o"
mkref() { # KEY FROM TO: a copy of tiny-b158 whose config.json differs in one number
  rm -rf "$T/ref"; mkdir "$T/ref"; ln -s "$B158"/* "$T/ref/"; rm "$T/ref/config.json"
  sed "s/\"$1\": $2,/\"$1\": $3,/" "$B158/config.json" >"$T/ref/config.json"
}
for spec in "num_hidden_layers 4 3 block_count" "hidden_size 256 512 embedding_length" \
            "intermediate_size 768 512 feed_forward_length" "num_attention_heads 4 8 attention.head_count" \
            "num_key_value_heads 2 4 attention.head_count_kv" "vocab_size 3072 3000 token_embd rows"; do
  read -r key from to gk <<<"$spec"
  mkref "$key" "$from" "$to"
  check "verify --reference with $key $to (GGUF $from) exits 2" \
    run_rc 2 "$T/o" "$V" "$T/m.gguf" --reference "$T/ref" --data "$T/text.txt" -c 64 --chunks 1
  check "  ... naming the first difference" \
    grep -q "ref/config.json has $key $to but .*m.gguf has $gk $from: not the checkpoint it was converted from" "$T/o"
  check "  ... before any chunk ran (no KLD)" bash -c "! grep -q KLD '$T/o' && [ \$(wc -l <'$T/o') -eq 1 ]"
done
check "verify --reference of the right checkpoint passes" \
  run_rc 0 "$T/o" "$V" "$T/m.gguf" --reference "$B158" --data "$T/text.txt" -c 64 --chunks 1
