/* cli.h - pieces every bntk main shares: signal cleanup of temp outputs,
 * strict number parsing, peak memory. Mains only; progress is progress.h. */
#ifndef BN_CLI_H
#define BN_CLI_H

#include <stddef.h>
#include <stdint.h>

#define BN_VERSION "0.1.0"

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
