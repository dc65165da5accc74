/* linear_re.h: regular expressions matched in time linear in the text.
 *
 * The `redact` option runs over text a user's program chose (keys holding
 * URLs, SQL, request bodies). A backtracking or per-start-position matcher
 * takes time quadratic or worse in that text; RE2's automata take time
 * linear in it, whatever the pattern. Syntax is POSIX extended (as RE2's
 * posix_syntax mode reads it: no back-references, no [=a=] or [.a.]);
 * matches are leftmost-longest, as POSIX regexec's. Thread-safe; the engine
 * still calls it under its own lock. */
#ifndef CW_LINEAR_RE_H
#define CW_LINEAR_RE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cw_re cw_re;

/* Compile pattern; NULL with the reason in err when it is not valid (or
 * memory ran out). */
cw_re *cw_re_compile(const char *pattern, char *err, size_t err_size);
/* The leftmost-longest match in text[from, len), where text[0] is the start
 * of the whole text (so ^ never matches at from > 0): 1 and its bounds, 0
 * when there is none, -1 when the matcher failed (no memory). */
int cw_re_find(const cw_re *re, const char *text, size_t len, size_t from, size_t *start,
               size_t *end);
void cw_re_free(cw_re *re);

#ifdef __cplusplus
}
#endif

#endif
