/* test_opt.c - the option-table parser every main uses (src/tools/common/opt.c):
 * each kind of value, the one message form of each failure, positional
 * arguments with -m, optional values, and --help generated from the table. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "tools/common/opt.h"

typedef struct {
    int flag, quiet, n, kind;
    long seed;
    float temp;
    double timeout;
    const char *model, *out, *prompt, *json, *pair[2];
    char seen[64];
} opts;

static int kernel_fn(const char *v, void *p, char *msg, size_t cap)
{
    if (strcmp(v, "basic") && strcmp(v, "simd")) {
        snprintf(msg, cap, "no kernel '%s'", v);
        return -1;
    }
    snprintf(p, 64, "%s", v);
    return 0;
}

static const char *const kinds[] = {"f32", "f16", NULL};
static const int kind_values[] = {32, 16};

static opts o;
static const bn_opt table[] = {
    BN_O_SECTION("options:"),
    BN_O_MODEL(&o.model),
    BN_O_STR("-p", "--prompt", &o.prompt, "TEXT", "prompt text"),
    BN_O_INT("-n", "--n-predict", &o.n, 0, 100, "N", "tokens to generate\n(0: only evaluate)"),
    BN_O_LONG("-s", "--seed", &o.seed, 0, 0x7fffffffL, "N", "seed"),
    BN_O_FLOAT(NULL, "--temp", &o.temp, 0.0, 2.0, "T", "temperature"),
    BN_O_DOUBLE(NULL, "--timeout", &o.timeout, 0.0, 1e7, "S", "seconds"),
    BN_O_ENUM(NULL, "--kv", &o.kind, kinds, kind_values, "KV cache type"),
    BN_O_FUNC(NULL, "--kernel", o.seen, kernel_fn, "NAME", "ternary kernel"),
    BN_O_FLAG("-q", "--quiet", &o.quiet, "no progress"),
    {.l = "--flag", .kind = BN_OPT_FLAG, .p = &o.flag, .help = "secret", .flags = BN_OPT_HIDDEN},
    {.l = "--json", .kind = BN_OPT_OPTSTR, .p = &o.json, .arg = "FILE", .dflt = "-",
     .help = "JSON (stdout unless FILE)"},
    {.l = "--pair", .kind = BN_OPT_STR2, .p = o.pair, .arg = "A B", .help = "two values"},
    {.s = "-c", .l = "--ctx-size", .alias = "--ctx", .kind = BN_OPT_INT, .p = &o.n, .lo = 1,
     .hi = 9, .arg = "N", .help = "context"},
};

/* A spec over table with `npos` positionals (model, out); n_req of them required. */
static bn_opt_spec spec_of(int npos, int n_req)
{
    bn_opt_spec s = {"bn-t", "usage: bn-t MODEL [options]\n", table, BN_OPT_N(table),
                     {&o.model, &o.out}, npos, n_req, "epilog line\n"};
    return s;
}

static char err_text[4096], out_text[16384];

/* Parse a NULL-terminated argument list with stdout and stderr captured. */
static int parse(const bn_opt_spec *s, ...)
{
    char *argv[32] = {"bn-t"};
    int argc = 1;
    va_list ap;
    va_start(ap, s);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    memset(&o, 0, sizeof o);
    o.kind = -1;
    fflush(stdout);
    fflush(stderr);
    FILE *fe = tmpfile(), *fo = tmpfile();
    int se = dup(2), so = dup(1);
    dup2(fileno(fe), 2);
    dup2(fileno(fo), 1);
    int rc = bn_opt_parse(s, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(se, 2);
    dup2(so, 1);
    close(se);
    close(so);
    rewind(fe);
    rewind(fo);
    size_t ne = fread(err_text, 1, sizeof err_text - 1, fe);
    size_t no = fread(out_text, 1, sizeof out_text - 1, fo);
    err_text[ne] = out_text[no] = '\0';
    fclose(fe);
    fclose(fo);
    return rc;
}

START_TEST(test_values)
{
    bn_opt_spec s = spec_of(1, 1);
    ck_assert_int_eq(parse(&s, "m.gguf", "-n", "7", "-s", "0x5eed", "--temp", "0.5", "--timeout=2.5",
                           "--kv", "f16", "--kernel", "simd", "-q", "--flag", "-p", "-x", NULL), -1);
    ck_assert_str_eq(err_text, "");
    ck_assert_str_eq(o.model, "m.gguf");
    ck_assert_int_eq(o.n, 7);
    ck_assert_int_eq(o.seed, 0x5eed);
    ck_assert(o.temp == 0.5f);
    ck_assert(o.timeout == 2.5);
    ck_assert_int_eq(o.kind, 16);
    ck_assert_str_eq(o.seen, "simd");
    ck_assert_int_eq(o.quiet, 1);
    ck_assert_int_eq(o.flag, 1);
    ck_assert_str_eq(o.prompt, "-x"); /* a value is the next argument, whatever it looks like */
    ck_assert_int_eq(parse(&s, "--ctx", "3", "-m", "m", "--pair", "a", "b", NULL), -1);
    ck_assert_int_eq(o.n, 3); /* the old spelling still works */
    ck_assert_str_eq(o.pair[0], "a");
    ck_assert_str_eq(o.pair[1], "b");
    ck_assert_int_eq(parse(&s, "--", "-weird-name", NULL), -1);
    ck_assert_str_eq(o.model, "-weird-name");
}
END_TEST

/* Every failure: one line, one form, exit code 2. */
START_TEST(test_messages)
{
    bn_opt_spec s = spec_of(1, 1);
    static const struct {
        const char *a, *b, *msg;
    } cases[] = {
        {"--foo", NULL, "bn-t: unknown option '--foo' (see --help)\n"},
        {"--foo=1", NULL, "bn-t: unknown option '--foo' (see --help)\n"},
        {"-n", NULL, "bn-t: option '-n' needs a value\n"},
        {"-n", "x", "bn-t: -n 'x' is not an integer in [0, 100]\n"},
        {"-n", "101", "bn-t: -n '101' is not an integer in [0, 100]\n"},
        {"--n-predict", "", "bn-t: --n-predict '' is not an integer in [0, 100]\n"},
        {"-n", "99999999999999999999", "bn-t: -n '99999999999999999999' is not an integer in [0, 100]\n"},
        {"--temp", "nan", "bn-t: --temp 'nan' is not a number in [0, 2]\n"},
        {"--temp", "3", "bn-t: --temp '3' is not a number in [0, 2]\n"},
        {"--kv", "f8", "bn-t: --kv 'f8' is not one of f32, f16\n"},
        {"--kernel", "x", "bn-t: --kernel: no kernel 'x'\n"},
        {"--quiet=1", NULL, "bn-t: option '--quiet' takes no value\n"},
        {"--pair", "a", "bn-t: option '--pair' needs two values\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = cases[i].b ? parse(&s, "m", cases[i].a, cases[i].b, NULL) : parse(&s, "m", cases[i].a, NULL);
        ck_assert_msg(rc == 2, "%s %s: rc %d", cases[i].a, cases[i].b ? cases[i].b : "", rc);
        ck_assert_str_eq(err_text, cases[i].msg);
    }
    ck_assert_int_eq(bn_opt_fail(&s, "give only one of %s and %s", "-p", "-f"), 2);
}
END_TEST

START_TEST(test_positional)
{
    bn_opt_spec one = spec_of(1, 1), two = spec_of(2, 2);
    ck_assert_int_eq(parse(&one, "a", "b", NULL), 2);
    ck_assert_str_eq(err_text, "bn-t: unexpected argument 'b' (see --help)\n");
    ck_assert_int_eq(parse(&one, "-m", "a", NULL), -1);
    ck_assert_str_eq(o.model, "a");
    ck_assert_int_eq(parse(&one, "-m", "a", "b", NULL), 2);
    ck_assert_str_eq(err_text, "bn-t: two models given ('a' and 'b')\n");
    ck_assert_int_eq(parse(&one, "b", "-m", "a", NULL), 2);
    ck_assert_str_eq(err_text, "bn-t: two models given ('b' and 'a')\n");
    ck_assert_int_eq(parse(&two, "a", "b", NULL), -1);
    ck_assert_str_eq(o.model, "a");
    ck_assert_str_eq(o.out, "b");
    ck_assert_int_eq(parse(&two, "a", NULL), -1); /* the main checks what it requires */
    ck_assert_ptr_null(o.out);
    ck_assert_int_eq(parse(&one, "-", NULL), -1); /* "-" is an argument, not an option */
    ck_assert_str_eq(o.model, "-");
}
END_TEST

/* --json [FILE]: a file only when the positionals are complete without it. */
START_TEST(test_optional_value)
{
    bn_opt_spec s = spec_of(1, 1);
    ck_assert_int_eq(parse(&s, "--json", "m.gguf", NULL), -1);
    ck_assert_str_eq(o.json, "-");
    ck_assert_str_eq(o.model, "m.gguf");
    ck_assert_int_eq(parse(&s, "--json", "out.json", "m.gguf", NULL), -1);
    ck_assert_str_eq(o.json, "out.json");
    ck_assert_str_eq(o.model, "m.gguf");
    ck_assert_int_eq(parse(&s, "m.gguf", "--json", NULL), -1);
    ck_assert_str_eq(o.json, "-");
    ck_assert_int_eq(parse(&s, "--json", "out.json", "-m", "m.gguf", NULL), -1);
    ck_assert_str_eq(o.json, "out.json");
    ck_assert_int_eq(parse(&s, "--json", "-q", "m.gguf", NULL), -1);
    ck_assert_str_eq(o.json, "-");
    ck_assert_int_eq(parse(&s, "--json=x.json", "m.gguf", NULL), -1);
    ck_assert_str_eq(o.json, "x.json");
    ck_assert_int_eq(parse(&s, "m.gguf", NULL), -1);
    ck_assert_ptr_null(o.json); /* not given: no JSON */
}
END_TEST

START_TEST(test_help_and_version)
{
    bn_opt_spec s = spec_of(1, 1);
    ck_assert_int_eq(parse(&s, "--bogus-later-ignored", NULL), 2);
    ck_assert_int_eq(parse(&s, "m", "--help", "--bogus", NULL), 0);
    ck_assert_str_eq(err_text, "");
    ck_assert_msg(!strncmp(out_text, "usage: bn-t MODEL [options]\noptions:\n", 37), "%s", out_text);
    /* every listed option is in the help, the hidden one is not */
    for (size_t i = 0; i < BN_OPT_N(table); i++)
        if (table[i].l && !(table[i].flags & BN_OPT_HIDDEN))
            ck_assert_msg(strstr(out_text, table[i].l), "%s missing from:\n%s", table[i].l, out_text);
    ck_assert_ptr_null(strstr(out_text, "--flag"));
    ck_assert_ptr_null(strstr(out_text, "--ctx "));
    ck_assert_ptr_nonnull(strstr(out_text, "  -n, --n-predict N       tokens to generate\n"
                                           "                          (0: only evaluate)\n"));
    ck_assert_ptr_nonnull(strstr(out_text, "      --kv f32|f16        KV cache type\n"));
    ck_assert_ptr_nonnull(strstr(out_text, "      --json [FILE]       "));
    ck_assert_ptr_nonnull(strstr(out_text, "  -h, --help"));
    ck_assert_ptr_nonnull(strstr(out_text, "epilog line\n"));
    /* the exit-code paragraph ends it */
    size_t n = strlen(out_text), k = strlen(bn_opt_exit_codes);
    ck_assert(n > k);
    ck_assert_str_eq(out_text + n - k, bn_opt_exit_codes);
    ck_assert_ptr_nonnull(strstr(bn_opt_exit_codes, "3 an I/O or system failure"));
    ck_assert_int_eq(parse(&s, "--version", NULL), 0);
    ck_assert_msg(!strncmp(out_text, "bn-t (bntk) ", 12), "%s", out_text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opt");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_messages);
    tcase_add_test(tc, test_positional);
    tcase_add_test(tc, test_optional_value);
    tcase_add_test(tc, test_help_and_version);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
