/* cli.h - pieces every bntk main shares: signal cleanup of temp outputs,
 * progress lines on a terminal, strict number parsing. Mains only. */
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

/* Peak resident memory of this process so far, in MB (10^6 bytes; 0 if unknown). */
double bn_cli_peak_rss_mb(void);

/* Progress on stderr, redrawn in place, only when stderr is a terminal. */
typedef struct {
    int enabled;
    double t0;
    const char *what;
} bn_progress;
void bn_progress_init(bn_progress *p, const char *what, int quiet);
void bn_progress_update(bn_progress *p, size_t i, size_t n, const char *item, uint64_t bytes);
void bn_progress_done(bn_progress *p);

#endif
