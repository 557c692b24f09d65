#!/usr/bin/env bash
# compat_manifest.sh - check a GGUF against a loader manifest (fixtures/compat/<arch>.txt).
#
#   scripts/compat_manifest.sh MANIFEST TYPES INFO.json [name=value ...]
#
# INFO.json is `bn-info --json FILE.gguf`; TYPES is fixtures/compat/ggml-types.txt; the
# name=value pairs are the hyperparameters the manifest's formulas use (n_vocab n_embd n_ff
# n_layer n_head n_head_kv n_embd_head n_ctx). Prints one line per violation and exits 1 if
# there is any, 0 if the file satisfies the manifest. It checks, independently of bntk's
# own type table:
#   - every required KV is present with the exact GGUF type (llama.cpp's get_key refuses a
#     u32 written as i32), and its value when the manifest gives one; optional KVs, when
#     present, likewise; absentkv keys are not there;
#   - every required tensor is present with the exact ne and an allowed type; no tensor is
#     outside the manifest (llama.cpp: "wrong number of tensors"); absent ones are absent;
#   - each tensor's byte size is what ggml_nbytes computes for it (I2_S: n/4 + 32), the
#     offsets are the running sum of sizes padded to the alignment in tensor-info order
#     (upstream gguf.cpp: "tensor '%s' has offset %llu, expected %zu"), the data section
#     starts aligned and the file ends after the last padded tensor;
#   - general.file_type matches the projection type.
# Needs only bash and awk (no jq, no Python).
set -u
if [ $# -lt 3 ]; then
  echo "usage: $0 MANIFEST TYPES INFO.json [name=value ...]" >&2
  exit 2
fi
manifest=$1 types=$2 info=$3
shift 3
for f in "$manifest" "$types" "$info"; do
  [ -r "$f" ] || { echo "$0: cannot read $f" >&2; exit 2; }
done

# Flatten bn-info's JSON (cJSON's formatted output: one member per line) into records:
#   H alignment|data_offset|file_size VALUE
#   K key type value-or-"-" elem_type count
#   T name type ne0 ne1 bytes offset
flatten() {
  awk '
    function val(s) { sub(/^[^:]*:[ \t]*/, "", s); sub(/,[ \t]*$/, "", s); gsub(/^"|"$/, "", s); return s }
    function flush() {
      if (kind == "K") print "K", key, ktype, (kval == "" ? "-" : kval), (etype == "" ? "-" : etype), (cnt == "" ? "-" : cnt)
      else if (kind == "T") print "T", key, ktype, ne0, (ne1 == "" ? 1 : ne1), bytes, offs
      kind = ""; key = ktype = kval = etype = cnt = ne0 = ne1 = bytes = offs = ""
    }
    /^\t"(alignment|data_offset|file_size)":/ { s = $0; gsub(/[\t":,]/, " ", s); split(s, a, " "); print "H", a[1], a[2]; next }
    /^\t"tensors":/ { flush(); section = "T"; next }
    /^\t"kv":/ { section = "K"; next }
    /^\t"totals":/ { flush(); section = ""; next }
    section != "" && /^\t\t\t"key":/  { flush(); kind = "K"; key = val($0); next }
    section != "" && /^\t\t\t"name":/ { flush(); kind = "T"; key = val($0); next }
    kind != "" && /^\t\t\t"type":/ { ktype = val($0); next }
    kind != "" && /^\t\t\t"elem_type":/ { etype = val($0); next }
    kind != "" && /^\t\t\t"count":/ { cnt = val($0); next }
    kind == "K" && /^\t\t\t"value":/ { kval = val($0); gsub(/[ \t]/, "_", kval); next }
    kind == "T" && /^\t\t\t"ne":/ { s = val($0); gsub(/[][ ]/, "", s); n = split(s, a, ","); ne0 = a[1]; ne1 = (n > 1 ? a[2] : 1); for (i = 3; i <= n; i++) ne1 = ne1 * a[i]; next }
    kind == "T" && /^\t\t\t"bytes":/ { bytes = val($0); next }
    kind == "T" && /^\t\t\t"offset":/ { offs = val($0); next }
    END { flush() }
  ' "$1"
}

{
  echo "VARS $*"
  sed 's/^/M /' "$types"
  sed 's/^/A /' "$manifest"
  flatten "$info"
} | awk '
  function bad(msg) { nbad++; print "  " msg }
  # a formula: names and integers joined by * and /, evaluated left to right
  function ev(f,    n, parts, ops, i, x, r) {
    if (f ~ /^[0-9.e+-]+$/) return f + 0
    n = split(f, parts, /[*\/]/)
    j = 0; s = f; ops = ""
    while (match(s, /[*\/]/)) { ops = ops substr(s, RSTART, 1); s = substr(s, RSTART + 1) }
    for (i = 1; i <= n; i++) {
      x = parts[i]
      if (x ~ /^[0-9]+$/) x = x + 0
      else if (x in V) x = V[x]
      else { bad("manifest: unknown hyperparameter \"" x "\" in " f); return -1 }
      if (i == 1) r = x
      else if (substr(ops, i - 1, 1) == "*") r = r * x
      else r = int(r / x)
    }
    return r
  }
  function expand(s, l) { gsub(/\{arch\}/, ARCH, s); gsub(/\{L\}/, l, s); return s }
  function types_of(t,    a, n, i, out) { if (t in CLASS) t = CLASS[t]; return "," t "," }
  function nbytes(t, n) {
    if (!(t in BLK)) return -1
    if (BLK[t] == "i2s") return int(n / 4) + 32
    return int(n / BLK[t]) * BSZ[t]
  }
  $1 == "VARS" { for (i = 2; i <= NF; i++) { split($i, kv, "="); V[kv[1]] = kv[2] } ; next }
  $1 == "M" && $2 == "type"  { BLK[$3] = $5; BSZ[$3] = $6; next }
  $1 == "M" && $2 == "ftype" { FT[$3] = $4; next }
  $1 == "M" { next }
  $1 == "A" {
    if (NF < 2 || $2 ~ /^#/) next
    d = $2
    if (d == "arch") { ARCH = $3; next }
    if (d == "class") { CLASS[$3] = $4; next }
    nm++; MD[nm] = d; MN[nm] = $3; MT[nm] = $4; MA[nm] = $5; MB[nm] = $6
    next
  }
  $1 == "H" { HDR[$2] = $3; next }
  $1 == "K" { KT[$2] = $3; KV[$2] = $4; KE[$2] = $5; KC[$2] = $6; next }
  $1 == "T" { nt++; TN[nt] = $2; TY[$2] = $3; T0[$2] = $4; T1[$2] = $5; TB[$2] = $6; TO[$2] = $7; TI[$2] = nt; next }
  END {
    if (ARCH == "") { print "  manifest: no arch line"; exit 1 }
    nl = ("n_layer" in V) ? V["n_layer"] : 0
    for (i = 1; i <= nm; i++) {
      d = MD[i]
      reps = (MN[i] ~ /\{L\}/) ? nl : 1
      for (l = 0; l < reps; l++) {
        name = expand(MN[i], l)
        if (d == "kv" || d == "kvopt") {
          if (!(name in KT)) { if (d == "kv") bad("missing KV " name " (" MT[i] ")"); continue }
          want = MT[i]; got = KT[name]
          if (want ~ /^array:/) {
            if (got != "array" || "array:" KE[name] != want) { bad("KV " name " is " got (KE[name] != "-" ? ":" KE[name] : "") ", loader reads " want); continue }
            if (MA[i] != "" && KC[name] != ev(MA[i])) bad("KV " name " has " KC[name] " elements, expected " MA[i] " = " ev(MA[i]))
            continue
          }
          if (got != want) { bad("KV " name " has type " got ", loader reads " want); continue }
          if (MA[i] == "") continue
          if (want == "string") {
            n = split(MA[i], alt, "|"); okv = 0
            for (k = 1; k <= n; k++) if (KV[name] == alt[k]) okv = 1
            if (!okv) bad("KV " name " = \"" KV[name] "\", expected one of " MA[i])
          } else if (KV[name] + 0 != ev(MA[i])) bad("KV " name " = " KV[name] ", expected " MA[i] " = " ev(MA[i]))
        } else if (d == "absentkv") {
          if (name in KT) bad("KV " name " must not be written")
        } else if (d == "tensor" || d == "optional") {
          ALLOWED[name] = 1
          if (!(name in TY)) { if (d == "tensor") bad("missing tensor " name); continue }
          if (index(types_of(MT[i]), "," TY[name] ",") == 0) bad("tensor " name " has type " TY[name] ", loader accepts " types_of(MT[i]))
          w0 = ev(MA[i]); w1 = (MB[i] == "") ? 1 : ev(MB[i])
          if (T0[name] != w0 || T1[name] != w1) bad("tensor " name " has ne [" T0[name] ", " T1[name] "], loader creates [" w0 ", " w1 "] (" MA[i] (MB[i] == "" ? "" : ", " MB[i]) ")")
        } else if (d == "absent") {
          if (name in TY) bad("tensor " name " must not be written (the loader does not create it)")
        }
      }
    }
    for (j = 1; j <= nt; j++) if (!(TN[j] in ALLOWED)) bad("tensor " TN[j] " is not created by the " ARCH " loader (wrong number of tensors)")
    # sizes, offsets, alignment, file end
    al = ("alignment" in HDR) ? HDR["alignment"] : 32
    if (("general.alignment" in KV) && KV["general.alignment"] != al) bad("general.alignment " KV["general.alignment"] " but header says " al)
    if (HDR["data_offset"] % al != 0) bad("data section starts at " HDR["data_offset"] ", not a multiple of " al)
    run = 0
    for (j = 1; j <= nt; j++) {
      t = TN[j]; n = T0[t] * T1[t]
      want = nbytes(TY[t], n)
      if (want < 0) { bad("tensor " t " has type " TY[t] " that no loader here knows"); continue }
      if (TB[t] != want) bad("tensor " t " (" TY[t] ", " n " elements) is " TB[t] " bytes, ggml_nbytes says " want)
      if (TO[t] != run) bad("tensor " t " at offset " TO[t] ", expected " run " (running padded sum)")
      run += int((want + al - 1) / al) * al
    }
    if (HDR["file_size"] != HDR["data_offset"] + run) bad("file is " HDR["file_size"] " bytes, expected " HDR["data_offset"] + run " (data offset + padded tensors)")
    # general.file_type: the projection type (attn_q of layer 0) decides
    q = "blk.0.attn_q.weight"
    if ((q in TY) && (TY[q] in FT) && ("general.file_type" in KV) && KV["general.file_type"] != FT[TY[q]])
      bad("general.file_type " KV["general.file_type"] " but projections are " TY[q] " (llama_ftype " FT[TY[q]] ")")
    exit nbad ? 1 : 0
  }
'
