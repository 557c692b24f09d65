#!/usr/bin/env bash
# tests/cli/report_html.sh - the HTML ternarization report (issue 14 §5): a
# verdict line ("lossless: every projection already ternary" for a packed
# checkpoint instead of "inf dB" and empty charts; the model NMSE against the
# normal absmean range 0.25-0.32 otherwise), colours on that fixed scale, the
# tool version, command, date and output type, sortable tables (one inline
# click handler, nothing fetched), and bn-quant --method all's methods side
# by side. The numbers of the side-by-side are those of the single-method runs.
source "$(dirname "$0")/lib.sh"
Q="$BN_BUILD/bn-quant"
CONV="$BN_BUILD/bn-convert"
FIX="$BN_ROOT/fixtures"
export SOURCE_DATE_EPOCH=1764650000   # 2025-12-02 04:33 UTC: a reproducible page

# ---- a packed checkpoint: lossless ----
check "packed checkpoint report exits 0" run_rc 0 "$T/o" "$Q" --report "$T/packed.html" "$FIX/tiny-b158-packed" --quiet
check "  ... verdict: lossless, every projection already ternary" \
  grep -q "<b>Verdict</b> &#8212; lossless: every projection already ternary" "$T/packed.html"
check "  ... no 'inf dB' card" bash -c "! grep -q 'inf dB' '$T/packed.html' && grep -q '<div class=\"v\">lossless</div><div class=\"k\">SNR' '$T/packed.html'"
check "  ... and no empty charts or histogram" bash -c "! grep -Eq '<svg class=\"(kind-chart|hist)\"' '$T/packed.html'"

# ---- latent weights: the normal range ----
check "latent checkpoint report exits 0" run_rc 0 "$T/o" "$Q" --report "$T/lat.html" "$FIX/tiny-b158" --quiet
check "  ... verdict: model NMSE within the normal absmean range" \
  grep -q "<b>Verdict</b> &#8212; model NMSE 0.2689: within the normal range of absmean on trained weights (0.25&#8211;0.32)" "$T/lat.html"
check "  ... the colour legend names that range" grep -q "NMSE &#8804; 0.15<span class=\"ramp\"></span>&#8805; 0.45 &#183; mid-ramp (0.25&#8211;0.32)" "$T/lat.html"
check "  ... the charts are still there" test "$(grep -o '<svg class="kind-chart"' "$T/lat.html" | wc -l)" -eq 7
check "  ... tool and version, output type, date" \
  grep -q '<div class="meta">bn-quant 0.1.0 &#183; output report only &#183; 2025-12-02 04:33 UTC' "$T/lat.html"
check "  ... and the command" grep -q "<code>bn-quant --report $T/lat.html $FIX/tiny-b158 --quiet</code>" "$T/lat.html"
check "  ... sortable tables" test "$(grep -o '<table class="sort">' "$T/lat.html" | wc -l)" -ge 3
check "  ... by one inline handler" grep -q "<body onclick=\"var h=event.target.closest('table.sort th')" "$T/lat.html"
check "  ... still self-contained (no script element, nothing fetched)" bash -c "! grep -Eq 'http|src=|<script' '$T/lat.html'"
check "an output model's report names its type" run_rc 0 "$T/o" "$Q" "$FIX/tiny-b158" "$T/q.gguf" --type tq2_0 --report "$T/q.html" --quiet
check "  ... output TQ2_0" grep -q "&#183; output TQ2_0 &#183;" "$T/q.html"
check "bn-convert's report: its tool and type" run_rc 0 "$T/o" "$CONV" "$FIX/tiny-b158" "$T/c.gguf" --report "$T/c.html" -q
check "  ... bn-convert 0.1.0, output I2_S" grep -q '<div class="meta">bn-convert 0.1.0 &#183; output I2_S &#183; 2025-12-02 04:33 UTC' "$T/c.html"
check "  ... with its verdict" grep -q "<b>Verdict</b> &#8212; model NMSE" "$T/c.html"

# ---- --method all: side by side ----
check "--method all exits 0" run_rc 0 "$T/o" "$Q" --report "$T/all.html" "$FIX/tiny-b158" --method all --quiet
check "  ... a side-by-side section" grep -q "<h2>Methods side by side</h2>" "$T/all.html"
for m in absmean absmax mse; do
  "$Q" --json "$FIX/tiny-b158" --method "$m" --quiet >"$T/$m.json"
  want=$(sed -n '/"total":/,/}/p' "$T/$m.json" | grep -o '"nmse":[[:space:]]*[0-9.e+-]*' | head -1 |
         sed 's/.*:[[:space:]]*//' | awk '{printf "%.4f", $1}')
  check "  ... $m's model NMSE ($want) as its own run gives it" grep -q "<tr><td>$m</td><td class=\"n\">$want</td>" "$T/all.html"
done
check "  ... one row per tensor with each method's NMSE" \
  test "$(sed -n '/NMSE per tensor and method/,/<\/table>/p' "$T/all.html" | grep -c '<tr><td>blk\.')" -eq 28
check "  ... the best in bold and named" grep -q '<td class="n best">[0-9.e+-]*</td><td>mse</td></tr>' "$T/all.html"
check "--method all with an output model exits 2" run_rc 2 "$T/o" "$Q" "$FIX/tiny-b158" "$T/x.gguf" --method all
check "  ... saying it is for the HTML report" grep -q "method all compares the methods in an HTML report" "$T/o"
check "--method all as text exits 2" run_rc 2 "$T/o" "$Q" --report "$T/all.txt" "$FIX/tiny-b158" --method all
check "  ... and writes nothing" test ! -e "$T/all.txt" -a ! -e "$T/x.gguf"
