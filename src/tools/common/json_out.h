/* json_out.h - a main's --json FILE: planned against its inputs before anything
 * is read (util.h's output sets: a JSON path that is an input is refused), then
 * written atomically, or to stdout when FILE is "-". Messages go to stderr as
 * "TOOL: ...". Mains only. */
#ifndef BN_JSON_OUT_H
#define BN_JSON_OUT_H
#include <stddef.h>
#include "bn/util.h"
struct cJSON;
/* 0, or 2 when the path is refused; *outs is set (to free) either way. */
int bn_cli_json_plan(const char *tool, const char *path, const char *const *inputs, size_t n_in,
                     bn_outset **outs);
/* 0; 1 when the document cannot be formatted or committed; else the exit code
 * of the open failure. doc NULL counts as out of memory. */
int bn_cli_json_write(const char *tool, const char *path, bn_outset *outs,
                      const struct cJSON *doc);
#endif
