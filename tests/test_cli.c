/* test_cli.c - what every main shares (src/tools/common/cli.c): strict number
 * parsing, peak memory, and the signal handlers that keep failures from leaving
 * partial outputs - SIGBUS from a mapped input that shrinks under us included. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bn/util.h"
#include "testutil.h"
#include "tools/common/cli.h"

START_TEST(test_parse_numbers)
{
    long v;
    double d;
    ck_assert_int_eq(bn_cli_parse_int("42", 0, 100, &v), 0);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(bn_cli_parse_int("101", 0, 100, &v), -1);
    ck_assert_int_eq(bn_cli_parse_int("4x", 0, 100, &v), -1);
    ck_assert_int_eq(bn_cli_parse_int("", 0, 100, &v), -1);
    ck_assert_int_eq(bn_cli_parse_double("1e-3", &d), 0);
    ck_assert_double_eq(d, 1e-3);
    ck_assert_int_eq(bn_cli_parse_double("nan", &d), -1);
    ck_assert_int_eq(bn_cli_parse_double("1.5 ", &d), -1);
}
END_TEST

START_TEST(test_peak_rss)
{
    double before = bn_cli_peak_rss_mb();
    ck_assert(before > 0);
    size_t n = 64u << 20;
    volatile char *p = malloc(n);
    for (size_t i = 0; i < n; i += 4096)
        p[i] = 1;
    double after = bn_cli_peak_rss_mb();
    free((void *)p);
    ck_assert_msg(after >= before + 60, "peak %.0f MB -> %.0f MB after touching 67 MB", before, after);
}
END_TEST

/* A child maps an input, has an atomic output open, and the input is truncated
 * under it: touching the lost page must end in exit 2, one line naming SIGBUS,
 * and no temporary output left behind. */
START_TEST(test_sigbus_truncated_input)
{
    const char *in = tu_keep(tu_tmp("sigbus-in.bin"));
    const char *out = tu_keep(tu_tmp("sigbus-out.gguf"));
    const char *log = tu_keep(tu_tmp("sigbus.log"));
    long pg = sysconf(_SC_PAGESIZE);
    char *buf = calloc(4, (size_t)pg);
    tu_write(in, buf, 4 * (size_t)pg);
    free(buf);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, STDERR_FILENO);
        bn_cli_install_signal_cleanup();
        bn_error e;
        bn_mapped_file mf;
        bn_atomic_file *af;
        if (bn_map_file(in, &mf, &e) || bn_atomic_open(out, &af, &e))
            _exit(10);
        fputs("partial", bn_atomic_stream(af));
        fflush(bn_atomic_stream(af));
        if (truncate(in, pg) != 0)
            _exit(11);
        volatile const unsigned char *p = mf.data;
        unsigned x = p[3 * pg]; /* past the new end: SIGBUS */
        _exit(12 + (int)(x & 1));
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2, "child status %#x", status);
    size_t n;
    char *msg = (char *)tu_read(log, &n);
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, "SIGBUS") && strstr(msg, "temporary output removed"), "%s", msg);
    free(msg);
    /* neither OUT nor OUT.tmp.* */
    struct stat sb;
    ck_assert_int_ne(stat(out, &sb), 0);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out);
    *strrchr(dir, '/') = 0;
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *de; (de = readdir(d));)
        ck_assert_msg(strncmp(de->d_name, "sigbus-out", 10) != 0, "left behind: %s", de->d_name);
    closedir(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_parse_numbers);
    tcase_add_test(tc, test_peak_rss);
    tcase_add_test(tc, test_sigbus_truncated_input);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
