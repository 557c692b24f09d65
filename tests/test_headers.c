/* test_headers.c - every public header in one translation unit (the list is
 * generated from include/bn/ by the Makefile, so a new header joins by
 * itself: two headers that declare one name differently fail to build here),
 * and the version contract of bn/version.h. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "all_headers.h"
#include "testutil.h"

/* Names that once collided (bn_act was an enum in convert.h and a struct in
 * kernels.h; the enum is now arch.h's bn_ffn_act): both are usable side by side. */
START_TEST(test_former_collisions_coexist)
{
    bn_ffn_act ffn = BN_FFN_RELU2;
    bn_act acts;
    memset(&acts, 0, sizeof acts);
    acts.kind = BN_ACT_Q8K;
    ck_assert_int_eq(ffn, BN_FFN_RELU2);
    ck_assert_int_eq(acts.kind, BN_ACT_Q8K);
}
END_TEST

START_TEST(test_version_is_the_release)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", BN_VERSION_MAJOR, BN_VERSION_MINOR, BN_VERSION_PATCH);
    ck_assert_str_eq(BN_VERSION, want);
    ck_assert(BN_ABI_VERSION >= 0);
}
END_TEST

/* bn_version() is BN_VERSION, or BN_VERSION "+g" commit when the commit is
 * known; the commit is 12 lowercase hex digits, optionally ".dirty". */
START_TEST(test_version_carries_the_commit)
{
    const char *v = bn_version(), *c = bn_version_commit();
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_nonnull(c);
    if (!*c) {
        ck_assert_str_eq(v, BN_VERSION);
        return;
    }
    char want[96];
    snprintf(want, sizeof want, "%s+g%s", BN_VERSION, c);
    ck_assert_str_eq(v, want);
    size_t n = strspn(c, "0123456789abcdef");
    ck_assert_uint_eq(n, 12);
    ck_assert(c[n] == '\0' || strcmp(c + n, ".dirty") == 0);
}
END_TEST

/* Built inside a git checkout, the commit must be the checkout's HEAD. */
START_TEST(test_version_commit_is_head)
{
    const char *root = getenv("BN_ROOT");
    char cmd[512], *out = NULL;
    if (!root || !*bn_version_commit())
        return; /* a tarball without .commit: nothing to compare */
    /* only when BN_ROOT is itself the top of a checkout (a make dist tarball
     * unpacked inside another repository takes its commit from .commit) */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && [ \"$(git rev-parse --show-toplevel 2>/dev/null)\" = \"$(pwd -P)\" ] && "
             "git rev-parse --short=12 HEAD",
             root);
    if (tu_run(cmd, &out) != 0) { /* not a checkout: .commit said it */
        free(out);
        return;
    }
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(strncmp(out, bn_version_commit(), 12), 0);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("headers");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_former_collisions_coexist);
    tcase_add_test(tc, test_version_is_the_release);
    tcase_add_test(tc, test_version_carries_the_commit);
    tcase_add_test(tc, test_version_commit_is_head);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
