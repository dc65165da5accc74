/* suppress.c: typed suppressions, counted. */
#include "suppress.h"

#include <ctype.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depot.h"
#include "memory.h"
#include "text.h"

typedef struct suppression {
    char *type;
    char *pattern;
    char *reason;
    uint64_t hits;
} suppression;

/* table_lock guards the table and every count. */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static suppression *table;
static size_t ntable, captable;

static bool type_exists(const char *type)
{
    if (!strcmp(type, "race") || !strcmp(type, "pool") || !strcmp(type, "thread"))
        return true;
    for (int k = CW_REPORT_CHECK_THEN_ACT; k <= CW_REPORT_THREAD_LEAK; k++)
        if (!strcmp(type, cw_report_kind_name((cw_report_kind)k)))
            return true;
    return false;
}

static bool type_covers(const char *type, cw_report_kind kind)
{
    if (!strcmp(type, cw_report_kind_name(kind)))
        return true;
    if (!strcmp(type, "race"))
        return cw_report_kind_is_race(kind);
    if (!strcmp(type, "thread"))
        return kind == CW_REPORT_THREAD_LEAK;
    if (!strcmp(type, "pool"))
        return !cw_report_kind_is_race(kind) && kind != CW_REPORT_THREAD_LEAK;
    return false;
}

static int add_one(const char *type, const char *pattern, const char *reason, char *err,
                   size_t err_size)
{
    if (!type_exists(type)) {
        snprintf(err, err_size, "unknown suppression type '%s' (want race, pool, thread or a category)",
                 type);
        return -1;
    }
    if (pattern == NULL || *pattern == '\0') {
        snprintf(err, err_size, "suppression of type '%s' has no pattern", type);
        return -1;
    }
    pthread_mutex_lock(&table_lock);
    int rc = 0;
    if (ntable == captable) {
        size_t cap = captable ? captable * 2 : 16;
        suppression *t = cw_realloc(CW_MEM_MISC, table, cap * sizeof(*t));
        if (t == NULL) {
            rc = -1;
            snprintf(err, err_size, "out of memory adding a suppression");
            goto out;
        }
        table = t;
        captable = cap;
    }
    suppression s = {cw_strdup(CW_MEM_MISC, type), cw_strdup(CW_MEM_MISC, pattern),
                     cw_strdup(CW_MEM_MISC, reason ? reason : ""), 0};
    if (s.type == NULL || s.pattern == NULL || s.reason == NULL) {
        cw_free(s.type);
        cw_free(s.pattern);
        cw_free(s.reason);
        snprintf(err, err_size, "out of memory adding a suppression");
        rc = -1;
        goto out;
    }
    table[ntable++] = s;
out:
    pthread_mutex_unlock(&table_lock);
    return rc;
}

int cw_suppress_add(const char *type, const char *pattern, const char *reason, char *err,
                    size_t err_size)
{
    int rc = add_one(type, pattern, reason, err, err_size);
    if (rc < 0)
        cw_text_printable(err, err_size);
    return rc;
}

/* Drop the suppressions past the first n. */
static void truncate_table(size_t n)
{
    pthread_mutex_lock(&table_lock);
    while (ntable > n) {
        suppression *s = &table[--ntable];
        cw_free(s->type);
        cw_free(s->pattern);
        cw_free(s->reason);
    }
    pthread_mutex_unlock(&table_lock);
}

static int parse_lines(const char *text, const char *origin, char *err, size_t err_size)
{
    int lineno = 0;
    const char *p = text;
    while (*p) {
        lineno++;
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char line[1024];
        if (len >= sizeof(line)) {
            snprintf(err, err_size, "%s:%d: line too long", origin, lineno);
            return -1;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        p = end ? end + 1 : p + len;
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (*s == '\0' || *s == '#')
            continue;
        char *colon = strchr(s, ':');
        if (colon == NULL || colon == s) {
            snprintf(err, err_size, "%s:%d: bad suppression '%s' (want TYPE:PATTERN)", origin,
                     lineno, s);
            return -1;
        }
        *colon = '\0';
        char *pattern = colon + 1; /* "race: foo" means "race:foo" */
        while (isspace((unsigned char)*pattern))
            pattern++;
        for (char *t = colon; t > s && isspace((unsigned char)t[-1]);)
            *--t = '\0';
        char sub[256];
        if (add_one(s, pattern, "", sub, sizeof(sub)) < 0) {
            snprintf(err, err_size, "%s:%d: %s", origin, lineno, sub);
            return -1;
        }
    }
    return 0;
}

int cw_suppress_parse(const char *text, const char *origin, char *err, size_t err_size)
{
    size_t before = cw_suppress_count();
    int rc = parse_lines(text, origin, err, err_size);
    if (rc < 0) {
        truncate_table(before); /* all of a file or none of it */
        cw_text_printable(err, err_size);
    }
    return rc;
}

static bool text_matches(const char *pattern, const char *text)
{
    return text != NULL && *text && fnmatch(pattern, text, 0) == 0;
}

static bool stack_matches(const char *pattern, cw_stack_id id)
{
    uint32_t n;
    const cw_frame *f = cw_depot_get(id, &n);
    for (uint32_t i = 0; i < n; i++)
        if (text_matches(pattern, cw_str_get(f[i].function)) ||
            text_matches(pattern, cw_str_get(f[i].file)))
            return true;
    return false;
}

static bool report_matches(const char *pattern, const cw_report *r)
{
    if (text_matches(pattern, cw_str_get(r->target)))
        return true;
    cw_stack_id stacks[4 + CW_REPORT_SECTIONS];
    size_t n = 0;
    stacks[n++] = r->cur.stack;
    stacks[n++] = r->cur.check_stack;
    stacks[n++] = r->prev.stack;
    stacks[n++] = r->prev.check_stack;
    for (uint32_t i = 0; i < r->nsections; i++)
        stacks[n++] = r->sections[i].stack;
    for (size_t i = 0; i < n; i++)
        if (stacks[i] && stack_matches(pattern, stacks[i]))
            return true;
    return false;
}

uint32_t cw_suppress_match(const cw_report *r)
{
    uint32_t which = 0;
    pthread_mutex_lock(&table_lock);
    for (size_t i = 0; i < ntable && !which; i++) {
        if (type_covers(table[i].type, r->kind) && report_matches(table[i].pattern, r)) {
            table[i].hits++;
            which = (uint32_t)i + 1;
        }
    }
    pthread_mutex_unlock(&table_lock);
    return which;
}

size_t cw_suppress_count(void)
{
    pthread_mutex_lock(&table_lock);
    size_t n = ntable;
    pthread_mutex_unlock(&table_lock);
    return n;
}

bool cw_suppress_get(size_t i, const char **type, const char **pattern, const char **reason,
                     uint64_t *hits)
{
    pthread_mutex_lock(&table_lock);
    bool ok = i < ntable;
    if (ok) {
        *type = table[i].type;
        *pattern = table[i].pattern;
        *reason = table[i].reason;
        *hits = table[i].hits;
    }
    pthread_mutex_unlock(&table_lock);
    return ok;
}

void cw_suppress_clear(void)
{
    pthread_mutex_lock(&table_lock);
    for (size_t i = 0; i < ntable; i++) {
        cw_free(table[i].type);
        cw_free(table[i].pattern);
        cw_free(table[i].reason);
    }
    cw_free(table);
    table = NULL;
    ntable = captable = 0;
    pthread_mutex_unlock(&table_lock);
}
