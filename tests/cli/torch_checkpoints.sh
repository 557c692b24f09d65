#!/usr/bin/env bash
# tests/cli/torch_checkpoints.sh - checkpoints PyTorch accepts (issue 14 §4):
# training checkpoints written by torch.save (scripts/make_training_checkpoints.py)
# whose pickle uses what torch.load(weights_only=True) allows (_codecs.encode for
# bytes, set, bytearray, complex, Counter, torch.Size, torch.device, dtypes) load;
# bn-info and bn-convert find the state dict under "model" or "state_dict.module"
# and say so; what torch refuses (os.system, eval, frozenset) stays refused by
# name; bn-tokenize --vocab-test honours --parse-special.
source "$(dirname "$0")/lib.sh"
CONV="$BN_BUILD/bn-convert"
INFO="$BN_BUILD/bn-info"
V="$BN_BUILD/bn-verify"
TOKZ="$BN_BUILD/bn-tokenize"
TR="$BN_ROOT/fixtures/training"
CORPUS="$BN_ROOT/tests/corpus/pickle"

# ---- bn-info: the state dict of a training checkpoint ----
check "info on a training checkpoint (bytes via _codecs.encode, set, device, ...) exits 0" \
  run_rc 0 "$T/o" "$INFO" "$TR/train-model"
check "  ... says which key holds the state dict" grep -q "^state dict  under 'model'" "$T/o"
check "  ... lists the model's tensors under it" grep -q "^  model.model.embed_tokens.weight  *F16  *\[3072, 32\]" "$T/o"
check "  ... and the optimizer state beside it" grep -q "^  optimizer.state.0.exp_avg_sq  *F32" "$T/o"
check "  ... every tensor of expected.json is there under model." \
  bash -c "for n in \$(sed -n '/train-model/,/]/p' '$TR/expected.json' | grep -o '\"model[.][^\"]*\"' | tr -d '\"'); do
             grep -q \"^  model.\$n \" '$T/o' || exit 1; done"
check "info on the .bin file itself exits 0" run_rc 0 "$T/o" "$INFO" "$TR/train-model/pytorch_model.bin"
check "  ... and finds the same key" grep -q "^state dict  under 'model'" "$T/o"
check "info on a DDP checkpoint finds state_dict.module" run_rc 0 "$T/o" "$INFO" "$TR/train-ddp"
check "  ... by name" grep -q "^state dict  under 'state_dict.module'" "$T/o"
check "info --json carries state_dict_key" run_rc 0 "$T/o" "$INFO" "$TR/train-ddp" --json
check "  ... = state_dict.module" grep -q '"state_dict_key":[[:space:]]*"state_dict.module"' "$T/o"
check "info on a plain state dict: no state-dict line" run_rc 0 "$T/o" "$INFO" "$BN_ROOT/fixtures/tiny-bitnet-pt"
check "  ... none" bash -c "! grep -q '^state dict' '$T/o'"

# ---- bn-convert: the same ----
check "convert a training checkpoint exits 0" \
  run_rc 0 "$T/o" "$CONV" "$TR/train-model" "$T/model.gguf" --type f16 --name tiny-train
check "  ... saying which key it used and what it ignored" \
  grep -q "train-model: using the state dict under 'model' (a training checkpoint; 21 tensors outside it, such as optimizer state, ignored)" "$T/o"
check "convert a DDP checkpoint exits 0" \
  run_rc 0 "$T/o" "$CONV" "$TR/train-ddp" "$T/ddp.gguf" --type f16 --name tiny-train
check "  ... saying which key it used" grep -q "train-ddp: using the state dict under 'state_dict.module'$" "$T/o"
check "  ... both give the same GGUF, byte for byte" cmp -s "$T/model.gguf" "$T/ddp.gguf"
check "  ... which passes --check" run_rc 0 "$T/o" "$V" "$T/model.gguf" --check
check "  ... with the model's 13 tensors" grep -q "ok: 13 tensors" "$T/o"
check "convert -q: no notice" run_rc 0 "$T/o" "$CONV" "$TR/train-model" "$T/q.gguf" --type f16 -q
check "  ... silent" test ! -s "$T/o"

# ---- refused as torch refuses them, by name ----
mkbin() { # NAME PICKLE: a torch.save-shaped zip whose data.pkl is PICKLE
  rm -rf "$T/z"; mkdir -p "$T/z/archive" "$T/$1"; cp "$2" "$T/z/archive/data.pkl"; printf '3\n' >"$T/z/archive/version"
  (cd "$T/z" && zip -q -0 -r "$T/$1/pytorch_model.bin" archive)
}
for spec in "os_system.pkl 'os.system' is not allowed: module 'os' never is" \
            "builtins_eval.pkl 'builtins.eval' is not allowed" \
            "frozenset.pkl 'builtins.frozenset' is not allowed" \
            "additems_set.pkl opcode ADDITEMS"; do
  f=${spec%% *}; want=${spec#* }
  mkbin "bad-${f%.pkl}" "$CORPUS/$f"
  check "info refuses $f: exit 2" run_rc 2 "$T/o" "$INFO" "$T/bad-${f%.pkl}/pytorch_model.bin"
  check "  ... naming it ($want)" grep -q "$want" "$T/o"
done
check "  ... and nothing ran" test ! -e /tmp/bntk_ckpt_pwned
mkbin ok "$CORPUS/ok_allowlist.pkl"
check "info accepts a pickle of bytes, set, bytearray, complex, Counter, OrderedDict" \
  run_rc 0 "$T/o" "$INFO" "$T/ok/pytorch_model.bin"

# ---- bn-tokenize --vocab-test --parse-special ----
if [ -s "$T/model.gguf" ]; then
  text='Hello<s> world</s>again'
  ids=$("$TOKZ" "$T/model.gguf" -p "$text" --no-bos --parse-special --ids)
  printf '%s\n__ggml_vocab_test__\n' "$text" >"$T/vt.inp"
  echo "$ids" >"$T/vt.out"
  check "parse-special ids hold the control tokens (<s> = 1, </s> = 2)" \
    bash -c "echo ' $ids ' | grep -q ' 1 ' && echo ' $ids ' | grep -q ' 2 '"
  check "--vocab-test --parse-special matches those ids" run_rc 0 "$T/o" "$TOKZ" "$T/model.gguf" --vocab-test "$T/vt.inp" "$T/vt.out" --parse-special
  check "  ... 1/1 strings match" grep -q "^1/1 strings match" "$T/o"
  check "--vocab-test without it does not (exit 1)" run_rc 1 "$T/o" "$TOKZ" "$T/model.gguf" --vocab-test "$T/vt.inp" "$T/vt.out"
else
  not_ok "no converted model for the --vocab-test checks"
fi
