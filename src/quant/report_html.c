/*
 * report_html.c - the quantization report as one self-contained HTML page:
 * inline CSS, SVG and one inline click handler that sorts tables (nothing is
 * fetched from anywhere: no script files, fonts or images), so it can be
 * attached to a CI run or mailed and opened offline.
 *
 * Contents: what made it (tool, command, date, output type); a verdict line
 * ("lossless: every projection already ternary", or the model NMSE against
 * the normal range of absmean on trained weights); headline numbers; one SVG
 * bar chart of NMSE per layer for every projection kind (shared y axis, and a
 * fixed colour scale around that normal range, so colours mean the same in
 * every report); a layer x kind heat table; the |W|/s histogram of the worst
 * tensor with the zero threshold and the scale marked; the methods side by
 * side when several were run; the summary by kind; every tensor.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bn/quant.h"
#include "quant/report_internal.h"

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A perceptually ordered ramp (viridis-like stops) for t in [0, 1]. */
static void heat(double t, char out[8])
{
    static const unsigned char stops[5][3] = {
        {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
    if (!(t >= 0))
        t = 0;
    if (t > 1)
        t = 1;
    double x = t * 4;
    int i = (int)x;
    if (i > 3)
        i = 3;
    double u = x - i;
    int c[3];
    for (int k = 0; k < 3; k++)
        c[k] = (int)lround(stops[i][k] + (stops[i + 1][k] - stops[i][k]) * u);
    snprintf(out, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

/* The smallest "round" number (1, 1.2, 1.5, 2, ... 8 times a power of ten) >= v. */
static double nice_ceil(double v)
{
    if (!(v > 0))
        return 1.0;
    double p = pow(10.0, floor(log10(v)));
    static const double m[] = {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10};
    for (int i = 0; i < 11; i++)
        if (m[i] * p >= v * (1 - 1e-12))
            return m[i] * p;
    return 10 * p;
}

/* NMSE of absmean ternarization on trained weights (BitNet-style checkpoints
 * and their latent weights) falls in this band; the colour scale spans a bit
 * more so that "normal" is mid-ramp, better is dark and worse is bright. */
#define NMSE_NORMAL_LO 0.25
#define NMSE_NORMAL_HI 0.32
#define NMSE_COLOUR_LO 0.15
#define NMSE_COLOUR_HI 0.45

/* One handler on <body>: a click on a header cell of a table.sort sorts its
 * rows by that column, numbers as numbers, again to reverse. */
static const char *SORT_JS =
    "var h=event.target.closest('table.sort th');if(!h)return;"
    "var t=h.closest('table'),i=[].indexOf.call(h.parentNode.children,h),"
    "d=h.dataset.d=h.dataset.d==='a'?'d':'a',b=t.tBodies[0],r=[].slice.call(b.rows,1);"
    "r.sort(function(x,y){var a=x.cells[i].textContent,c=y.cells[i].textContent,"
    "p=parseFloat(a),q=parseFloat(c),k=isNaN(p)||isNaN(q)?a.localeCompare(c):p-q;"
    "return d==='a'?k:-k;});r.forEach(function(e){b.appendChild(e);});";

static const char *CSS =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f4f5f7;"
    "color:#1f2430}"
    "header{background:#1f2430;color:#fff;padding:22px 36px}"
    "header h1{margin:0;font-size:22px;font-weight:600}"
    "header .sub{opacity:.75;margin-top:6px;font-size:14px;word-break:break-all}"
    "main{padding:20px 36px 40px;max-width:1500px}"
    "h2{font-size:17px;margin:28px 0 4px}"
    "p.note{margin:0 0 12px;color:#5a6170;font-size:13px}"
    ".cards{display:flex;flex-wrap:wrap;gap:14px}"
    ".card{background:#fff;border-radius:8px;padding:12px 18px;min-width:130px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.08)}"
    ".card .v{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}"
    ".card .k{font-size:12px;color:#5a6170;text-transform:uppercase;letter-spacing:.04em}"
    ".card.bad .v{color:#c0392b}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:14px}"
    "figure{margin:0;background:#fff;border-radius:8px;padding:10px 12px 6px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.08)}"
    "figcaption{font-size:14px;font-weight:600;margin:0 0 4px}"
    "figcaption span{font-weight:400;color:#5a6170;font-size:12px;margin-left:8px}"
    "svg text{font-size:11px;fill:#5a6170}"
    "table{border-collapse:collapse;background:#fff;font-size:12.5px;box-shadow:0 1px 3px rgba(0,0,0,.08)}"
    "th,td{padding:4px 9px;border-bottom:1px solid #eceef2;white-space:nowrap}"
    "th{background:#eef0f4;text-align:left;font-weight:600}"
    "table.sort th{cursor:pointer}table.sort th:hover{background:#e2e5eb}"
    ".verdict{background:#fff;border-left:5px solid #21918c;border-radius:6px;padding:10px 16px;"
    "margin:0 0 16px;font-size:15px;box-shadow:0 1px 3px rgba(0,0,0,.08)}"
    ".verdict.warn{border-color:#e0a100}.verdict.bad{border-color:#c0392b}"
    ".meta{opacity:.75;margin-top:4px;font-size:12.5px}.meta code{font-size:12px}"
    "td.best{font-weight:700}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "td.heat{text-align:right;font-variant-numeric:tabular-nums;color:#fff;min-width:70px}"
    "td.heat.light{color:#1f2430}"
    ".flag{display:inline-block;background:#fdecea;color:#c0392b;border-radius:4px;padding:0 5px;"
    "margin-right:3px;font-size:11px}"
    ".flag.info{background:#e8f1fb;color:#2c6fb7}"
    ".trits{display:inline-flex;width:90px;height:9px;border-radius:2px;overflow:hidden;vertical-align:middle}"
    ".trits i{display:block;height:100%}"
    ".legend{display:flex;align-items:center;gap:8px;font-size:12px;color:#5a6170;margin:6px 0 10px}"
    ".ramp{width:160px;height:10px;border-radius:2px;"
    "background:linear-gradient(90deg,#440154,#3b528b,#21918c,#5ec962,#fde725)}";

static void flags_html(FILE *f, uint32_t flags)
{
    static const struct {
        uint32_t bit;
        const char *name;
        int info;
    } fl[] = {{BN_QF_ALREADY_TERNARY, "already-ternary", 1},
              {BN_QF_SIGN_LIKE, "sign-like", 0},
              {BN_QF_SCALE_CLAMPED, "scale-clamped", 0},
              {BN_QF_NAN_INF, "nan-inf", 0}};
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
        if (flags & fl[i].bit)
            fprintf(f, "<span class=\"flag%s\">%s</span>", fl[i].info ? " info" : "", fl[i].name);
}

static void trits_bar(FILE *f, uint64_t neg, uint64_t zero, uint64_t pos, uint64_t n)
{
    if (!n)
        return;
    fprintf(f,
            "<span class=\"trits\" title=\"-1 %.1f%%, 0 %.1f%%, +1 %.1f%%\">"
            "<i style=\"width:%.2f%%;background:#3b528b\"></i><i style=\"width:%.2f%%;background:#d5d8de\"></i>"
            "<i style=\"width:%.2f%%;background:#21918c\"></i></span>",
            100.0 * neg / n, 100.0 * zero / n, 100.0 * pos / n, 100.0 * neg / n, 100.0 * zero / n,
            100.0 * pos / n);
}

/* ---- charts ---------------------------------------------------------------------- */

#define CW 420
#define CH 190
#define ML 56
#define MR 10
#define MT 10
#define MB 30

/* Bars: height from 0 to ymax; colour over the data range [cmin, cmax] of every
 * (layer, kind) cell so differences between layers stand out. */
typedef struct {
    double ymax, cmin, cmax;
} scale_t;

static double cpos(const scale_t *s, double v)
{
    return s->cmax > s->cmin ? (v - s->cmin) / (s->cmax - s->cmin) : 0.5;
}

static void kind_chart(FILE *f, const bn_quant_report *r, bn_role k, int nl, const scale_t *sc)
{
    const double pw = CW - ML - MR, ph = CH - MT - MB, ymax = sc->ymax;
    fprintf(f, "<svg class=\"kind-chart\" viewBox=\"0 0 %d %d\" "
               "width=\"100%%\" role=\"img\" aria-label=\"NMSE per layer, %s\">\n",
            CW, CH, bn_role_name(k));
    /* y grid and labels */
    for (int i = 0; i <= 4; i++) {
        double v = ymax * i / 4, y = MT + ph - ph * i / 4;
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", ML, CW - MR, y, y,
                i ? "#eceef2" : "#9aa0ab");
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", ML - 6, y + 4, v);
    }
    double bw = pw / (nl > 0 ? nl : 1);
    int step = nl > 16 ? (nl + 11) / 12 : 1;
    for (int l = 0; l < nl; l++) {
        uint32_t fl = 0;
        double v = bnq_cell_nmse(r, l, k, &fl);
        double x = ML + bw * l;
        if (l % step == 0)
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>", x + bw / 2, CH - MB + 14, l);
        if (isnan(v)) {
            if (fl & BN_QF_NAN_INF)
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" style=\"fill:#c0392b\">NaN</text>",
                        x + bw / 2, MT + ph - 4);
            continue;
        }
        double h = ymax > 0 ? ph * (v > ymax ? 1 : v / ymax) : 0;
        char col[8];
        heat(cpos(sc, v), col);
        /* bars at most 28 units wide, centred in their band */
        double gap = bw > 6 ? bw * 0.15 : 0;
        if (bw - gap > 28)
            gap = bw - 28;
        fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" rx=\"1\">"
                   "<title>layer %d: NMSE %.4g</title></rect>\n",
                x + gap / 2, MT + ph - h, bw - gap, h < 0.5 && v > 0 ? 0.5 : h, col, l, v);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">layer</text>", ML + pw / 2, CH - 2);
    fprintf(f, "</svg>\n");
}

static void histogram(FILE *f, const bn_quant_stats *t)
{
    const int W = 900, H = 250, L = 60, R = 16, T = 16, B = 34;
    const double pw = W - L - R, ph = H - T - B;
    uint64_t top = 1;
    for (int b = 0; b < BN_QSTAT_BINS; b++)
        if (t->hist[b] > top)
            top = t->hist[b];
    double mx = nice_ceil((double)top);
    if (mx < 4)
        mx = 4;
    double unit = t->scale > 0 ? t->scale : 1;
    double thr = t->threshold / unit;
    double xmax = t->hist_max;
    fprintf(f, "<svg class=\"hist\" viewBox=\"0 0 %d %d\" width=\"100%%\" "
               "role=\"img\" aria-label=\"histogram of |W|/s\">\n", W, H);
    /* the region that rounds to 0 */
    double xt = L + pw * (thr < xmax ? thr : xmax) / xmax;
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\" fill=\"#f1f2f5\"/>\n", L, T, xt - L, ph);
    for (int i = 0; i <= 4; i++) {
        double y = T + ph - ph * i / 4;
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", L, W - R, y, y,
                i ? "#eceef2" : "#9aa0ab");
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n", L - 6, y + 4,
                mx * i / 4);
    }
    double bw = pw / BN_QSTAT_BINS;
    for (int b = 0; b < BN_QSTAT_BINS; b++) {
        double h = ph * (double)t->hist[b] / mx;
        double lo = xmax * b / BN_QSTAT_BINS;
        const char *col = lo + xmax / BN_QSTAT_BINS <= thr ? "#9aa0ab" : "#21918c";
        fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\">"
                   "<title>[%.3f, %.3f): %llu</title></rect>\n",
                L + bw * b + 0.5, T + ph - h, bw - 1, h, col, lo, lo + xmax / BN_QSTAT_BINS,
                (unsigned long long)t->hist[b]);
    }
    for (int i = 0; 0.5 * i <= xmax + 1e-9; i++) { /* ticks every 0.5; an integer counter, no drift */
        double x = 0.5 * i;
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.1f</text>", L + pw * x / xmax, H - B + 15, x);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">|W| / s</text>\n", L + pw / 2, H - 3);
    if (thr <= xmax)
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\" stroke=\"#c0392b\" stroke-width=\"2\" "
                   "stroke-dasharray=\"5 3\"/><text x=\"%.1f\" y=\"%d\" style=\"fill:#c0392b\">threshold "
                   "&#916;/s = %.3f</text>\n",
                xt, xt, T, T + ph, xt + 5, T + 12, thr);
    if (1.0 <= xmax) {
        double x1 = L + pw / xmax;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\" stroke=\"#1f2430\" stroke-width=\"1.5\"/>"
                   "<text x=\"%.1f\" y=\"%d\" style=\"fill:#1f2430\">s (codes &#177;1)</text>\n",
                x1, x1, T, T + ph, x1 + 5, T + 26);
    }
    fprintf(f, "</svg>\n");
}

/* ---- page ------------------------------------------------------------------------ */

static void card(FILE *f, const char *k, const char *v, int bad)
{
    fprintf(f, "<div class=\"card%s\"><div class=\"v\">%s</div><div class=\"k\">%s</div></div>\n",
            bad ? " bad" : "", v, k);
}

static void summary_row(FILE *f, const char *label, const bn_quant_summary *s, int bold)
{
    fprintf(f, "<tr%s><td>%s</td><td class=\"n\">%llu</td><td class=\"n\">%llu</td><td>", bold ? " style=\"font-weight:600\"" : "",
            label, (unsigned long long)s->n_tensors, (unsigned long long)s->n);
    trits_bar(f, s->n_neg, s->n_zero, s->n_pos, s->n);
    fprintf(f, "</td><td class=\"n\">%.1f</td><td class=\"n\">%.4e</td><td class=\"n\">%.2f</td>"
               "<td class=\"n\">%.6f</td><td class=\"n\">%.3e</td><td class=\"n\">%.4e</td>"
               "<td class=\"n\">%+.2f</td><td>",
            s->n ? 100.0 * s->n_zero / s->n : 0.0, s->nmse, s->snr_db, s->cosine, s->max_abs_err, s->nmse_absmean,
            s->gain_db);
    flags_html(f, s->flags);
    fprintf(f, "</td></tr>\n");
}

/* "2026-12-02 05:10 UTC": now, or SOURCE_DATE_EPOCH (reproducible builds' convention). */
static void write_date(FILE *f)
{
    time_t t = time(NULL);
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde) {
        char *end;
        long long v = strtoll(sde, &end, 10);
        if (!*end && v >= 0)
            t = (time_t)v;
    }
    struct tm tm;
    char buf[32];
    if (gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm))
        fputs(buf, f);
}

/* One sentence on what the numbers mean, before the numbers. */
static void verdict(FILE *f, const bn_quant_report *r, const bn_quant_summary *tot, uint32_t methods,
                    size_t flagged, int lossless)
{
    size_t n = bn_quant_report_count(r), nan = 0;
    for (size_t i = 0; i < n; i++)
        nan += (bn_quant_report_at(r, i)->flags & BN_QF_NAN_INF) != 0;
    const char *cls = "", *what;
    char msg[400];
    if (n == 0) {
        cls = " warn";
        snprintf(msg, sizeof msg, "nothing ternarized: the input has no projection tensors");
    } else if (nan) {
        cls = " bad";
        snprintf(msg, sizeof msg, "broken input: %zu tensor%s hold%s NaN or Inf", nan, nan == 1 ? "" : "s",
                 nan == 1 ? "s" : "");
    } else if (lossless) {
        snprintf(msg, sizeof msg, "lossless: every projection already ternary (an offline-packed checkpoint); "
                 "the weights are kept exactly, so there is no error to chart");
    } else {
        int absmean = methods == (1u << BN_QM_ABSMEAN);
        double x = absmean ? tot->nmse : tot->nmse_absmean;
        if (x < NMSE_NORMAL_LO)
            what = "below";
        else if (x <= NMSE_NORMAL_HI)
            what = "within";
        else {
            what = "above";
            cls = " warn";
        }
        if (absmean)
            snprintf(msg, sizeof msg, "model NMSE %.4f: %s the normal range of absmean on trained weights "
                     "(%.2f&#8211;%.2f)", tot->nmse, what, NMSE_NORMAL_LO, NMSE_NORMAL_HI);
        else
            snprintf(msg, sizeof msg, "model NMSE %.4f, %+.2f dB against absmean (%.4f, %s its normal range "
                     "%.2f&#8211;%.2f on trained weights)", tot->nmse, tot->gain_db, tot->nmse_absmean, what,
                     NMSE_NORMAL_LO, NMSE_NORMAL_HI);
    }
    fprintf(f, "<div class=\"verdict%s\"><b>Verdict</b> &#8212; %s", flagged && !nan ? " warn" : cls, msg);
    if (flagged && !nan)
        fprintf(f, "; %zu tensor%s flagged (see the flags column)", flagged, flagged == 1 ? "" : "s");
    fputs(".</div>\n", f);
}

/* The methods side by side: model totals per method, then each tensor's NMSE
 * under each method with the best one in bold. */
static void methods_table(FILE *f, const bn_quant_report *r)
{
    const bn_quant_report *rs[1 + BNQ_MAX_METHODS];
    size_t nr = 0;
    rs[nr++] = r;
    for (size_t i = 0; i < bnq_report_n_methods(r); i++)
        rs[nr++] = bnq_report_method_at(r, i);
    const char *mname[1 + BNQ_MAX_METHODS] = {"?", "?", "?", "?"};
    for (size_t m = 0; m < nr; m++)
        mname[m] = bn_quant_report_count(rs[m]) ? bn_quant_method_name(bn_quant_report_at(rs[m], 0)->method) : "?";
    size_t n = bn_quant_report_count(r), wins[1 + BNQ_MAX_METHODS] = {0};
    for (size_t i = 0; i < n; i++) {
        const bn_quant_stats *t = bn_quant_report_at(r, i);
        size_t best = 0;
        double bv = t->nmse;
        for (size_t m = 1; m < nr; m++) {
            const bn_quant_stats *u = bn_quant_report_find(rs[m], t->name);
            if (u && u->nmse < bv) {
                bv = u->nmse;
                best = m;
            }
        }
        wins[best]++;
    }
    fputs("<h2>Methods side by side</h2><p class=\"note\">The same tensors ternarized by each method. "
          "Lower NMSE is better; dB against absmean &gt; 0 beats BitNet's rule. Click a column to sort.</p>\n"
          "<table class=\"sort\"><tr><th>method</th><th>model NMSE</th><th>SNR dB</th><th>cosine</th>"
          "<th>zeros %</th><th>dB vs absmean</th><th>best on tensors</th></tr>\n", f);
    for (size_t m = 0; m < nr; m++) {
        bn_quant_summary s;
        bn_quant_report_total(rs[m], &s);
        fprintf(f, "<tr><td>%s</td><td class=\"n\">%.4f</td><td class=\"n\">%.2f</td><td class=\"n\">%.6f</td>"
                   "<td class=\"n\">%.1f</td><td class=\"n\">%+.2f</td><td class=\"n\">%zu</td></tr>\n",
                mname[m], s.nmse, s.snr_db, s.cosine, s.n ? 100.0 * s.n_zero / s.n : 0.0, s.gain_db, wins[m]);
    }
    fputs("</table>\n<h2>NMSE per tensor and method</h2><table class=\"sort\"><tr><th>tensor</th>", f);
    for (size_t m = 0; m < nr; m++)
        fprintf(f, "<th>%s</th>", mname[m]);
    fputs("<th>best</th></tr>\n", f);
    for (size_t i = 0; i < n; i++) {
        const bn_quant_stats *t = bn_quant_report_at(r, i);
        double v[1 + BNQ_MAX_METHODS];
        size_t best = 0;
        for (size_t m = 0; m < nr; m++) {
            const bn_quant_stats *u = m ? bn_quant_report_find(rs[m], t->name) : t;
            v[m] = u ? u->nmse : NAN;
            if (v[m] < v[best])
                best = m;
        }
        fputs("<tr><td>", f);
        esc(f, t->name);
        fputs("</td>", f);
        for (size_t m = 0; m < nr; m++)
            fprintf(f, "<td class=\"n%s\">%.4e</td>", m == best ? " best" : "", v[m]);
        fprintf(f, "<td>%s</td></tr>\n", mname[best]);
    }
    fputs("</table>\n", f);
}

void bnq_write_html(const bn_quant_report *r, FILE *f)
{
    size_t n = bn_quant_report_count(r);
    int nl = bn_quant_report_n_layers(r);
    bn_quant_summary tot;
    bn_quant_report_total(r, &tot);
    size_t flagged = 0;
    int chosen;
    const bn_quant_stats *focus = bnq_report_focus(r, &chosen);
    uint32_t methods = 0;
    for (size_t i = 0; i < n; i++) {
        const bn_quant_stats *t = bn_quant_report_at(r, i);
        flagged += (t->flags & (BN_QF_SIGN_LIKE | BN_QF_SCALE_CLAMPED | BN_QF_NAN_INF)) != 0;
        methods |= 1u << t->method;
    }

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>Quantization report: ",
          f);
    esc(f, bnq_report_title(r));
    fprintf(f, "</title>\n<style>%s</style></head><body onclick=\"%s\">\n<header><h1>Ternary quantization "
               "report</h1><div class=\"sub\">", CSS, SORT_JS);
    esc(f, bnq_report_title(r));
    fprintf(f, " &#183; %zu tensors &#183; %llu elements &#183; method", n, (unsigned long long)tot.n);
    for (int m = 0; m < 3; m++)
        if (methods & (1u << m))
            fprintf(f, " %s", bn_quant_method_name((bn_quant_method)m));
    const char *tool, *command, *out_type;
    bnq_report_meta(r, &tool, &command, &out_type);
    fputs("</div>\n<div class=\"meta\">", f);
    if (tool) {
        esc(f, tool);
        fputs(" &#183; ", f);
    }
    if (out_type) {
        fputs("output ", f);
        esc(f, out_type);
        fputs(" &#183; ", f);
    }
    write_date(f);
    if (command) {
        fputs("<br><code>", f);
        esc(f, command);
        fputs("</code>", f);
    }
    /* lossless: every tensor kept exactly (offline-packed projections) */
    int lossless = n > 0 && tot.sum_err2 == 0;
    for (size_t i = 0; i < n && lossless; i++)
        lossless = (bn_quant_report_at(r, i)->flags & BN_QF_ALREADY_TERNARY) != 0;
    fputs("</div></header>\n<main>\n", f);
    verdict(f, r, &tot, methods, flagged, lossless);
    fputs("<div class=\"cards\">\n", f);
    char v[64];
    snprintf(v, sizeof v, "%.4f", tot.nmse);
    card(f, "model NMSE", v, 0);
    if (lossless)
        snprintf(v, sizeof v, "lossless");
    else
        snprintf(v, sizeof v, "%.2f dB", tot.snr_db);
    card(f, "SNR", v, 0);
    snprintf(v, sizeof v, "%.5f", tot.cosine);
    card(f, "cosine", v, 0);
    snprintf(v, sizeof v, "%.1f%%", tot.n ? 100.0 * tot.n_zero / tot.n : 0.0);
    card(f, "zeros", v, 0);
    if (methods != (1u << BN_QM_ABSMEAN)) {
        snprintf(v, sizeof v, "%+.2f dB", tot.gain_db);
        card(f, "vs absmean", v, tot.gain_db < 0);
    }
    snprintf(v, sizeof v, "%zu", flagged);
    card(f, "flagged tensors", v, flagged > 0);
    fputs("</div>\n", f);

    /* one chart per kind: a shared y axis over the data, and colours on a
     * fixed scale around the normal absmean range, the same in every report */
    scale_t sc = {0, NMSE_COLOUR_LO, NMSE_COLOUR_HI};
    double dmax = 0;
    for (int l = 0; l < nl; l++)
        for (int k = 0; k < BN_ROLE_N_PROJ; k++) {
            double c = bnq_cell_nmse(r, l, (bn_role)k, NULL);
            if (!isnan(c))
                dmax = fmax(dmax, c);
        }
    sc.ymax = nice_ceil(dmax);
    if (nl > 0 && !lossless) {
        fputs("<h2>NMSE per layer</h2><p class=\"note\">One chart per projection kind; all charts share the "
              "y axis and the colour scale, so a taller or brighter bar is a worse layer anywhere on the "
              "page.</p>\n",
              f);
        fprintf(f, "<div class=\"legend\">NMSE &#8804; %.2f<span class=\"ramp\"></span>&#8805; %.2f &#183; "
                   "mid-ramp (%.2f&#8211;%.2f) is the normal range of absmean on trained weights</div>\n"
                   "<div class=\"grid\">\n",
                sc.cmin, sc.cmax, NMSE_NORMAL_LO, NMSE_NORMAL_HI);
        for (int k = 0; k < BN_ROLE_N_PROJ; k++) {
            bn_quant_summary s;
            bn_quant_report_by_kind(r, (bn_role)k, &s);
            if (!s.n_tensors)
                continue;
            fprintf(f, "<figure><figcaption>%s<span>%llu tensors &#183; NMSE %.4f &#183; %.1f%% zeros"
                       "</span></figcaption>\n",
                    bn_role_name((bn_role)k), (unsigned long long)s.n_tensors, s.nmse,
                    s.n ? 100.0 * s.n_zero / s.n : 0.0);
            kind_chart(f, r, (bn_role)k, nl, &sc);
            fputs("</figure>\n", f);
        }
        fputs("</div>\n", f);

        fputs("<h2>Heat map</h2><p class=\"note\">NMSE of every layer and kind; the last column is the "
              "element-weighted layer total.</p>\n<table class=\"sort\"><tr><th>layer</th>",
              f);
        for (int k = 0; k < BN_ROLE_N_PROJ; k++)
            fprintf(f, "<th>%s</th>", bn_role_name((bn_role)k));
        fputs("<th>layer</th></tr>\n", f);
        for (int l = 0; l < nl; l++) {
            fprintf(f, "<tr><td>%d</td>", l);
            bn_quant_summary ls;
            bn_quant_report_by_layer(r, l, &ls);
            for (int k = 0; k <= BN_ROLE_N_PROJ; k++) {
                double c = k < BN_ROLE_N_PROJ ? bnq_cell_nmse(r, l, (bn_role)k, NULL) : ls.nmse;
                if (isnan(c)) {
                    fputs("<td class=\"n\">&#8211;</td>", f);
                    continue;
                }
                char col[8];
                double tt = cpos(&sc, c);
                heat(tt, col);
                fprintf(f, "<td class=\"heat%s\" style=\"background:%s\">%.4f</td>", tt > 0.6 ? " light" : "", col,
                        c);
            }
            fputs("</tr>\n", f);
        }
        fputs("</table>\n", f);
    }

    if (focus && !(focus->flags & BN_QF_NAN_INF) && !lossless) {
        fputs("<h2>Distribution of |W| / s: ", f);
        esc(f, focus->name);
        fprintf(f, "</h2><p class=\"note\">%s (NMSE %.4f, method %s, s = %.4g). Grey: magnitudes below the "
                   "threshold, which become 0; teal: magnitudes that become &#177;s. %d bins; the last bin also "
                   "holds everything beyond %.2f s.</p>\n<figure>",
                chosen ? "The chosen tensor" : "The tensor with the highest NMSE",
                focus->nmse, bn_quant_method_name(focus->method), (double)focus->scale, BN_QSTAT_BINS,
                focus->hist_max);
        histogram(f, focus);
        fputs("</figure>\n", f);
    }

    if (bnq_report_n_methods(r))
        methods_table(f, r);

    fputs("<h2>Summary by kind</h2><table class=\"sort\"><tr><th>kind</th><th>tensors</th><th>elements</th><th>-1 / 0 / +1"
          "</th><th>zeros %</th><th>NMSE</th><th>SNR dB</th><th>cosine</th><th>max |err|</th><th>absmean NMSE</th>"
          "<th>dB vs absmean</th><th>flags</th>"
          "</tr>\n",
          f);
    for (int k = 0; k <= BN_ROLE_N_PROJ; k++) {
        bn_quant_summary s;
        bn_quant_report_by_kind(r, (bn_role)k, &s);
        if (s.n_tensors)
            summary_row(f, bn_role_name((bn_role)k), &s, 0);
    }
    summary_row(f, "model", &tot, 1);
    fputs("</table>\n", f);

    fputs("<h2>All tensors</h2><p class=\"note\">Click a column to sort.</p><table class=\"sort\"><tr><th>tensor</th><th>shape</th><th>method</th><th>scale</th>"
          "<th>-1 / 0 / +1</th><th>NMSE</th><th>SNR dB</th><th>cosine</th><th>max |err|</th><th>dB vs absmean</th>"
          "<th>flags</th></tr>\n",
          f);
    for (size_t i = 0; i < n; i++) {
        const bn_quant_stats *t = bn_quant_report_at(r, i);
        char sh[48], col[8];
        bnq_shape_str(t, sh, sizeof sh);
        fputs("<tr><td>", f);
        esc(f, t->name);
        fprintf(f, "</td><td>%s</td><td>%s</td><td class=\"n\">%.4e</td><td>", sh, bn_quant_method_name(t->method),
                (double)t->scale);
        trits_bar(f, t->n_neg, t->n_zero, t->n_pos, t->n);
        double tt = isnan(t->nmse) ? 1.0 : cpos(&sc, t->nmse);
        heat(tt, col);
        /* NMSE coloured on the charts' scale; gain: the baseline's error over ours */
        double gain = t->sum_err2 > 0 && t->sum_err2_absmean > 0 ? 10 * log10(t->sum_err2_absmean / t->sum_err2) : 0;
        fprintf(f, "</td><td class=\"heat%s\" style=\"background:%s\">%.4e</td><td class=\"n\">%.2f</td>"
                   "<td class=\"n\">%.6f</td><td class=\"n\">%.3e</td><td class=\"n\">%+.2f</td><td>",
                tt > 0.6 ? " light" : "", col, t->nmse, t->snr_db, t->cosine, t->max_abs_err, gain);
        flags_html(f, t->flags);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n</main></body></html>\n", f);
}
