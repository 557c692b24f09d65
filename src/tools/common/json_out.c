/* json_out.c - a main's --json FILE; see json_out.h. */
#include "json_out.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bn_cli_json_plan(const char *tool, const char *path, const char *const *inputs, size_t n_in,
                     bn_outset **outs)
{
    bn_error err;
    const char *json = path && strcmp(path, "-") != 0 ? path : NULL;
    if (bn_outset_plan(outs, inputs, n_in, &json, 1, &err)) {
        fprintf(stderr, "%s: %s\n", tool, err.msg);
        return 2;
    }
    return 0;
}

int bn_cli_json_write(const char *tool, const char *path, bn_outset *outs,
                      const struct cJSON *doc)
{
    char *s = doc ? cJSON_Print(doc) : NULL;
    if (!s) {
        fprintf(stderr, "%s: out of memory formatting JSON\n", tool);
        return 3;
    }
    int rc = 0;
    if (!strcmp(path, "-")) {
        printf("%s\n", s);
    } else {
        bn_error err;
        bn_atomic_file *af;
        bn_status st = bn_atomic_open_in(outs, path, &af, &err);
        if (st) {
            fprintf(stderr, "%s: %s\n", tool, err.msg);
            rc = bn_status_exit_code(st);
        } else {
            fprintf(bn_atomic_stream(af), "%s\n", s);
            if ((st = bn_atomic_commit(af, &err)) || (st = bn_outset_commit(outs, &err))) {
                fprintf(stderr, "%s: %s\n", tool, err.msg);
                rc = bn_status_exit_code(st);
            }
        }
    }
    free(s);
    return rc;
}
