/* opt.h - the one option parser of every bntk tool: a table of options, from
 * which both the parsing and --help are made, so the two cannot disagree.
 *
 * Contract:
 *  1. Each bn_opt names its spellings (short "-t", long "--threads", one hidden
 *     alias), the kind of value, where the value goes and its help text. A long
 *     option also takes "--name=VALUE". An option's value is the next argument
 *     whatever it looks like ("--frequency-penalty -1"); "--" ends the options.
 *  2. Every failure prints ONE line on stderr in one form and makes the tool
 *     exit 2:
 *       TOOL: unknown option '--foo' (see --help)
 *       TOOL: option '-n' needs a value
 *       TOOL: -n 'x' is not an integer in [0, 16777216]
 *       TOOL: --kv 'f8' is not one of f32, f16
 *       TOOL: unexpected argument 'b' (see --help)
 *  3. -h/--help prints the generated help on stdout (usage, the table, the
 *     epilog, then the exit-code paragraph every tool shares); --version prints
 *     bn_cli_print_version(). Both make the tool exit 0.
 *  4. Positional arguments fill spec->pos[] in order. An option flagged
 *     BN_OPT_POS0 (-m/--model) fills pos[0] itself; a model given both ways is
 *     an error. An optional value (BN_OPT_OPTSTR: "--json [FILE]") is taken
 *     from the next argument only when that is not an option and the
 *     positionals still number n_pos_req without it ("bn-info --json M.gguf"
 *     writes JSON to stdout; "bn-info --json out.json M.gguf" to out.json).
 *
 *   static const bn_opt opts[] = {
 *       BN_O_INT("-t", "--threads", &o.threads, 1, 256, "N", "threads (default: all cores)"),
 *       BN_O_FLAG("-q", "--quiet", &o.quiet, "no progress"),
 *   };
 *   bn_opt_spec spec = {"bn-x", "usage: bn-x IN [options]\n", opts, BN_OPT_N(opts),
 *                       {&o.in}, 1, 1, NULL};
 *   int rc = bn_opt_parse(&spec, argc, argv);
 *   if (rc >= 0)
 *       return rc;                          // help, version or a usage error
 *
 * Mains only (src/tools/). */
#ifndef BN_OPT_H
#define BN_OPT_H

#include <stddef.h>
#include <stdio.h>

#include "bn/error.h" /* BN_PRINTF */

typedef enum {
    BN_OPT_FLAG,    /* int *: set to 1 */
    BN_OPT_UNSET,   /* int *: set to 0 (e.g. --ids after --pieces) */
    BN_OPT_INT,     /* int *: integer in [lo, hi] (decimal, or hex after 0x) */
    BN_OPT_LONG,    /* long *: the same, as a long */
    BN_OPT_FLOAT,   /* float *: finite number in [dlo, dhi] */
    BN_OPT_DOUBLE,  /* double *: the same, as a double */
    BN_OPT_STR,     /* const char **: the argument itself */
    BN_OPT_STR2,    /* const char *[2]: the next two arguments */
    BN_OPT_OPTSTR,  /* const char **: the optional argument, else dflt ("--json [FILE]") */
    BN_OPT_ENUM,    /* int *: values[i] (or i) of the choice named */
    BN_OPT_FUNC,    /* fn(value, p, msg, cap) decides; nonzero with msg on refusal */
    BN_OPT_SECTION  /* no option: help is printed as a heading line */
} bn_opt_kind;

enum {
    BN_OPT_HIDDEN = 1u,  /* accepted, not listed in --help */
    BN_OPT_POS0 = 2u,    /* fills pos[0] (-m/--model) */
    BN_OPT_OPEN_LO = 4u  /* FLOAT/DOUBLE: the range excludes dlo */
};

/* BN_OPT_FUNC: 0 to accept val, else nonzero with a reason in msg. */
typedef int (*bn_opt_fn)(const char *val, void *p, char *msg, size_t cap);

typedef struct {
    const char *s, *l;          /* "-t", "--threads"; either may be NULL */
    bn_opt_kind kind;
    void *p;                    /* where the value goes (type by kind) */
    const char *arg;            /* value's name in --help ("N"); ENUM: its choices */
    const char *help;           /* '\n' continues on the next line, aligned */
    long lo, hi;                /* INT, LONG */
    double dlo, dhi;            /* FLOAT, DOUBLE */
    const char *const *choices; /* ENUM: NULL-terminated names */
    const int *values;          /* ENUM: value per name; NULL: the index */
    bn_opt_fn fn;               /* FUNC */
    const char *alias;          /* one more accepted spelling (old names), never listed */
    const char *dflt;           /* OPTSTR: the value when none is given */
    unsigned flags;             /* BN_OPT_HIDDEN | BN_OPT_POS0 | BN_OPT_OPEN_LO */
} bn_opt;

#define BN_OPT_MAX_POS 4

typedef struct {
    const char *tool;             /* "bn-run": every message starts with it */
    const char *usage;            /* printed first by --help (ends with "\n") */
    const bn_opt *opts;
    size_t n_opts;
    const char **pos[BN_OPT_MAX_POS]; /* where positional arguments go, in order */
    int n_pos;                    /* how many may be given */
    int n_pos_req;                /* how many optional values must leave (contract 4) */
    const char *epilog;           /* printed after the options, or NULL */
} bn_opt_spec;

/* A numeric macro as a string literal, for help texts ("1.." BN_OPT_STR(MAX)). */
#define BN_OPT_STR_(x) #x
#define BN_OPT_STR(x) BN_OPT_STR_(x)

#define BN_OPT_N(a) (sizeof(a) / sizeof((a)[0]))

/* Type-checked table entries: a pointer of the wrong type does not compile. */
#define BN_OPT_PTR_(T, P) ((void *)(1 ? (P) : (T *)0))
#define BN_O_FLAG(S, L, P, H)                                                                     \
    {.s = (S), .l = (L), .kind = BN_OPT_FLAG, .p = BN_OPT_PTR_(int, P), .help = (H)}
#define BN_O_INT(S, L, P, LO, HI, A, H)                                                           \
    {.s = (S), .l = (L), .kind = BN_OPT_INT, .p = BN_OPT_PTR_(int, P), .lo = (LO), .hi = (HI),    \
     .arg = (A), .help = (H)}
#define BN_O_LONG(S, L, P, LO, HI, A, H)                                                          \
    {.s = (S), .l = (L), .kind = BN_OPT_LONG, .p = BN_OPT_PTR_(long, P), .lo = (LO), .hi = (HI),  \
     .arg = (A), .help = (H)}
#define BN_O_FLOAT(S, L, P, LO, HI, A, H)                                                         \
    {.s = (S), .l = (L), .kind = BN_OPT_FLOAT, .p = BN_OPT_PTR_(float, P), .dlo = (LO),           \
     .dhi = (HI), .arg = (A), .help = (H)}
#define BN_O_DOUBLE(S, L, P, LO, HI, A, H)                                                        \
    {.s = (S), .l = (L), .kind = BN_OPT_DOUBLE, .p = BN_OPT_PTR_(double, P), .dlo = (LO),         \
     .dhi = (HI), .arg = (A), .help = (H)}
#define BN_O_STR(S, L, P, A, H)                                                                   \
    {.s = (S), .l = (L), .kind = BN_OPT_STR, .p = BN_OPT_PTR_(const char *, P), .arg = (A),       \
     .help = (H)}
#define BN_O_ENUM(S, L, P, CH, VAL, H)                                                            \
    {.s = (S), .l = (L), .kind = BN_OPT_ENUM, .p = BN_OPT_PTR_(int, P), .choices = (CH),          \
     .values = (VAL), .help = (H)}
#define BN_O_FUNC(S, L, P, FN, A, H)                                                              \
    {.s = (S), .l = (L), .kind = BN_OPT_FUNC, .p = (P), .fn = (FN), .arg = (A), .help = (H)}
/* -m/--model: the model, also accepted as the first positional argument */
#define BN_O_MODEL(P)                                                                             \
    {.s = "-m", .l = "--model", .kind = BN_OPT_STR, .p = BN_OPT_PTR_(const char *, P),           \
     .arg = "PATH", .help = "the model (or as the first argument)", .flags = BN_OPT_POS0}
#define BN_O_SECTION(H) {.kind = BN_OPT_SECTION, .help = (H)}

/* -1: go on; otherwise the exit code (0 after --help/--version, 2 after a
 * usage error, 3 out of memory; the message printed). */
int bn_opt_parse(const bn_opt_spec *spec, int argc, char **argv);

/* The --help text on f. */
void bn_opt_help(const bn_opt_spec *spec, FILE *f);

/* A usage error the table cannot see ("give only one of -p and -f"): prints
 * "TOOL: <message>" on stderr and returns 2, the exit code. */
int bn_opt_fail(const bn_opt_spec *spec, const char *fmt, ...) BN_PRINTF(2, 3);

/* BN_OPT_FUNC parsers of values several tools share, checked by the library
 * (its message is the one printed): --act (p: bn_actq *), --chat-template
 * (p: const char **, the name kept), --kernel (p: const char **), a ggml type
 * name (p: bn_type *). opt_values.c. */
int bn_opt_actq(const char *v, void *p, char *msg, size_t cap);
int bn_opt_chat_template(const char *v, void *p, char *msg, size_t cap);
int bn_opt_kernel(const char *v, void *p, char *msg, size_t cap);
int bn_opt_type(const char *v, void *p, char *msg, size_t cap);

/* The paragraph that ends every --help. */
extern const char bn_opt_exit_codes[];

#endif
