/* testcheck.c - the parts of testutil that need cJSON or Check (see
 * testutil.h). A file of its own so that testutil.c builds without them, as
 * check-arm's static cross build of the kernel suite needs. */
#include "testutil.h"

#include <cJSON.h>
#include <check.h>

#include <stdlib.h>

cJSON *tu_read_json(const char *path)
{
    size_t n;
    char *s = (char *)tu_read(path, &n);
    if (!s)
        return NULL;
    cJSON *j = cJSON_ParseWithLength(s, n);
    free(s);
    return j;
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
