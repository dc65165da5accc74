/* redact.h: secrets kept out of reports.
 *
 * A watched cache may be keyed by connection strings (Nova's CELL_CACHE holds
 * database URLs with passwords). Report text built from a key's repr passes
 * through cw_redact: every match of the `redact` option, a POSIX extended
 * regular expression, becomes <redacted>. One pattern is installed at a time,
 * behind its own lock, so installing and applying may come from any thread. */
#ifndef CW_REDACT_H
#define CW_REDACT_H

#include <stddef.h>

#define CW_REDACTED "<redacted>"

/* Is pattern a valid extended regular expression? "" (no redaction) is.
 * Else -1 with a one-line message naming the option. */
int cw_redact_check(const char *pattern, char *err, size_t err_size);
/* Install pattern ("" or NULL: redact nothing); -1 and a message if invalid,
 * and the previous pattern stays. */
int cw_redact_set(const char *pattern, char *err, size_t err_size);
/* Copy text to out with every match replaced, NUL-terminated and cut to fit
 * out_size (> 0); returns the length the whole result has, as snprintf. */
size_t cw_redact(const char *text, char *out, size_t out_size);

#endif
