/* test_util.c - checked arithmetic, file reading, atomic output files, errors. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bn/error.h"
#include "bn/util.h"
#include "testutil.h"

START_TEST(test_overflow)
{
    uint64_t r;
    ck_assert_int_eq(bn_mul_ovf_u64(UINT64_MAX / 2, 2, &r), 0);
    ck_assert_int_eq(bn_mul_ovf_u64(UINT64_MAX / 2 + 1, 2, &r), 1);
    ck_assert_int_eq(bn_add_ovf_u64(UINT64_MAX - 1, 1, &r), 0);
    ck_assert_int_eq(bn_add_ovf_u64(UINT64_MAX, 1, &r), 1);
    size_t s;
    ck_assert_int_eq(bn_mul_ovf_size(0, SIZE_MAX, &s), 0);
    ck_assert_uint_eq(s, 0);
    ck_assert_int_eq(bn_add_ovf_size(SIZE_MAX, 1, &s), 1);
}
END_TEST

START_TEST(test_error_messages)
{
    bn_error e;
    bn_error_clear(&e);
    ck_assert_int_eq(bn_error_set(&e, BN_EINVAL, "tensor '%s': bad ne0 %d", "x", 3), BN_EINVAL);
    ck_assert_str_eq(e.msg, "tensor 'x': bad ne0 3");
    bn_error_prefix(&e, "%s", "m.gguf");
    ck_assert_str_eq(e.msg, "m.gguf: tensor 'x': bad ne0 3");
    ck_assert_int_eq(bn_status_exit_code(BN_EINVAL), 2);
    ck_assert_int_eq(bn_status_exit_code(BN_EIO), 3);
    ck_assert_int_eq(bn_error_set(NULL, BN_ELIMIT, "dropped"), BN_ELIMIT);
}
END_TEST

static int count_tmp_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && strstr(de->d_name, ".tmp."))
            n++;
    closedir(d);
    return n;
}

START_TEST(test_atomic_commit_and_abort)
{
    const char *out = tu_tmp("atomic.bin");
    ck_assert_int_eq(tu_write(out, "old", 3), 0);
    bn_atomic_file *af;
    bn_error e;
    ck_assert_int_eq(bn_atomic_open(out, &af, &e), BN_OK);
    fputs("new contents", bn_atomic_stream(af));
    bn_atomic_abort(af);
    size_t n;
    uint8_t *b = tu_read(out, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(memcmp(b, "old", 3), 0);
    free(b);
    ck_assert_int_eq(count_tmp_files(tu_tmp(""), "atomic.bin"), 0);

    ck_assert_int_eq(bn_atomic_open(out, &af, &e), BN_OK);
    fputs("new contents", bn_atomic_stream(af));
    ck_assert_int_eq(bn_atomic_commit(af, &e), BN_OK);
    b = tu_read(out, &n);
    ck_assert_uint_eq(n, 12);
    ck_assert_int_eq(memcmp(b, "new contents", 12), 0);
    free(b);
    ck_assert_int_eq(count_tmp_files(tu_tmp(""), "atomic.bin"), 0);
}
END_TEST

START_TEST(test_atomic_unwritable_dir)
{
    bn_atomic_file *af = NULL;
    bn_error e;
    ck_assert_int_ne(bn_atomic_open("/nonexistent-dir/x.gguf", &af, &e), BN_OK);
    ck_assert_ptr_null(af);
    ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent-dir/x.gguf"));
}
END_TEST

START_TEST(test_atomic_signal_cleanup)
{
    const char *out = tu_tmp("sig.bin");
    bn_atomic_file *af;
    ck_assert_int_eq(bn_atomic_open(out, &af, NULL), BN_OK);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", bn_atomic_temp_path(af));
    ck_assert(tu_exists(tmp));
    bn_atomic_cleanup_signal();
    ck_assert(!tu_exists(tmp));
    bn_atomic_abort(af);
}
END_TEST

START_TEST(test_read_file_limits)
{
    const char *p = tu_tmp("limit.txt");
    ck_assert_int_eq(tu_write(p, "0123456789", 10), 0);
    char *buf;
    size_t len;
    bn_error e;
    ck_assert_int_eq(bn_read_file(p, 10, &buf, &len, &e), BN_OK);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(buf[10], 0);
    free(buf);
    ck_assert_int_eq(bn_read_file(p, 9, &buf, &len, &e), BN_ELIMIT);
    ck_assert_int_eq(bn_read_file(tu_tmp("missing"), 9, &buf, &len, &e), BN_ENOTFOUND);
    bn_mapped_file mf;
    ck_assert_int_eq(bn_map_file(p, &mf, &e), BN_OK);
    ck_assert_uint_eq(mf.size, 10);
    ck_assert_int_eq(memcmp(mf.data, "0123456789", 10), 0);
    bn_unmap_file(&mf);
}
END_TEST

/* ---- issue 13: inputs that are not regular files, outputs that are not safe ---- */

START_TEST(test_input_not_regular)
{
    const char *fifo = tu_tmp("in.fifo");
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    bn_error e;
    char *buf;
    size_t len;
    /* no writer: a blocking open would hang here */
    ck_assert_int_eq(bn_read_file(fifo, 100, &buf, &len, &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "not a regular file (a FIFO)") != NULL, "%s", e.msg);
    bn_mapped_file mf;
    ck_assert_int_eq(bn_map_file(fifo, &mf, &e), BN_EINVAL);
    ck_assert_int_eq(bn_input_check(tu_tmp("."), &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "not a regular file (a directory)") != NULL, "%s", e.msg);
    ck_assert_int_eq(bn_input_check("/dev/zero", &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "(a character device)") != NULL, "%s", e.msg);
    ck_assert_int_eq(bn_input_check(tu_tmp("nope"), &e), BN_ENOTFOUND);
    unlink(fifo);
}
END_TEST

START_TEST(test_outset_refuses_inputs)
{
    const char *in = tu_tmp("os_in.bin"), *ln = tu_tmp("os_link.bin"), *out = tu_tmp("os_out.bin");
    ck_assert_int_eq(tu_write(in, "input", 5), 0);
    unlink(ln);
    unlink(out);
    ck_assert_int_eq(symlink(in, ln), 0);
    bn_outset *s;
    bn_error e;
    ck_assert_int_eq(bn_outset_new(&s, &e), BN_OK);
    ck_assert_int_eq(bn_outset_input(s, in, &e), BN_OK);
    ck_assert_int_eq(bn_outset_output(s, in, &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "is the input") != NULL, "%s", e.msg);
    ck_assert_int_eq(bn_outset_output(s, ln, &e), BN_EINVAL); /* through the link */
    ck_assert_int_eq(bn_outset_output(s, out, &e), BN_OK);
    ck_assert_int_eq(bn_outset_output(s, out, &e), BN_EINVAL); /* the same output twice */
    ck_assert_msg(strstr(e.msg, "also the output") != NULL, "%s", e.msg);
    /* /dev/null may be named twice: it holds nothing to lose */
    ck_assert_int_eq(bn_outset_output(s, "/dev/null", &e), BN_OK);
    ck_assert_int_eq(bn_outset_output(s, "/dev/null", &e), BN_OK);
    /* opening the registered output is that registration; a second open is not */
    bn_atomic_file *af, *af2;
    ck_assert_int_eq(bn_atomic_open_in(s, out, &af, &e), BN_OK);
    ck_assert_int_eq(bn_atomic_open_in(s, out, &af2, &e), BN_EINVAL);
    bn_outset_free(s); /* never committed: nothing written */
    ck_assert_int_eq(access(out, F_OK), -1);
    ck_assert_int_eq(count_tmp_files(tu_tmp("."), "os_out.bin"), 0);
    unlink(ln);
}
END_TEST

START_TEST(test_outset_all_or_nothing)
{
    const char *a = tu_tmp("os_a.bin"), *b = tu_tmp("os_b.bin");
    ck_assert_int_eq(tu_write(a, "old a", 5), 0);
    ck_assert_int_eq(tu_write(b, "old b", 5), 0);
    bn_error e;
    for (int round = 0; round < 2; round++) {
        bn_outset *s;
        ck_assert_int_eq(bn_outset_new(&s, &e), BN_OK);
        bn_atomic_file *fa, *fb;
        ck_assert_int_eq(bn_atomic_open_in(s, a, &fa, &e), BN_OK);
        ck_assert_int_eq(bn_atomic_open_in(s, b, &fb, &e), BN_OK);
        fputs("new a", bn_atomic_stream(fa));
        fputs("new b", bn_atomic_stream(fb));
        ck_assert_int_eq(bn_atomic_commit(fa, &e), BN_OK);
        /* a complete output is not in place before the set commits */
        char *t;
        size_t n;
        ck_assert_int_eq(bn_read_file(a, 100, &t, &n, &e), BN_OK);
        ck_assert_str_eq(t, "old a");
        free(t);
        if (round == 0) {
            bn_atomic_abort(fb); /* the second output fails: the first is dropped too */
            bn_outset_free(s);
            ck_assert_int_eq(bn_read_file(a, 100, &t, &n, &e), BN_OK);
            ck_assert_str_eq(t, "old a");
            free(t);
        } else {
            ck_assert_int_eq(bn_atomic_commit(fb, &e), BN_OK);
            ck_assert_int_eq(bn_outset_commit(s, &e), BN_OK);
            bn_outset_free(s);
            ck_assert_int_eq(bn_read_file(b, 100, &t, &n, &e), BN_OK);
            ck_assert_str_eq(t, "new b");
            free(t);
        }
        ck_assert_int_eq(count_tmp_files(tu_tmp("."), "os_a.bin"), 0);
        ck_assert_int_eq(count_tmp_files(tu_tmp("."), "os_b.bin"), 0);
    }
}
END_TEST

START_TEST(test_atomic_devices)
{
    bn_error e;
    bn_atomic_file *af;
    /* /dev/full: written in place, the failure reported by the commit */
    ck_assert_int_eq(bn_atomic_open("/dev/full", &af, &e), BN_OK);
    for (int i = 0; i < 10000; i++)
        fputs("0123456789", bn_atomic_stream(af));
    ck_assert_int_eq(bn_atomic_commit(af, &e), BN_EIO);
    ck_assert_msg(strstr(e.msg, "/dev/full: write failed") != NULL, "%s", e.msg);
    ck_assert_int_eq(bn_atomic_open("/dev/null", &af, &e), BN_OK);
    fputs("x", bn_atomic_stream(af));
    ck_assert_int_eq(bn_atomic_commit(af, &e), BN_OK);
    struct stat st;
    ck_assert_int_eq(stat("/dev/null", &st), 0);
    ck_assert(S_ISCHR(st.st_mode));
    /* a FIFO without a reader is refused at once, a directory always */
    const char *fifo = tu_tmp("out.fifo");
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(bn_atomic_open(fifo, &af, &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "no reader") != NULL, "%s", e.msg);
    ck_assert_int_eq(stat(fifo, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    unlink(fifo);
    ck_assert_int_eq(bn_atomic_open(tu_tmp("."), &af, &e), BN_EINVAL);
    /* a symlink output replaces the file it names, not the link */
    const char *target = tu_tmp("at_target.bin"), *link = tu_tmp("at_link.bin");
    ck_assert_int_eq(tu_write(target, "old", 3), 0);
    unlink(link);
    ck_assert_int_eq(symlink(target, link), 0);
    ck_assert_int_eq(bn_atomic_open(link, &af, &e), BN_OK);
    fputs("new", bn_atomic_stream(af));
    ck_assert_int_eq(bn_atomic_commit(af, &e), BN_OK);
    ck_assert_int_eq(lstat(link, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    char *t;
    size_t n;
    ck_assert_int_eq(bn_read_file(target, 10, &t, &n, &e), BN_OK);
    ck_assert_str_eq(t, "new");
    free(t);
    unlink(link);
}
END_TEST

START_TEST(test_error_prefix_once)
{
    bn_error e;
    bn_error_set(&e, BN_ETYPE, "m.gguf: key 'k' has type i32, expected u32");
    bn_error_prefix(&e, "%s", "m.gguf");
    ck_assert_str_eq(e.msg, "m.gguf: key 'k' has type i32, expected u32");
    bn_error_prefix(&e, "%s: tensor '%s'", "m.gguf", "t");
    ck_assert_str_eq(e.msg, "m.gguf: tensor 't': key 'k' has type i32, expected u32");
    bn_error_prefix(&e, "%s", "other.gguf");
    ck_assert_str_eq(e.msg, "other.gguf: m.gguf: tensor 't': key 'k' has type i32, expected u32");
    /* a prefix that is only the start of a longer name is not a repeat */
    bn_error_set(&e, BN_EINVAL, "m.gguf.bak: bad");
    bn_error_prefix(&e, "%s", "m.gguf");
    ck_assert_str_eq(e.msg, "m.gguf: m.gguf.bak: bad");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_overflow);
    tcase_add_test(tc, test_error_messages);
    tcase_add_test(tc, test_atomic_commit_and_abort);
    tcase_add_test(tc, test_atomic_unwritable_dir);
    tcase_add_test(tc, test_atomic_signal_cleanup);
    tcase_add_test(tc, test_read_file_limits);
    tcase_add_test(tc, test_input_not_regular);
    tcase_add_test(tc, test_outset_refuses_inputs);
    tcase_add_test(tc, test_outset_all_or_nothing);
    tcase_add_test(tc, test_atomic_devices);
    tcase_add_test(tc, test_error_prefix_once);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
