/* fuzz_suppress.c: arbitrary bytes as a suppressions file.
 *
 * cw_suppress_parse as runtime.c's load_suppressions calls it, then
 * cw_suppress_match against a fixed report whose category comes from the
 * input's length. Checked for every input:
 *  - no crash, no ASan/UBSan error, no leak (engine memory back where it
 *    was after cw_suppress_clear; LeakSanitizer at exit);
 *  - an error is a non-empty single line, NUL-terminated within err_size,
 *    "known.txt:N: ..." with N the number of a line of the input, and names
 *    what was wrong: "line too long" or a quoted, non-empty part of line N;
 *  - a bad file adds nothing; on success one suppression per
 *    line that is neither blank nor a # comment, each of an existing type
 *    with a non-empty pattern;
 *  - parsing the same text twice gives the same result and table;
 *  - a match is counted on exactly one suppression, of a type covering the
 *    report's category and whose pattern matches the target or a function or
 *    file of its stacks; no match means no suppression was such (checked
 *    with fnmatch against the report's strings, independently of
 *    suppress.c's own walk).
 * An input starting with byte 0x01 makes the (next byte)th engine
 * allocation fail. */
#include <ctype.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depot.h"
#include "memory.h"
#include "report.h"
#include "suppress.h"

#include "fuzz_common.h"

#define ERR_SIZE 512 /* as runtime.c */
#define ORIGIN "known.txt"

static const char *report_strings[] = {
    "myapp.cache.CACHE", "fill", "/srv/myapp/cache.py", "<module>", "main.py", "Thread.run",
    "/usr/lib/python3.11/threading.py",
};
static cw_stack_id stack_a, stack_b;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (cw_depot_init() < 0)
        abort();
    cw_frame a[2] = {{0x1000, 6, 7, cw_str_intern("/srv/myapp/cache.py"), cw_str_intern("fill")},
                     {0x2000, 2, 1, cw_str_intern("main.py"), cw_str_intern("<module>")}};
    cw_frame b[2] = {{0x3000, 8, 9, cw_str_intern("/srv/myapp/cache.py"), cw_str_intern("fill")},
                     {0x4000, 4, 982, cw_str_intern("/usr/lib/python3.11/threading.py"),
                      cw_str_intern("Thread.run")}};
    stack_a = cw_depot_put(a, 2);
    stack_b = cw_depot_put(b, 2);
    (void)cw_str_intern("myapp.cache.CACHE");
    if (stack_a == 0 || stack_b == 0)
        abort();
    return 0;
}

static void make_report(cw_report *r, cw_report_kind kind)
{
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->target = cw_str_intern("myapp.cache.CACHE");
    r->cur.stack = stack_a;
    r->prev.stack = stack_b;
    if (!cw_report_kind_is_race(kind)) {
        r->sections[0].stack = stack_b;
        r->nsections = 1;
    }
}

/* Written from the README, not from suppress.c. */
static bool covers(const char *type, cw_report_kind kind)
{
    static const char *names[] = {"check-then-act", "write-write", "iteration", "lost-update",
                                  "unbounded-pool", "executor-leak", "abandoned-task",
                                  "thread-leak"};
    static const char *group[] = {"race", "race", "race", "race", "pool", "pool", "pool",
                                  "thread"};
    return strcmp(type, names[kind]) == 0 || strcmp(type, group[kind]) == 0;
}

static bool type_is_known(const char *type)
{
    for (int k = 0; k <= CW_REPORT_THREAD_LEAK; k++)
        if (covers(type, (cw_report_kind)k))
            return true;
    return false;
}

static bool pattern_hits_report(const char *pattern)
{
    for (size_t i = 0; i < sizeof(report_strings) / sizeof(report_strings[0]); i++)
        if (fnmatch(pattern, report_strings[i], 0) == 0)
            return true;
    return false;
}

/* Line n (1-based) of text, or NULL; *count gets the number of lines. */
static char *line_of(const char *text, long n, long *count)
{
    long i = 0;
    char *found = NULL;
    const char *p = text;
    while (*p) {
        i++;
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (i == n)
            found = strndup(p, len);
        p = end ? end + 1 : p + len;
    }
    *count = i;
    return found;
}

static bool is_content(const char *line)
{
    while (isspace((unsigned char)*line))
        line++;
    return *line != '\0' && *line != '#';
}

/* Suppressions made from lines 1..upto (all when upto < 0) of text. */
static long content_lines(const char *text, long upto)
{
    long i = 0, n = 0;
    const char *p = text;
    while (*p && (upto < 0 || i < upto)) {
        i++;
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *line = strndup(p, len);
        n += is_content(line);
        free(line);
        p = end ? end + 1 : p + len;
    }
    return n;
}

/* Parse into an empty table; the table is left for the caller to read. */
static int parse(const char *text, char *err, size_t err_size)
{
    cw_suppress_clear();
    memset(err, 'Z', err_size);
    return cw_suppress_parse(text, ORIGIN, err, err_size);
}

typedef struct entry {
    char *type, *pattern;
} entry;

static size_t snapshot(entry **out)
{
    size_t n = cw_suppress_count();
    entry *e = calloc(n + 1, sizeof(*e));
    const char *type, *pattern, *reason;
    uint64_t hits;
    for (size_t i = 0; i < n && cw_suppress_get(i, &type, &pattern, &reason, &hits); i++) {
        e[i].type = strdup(type);
        e[i].pattern = strdup(pattern);
    }
    *out = e;
    return n;
}

static void free_snapshot(entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].type);
        free(e[i].pattern);
    }
    free(e);
}

static void check_error(const char *text, const char *err)
{
    /* "known.txt:N: what" */
    FUZZ_CHECK(strncmp(err, ORIGIN ":", sizeof(ORIGIN)) == 0, "error does not name the file", err,
               text);
    char *after;
    long n = strtol(err + sizeof(ORIGIN), &after, 10);
    FUZZ_CHECK(after != err + sizeof(ORIGIN) && strncmp(after, ": ", 2) == 0,
               "error does not name the line", err, text);
    long nlines;
    char *line = line_of(text, n, &nlines);
    FUZZ_CHECK(n >= 1 && n <= nlines && line != NULL, "error names a line that is not there", err,
               text);
    const char *what = after + 2;
    if (strcmp(what, "line too long") == 0) {
        FUZZ_CHECK(strlen(line) >= 1024, "short line called too long", err, text);
    } else if (strncmp(what, "out of memory", 13) != 0) {
        FUZZ_CHECK(quotes_input(what, line), "error quotes no part of its line", err, text);
    }
    /* A file is taken whole or not at all. */
    FUZZ_CHECK(cw_suppress_count() == 0, "lines of a bad file were added", err, text);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int oom = size >= 2 && data[0] == 0x01;
    char *text = oom ? fuzz_cstring(data + 2, size - 2) : fuzz_cstring(data, size);
    char err[ERR_SIZE], err2[ERR_SIZE];
    cw_suppress_clear();
    size_t before = cw_mem_total();

    if (oom) {
        cw_mem_fail_after(1 + data[1] % 16);
        int rc = parse(text, err, sizeof(err));
        cw_mem_fail_after(0);
        if (rc < 0)
            check_message(err, sizeof(err), text);
        cw_suppress_clear();
        FUZZ_CHECK(cw_mem_total() == before, "engine memory leaked (out-of-memory run)", "", text);
        free(text);
        return 0;
    }

    int rc = parse(text, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -1, "unexpected result", "", text);
    if (rc < 0) {
        check_message(err, sizeof(err), text);
        check_error(text, err);
    } else {
        FUZZ_CHECK((long)cw_suppress_count() == content_lines(text, -1),
                   "not one suppression per line", "", text);
    }
    entry *first;
    size_t nfirst = snapshot(&first);
    for (size_t i = 0; i < nfirst; i++) {
        FUZZ_CHECK(type_is_known(first[i].type), "a suppression of an unknown type was added",
                   first[i].type, text);
        FUZZ_CHECK(first[i].pattern[0] != '\0', "a suppression with no pattern was added",
                   first[i].type, text);
    }

    /* Same input, same result and table. */
    int rc2 = parse(text, err2, sizeof(err2));
    FUZZ_CHECK(rc2 == rc, "second parse gave another result", err2, text);
    FUZZ_CHECK(rc == 0 || strcmp(err, err2) == 0, "second parse gave another message", err2, text);
    entry *second;
    size_t nsecond = snapshot(&second);
    FUZZ_CHECK(nsecond == nfirst, "second parse gave another table", "", text);
    for (size_t i = 0; i < nfirst; i++)
        FUZZ_CHECK(!strcmp(first[i].type, second[i].type) &&
                       !strcmp(first[i].pattern, second[i].pattern),
                   "second parse gave another suppression", second[i].pattern, text);
    free_snapshot(second, nsecond);

    /* Match a report (category from the input's length). */
    cw_report r;
    cw_report_kind kind = (cw_report_kind)(size % (CW_REPORT_THREAD_LEAK + 1));
    make_report(&r, kind);
    bool hidden = cw_suppress_match(&r);
    bool should = false;
    for (size_t i = 0; i < nfirst && !should; i++)
        should = covers(first[i].type, kind) && pattern_hits_report(first[i].pattern);
    FUZZ_CHECK(hidden == should, hidden ? "a report was hidden by no suppression that covers it"
                                        : "a covering suppression did not hide a report",
               cw_report_kind_name(kind), text);
    uint64_t total = 0;
    for (size_t i = 0; i < nfirst; i++) {
        const char *type, *pattern, *reason;
        uint64_t hits;
        FUZZ_CHECK(cw_suppress_get(i, &type, &pattern, &reason, &hits), "suppression vanished", "",
                   text);
        FUZZ_CHECK(hits == 0 || (covers(type, kind) && pattern_hits_report(pattern)),
                   "a match counted on a suppression that does not match", pattern, text);
        total += hits;
    }
    FUZZ_CHECK(total == (hidden ? 1u : 0u), "a match was not counted exactly once", "", text);
    free_snapshot(first, nfirst);

    cw_suppress_clear();
    FUZZ_CHECK(cw_mem_total() == before, "engine memory leaked", "", text);
    free(text);
    return 0;
}
