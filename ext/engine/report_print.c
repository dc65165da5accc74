/* report_print.c: render a report the way ThreadSanitizer does. */
#include "report_print.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "depot.h"
#include "lockset.h"
#include "text.h"
#include "thread.h"

static cw_str_id library_files[CW_LIBRARY_FILES];
static size_t nlibrary_files;

void cw_report_set_library_files(const char *const *files, size_t n)
{
    nlibrary_files = 0;
    for (size_t i = 0; i < n && nlibrary_files < CW_LIBRARY_FILES; i++)
        library_files[nlibrary_files++] = cw_str_intern(files[i]);
}

static bool is_library_frame(const cw_frame *f)
{
    for (size_t i = 0; i < nlibrary_files; i++) {
        if (f->file == library_files[i])
            return true;
        /* A directory (ending in '/'): every file under it. */
        const char *lib = cw_str_get(library_files[i]);
        size_t len = strlen(lib);
        if (len > 0 && lib[len - 1] == '/' && strncmp(cw_str_get(f->file), lib, len) == 0)
            return true;
    }
    return false;
}

typedef struct out {
    char *buf;
    size_t size, len;
    char cwd[1024]; /* paths under it are shown relative to it */
    size_t cwd_len;
} out;

static void out_init(out *o, char *buf, size_t size)
{
    o->buf = buf;
    o->size = size;
    o->len = 0;
    if (size)
        buf[0] = '\0';
    o->cwd_len = getcwd(o->cwd, sizeof(o->cwd)) != NULL ? strlen(o->cwd) : 0;
}

/* A file as a terminal or editor opens it from here: relative when under
 * the current directory. */
static const char *shown_path(const out *o, const char *file)
{
    if (o->cwd_len > 1 && strncmp(file, o->cwd, o->cwd_len) == 0 && file[o->cwd_len] == '/')
        return file + o->cwd_len + 1;
    return file;
}

static void put(out *o, const char *fmt, ...)
{
    if (o->len + 1 >= o->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n < o->size - o->len ? (size_t)n : o->size - o->len - 1;
}

/* Line n (1-based) of a source file, stripped, one printable line; false
 * when it cannot be read ("<frozen ...>", a file gone). Read when a report
 * is shown, as Python's tracebacks read theirs. */
static bool source_line(const char *path, int n, char *buf, size_t size)
{
    if (path[0] == '<' || n <= 0 || size < 2)
        return false;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    bool found = false;
    int at = 1;
    char chunk[512];
    bool line_start = true;
    while (!found && at <= n && fgets(chunk, sizeof(chunk), f) != NULL) {
        size_t len = strlen(chunk);
        bool ends = len > 0 && chunk[len - 1] == '\n';
        if (at == n && line_start) {
            const char *t = chunk;
            while (*t == ' ' || *t == '\t')
                t++;
            size_t m = strlen(t) < size - 1 ? strlen(t) : size - 1;
            memcpy(buf, t, m);
            buf[m] = '\0';
            while (m > 0 && (buf[m - 1] == '\n' || buf[m - 1] == '\r' || buf[m - 1] == ' '))
                buf[--m] = '\0';
            found = m > 0;
        }
        line_start = ends;
        if (ends)
            at++;
    }
    fclose(f);
    if (found)
        cw_text_printable(buf, size);
    return found;
}

static void put_frame(out *o, uint32_t i, const cw_frame *f)
{
    const char *fn = cw_str_get(f->function);
    const char *file = cw_str_get(f->file);
    if (f->offset == CW_FRAME_NATIVE) {
        put(o, "    #%u %s (%s+0x%lx) [native]\n", i, *fn ? fn : "??", *file ? file : "??",
            (unsigned long)f->line);
        return;
    }
    put(o, "    #%u %s %s:%d\n", i, *fn ? fn : "<module>", shown_path(o, file), f->line);
    char text[160];
    if (source_line(file, f->line, text, sizeof(text)))
        put(o, "        %s\n", text);
}

static void put_stack(out *o, cw_stack_id id, uint32_t limit)
{
    uint32_t n;
    const cw_frame *f = cw_depot_get(id, &n);
    if (n == 0) {
        put(o, "    <no stack>\n");
        return;
    }
    for (uint32_t i = 0; i < n && i < limit; i++)
        put_frame(o, i, &f[i]);
}

static const char *lock_kind_name(cw_lock_kind k)
{
    switch (k) {
    case CW_LOCK_LOCK:
        return "Lock";
    case CW_LOCK_RLOCK:
        return "RLock";
    case CW_LOCK_SEMAPHORE:
        return "Semaphore";
    case CW_LOCK_OTHER:
        return "lock";
    }
    return "lock";
}

static void put_locks(out *o, cw_lockset_id locks)
{
    uint32_t n;
    const cw_lock_id *ids = cw_lockset_get(locks, &n);
    if (n == 0) {
        put(o, "    Locks held: none\n");
        return;
    }
    put(o, "    Locks held:\n");
    for (uint32_t i = 0; i < n; i++) {
        cw_lockinfo li;
        if (!cw_lockinfo_get(ids[i], &li)) {
            put(o, "      lock L%llu\n", (unsigned long long)ids[i]);
            continue;
        }
        uint32_t nf;
        const cw_frame *f = cw_depot_get(li.role_stack, &nf);
        if (nf)
            put(o, "      L%llu %s, first acquired in %s %s:%d\n", (unsigned long long)li.id,
                lock_kind_name(li.kind), cw_str_get(f[0].function), cw_str_get(f[0].file),
                f[0].line);
        else
            put(o, "      L%llu %s\n", (unsigned long long)li.id, lock_kind_name(li.kind));
    }
}

static const char *verb(const cw_report *r, const cw_report_access *a)
{
    if (a->op == CW_OP_ITER)
        return "Iteration";
    if (a->write)
        return "Write";
    /* A read in a check-then-act race is a check some write may act on. */
    return r->kind == CW_REPORT_CHECK_THEN_ACT ? "Check" : "Read";
}

static void put_thread_ref(out *o, const cw_report_access *a)
{
    if (a->thread_name[0])
        put(o, "thread T%u '%s'", a->tid, a->thread_name);
    else
        put(o, "thread T%u", a->tid);
}

static void put_access(out *o, const cw_report *r, const char *prefix, const cw_report_access *a)
{
    put(o, "  %s%s (%s) by ", prefix, verb(r, a), cw_op_name(a->op));
    put_thread_ref(o, a);
    put(o, ":\n");
    put_stack(o, a->stack, 64);
    put_locks(o, a->locks);
    if (a->check_stack) {
        uint32_t n;
        const cw_frame *f = cw_depot_get(a->check_stack, &n);
        put(o, "    acting on the check (%s) earlier in the same call:\n", cw_op_name(a->check_op));
        if (n)
            put_frame(o, 0, &f[0]);
    }
}

/* The one line saying what to do; for a check acted on, where. */
static void put_hint(out *o, const cw_report *r)
{
    put(o, "  Hint: %s", cw_report_kind_hint(r->kind));
    const cw_report_access *acts[2] = {&r->cur, &r->prev};
    for (int i = 0; i < 2; i++) {
        uint32_t nc, na;
        const cw_frame *c = acts[i]->check_stack ? cw_depot_get(acts[i]->check_stack, &nc) : NULL;
        const cw_frame *a = acts[i]->stack ? cw_depot_get(acts[i]->stack, &na) : NULL;
        if (c != NULL && a != NULL && nc && na && c[0].file == a[0].file && c[0].line != a[0].line) {
            put(o, "; here lines %d-%d", c[0].line < a[0].line ? c[0].line : a[0].line,
                c[0].line < a[0].line ? a[0].line : c[0].line);
            break;
        }
    }
    put(o, "\n");
}

static void put_thread(out *o, cw_tid tid, const char *name)
{
    cw_thread *t = cw_thread_get(tid);
    if (t == NULL)
        return;
    put(o, "  Thread T%u", tid);
    if (name[0])
        put(o, " '%s'", name);
    if (t->created_at == 0) {
        put(o, t->parent ? " (created where no stack was seen)\n" : " (not started under cachewatch)\n");
        return;
    }
    put(o, " created by T%u at:\n", t->parent);
    put_stack(o, t->created_at, 64);
}

/* A finding that is not a race: what, the numbers, the stacks that explain it. */
static size_t format_finding(const cw_report *r, int pid, out *o)
{
    const char *target = cw_str_get(r->target);
    const char *kind = cw_report_kind_name(r->kind);
    put(o, "==================\n");
    put(o, "WARNING: cachewatch: %s: %s (pid=%d)\n", kind, target, pid);
    if (r->detail)
        put(o, "  %s\n", cw_str_get(r->detail));
    if (r->nfacts) {
        put(o, " ");
        for (uint32_t i = 0; i < r->nfacts; i++)
            put(o, " %s=%lld", cw_str_get(r->facts[i].name), (long long)r->facts[i].value);
        put(o, "\n");
    }
    for (uint32_t i = 0; i < r->nsections; i++) {
        const cw_report_section *s = &r->sections[i];
        put(o, "  %s", cw_str_get(s->title));
        if (s->tid) {
            char name[CW_NAME_MAX];
            cw_thread_name(s->tid, name, sizeof(name));
            put(o, " (thread T%u '%s')", s->tid, name);
        }
        put(o, ":\n");
        put_stack(o, s->stack, 64);
    }
    put_hint(o, r);
    put(o, "SUMMARY: cachewatch: %s %s", kind, target);
    uint32_t n = 0;
    const cw_frame *f = r->nsections ? cw_depot_get(r->sections[0].stack, &n) : NULL;
    uint32_t first = 0;
    while (first + 1 < n && is_library_frame(&f[first]))
        first++;
    if (n)
        put(o, " %s:%d in %s", shown_path(o, cw_str_get(f[first].file)), f[first].line,
            cw_str_get(f[first].function));
    put(o, "\n==================\n");
    return o->len;
}

size_t cw_report_format(const cw_report *r, int pid, char *buf, size_t size)
{
    out o;
    out_init(&o, buf, size);
    if (!cw_report_kind_is_race(r->kind))
        return format_finding(r, pid, &o);
    const char *target = cw_str_get(r->target);
    const char *kind = cw_report_kind_name(r->kind);
    put(&o, "==================\n");
    put(&o, "WARNING: cachewatch: %s race on %s (pid=%d)\n", kind, target, pid);
    /* Seen at more keys by the time it is shown (a test's failure text). */
    char more[64] = "";
    if (r->nkeys > 1)
        snprintf(more, sizeof(more), " (and %s%u more)", r->more_keys ? "over " : "",
                 r->nkeys - 1);
    switch (r->location) {
    case CW_LOC_KEY:
        put(&o, "  Key: %s%s\n", r->key_repr ? r->key_repr : "<unknown>", more);
        break;
    case CW_LOC_INDEX:
        put(&o, "  Index: %s%s\n", r->key_repr ? r->key_repr : "<unknown>", more);
        break;
    case CW_LOC_ELEMENT:
        put(&o, "  Element: %s (whether the list holds one equal to it)\n",
            r->key_repr ? r->key_repr : "<unknown>");
        break;
    case CW_LOC_STRUCTURE:
        if (r->kind == CW_REPORT_LOST_UPDATE)
            put(&o, "  Location: the container %s held when it was rebound\n", target);
        else
            put(&o, "  Location: the set of keys of %s\n", target);
        break;
    case CW_LOC_BINDING:
        put(&o, "  Location: the module-level name %s\n", target);
        break;
    case CW_LOC_LENGTH:
        put(&o, "  Location: the length of %s (whether it is empty, or how full)\n", target);
        break;
    case CW_LOC_ATTRIBUTE:
        put(&o, "  Location: the attribute %s\n", target);
        break;
    }
    if (r->detail)
        put(&o, "  Object: %s\n", cw_str_get(r->detail));
    put_access(&o, r, "", &r->cur);
    put_access(&o, r, "Previous ", &r->prev);
    put_thread(&o, r->cur.tid, r->cur.thread_name);
    if (r->prev.tid != r->cur.tid)
        put_thread(&o, r->prev.tid, r->prev.thread_name);
    put_hint(&o, r);
    uint32_t n;
    const cw_frame *f = cw_depot_get(r->cur.stack, &n);
    put(&o, "SUMMARY: cachewatch: %s race on %s", kind, target);
    if (n)
        put(&o, " %s:%d in %s", shown_path(&o, cw_str_get(f[0].file)), f[0].line,
            cw_str_get(f[0].function));
    put(&o, "\n==================\n");
    return o.len;
}

static int write_all(int fd, const char *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* The colour of a line of a report (ANSI), or NULL. */
static const char *line_colour(const char *line)
{
    if (strncmp(line, "WARNING: ", 9) == 0)
        return "\033[1;31m";
    if (strncmp(line, "SUMMARY: ", 9) == 0)
        return "\033[1m";
    if (strncmp(line, "  Hint: ", 8) == 0)
        return "\033[32m";
    return NULL;
}

/* Colour only for a person at a terminal (https://no-color.org). */
static bool wants_colour(int fd)
{
    const char *no_colour = getenv("NO_COLOR");
    return isatty(fd) && (no_colour == NULL || no_colour[0] == '\0');
}

int cw_report_print(uint32_t id, int fd, int pid)
{
    cw_report r;
    if (!cw_report_get(id, &r))
        return -1;
    size_t size = 64 * 1024;
    char *buf = malloc(size);
    if (buf == NULL)
        return -1;
    size_t len = cw_report_format(&r, pid, buf, size);
    int rc = 0;
    if (!wants_colour(fd)) {
        rc = write_all(fd, buf, len);
    } else {
        for (size_t at = 0; at < len && rc == 0;) {
            const char *nl = memchr(buf + at, '\n', len - at);
            size_t n = nl ? (size_t)(nl - (buf + at)) : len - at;
            const char *colour = line_colour(buf + at);
            if (colour != NULL)
                rc = write_all(fd, colour, strlen(colour));
            if (rc == 0)
                rc = write_all(fd, buf + at, n);
            if (rc == 0 && colour != NULL)
                rc = write_all(fd, "\033[0m", 4);
            if (rc == 0 && nl != NULL)
                rc = write_all(fd, "\n", 1);
            at += n + (nl != NULL);
        }
    }
    free(buf);
    return rc;
}
