#!/usr/bin/env bash
# Failure without loss, through the real tools: make the output fail mid-way
# (directory not writable, disk full, SIGINT/SIGTERM during a conversion) and
# the input fail to read, then check that the exit code is non-zero, the one
# message says what happened, no partial or temporary file remains, and an
# existing output file is byte for byte untouched.
#
# bn-convert cases run when build/bn-convert exists (else "# SKIP" lines).
# The disk-full case uses a 4 MiB tmpfs when this user may mount one, else
# `ulimit -f` (the tools ignore SIGXFSZ, so write() fails with EFBIG, as it fails
# with ENOSPC on a full disk). The unwritable-directory case drops to nobody
# with setpriv when run as root (root ignores directory modes).
. "$(dirname "$0")/lib.sh"
INFO="$BN_BUILD/bn-info"
CONV="$BN_BUILD/bn-convert"
VOCAB="$BN_SHARED/data/tokenizer-tests"
OLD="precious old output"

skip() { _n=$((_n+1)); echo "ok $_n - # SKIP $*"; }

# no_temps DIR BASE: no BASE.tmp.* left in DIR.
no_temps() {
  local left
  left=$(find "$1" -maxdepth 1 -name "$2.tmp.*" | head -3)
  [ -z "$left" ] || { echo "  left behind: $left" >&2; return 1; }
}
# untouched FILE: still holds exactly $OLD.
untouched() { [ "$(cat "$1")" = "$OLD" ] || { echo "  $1 changed: $(head -c 80 "$1" | tr -d '\0')" >&2; return 1; }; }
# one_line_with FILE PATTERN: FILE is one line matching PATTERN (ERE).
one_line_with() {
  [ "$(grep -c . "$1")" -eq 1 ] && grep -qE -- "$2" "$1" && return 0
  echo "  want one line matching /$2/, got:" >&2; sed 's/^/  | /' "$1" | head -5 >&2; return 1
}
# fails_with RC_FILE: the recorded exit code is non-zero.
nonzero() { [ "$(cat "$1")" -ne 0 ] || { echo "  exit 0" >&2; return 1; }; }

# ---- bn-info: stdout full, input unreadable ---------------------------------
spm="$VOCAB/ggml-vocab-llama-spm.gguf"
"$INFO" "$spm" >/dev/full 2>"$T/full.err"; echo $? >"$T/full.rc"
check "bn-info > /dev/full: exit 3 (I/O failure)" test "$(cat "$T/full.rc")" -eq 3
check "bn-info > /dev/full: one line saying stdout could not be written" \
  one_line_with "$T/full.err" '^bn-info: .*(standard output|stdout)'
"$INFO" --json "$spm" >/dev/full 2>"$T/fullj.err"; echo $? >"$T/fullj.rc"
check "bn-info --json > /dev/full: exit 3" test "$(cat "$T/fullj.rc")" -eq 3

mkdir -p "$T/dir.gguf"
"$INFO" "$T/dir.gguf" >"$T/dir.out" 2>"$T/dir.err"; echo $? >"$T/dir.rc"
check "bn-info on a directory: exit 2" test "$(cat "$T/dir.rc")" -eq 2
check "bn-info on a directory: one line naming it" one_line_with "$T/dir.err" "dir\\.gguf"
"$INFO" "$T/missing.gguf" >"$T/miss.out" 2>"$T/miss.err"; echo $? >"$T/miss.rc"
check "bn-info on a missing file: non-zero" nonzero "$T/miss.rc"
check "bn-info on a missing file: one line naming it" one_line_with "$T/miss.err" "missing\\.gguf"

# ---- bn-convert ---------------------------------------------------------------
if [ ! -x "$CONV" ]; then
  for c in "unwritable output directory" "disk full" "input read error" "SIGINT" "SIGTERM"; do
    skip "bn-convert $c: $CONV not built"
  done
  exit 0
fi

# make_model DIR N_EMBD N_FF N_LAYER: a BitnetForCausalLM directory with the
# Llama-2 tokenizer (32000 tokens) and BF16 weights of +-1 patterns. Sizes:
# embeddings 32000 x N_EMBD, 7 projections per layer.
make_model() {
  local d=$1 e=$2 f=$3 l=$4 v=32000
  mkdir -p "$d"
  cp "$BN_SHARED/data/tokenizers/llama2/tokenizer.json" "$BN_SHARED/data/tokenizers/llama2/tokenizer_config.json" "$d/"
  cat >"$d/config.json" <<EOF
{"architectures": ["BitnetForCausalLM"], "model_type": "llama", "hidden_act": "silu",
 "hidden_size": $e, "intermediate_size": $f, "num_hidden_layers": $l,
 "num_attention_heads": $((e / 64)), "num_key_value_heads": $((e / 64)),
 "max_position_embeddings": 2048, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
 "vocab_size": $v, "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": true}
EOF
  # tensors in offset order: name, shape
  local specs=("model.embed_tokens.weight $v $e" "model.norm.weight $e")
  for ((i = 0; i < l; i++)); do
    local p="model.layers.$i"
    specs+=("$p.input_layernorm.weight $e" "$p.post_attention_layernorm.weight $e"
            "$p.self_attn.inner_attn_ln.weight $e" "$p.mlp.ffn_layernorm.weight $f"
            "$p.self_attn.q_proj.weight $e $e" "$p.self_attn.k_proj.weight $e $e"
            "$p.self_attn.v_proj.weight $e $e" "$p.self_attn.o_proj.weight $e $e"
            "$p.mlp.gate_proj.weight $f $e" "$p.mlp.up_proj.weight $f $e" "$p.mlp.down_proj.weight $e $f")
  done
  local hdr="{" off=0 sep="" s name rows cols n
  for s in "${specs[@]}"; do
    read -r name rows cols <<<"$s"
    if [ -n "$cols" ]; then n=$((rows * cols)); shape="[$rows, $cols]"; else n=$rows; shape="[$rows]"; fi
    hdr+="$sep\"$name\":{\"dtype\":\"BF16\",\"shape\":$shape,\"data_offsets\":[$off,$((off + 2 * n))]}"
    off=$((off + 2 * n)); sep=","
  done
  hdr+="}"
  while [ $(( ${#hdr} % 8 )) -ne 0 ]; do hdr+=" "; done
  local len=${#hdr} st="$d/model.safetensors"
  printf "$(printf '\\x%02x' $((len & 255)) $(((len >> 8) & 255)) $(((len >> 16) & 255)) $(((len >> 24) & 255)) 0 0 0 0)" >"$st"
  printf '%s' "$hdr" >>"$st"
  # BF16 1.0, -1.0, 0.5, -0.5 repeated: doubling a 4 KiB block, then cut.
  local blk="$d/.blk"
  printf '\x80\x3f\x80\xbf\x00\x3f\x00\xbf%.0s' $(seq 512) >"$blk"
  while [ "$(stat -c %s "$blk")" -lt "$off" ]; do cat "$blk" "$blk" >"$blk.2"; mv "$blk.2" "$blk"; done
  head -c "$off" "$blk" >>"$st"
  rm -f "$blk"
}

small="$T/small"
make_model "$small" 256 512 2

# Control: the small model converts, so the failures below fail for the
# reason they claim.
check "control: bn-convert converts the generated model" run_rc 0 "$T/ctl.log" \
  "$CONV" --quiet "$small" "$T/control.gguf"

# Output directory not writable.
ro="$T/ro"; mkdir -p "$ro"; printf '%s' "$OLD" >"$ro/out.gguf"; chmod 644 "$ro/out.gguf"; chmod 555 "$ro"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  if command -v setpriv >/dev/null; then
    as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    # nobody must reach the input: open the scratch directories to others
    # (all of them are removed when the test ends).
    chmod o+x "$(dirname "$T")"; chmod 755 "$T" "$small"; chmod 644 "$small"/*
  fi
fi
if [ "$(id -u)" -eq 0 ] && [ ${#as_user[@]} -eq 0 ]; then
  skip "bn-convert into an unwritable directory: root without setpriv"
else
  "${as_user[@]}" "$CONV" --quiet "$small" "$ro/out.gguf" >/dev/null 2>"$T/ro.err"; echo $? >"$T/ro.rc"
  check "unwritable directory: exit 3 (I/O failure)" test "$(cat "$T/ro.rc")" -eq 3
  check "unwritable directory: one line naming the output and the reason" \
    one_line_with "$T/ro.err" "out\\.gguf.*[Pp]ermission denied"
  check "unwritable directory: existing output untouched" untouched "$ro/out.gguf"
  check "unwritable directory: no temporary file" no_temps "$ro" out.gguf
fi
chmod 755 "$ro"

# Disk full: a 4 MiB tmpfs (when we may mount one), and a file size limit
# (ulimit -f: the tools ignore SIGXFSZ themselves, so write() fails with EFBIG
# and is reported) in any case.
disk_full_case() { # LABEL DIR WHY CMD...
  local label=$1 dir=$2 why=$3; shift 3
  printf '%s' "$OLD" >"$dir/out.gguf"
  "$@" >/dev/null 2>"$T/full.err"; echo $? >"$T/full.rc"
  check "$label: exit 3 (I/O failure)" test "$(cat "$T/full.rc")" -eq 3
  check "$label: one line naming the output and '$why'" one_line_with "$T/full.err" "out\\.gguf.*$why"
  check "$label: existing output untouched" untouched "$dir/out.gguf"
  check "$label: no temporary file" no_temps "$dir" out.gguf
}
full="$T/full"; mkdir -p "$full"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=4m bn-full "$full" 2>/dev/null; then
  disk_full_case "disk full (4 MiB tmpfs)" "$full" 'No space left on device' \
    "$CONV" --quiet "$small" "$full/out.gguf"
  umount "$full"
else
  skip "disk full on a 4 MiB tmpfs: cannot mount one here"
fi
lim="$T/limit"; mkdir -p "$lim"
disk_full_case "file size limit (ulimit -f 4096)" "$lim" 'File too large' \
  bash -c 'ulimit -f 4096; exec "$@"' _ "$CONV" --quiet "$small" "$lim/out.gguf"

# Read error on the input: the weights file is a directory.
bad="$T/badin"; mkdir -p "$bad"
cp "$small/config.json" "$small/tokenizer.json" "$small/tokenizer_config.json" "$bad/"
mkdir "$bad/model.safetensors"
printf '%s' "$OLD" >"$T/out-badin.gguf"
"$CONV" --quiet "$bad" "$T/out-badin.gguf" >/dev/null 2>"$T/badin.err"; echo $? >"$T/badin.rc"
check "unreadable input: non-zero exit" nonzero "$T/badin.rc"
check "unreadable input: one line naming model.safetensors" one_line_with "$T/badin.err" "model\\.safetensors"
check "unreadable input: existing output untouched" untouched "$T/out-badin.gguf"
check "unreadable input: no temporary file" no_temps "$T" out-badin.gguf

# SIGINT / SIGTERM mid-conversion: a model of ~540 MB of BF16 so that the
# conversion is still running when its temp file appears; signal it then.
big="$T/big"
make_model "$big" 2048 8192 3
for sig in INT TERM; do
  out="$T/out-$sig.gguf"
  printf '%s' "$OLD" >"$out"
  "$CONV" --quiet -t 1 "$big" "$out" >/dev/null 2>"$T/$sig.err" &
  pid=$!
  seen=0
  for ((i = 0; i < 600; i++)); do   # up to 60 s for the temp file to appear
    if compgen -G "$out.tmp.*" >/dev/null; then seen=1; break; fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  sleep 0.2
  kill -s $sig $pid 2>/dev/null
  wait $pid; rc=$?
  want=$((128 + $(kill -l $sig)))
  if [ $seen -eq 0 ]; then
    not_ok "SIG$sig: the temp file never appeared while converting (exit $rc)"
    continue
  fi
  check "SIG$sig mid-conversion: killed by the signal (status $rc)" test "$rc" -eq "$want"
  check "SIG$sig mid-conversion: says it was interrupted" grep -qi 'interrupt' "$T/$sig.err"
  check "SIG$sig mid-conversion: existing output untouched" untouched "$out"
  check "SIG$sig mid-conversion: no temporary file" no_temps "$T" "out-$sig.gguf"
done
rm -rf "$big"
