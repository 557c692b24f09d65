/* test_util.c - checked arithmetic, file reading, atomic output files, errors. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

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
    ck_assert_int_eq(bn_status_exit_code(BN_EIO), 1);
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
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
