/* redact.h: secrets kept out of reports.
 *
 * A watched cache may be keyed by connection strings (Nova's CELL_CACHE holds
 * database URLs with passwords). Report text built from a key's repr passes
 * through cw_redact: every match of the `redact` option, a POSIX extended
 * regular expression matched in linear time (linear_re.h), becomes
 * <redacted>. One pattern is installed at a time, behind its own lock, so
 * installing and applying may come from any thread. */
#ifndef CW_REDACT_H
#define CW_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#define CW_REDACTED "<redacted>"

/* cw_redact_cut reads this many bytes past the cut, so that a secret that
 * starts before the cut and ends within the margin is still matched whole
 * (and hidden) before the text is cut. */
#define CW_REDACT_MARGIN 512

/* Is pattern a valid extended regular expression? "" (no redaction) is.
 * Else -1 with a one-line message naming the option. */
int cw_redact_check(const char *pattern, char *err, size_t err_size);
/* Install pattern ("" or NULL: redact nothing); -1 and a message if invalid,
 * and the previous pattern stays. */
int cw_redact_set(const char *pattern, char *err, size_t err_size);
/* Copy text[0, len) to out with every match replaced, NUL-terminated and cut
 * to fit out_size (> 0); returns the length the whole result has, as
 * snprintf. If the matcher fails, everything from there on is replaced. */
size_t cw_redact(const char *text, size_t len, char *out, size_t out_size);
/* Redact at most max + CW_REDACT_MARGIN bytes of text[0, len) and cut the
 * result to at most max bytes, between UTF-8 characters; *cut tells whether
 * anything was left out. Work is linear in max, whatever len is. Returns the
 * length written to out (which must hold max + 1 bytes). */
size_t cw_redact_cut(const char *text, size_t len, size_t max, char *out, bool *cut);

#endif
