/* cli.h - pieces every bntk main shares: signal cleanup of temp outputs,
 * strict number parsing, peak memory. Mains only; progress is progress.h. */
#ifndef BN_CLI_H
#define BN_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "bn/version.h"

/* --version: "TOOL (bntk) 0.1.0" and, when the build knows its commit, a
 * second line "version 0.1.0+g<commit>" (bn_version(), as in every JSON output). */
void bn_cli_print_version(const char *tool);

/* JSON documents (docs/json.md): every tool's JSON output opens with
 *   "tool"    the program ("bn-info"),
 *   "version" bn_version(), the same string as --version's,
 *   "schema"  the document's layout number (raised on an incompatible change),
 *   "input"   the input path as given (bytes that are not UTF-8: U+FFFD),
 * and writes a non-finite number (NaN, +-inf) as null. bn_cli_json_doc()
 * makes that object (NULL when out of memory). bn_cli_json_adopt() moves
 * every member of body after it, in order, renaming the keys listed in
 * renames ({"old", "new", ..., NULL}; a NULL new name drops the member),
 * and deletes body. 0 ok, -1 out of memory (doc is then incomplete). */
struct cJSON;
struct cJSON *bn_cli_json_doc(const char *tool, int schema, const char *input);
int bn_cli_json_adopt(struct cJSON *doc, struct cJSON *body, const char *const *renames);

/* SIGINT/SIGTERM/SIGHUP: unlink every registered temp output, then die of the
 * signal (so the exit status says what happened). SIGBUS (a mapped input
 * truncated under us): unlink them, one line on stderr, exit 2. */
void bn_cli_install_signal_cleanup(void);

/* Strict parsers: the whole string must be a number in range. 0 ok, -1 bad. */
int bn_cli_parse_int(const char *s, long lo, long hi, long *out);
int bn_cli_parse_double(const char *s, double *out);

/* The command line as one shell-quotable string ("bn-quant --report 'a b.html' IN"),
 * into buf (truncated with "..." past cap). */
const char *bn_cli_command_line(int argc, char **argv, char *buf, size_t cap);

/* Peak resident memory of this process so far, in MB (10^6 bytes; 0 if unknown). */
double bn_cli_peak_rss_mb(void);

#endif
