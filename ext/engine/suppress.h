/* suppress.h: typed suppressions, counted.
 *
 * A line `TYPE:PATTERN` (as in ThreadSanitizer's suppression files) hides
 * every finding of that type whose target, or a function or file of any of
 * its stacks, matches PATTERN (fnmatch wildcards * ? [..]). TYPE is race,
 * pool or thread, or one category (check-then-act, unbounded-pool, ...).
 * Each suppression counts its matches so a summary can say which matched
 * and which never did. Guarded by its own lock. */
#ifndef CW_SUPPRESS_H
#define CW_SUPPRESS_H

#include <stddef.h>

#include "report.h"

/* Add one; returns -1 with a message for a type that does not exist. */
int cw_suppress_add(const char *type, const char *pattern, const char *reason, char *err,
                    size_t err_size);
/* Parse text (lines; # comments; blank lines). On error -1 and a message
 * naming the line, and none of its lines is added. */
int cw_suppress_parse(const char *text, const char *origin, char *err, size_t err_size);
/* Which suppression hides this report: 1 + its index (cw_suppress_get), 0
 * for none. Counts the match. */
uint32_t cw_suppress_match(const cw_report *r);
size_t cw_suppress_count(void);
/* Copy one out (strings stay owned by the table); false past the end. */
bool cw_suppress_get(size_t i, const char **type, const char **pattern, const char **reason,
                     uint64_t *hits);
void cw_suppress_clear(void);

#endif
