#!/usr/bin/env bash
# tests/cli/robust.sh - inputs that parse but lie, paths that are not files,
# outputs that are not safe (issue 13), through the real tools:
#  - outputs: an output that is one of the run's inputs (also through a symlink
#    or a hard link) or another output of the run is refused before anything is
#    read; devices are written in place (/dev/full fails), FIFOs without a reader
#    are refused, nothing is renamed over a special file; a run that fails after
#    writing one output leaves every output as it was;
#  - special files as inputs: FIFOs (no writer), directories, links to devices
#    give "not a regular file" and exit 2, never a hang;
#  - values: rms_norm_eps that f32 cannot hold, duplicate config keys, shard
#    names with NUL or control characters, bn-quant hyperparameters that disagree
#    with the tensors, a byte-level vocabulary missing a byte, --vocab-test with
#    no strings, non-finite logits blamed on the model;
#  - messages: one "FILE: " prefix, usage limits that are the real ones.
# Device nodes (mknod) are made in a private directory when running as root,
# else those cases print "# SKIP". Every tool call is bounded by `timeout`.
. "$(dirname "$0")/lib.sh"
CONV="$BN_BUILD/bn-convert"
QUANT="$BN_BUILD/bn-quant"
VERIFY="$BN_BUILD/bn-verify"
INFO="$BN_BUILD/bn-info"
TOKZ="$BN_BUILD/bn-tokenize"
SYNTH="$BN_BUILD/bn-synth"
FIX="$BN_ROOT/fixtures"
VOCAB="$BN_SHARED/data/tokenizer-tests"
TO="timeout 20"

skip() { _n=$((_n+1)); echo "ok $_n - # SKIP $*"; }
# rc_is WANT FILE CMD...: like run_rc, bounded by timeout (124 = hung).
rc_is() { local want=$1 out=$2; shift 2; run_rc "$want" "$out" $TO "$@"; }
# says FILE ERE: the output matches.
says() { grep -qE -- "$2" "$1" && return 0; echo "  want /$2/ in:" >&2; sed 's/^/  | /' "$1" | head -5 >&2; return 1; }
# same FILE COPY: FILE is byte for byte COPY.
same() { cmp -s "$1" "$2" || { echo "  $1 changed" >&2; return 1; }; }
is_fifo() { [ -p "$1" ] || { echo "  $1 is no longer a FIFO" >&2; return 1; }; }
is_chr() { [ -c "$1" ] || { echo "  $1 is no longer a character device" >&2; return 1; }; }
# kv_off FILE KEY: byte offset of KEY's record (bn-info --json).
kv_off() {
  "$INFO" --json --items 0 "$1" 2>/dev/null | awk -v k="\"$2\"," '
    $1 == "\"key\":" && $2 == k { want = 1; next }
    want && $1 == "\"offset\":" { sub(",", "", $2); print $2; exit }'
}
# poke FILE OFFSET HEX...: overwrite bytes in place.
poke() {
  local f=$1 off=$2; shift 2
  local s=""; for b in "$@"; do s+="\\x$b"; done
  printf "$s" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

if [ ! -x "$CONV" ] || [ ! -x "$QUANT" ]; then
  skip "robust: tools not built"
  exit 0
fi

# A private copy of the bundled model, its GGUF, and a text.
HF="$T/hf"
cp -r "$FIX/tiny-b158" "$HF"
GG="$T/m.gguf"
$TO "$CONV" --quiet "$HF" "$GG" || { not_ok "control: bn-convert converts the fixture"; exit 0; }
cp "$GG" "$T/m.orig"
TEXT="$T/text.txt"
for i in $(seq 60); do echo "The quick brown fox jumps over the lazy dog near the river bank."; done >"$TEXT"
cp -r "$HF" "$T/hf.orig"
hf_untouched() { diff -r "$HF" "$T/hf.orig" >/dev/null || { echo "  $HF changed" >&2; return 1; }; }
# restore: each section starts from intact inputs, whatever an earlier (failing) case did
restore() { cp "$T/m.orig" "$GG"; rm -rf "$HF"; cp -r "$T/hf.orig" "$HF"; cp "$T/text.orig" "$TEXT"; }
cp "$TEXT" "$T/text.orig"

# ---- outputs aimed at inputs -------------------------------------------------------
check "bn-convert OUT = HF_DIR/config.json: exit 2" rc_is 2 "$T/o" "$CONV" -q "$HF" "$HF/config.json"
check "  ... names it as an input" says "$T/o" "config.json.*input"
check "  ... config.json untouched" hf_untouched
restore
ln -s "$HF/model.safetensors" "$T/link.gguf"
check "bn-convert OUT = a symlink to the checkpoint: exit 2" rc_is 2 "$T/o" "$CONV" -q "$HF" "$T/link.gguf"
check "  ... checkpoint untouched, link still a link" bash -c "[ -L '$T/link.gguf' ] && diff -r '$HF' '$T/hf.orig' >/dev/null"
restore
ln "$HF/tokenizer.model" "$T/hard.gguf"
check "bn-convert OUT = a hard link to tokenizer.model: exit 2" rc_is 2 "$T/o" "$CONV" -q "$HF" "$T/hard.gguf"
check "  ... tokenizer.model untouched" hf_untouched
restore
check "bn-convert --report HF_DIR/tokenizer_config.json: exit 2" \
  rc_is 2 "$T/o" "$CONV" -q "$HF" "$T/x.gguf" --report "$HF/tokenizer_config.json"
check "  ... no OUT written" test ! -e "$T/x.gguf"
check "bn-convert --report = OUT: exit 2" rc_is 2 "$T/o" "$CONV" -q "$HF" "$T/y.gguf" --report "$T/y.gguf"
check "  ... names the other output" says "$T/o" "also the output"
restore
check "bn-quant OUT = IN: exit 2" rc_is 2 "$T/o" "$QUANT" "$GG" "$GG" --type tq2_0 --quiet
check "  ... input untouched" same "$GG" "$T/m.orig"
check "bn-quant --report = IN: exit 2" rc_is 2 "$T/o" "$QUANT" "$GG" "$T/q.gguf" --report "$GG" --quiet
check "  ... input untouched" same "$GG" "$T/m.orig"
restore
check "bn-quant HF_DIR --report HF_DIR/config.json: exit 2" \
  rc_is 2 "$T/o" "$QUANT" "$HF" "$T/q.gguf" --report "$HF/config.json" --quiet
check "  ... config.json untouched" hf_untouched
check "bn-quant --report = OUT: exit 2" rc_is 2 "$T/o" "$QUANT" "$GG" "$T/q.gguf" --report "$T/q.gguf" --quiet
restore
check "bn-verify --json = MODEL: exit 2" rc_is 2 "$T/o" "$VERIFY" "$GG" --check --json "$GG"
check "  ... model untouched" same "$GG" "$T/m.orig"
restore
check "bn-verify --json = the --perplexity text: exit 2" \
  rc_is 2 "$T/o" "$VERIFY" "$GG" --perplexity "$TEXT" -c 16 --chunks 1 --json "$TEXT"
check "  ... text untouched" same "$TEXT" "$T/text.orig"

restore
# ---- outputs that are devices or FIFOs --------------------------------------------
# As root a broken tool would rename over the device (mkstemp beside it succeeds),
# so root uses private nodes (mknod in $T) and never the system's /dev/null and
# /dev/full; other users cannot create files in /dev, so the real ones are safe.
NULLDEV=/dev/null FULLDEV=/dev/full
if [ "$(id -u)" -eq 0 ]; then
  NULLDEV="" FULLDEV=""
  mkdir -p "$T/dev"
  mknod "$T/dev/null" c 1 3 2>/dev/null && NULLDEV="$T/dev/null"
  mknod "$T/dev/full" c 1 7 2>/dev/null && FULLDEV="$T/dev/full"
fi
if [ -n "$FULLDEV" ] && [ -n "$NULLDEV" ]; then
  check "bn-convert OUT = a full device: exit 3" rc_is 3 "$T/o" "$CONV" -q "$HF" "$FULLDEV"
  check "  ... says the device is full" says "$T/o" "$FULLDEV.*(No space|space left)"
  check "  ... still a character device (not renamed over)" is_chr "$FULLDEV"
  check "bn-verify --json to a full device: exit 3" rc_is 3 "$T/o" "$VERIFY" "$GG" --check --json "$FULLDEV"
  check "bn-quant --report to a full device: exit 3" rc_is 3 "$T/o" "$QUANT" "$GG" --report "$FULLDEV" --quiet
  check "  ... still a character device" is_chr "$FULLDEV"
  if [ -x "$SYNTH" ]; then
    check "bn-synth -o a full device: exit 3" rc_is 3 "$T/o" "$SYNTH" -o "$FULLDEV" -q
    check "  ... one prefix: the path once" bash -c "[ \$(grep -o '$FULLDEV' '$T/o' | wc -l) -eq 1 ]"
  fi
  check "bn-convert OUT = a null device: exit 0" rc_is 0 "$T/o" "$CONV" -q "$HF" "$NULLDEV"
  check "  ... still a character device" is_chr "$NULLDEV"
else
  for c in "OUT full device" "--json full device" "--report full device" "OUT null device"; do
    skip "$c: root without CAP_MKNOD (the system's devices are not risked)"
  done
fi
mkfifo "$T/out.fifo"
check "bn-convert OUT = a FIFO without reader: exit 2, no hang" rc_is 2 "$T/o" "$CONV" -q "$HF" "$T/out.fifo"
check "  ... says there is no reader" says "$T/o" "FIFO with no reader"
check "  ... still a FIFO" is_fifo "$T/out.fifo"
timeout 30 cat "$T/out.fifo" >"$T/fifo.got" &
reader=$!
# The writer must find the reader already there: wait (at most 10 s) until cat is
# blocked opening the FIFO (a blocked reader counts as one for O_NONBLOCK writers).
for _ in $(seq 1 200); do
  for c in $reader $(cat /proc/$reader/task/*/children 2>/dev/null); do
    [ "$(cat /proc/$c/wchan 2>/dev/null)" = wait_for_partner ] && break 2
  done
  sleep 0.05
done
check "bn-verify --json FIFO with a reader: exit 0" rc_is 0 "$T/o" "$VERIFY" "$GG" --check --json "$T/out.fifo"
wait "$reader"
check "  ... the reader got the JSON" says "$T/fifo.got" '"exit_code"'
check "  ... still a FIFO" is_fifo "$T/out.fifo"

if [ "$(id -u)" -eq 0 ] && [ -n "$NULLDEV" ]; then
  cp -r "$HF" "$T/hfdev"; rm "$T/hfdev/config.json"; mknod "$T/hfdev/config.json" c 1 3
  check "root: config.json a null device: exit 2" rc_is 2 "$T/o" "$CONV" -q "$T/hfdev" "$T/z.gguf"
  check "  ... not a regular file" says "$T/o" "config.json: not a regular file"
else
  skip "mknod config.json as a device: needs root and CAP_MKNOD"
fi

restore
# ---- a failed run leaves every output as it was -----------------------------------
OLD="precious old output"
printf '%s' "$OLD" >"$T/keep.gguf"
check "bn-quant: report into a missing directory fails (exit 3)" \
  rc_is 3 "$T/o" "$QUANT" "$GG" "$T/keep.gguf" --type tq2_0 --report "$T/nodir/r.csv" --quiet
check "  ... the GGUF written before the report is rolled back" bash -c "[ \"\$(cat '$T/keep.gguf')\" = '$OLD' ]"
check "  ... no temporary file left" bash -c "! ls '$T'/keep.gguf.tmp.* 2>/dev/null"
if [ -n "$FULLDEV" ]; then
  check "bn-convert: report to a full device fails (exit 3)" \
    rc_is 3 "$T/o" "$CONV" -q "$HF" "$T/keep.gguf" --report "$FULLDEV"
  check "  ... the GGUF is rolled back" bash -c "[ \"\$(cat '$T/keep.gguf')\" = '$OLD' ]"
  check "bn-quant HF_DIR: report to a full device fails (exit 3)" \
    rc_is 3 "$T/o" "$QUANT" "$HF" "$T/keep.gguf" --report "$FULLDEV" --quiet
  check "  ... the GGUF is rolled back" bash -c "[ \"\$(cat '$T/keep.gguf')\" = '$OLD' ]"
else
  skip "report to a full device: no private full device"
fi

restore
# ---- special files as inputs --------------------------------------------------------
fifo_in() { # NAME: a copy of the model directory with NAME replaced by a FIFO
  local d="$T/hf.$1"; rm -rf "$d"; cp -r "$HF" "$d"; rm -f "$d/$1"; mkfifo "$d/$1"; echo "$d"
}
for f in config.json tokenizer_config.json generation_config.json model.safetensors tokenizer.model; do
  d=$(fifo_in "$f")
  check "bn-convert with $f a FIFO: exit 2, no hang" rc_is 2 "$T/o" "$CONV" -q "$d" "$T/f.gguf"
  check "  ... '$f: not a regular file'" says "$T/o" "$f: not a regular file"
done
d=$(fifo_in config.json)
check "bn-quant HF_DIR with config.json a FIFO: exit 2" rc_is 2 "$T/o" "$QUANT" "$d" "$T/f.gguf" --quiet
check "bn-verify --reference DIR with config.json a FIFO: exit 2" \
  rc_is 2 "$T/o" "$VERIFY" "$GG" --reference "$d" --data "$TEXT" -c 16 --chunks 1
check "  ... not a regular file" says "$T/o" "not a regular file"
mkfifo "$T/m.fifo"
check "bn-info FIFO: exit 2, no hang" rc_is 2 "$T/o" "$INFO" "$T/m.fifo"
check "  ... not a regular file" says "$T/o" "not a regular file"
check "bn-verify --check FIFO: exit 2" rc_is 2 "$T/o" "$VERIFY" "$T/m.fifo" --check
check "bn-quant FIFO input: exit 2" rc_is 2 "$T/o" "$QUANT" "$T/m.fifo" "$T/f.gguf" --quiet
check "  ... not a regular file" says "$T/o" "not a regular file"
check "bn-tokenize FIFO model: exit 2" rc_is 2 "$T/o" "$TOKZ" "$T/m.fifo" -p hi
check "bn-tokenize --vocab-test FIFO: exit 2" rc_is 2 "$T/o" "$TOKZ" "$GG" --vocab-test "$T/m.fifo" "$T/m.fifo"
check "  ... not a regular file" says "$T/o" "not a regular file"
check "bn-verify --perplexity FIFO: exit 2" rc_is 2 "$T/o" "$VERIFY" "$GG" --perplexity "$T/m.fifo"
ln -s /dev/zero "$T/zero.gguf"
check "bn-info on a link to /dev/zero: exit 2" rc_is 2 "$T/o" "$INFO" "$T/zero.gguf"
check "  ... not a regular file (a character device)" says "$T/o" "not a regular file \\(a character device\\)"
d="$T/hf.dir"; rm -rf "$d"; cp -r "$HF" "$d"; rm "$d/model.safetensors"; mkdir "$d/model.safetensors"
check "bn-convert with model.safetensors a directory: exit 2" rc_is 2 "$T/o" "$CONV" -q "$d" "$T/f.gguf"
check "  ... not a regular file (not 'no model.safetensors')" says "$T/o" "model.safetensors: not a regular file"

restore
# ---- values -----------------------------------------------------------------------------
hf_with() { # NAME SED-EXPR: a copy of the model with config.json edited
  local d="$T/hf.$1"; rm -rf "$d"; cp -r "$HF" "$d"; sed -i "$2" "$d/config.json"; echo "$d"
}
d=$(hf_with eps 's/"rms_norm_eps": *[0-9.eE+-]*/"rms_norm_eps": 1e-50/')
check "rms_norm_eps 1e-50 (0 in f32): exit 2" rc_is 2 "$T/o" "$CONV" -q "$d" "$T/e.gguf"
check "  ... names the key and the value" says "$T/o" "rms_norm_eps.*1e-50"
check "  ... nothing written" test ! -e "$T/e.gguf"
d=$(hf_with dup 's/^{/{"hidden_size": 7,/')
check "config.json with a duplicate key: exit 2" rc_is 2 "$T/o" "$CONV" -q "$d" "$T/e.gguf"
check "  ... names the key" says "$T/o" "key 'hidden_size' appears twice"

SH="$T/sharded"; cp -r "$FIX/checkpoints/st_sharded" "$SH"
idx=$(ls "$SH"/*.index.json)
first=$(grep -o '"[^"]*-of-[^"]*\.safetensors"' "$idx" | head -1 | tr -d '"')
check "control: bn-info reads the sharded checkpoint" rc_is 0 "$T/o" "$INFO" "$SH"
cp "$idx" "$T/idx.orig"
sed -i "0,/\"$first\"/s//\"$first\\\\u0000..\\/..\\/etc\\/passwd\"/" "$idx"
check "shard name with an escaped NUL: exit 2" rc_is 2 "$T/o" "$INFO" "$SH"
check "  ... says NUL" says "$T/o" "NUL"
cp "$T/idx.orig" "$idx"
sed -i "0,/\"$first\"/s//\"$first\\\\u0001\"/" "$idx"
check "shard name with a control character: exit 2" rc_is 2 "$T/o" "$INFO" "$SH"
check "  ... not a plain file name" says "$T/o" "plain file name"

# bn-quant: a feed_forward_length that disagrees with the tensors.
cp "$GG" "$T/ff.gguf"
off=$(kv_off "$T/ff.gguf" bitnet-b1.58.feed_forward_length)
klen=$(printf '%s' bitnet-b1.58.feed_forward_length | wc -c)
ff=$(( $("$INFO" --json "$GG" | awk '$2 == "\"bitnet-b1.58.feed_forward_length\"," {f=1} f && $1 == "\"value\":" {print $2; exit}') ))
v=$((ff * 2))
poke "$T/ff.gguf" $((off + 8 + klen + 4)) $(printf '%02x ' $((v & 255)) $((v >> 8 & 255)) $((v >> 16 & 255)) $((v >> 24 & 255)))
check "control: the patched file says feed_forward_length $((ff * 2))" \
  bash -c "'$INFO' --json '$T/ff.gguf' | grep -A3 'feed_forward_length' | grep -q '$((ff * 2))'"
check "bn-quant: hyperparameters that disagree with the tensors: exit 2" \
  rc_is 2 "$T/o" "$QUANT" "$T/ff.gguf" "$T/ffq.gguf" --type tq2_0 --quiet
check "  ... names the tensor and the hyperparameter" says "$T/o" "ffn_.*feed_forward_length $((ff * 2))"
check "  ... nothing written" test ! -e "$T/ffq.gguf"

# A byte-level vocabulary missing one byte token: GPT-2's token for byte 0x01
# ('\u0101', which no merge uses) renamed to two DEL bytes.
gpt2="$T/gpt2.gguf"; cp "$VOCAB/ggml-vocab-gpt-2.gguf" "$gpt2"
tok=$(LC_ALL=C grep -obUaP '\x02\x00\x00\x00\x00\x00\x00\x00\xc4\x81' "$gpt2" | head -1 | cut -d: -f1)
check "control: GPT-2's byte token for 0x01 is found once" test -n "$tok"
poke "$gpt2" $((tok + 8)) 7f 7f
check "missing byte token: bn-tokenize refuses text holding the byte (exit 2)" \
  rc_is 2 "$T/o" "$TOKZ" "$gpt2" -p "$(printf 'hello\001')"
check "  ... names the byte" says "$T/o" "0x01"
check "missing byte token: text without it still tokenizes" rc_is 0 "$T/o" "$TOKZ" "$gpt2" -p "hello"
check "missing byte token: bn-verify --check fails (exit 1)" rc_is 1 "$T/o" "$VERIFY" "$gpt2" --check
check "  ... naming the byte" says "$T/o" "no token for byte 0x01"

: >"$T/empty.inp"; : >"$T/empty.out"
check "--vocab-test with no strings: exit 2 (0/0 is not a pass)" \
  rc_is 2 "$T/o" "$TOKZ" "$VOCAB/ggml-vocab-llama-spm.gguf" --vocab-test "$T/empty.inp" "$T/empty.out"
check "  ... says nothing was tested" says "$T/o" "nothing to test"

# Non-finite logits: token_embd (F16, at the start of the data) filled with NaN.
cp "$GG" "$T/nan.gguf"
doff=$("$INFO" --json "$GG" | awk '$1 == "\"data_offset\":" {sub(",", "", $2); print $2; exit}')
nan_embd() { # all of token_embd: rows every token
  local bytes; bytes=$("$INFO" --json "$GG" | awk '$2 == "\"token_embd.weight\"," {f=1} f && $1 == "\"bytes\":" {sub(",", "", $2); print $2; exit}')
  head -c "$bytes" /dev/zero | tr '\0' '\377' | dd of="$T/nan.gguf" bs=1M seek="$doff" oflag=seek_bytes conv=notrunc status=none
}
nan_embd
check "perplexity with NaN weights: exit 2" rc_is 2 "$T/o" "$VERIFY" "$T/nan.gguf" --perplexity "$TEXT" -c 16 --chunks 1 -q
check "  ... blames the model, not the text" says "$T/o" "^bn-verify: $T/nan.gguf: .*non-finite"
check "  ... names the position" says "$T/o" "position [0-9]+"

restore
# ---- messages -----------------------------------------------------------------------------
spm="$T/spm.gguf"; cp "$VOCAB/ggml-vocab-llama-spm.gguf" "$spm"
off=$(kv_off "$spm" tokenizer.ggml.add_bos_token)
if [ -n "$off" ]; then
  klen=$(printf '%s' tokenizer.ggml.add_bos_token | wc -c)
  poke "$spm" $((off + 8 + klen)) 00 00 00 00 # bool (7) -> u8 (0)
  check "mistyped key: bn-tokenize exit 2" rc_is 2 "$T/o" "$TOKZ" "$spm" -p hi
  check "  ... the file named once (one prefix)" bash -c "[ \$(grep -o 'spm.gguf' '$T/o' | wc -l) -eq 1 ]"
else
  skip "mistyped key: no add_bos_token in the llama-spm vocabulary"
fi
"$VERIFY" --help >"$T/help"
max=$(grep -- '-t, --threads' "$T/help" | grep -oE '1\.\.[0-9]+' | head -1 | cut -d. -f3)
check "bn-verify --help states a -t limit" test -n "$max"
check "  ... -t at that limit is accepted by the parser" bash -c "! '$VERIFY' '$T/none.gguf' --check -t '$max' 2>&1 | grep -q 'is not an integer'"
check "  ... -t above it fails naming the same limit" \
  bash -c "'$VERIFY' '$GG' --check -t $((max + 1)) 2>&1 | grep -qF \"is not an integer in [1, $max]\""
