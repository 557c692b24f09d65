/* testjson.c - the JSON half of testutil (see testutil.h). A file of its own
 * so that testutil.c builds without cJSON, as check-arm's static cross build
 * of the kernel suite needs. */
#include "testutil.h"

#include <cJSON.h>

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
