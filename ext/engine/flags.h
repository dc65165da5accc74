/* flags.h: the cw_flags struct, generated from flags.inc. */
#ifndef CW_FLAGS_H
#define CW_FLAGS_H

#include <stddef.h>

#include "cw.h"

#define CW_FLAG_STR_MAX 1024

typedef enum cw_flag_type { CW_FLAG_BOOL, CW_FLAG_INT, CW_FLAG_STR } cw_flag_type;

#define CW_FLAG_CTYPE_bool int
#define CW_FLAG_CTYPE_int long
#define CW_FLAG_CTYPE_str char *

typedef struct cw_flags {
#define CW_FLAG(type, name, def, help) CW_FLAG_CTYPE_##type name;
#include "flags.inc"
#undef CW_FLAG
} cw_flags;

/* One row of the option table, for help text and the Python layer. */
typedef struct cw_flag_desc {
    const char *name;
    cw_flag_type type;
    const char *default_text;
    const char *help;
} cw_flag_desc;

extern const cw_flag_desc cw_flag_table[];
extern const size_t cw_flag_count;

/* Defaults; strings are owned by the struct (free with cw_flags_free). */
int cw_flags_set_defaults(cw_flags *f);
void cw_flags_free(cw_flags *f);
/* Parse "name=value name=value" (whitespace separated, TSAN_OPTIONS style)
 * over f. On error returns -1 with a one-line message in err naming the
 * option; f keeps the options parsed before the bad one. */
int cw_flags_parse(cw_flags *f, const char *text, char *err, size_t err_size);
/* Set one option from text. */
int cw_flags_set(cw_flags *f, const char *name, const char *value, char *err,
                 size_t err_size);
/* Check ranges after parsing. */
int cw_flags_validate(const cw_flags *f, char *err, size_t err_size);

#endif
