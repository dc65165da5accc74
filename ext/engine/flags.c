/* flags.c: defaults, parsing and validation of the options in flags.inc. */
#include "flags.h"

#include "memory.h"
#include "redact.h"
#include "report.h"
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CW_STRINGIFY(x) #x

const cw_flag_desc cw_flag_table[] = {
#define CW_FLAG(type, name, def, help) {#name, CW_FLAG_TYPE_OF_##type, CW_STRINGIFY(def), help},
#define CW_FLAG_TYPE_OF_bool CW_FLAG_BOOL
#define CW_FLAG_TYPE_OF_int CW_FLAG_INT
#define CW_FLAG_TYPE_OF_str CW_FLAG_STR
#include "flags.inc"
#undef CW_FLAG
};
const size_t cw_flag_count = sizeof(cw_flag_table) / sizeof(cw_flag_table[0]);

static int set_str(char **slot, const char *value)
{
    char *copy = cw_strdup(CW_MEM_MISC, value ? value : "");
    if (copy == NULL)
        return -1;
    cw_free(*slot);
    *slot = copy;
    return 0;
}

int cw_flags_set_defaults(cw_flags *f)
{
    memset(f, 0, sizeof(*f));
#define CW_FLAG_DEFAULT_bool(name, def) f->name = (def);
#define CW_FLAG_DEFAULT_int(name, def) f->name = (def);
#define CW_FLAG_DEFAULT_str(name, def) if (set_str(&f->name, def) < 0) return -1;
#define CW_FLAG(type, name, def, help) CW_FLAG_DEFAULT_##type(name, def)
#include "flags.inc"
#undef CW_FLAG
    return 0;
}

void cw_flags_free(cw_flags *f)
{
#define CW_FLAG_FREE_bool(name)
#define CW_FLAG_FREE_int(name)
#define CW_FLAG_FREE_str(name) cw_free(f->name); f->name = NULL;
#define CW_FLAG(type, name, def, help) CW_FLAG_FREE_##type(name)
#include "flags.inc"
#undef CW_FLAG
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
        *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int parse_int(const char *v, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end != '\0')
        return -1;
    *out = x;
    return 0;
}

static int set_one(cw_flags *f, const char *name, const char *value, char *err,
                   size_t err_size)
{
#define CW_FLAG_SET_bool(fname)                                                     \
    if (parse_bool(value, &f->fname) < 0) {                                         \
        snprintf(err, err_size, "option '%s' wants 0 or 1, got '%s'", name, value); \
        return -1;                                                                  \
    }
#define CW_FLAG_SET_int(fname)                                                      \
    if (parse_int(value, &f->fname) < 0) {                                          \
        snprintf(err, err_size, "option '%s' wants a number, got '%s'", name, value); \
        return -1;                                                                  \
    }
#define CW_FLAG_SET_str(fname)                                                      \
    if (set_str(&f->fname, value) < 0) {                                            \
        snprintf(err, err_size, "out of memory setting option '%s'", name);         \
        return -1;                                                                  \
    }
#define CW_FLAG(type, fname, def, help)   \
    if (strcmp(name, #fname) == 0) {      \
        CW_FLAG_SET_##type(fname) return 0; \
    }
#include "flags.inc"
#undef CW_FLAG
    snprintf(err, err_size, "unknown option '%s'", name);
    return -1;
}

int cw_flags_set(cw_flags *f, const char *name, const char *value, char *err,
                 size_t err_size)
{
    int rc = set_one(f, name, value, err, err_size);
    if (rc < 0)
        cw_text_printable(err, err_size);
    return rc;
}

static int parse_words(cw_flags *f, const char *text, char *err, size_t err_size)
{
    const char *p = text ? text : "";
    char name[128], value[CW_FLAG_STR_MAX];
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            return 0;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        size_t len = (size_t)(p - start);
        const char *eq = memchr(start, '=', len);
        if (eq == NULL || eq == start) {
            snprintf(err, err_size, "malformed option '%.*s' (want name=value)", (int)len, start);
            return -1;
        }
        size_t nlen = (size_t)(eq - start), vlen = len - nlen - 1;
        if (nlen >= sizeof(name) || vlen >= sizeof(value)) {
            snprintf(err, err_size, "option '%.*s' is too long",
                     (int)cw_text_cut(start, nlen < 64 ? nlen : 64), start);
            return -1;
        }
        memcpy(name, start, nlen);
        name[nlen] = '\0';
        memcpy(value, eq + 1, vlen);
        value[vlen] = '\0';
        if (set_one(f, name, value, err, err_size) < 0)
            return -1;
    }
}

int cw_flags_parse(cw_flags *f, const char *text, char *err, size_t err_size)
{
    int rc = parse_words(f, text, err, err_size);
    if (rc < 0)
        cw_text_printable(err, err_size);
    return rc;
}

/* Is every comma-separated word of fail_on a category or a group? */
static int validate_fail_on(const char *text, char *err, size_t err_size)
{
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        bool ok = len == 0;
        static const char *groups[] = {"all", "race", "pool", "thread"};
        for (size_t g = 0; g < 4 && !ok; g++)
            ok = strlen(groups[g]) == len && strncmp(groups[g], p, len) == 0;
        for (int k = CW_REPORT_CHECK_THEN_ACT; k <= CW_REPORT_THREAD_LEAK && !ok; k++) {
            const char *name = cw_report_kind_name((cw_report_kind)k);
            ok = strlen(name) == len && strncmp(name, p, len) == 0;
        }
        if (!ok) {
            snprintf(err, err_size, "option 'fail_on' has no category '%.*s' (want categories, "
                     "race, pool, thread or all)", (int)len, p);
            return -1;
        }
        p = end ? end + 1 : p + len;
    }
    return 0;
}

static int check_values(const cw_flags *f, char *err, size_t err_size)
{
    if (f->fail_on && validate_fail_on(f->fail_on, err, err_size) < 0)
        return -1;
    if (f->exitcode < 0 || f->exitcode > 255) {
        snprintf(err, err_size, "option 'exitcode' must be 0-255, got %ld", f->exitcode);
        return -1;
    }
    if (f->max_frames < 1 || f->max_frames > 256) {
        snprintf(err, err_size, "option 'max_frames' must be 1-256, got %ld", f->max_frames);
        return -1;
    }
    if (f->history_size < 2 || f->history_size > 16) {
        snprintf(err, err_size, "option 'history_size' must be 2-16, got %ld", f->history_size);
        return -1;
    }
    if (f->shadow_memory_mb < 0 || f->shadow_memory_mb > (1L << 20)) {
        snprintf(err, err_size, "option 'shadow_memory_mb' must be 0-1048576, got %ld",
                 f->shadow_memory_mb);
        return -1;
    }
    if (f->max_reports < 1) {
        snprintf(err, err_size, "option 'max_reports' must be at least 1, got %ld", f->max_reports);
        return -1;
    }
    if (f->report_signal < 0 || f->report_signal > 64) {
        snprintf(err, err_size, "option 'report_signal' must be 0-64, got %ld", f->report_signal);
        return -1;
    }
    if (f->report_interval_s < 0 || f->report_interval_s > 31L * 86400) {
        snprintf(err, err_size, "option 'report_interval_s' must be 0-2678400 (31 days), got %ld",
                 f->report_interval_s);
        return -1;
    }
    if (f->pool_backlog < 1) {
        snprintf(err, err_size, "option 'pool_backlog' must be at least 1, got %ld", f->pool_backlog);
        return -1;
    }
    if (f->executor_leak_count < 2) {
        snprintf(err, err_size, "option 'executor_leak_count' must be at least 2, got %ld",
                 f->executor_leak_count);
        return -1;
    }
    /* Times become Python timeouts: past a day they are mistakes, and far
     * past it they overflow. */
    const struct { const char *name; long value; } times[] = {
        {"pool_wait_ms", f->pool_wait_ms},
        {"abandoned_ms", f->abandoned_ms},
        {"thread_leak_grace_ms", f->thread_leak_grace_ms},
    };
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        if (times[i].value < 0 || times[i].value > 86400000L) {
            snprintf(err, err_size, "option '%s' must be 0-86400000 (a day), got %ld",
                     times[i].name, times[i].value);
            return -1;
        }
    }
    if (f->key_repr_max < 16 || f->key_repr_max > 4096) {
        snprintf(err, err_size, "option 'key_repr_max' must be 16-4096, got %ld", f->key_repr_max);
        return -1;
    }
    if (cw_redact_check(f->redact, err, err_size) < 0)
        return -1;
    return 0;
}

int cw_flags_validate(const cw_flags *f, char *err, size_t err_size)
{
    int rc = check_values(f, err, err_size);
    if (rc < 0)
        cw_text_printable(err, err_size);
    return rc;
}
