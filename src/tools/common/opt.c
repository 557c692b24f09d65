/* opt.c - see opt.h. */
#include "opt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char bn_opt_exit_codes[] =
    "Exit status: 0 success, 1 a check or gate failed, 2 bad input or usage,\n"
    "3 an I/O or system failure (open, read, write, memory).\n";

#define HELP_COL 26 /* help text starts in this column */

int bn_opt_fail(const bn_opt_spec *spec, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", spec->tool);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

/* ---- values --------------------------------------------------------------------------- */

/* The whole of s, decimal or 0x-hex, in [lo, hi]. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
    const char *d = s + (*s == '-' || *s == '+');
    int base = d[0] == '0' && (d[1] == 'x' || d[1] == 'X') ? 16 : 10;
    char *end;
    errno = 0;
    long v = strtol(s, &end, base);
    if (!*s || errno || *end || end == s || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const bn_opt *o, const char *s, double *out)
{
    double v;
    if (bn_cli_parse_double(s, &v) || v > o->dhi || v < o->dlo ||
        ((o->flags & BN_OPT_OPEN_LO) && v == o->dlo))
        return -1;
    *out = v;
    return 0;
}

static int bad_enum(const bn_opt_spec *spec, const char *opt, const bn_opt *o, const char *v)
{
    char list[512];
    size_t n = 0;
    list[0] = '\0';
    for (size_t i = 0; o->choices[i] && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", o->choices[i]);
    return bn_opt_fail(spec, "%s '%s' is not one of %s", opt, v, list);
}

/* Store v for option o (spelled opt); 0 ok, else 2 with the message printed. */
static int set_value(const bn_opt_spec *spec, const bn_opt *o, const char *opt, const char *v)
{
    long l;
    double d;
    switch (o->kind) {
    case BN_OPT_INT:
    case BN_OPT_LONG:
        if (parse_long(v, o->lo, o->hi, &l))
            return bn_opt_fail(spec, "%s '%s' is not an integer in [%ld, %ld]", opt, v, o->lo, o->hi);
        if (o->kind == BN_OPT_INT)
            *(int *)o->p = (int)l;
        else
            *(long *)o->p = l;
        return 0;
    case BN_OPT_FLOAT:
    case BN_OPT_DOUBLE:
        if (parse_double(o, v, &d))
            return bn_opt_fail(spec, "%s '%s' is not a number in %c%g, %g]", opt, v,
                               (o->flags & BN_OPT_OPEN_LO) ? '(' : '[', o->dlo, o->dhi);
        if (o->kind == BN_OPT_FLOAT)
            *(float *)o->p = (float)d;
        else
            *(double *)o->p = d;
        return 0;
    case BN_OPT_STR:
    case BN_OPT_OPTSTR:
        *(const char **)o->p = v;
        return 0;
    case BN_OPT_ENUM:
        for (int i = 0; o->choices[i]; i++)
            if (!strcmp(o->choices[i], v)) {
                *(int *)o->p = o->values ? o->values[i] : i;
                return 0;
            }
        return bad_enum(spec, opt, o, v);
    case BN_OPT_FUNC: {
        char msg[BN_ERROR_MSG_MAX] = "";
        if (o->fn(v, o->p, msg, sizeof msg))
            return bn_opt_fail(spec, "%s: %s", opt, *msg ? msg : "bad value");
        return 0;
    }
    default:
        return bn_opt_fail(spec, "option '%s' takes no value", opt);
    }
}

/* ---- parsing ------------------------------------------------------------------------ */

static int is_option(const char *a)
{
    return a[0] == '-' && a[1] != '\0';
}

/* The entry spelled a (up to len bytes), or NULL. */
static const bn_opt *find(const bn_opt_spec *spec, const char *a, size_t len)
{
    for (size_t i = 0; i < spec->n_opts; i++) {
        const bn_opt *o = &spec->opts[i];
        const char *names[3] = {o->s, o->l, o->alias};
        if (o->kind == BN_OPT_SECTION)
            continue;
        for (int k = 0; k < 3; k++)
            if (names[k] && strlen(names[k]) == len && !strncmp(names[k], a, len))
                return o;
    }
    return NULL;
}

/* A positional argument, or an optional value that waits for the count (opt.h 4). */
typedef struct {
    const char *arg;
    const bn_opt *owner; /* OPTSTR whose value this may be, or NULL */
    int at;              /* index in argv */
} posarg;

int bn_opt_parse(const bn_opt_spec *spec, int argc, char **argv)
{
    posarg *pos = calloc((size_t)(argc > 0 ? argc : 1), sizeof *pos);
    const char *pos0 = NULL; /* a model given by -m, at argv[pos0_at] */
    int n = 0, rc = -1, only_pos = 0, pos0_at = 0;
    if (!pos) {
        fprintf(stderr, "%s: out of memory\n", spec->tool);
        return 3;
    }
    for (int i = 1; i < argc && rc < 0; i++) {
        const char *a = argv[i];
        if (only_pos || !is_option(a)) {
            pos[n].at = i;
            pos[n++].arg = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bn_opt_help(spec, stdout);
            rc = 0;
            break;
        }
        if (!strcmp(a, "--version")) {
            bn_cli_print_version(spec->tool);
            rc = 0;
            break;
        }
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const bn_opt *o = find(spec, a, len);
        if (!o) {
            rc = bn_opt_fail(spec, "unknown option '%.*s' (see --help)", (int)len, a);
            break;
        }
        char opt[64];
        snprintf(opt, sizeof opt, "%.*s", (int)len, a);
        switch (o->kind) {
        case BN_OPT_FLAG:
        case BN_OPT_UNSET:
            if (eq)
                rc = bn_opt_fail(spec, "option '%s' takes no value", opt);
            else
                *(int *)o->p = o->kind == BN_OPT_FLAG;
            break;
        case BN_OPT_OPTSTR:
            *(const char **)o->p = o->dflt;
            if (eq)
                *(const char **)o->p = eq + 1;
            else if (i + 1 < argc && !is_option(argv[i + 1]) && !only_pos) {
                pos[n].at = i + 1;
                pos[n].arg = argv[++i];
                pos[n++].owner = o;
            }
            break;
        case BN_OPT_STR2:
            if (eq || i + 2 >= argc) {
                rc = bn_opt_fail(spec, "option '%s' needs two values", opt);
                break;
            }
            ((const char **)o->p)[0] = argv[i + 1];
            ((const char **)o->p)[1] = argv[i + 2];
            i += 2;
            break;
        default: {
            const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
            if (!v) {
                rc = bn_opt_fail(spec, "option '%s' needs a value", opt);
                break;
            }
            if (o->flags & BN_OPT_POS0) {
                if (pos0 && strcmp(pos0, v) != 0)
                    rc = bn_opt_fail(spec, "two models given ('%s' and '%s')", pos0, v);
                pos0 = v;
                pos0_at = i;
            }
            if (rc < 0 && set_value(spec, o, opt, v))
                rc = 2;
        }
        }
    }
    if (rc < 0) {
        /* Optional values, left to right, while enough positionals remain. */
        int n_plain = 0, need = spec->n_pos_req - (pos0 != NULL);
        for (int k = 0; k < n; k++)
            n_plain += pos[k].owner == NULL;
        for (int k = 0; k < n; k++)
            if (pos[k].owner && n_plain >= need)
                *(const char **)pos[k].owner->p = pos[k].arg;
            else
                pos[k].owner = NULL, n_plain++;
        int slot = pos0 != NULL;
        if (pos0 && spec->n_pos > 0)
            *spec->pos[0] = pos0;
        for (int k = 0; k < n && rc < 0; k++) {
            if (pos[k].owner)
                continue;
            if (slot < spec->n_pos)
                *spec->pos[slot++] = pos[k].arg;
            else if (pos0 && spec->n_pos == 1) /* named in the order given */
                rc = bn_opt_fail(spec, "two models given ('%s' and '%s')",
                                 pos[k].at < pos0_at ? pos[k].arg : pos0,
                                 pos[k].at < pos0_at ? pos0 : pos[k].arg);
            else
                rc = bn_opt_fail(spec, "unexpected argument '%s' (see --help)", pos[k].arg);
        }
    }
    free(pos);
    return rc;
}

/* ---- help ------------------------------------------------------------------------------ */

static void print_help_text(FILE *f, const char *help, int col)
{
    for (const char *h = help; *h;) {
        const char *nl = strchr(h, '\n');
        int len = nl ? (int)(nl - h) : (int)strlen(h);
        fprintf(f, "%*s%.*s\n", col, "", len, h);
        h += len + (nl != NULL);
    }
}

/* The value's name in help: given, or the choices of an enum ("f32|f16"). */
static void arg_name(const bn_opt *o, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    if (o->arg) {
        snprintf(buf, cap, o->kind == BN_OPT_OPTSTR ? " [%s]" : " %s", o->arg);
        return;
    }
    for (size_t i = 0; o->kind == BN_OPT_ENUM && o->choices[i] && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "|" : " ", o->choices[i]);
}

/* "  NAMES   help", the help continuing aligned (below NAMES when they are long). */
static void print_entry(FILE *f, const char *names, const char *help)
{
    if ((int)strlen(names) + 3 > HELP_COL) {
        fprintf(f, "  %s\n", names);
        print_help_text(f, help, HELP_COL);
        return;
    }
    const char *nl = strchr(help, '\n');
    int len = nl ? (int)(nl - help) : (int)strlen(help);
    fprintf(f, "  %-*s%.*s\n", HELP_COL - 2, names, len, help);
    if (nl)
        print_help_text(f, nl + 1, HELP_COL);
}

void bn_opt_help(const bn_opt_spec *spec, FILE *f)
{
    if (spec->usage)
        fputs(spec->usage, f);
    for (size_t i = 0; i < spec->n_opts; i++) {
        const bn_opt *o = &spec->opts[i];
        if (o->flags & BN_OPT_HIDDEN)
            continue;
        if (o->kind == BN_OPT_SECTION) {
            fprintf(f, "%s\n", o->help);
            continue;
        }
        char names[160], arg[128];
        arg_name(o, arg, sizeof arg);
        snprintf(names, sizeof names, "%s%s%s%s", o->s ? o->s : "    ", o->s && o->l ? ", " : "",
                 o->l ? o->l : "", arg);
        print_entry(f, names, o->help ? o->help : "");
    }
    print_entry(f, "-h, --help", "this help");
    print_entry(f, "    --version", "the version (with the git commit when built from one)");
    if (spec->epilog)
        fputs(spec->epilog, f);
    fputs(bn_opt_exit_codes, f);
}
