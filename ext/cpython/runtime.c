/* runtime.c: starting and stopping the checker, the calling thread's
 * record, internal failures, death notices and report output. */
#include "binding.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "depot.h"
#include "engine.h"
#include "hashtable.h"
#include "key_text.h"
#include "memory.h"
#include "redact.h"
#include "report.h"
#include "report_print.h"
#include "suppress.h"
#include "sync.h"
#include "text.h"

static int failed;        /* atomic: an internal failure disabled us */
static int log_fd = 2;    /* guarded by the GIL; 2 or a file we opened */
static PyObject *threading_active; /* Owned: threading._active, for names */
static const cw_hook_family *families; /* set once at module init */
static size_t nfamilies;

void cw_runtime_set_families(const cw_hook_family *table, size_t n)
{
    families = table;
    nfamilies = n;
}


/* ---- internal failure ------------------------------------------------ */

void cw_internal_failure(const char *what)
{
    __atomic_store_n(&cw_active, 0, __ATOMIC_RELEASE);
    if (__atomic_exchange_n(&failed, 1, __ATOMIC_ACQ_REL))
        return;
    char msg[320];
    int n = snprintf(msg, sizeof(msg),
                     "cachewatch: internal error (%.200s); checking is disabled, the program goes on\n",
                     what);
    if (n >= (int)sizeof(msg)) { /* cut: still one whole line */
        n = (int)sizeof(msg) - 1;
        msg[n - 1] = '\n';
    }
    if (n > 0 && write(2, msg, (size_t)n) < 0) {
        /* nowhere left to say it */
    }
}

int cw_check_status(int rc, const char *what)
{
    if (rc == CW_ERR_NOMEM) {
        cw_internal_failure(what);
        return -1;
    }
    return 0;
}

/* ---- threads --------------------------------------------------------- */

static void thread_name_of(unsigned long ident, char *buf, size_t size)
{
    buf[0] = '\0';
    if (threading_active != NULL) {
        PyObject *key = PyLong_FromUnsignedLong(ident);
        PyObject *thread = key ? PyDict_GetItemWithError(threading_active, key) : NULL;
        Py_XDECREF(key);
        if (thread != NULL) {
            PyObject *name = PyObject_GetAttrString(thread, "name");
            const char *s = name && PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
            if (s)
                snprintf(buf, size, "%s", s);
            Py_XDECREF(name);
        }
    }
    if (PyErr_Occurred())
        PyErr_Clear();
    if (buf[0] == '\0')
        snprintf(buf, size, "Thread-%lu", ident);
}

unsigned cw_fork_gen;
static int fork_reset_pending; /* atomic: a child has not forgotten its parent yet */
static int reopen_log(void);

/* pthread_atfork child handler: the child runs one thread and may hold no
 * GIL (uWSGI forks from C); only mark, the work is done at the next entry. */
static void note_fork_in_child(void)
{
    __atomic_add_fetch(&cw_fork_gen, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&fork_reset_pending, 1, __ATOMIC_RELEASE);
}

void cw_fork_catch_up(void)
{
    unsigned gen = __atomic_load_n(&cw_fork_gen, __ATOMIC_ACQUIRE);
    if (cw_tls_state.fork_gen == gen)
        return;
    if (cw_engine_ready && __atomic_exchange_n(&fork_reset_pending, 0, __ATOMIC_ACQ_REL)) {
        /* The parent's records stay, dead, for the reports it made. */
        cw_engine_after_fork_child(cw_drop_cookie);
        if (reopen_log() < 0) /* log_path's %p: this process's own file */
            PyErr_Clear();
    }
    cw_tls_state.thread = cw_tls_state.os_thread = NULL;
    cw_tls_state.fork_gen = gen;
}

cw_thread *cw_current_thread(void)
{
    cw_thread *t = cw_tls_state.thread;
    if (t != NULL && cw_tls_state.fork_gen == __atomic_load_n(&cw_fork_gen, __ATOMIC_RELAXED))
        return t;
    cw_fork_catch_up();
    char name[CW_NAME_MAX];
    unsigned long ident = PyThread_get_thread_ident();
    cw_tls_state.busy++;
    thread_name_of(ident, name, sizeof(name));
    cw_tls_state.busy--;
    t = cw_thread_register(0, NULL, ident, name, 0);
    if (t == NULL) {
        cw_internal_failure("no memory to register a thread");
        return NULL;
    }
    cw_tls_state.thread = cw_tls_state.os_thread = t;
    return t;
}

cw_thread *cw_register_child(cw_tid parent, cw_vc *inherited, const char *name,
                             cw_stack_id created_at, bool cooperative)
{
    cw_fork_catch_up();
    cw_thread *t = (cooperative ? cw_thread_register_cooperative : cw_thread_register)(
        parent, inherited, PyThread_get_thread_ident(), name, created_at);
    if (t == NULL) {
        cw_internal_failure("no memory to register a thread");
        return NULL;
    }
    cw_tls_state.thread = t;
    if (!cooperative)
        cw_tls_state.os_thread = t;
    return t;
}

/* ---- reports ---------------------------------------------------------- */

void cw_emit_reports(const uint32_t *ids, uint32_t n, PyObject *key)
{
    cw_emit_reports_as(ids, n, key, CW_LOC_KEY);
}

/* A thread registered before threading knew it (a C server's thread is
 * first seen inside current_thread(), before it is named) takes the name it
 * has now, in the registry and in the report. */
static void rename_unnamed_thread(uint32_t report_id, cw_tid tid)
{
    cw_thread *t = tid ? cw_thread_get(tid) : NULL;
    if (t == NULL || !__atomic_load_n(&t->alive, __ATOMIC_ACQUIRE))
        return;
    char was[CW_NAME_MAX], fallback[CW_NAME_MAX], now[CW_NAME_MAX];
    cw_thread_name(tid, was, sizeof(was));
    snprintf(fallback, sizeof(fallback), "Thread-%lu", (unsigned long)t->ident);
    if (strcmp(was, fallback) != 0)
        return;
    thread_name_of((unsigned long)t->ident, now, sizeof(now));
    if (strcmp(now, fallback) == 0)
        return;
    cw_thread_set_name(t, now);
    cw_report_rename_thread(report_id, tid, now);
}

void cw_emit_reports_as(const uint32_t *ids, uint32_t n, PyObject *key, cw_location_kind loc)
{
    if (n == 0)
        return;
    cw_saved_error saved;
    cw_error_save(&saved);
    cw_tls_state.busy++;
    char text[CW_KEY_TEXT_SIZE];
    bool have_text = loc != CW_LOC_INDEX && key != NULL && cw_key_text(key, (size_t)cw_options.key_repr_max, text) == 0;
    for (uint32_t i = 0; i < n; i++) {
        cw_report r;
        cw_report_attach_history(ids[i]);
        if (loc == CW_LOC_INDEX && cw_report_get(ids[i], &r)) /* an index is its number */
            snprintf(text, sizeof(text), "%lld", (long long)r.key_hash), have_text = true;
        cw_report_set_key_as(ids[i], have_text ? text : "<unprintable key>", loc);
        if (cw_report_get(ids[i], &r)) {
            rename_unnamed_thread(ids[i], r.cur.tid);
            rename_unnamed_thread(ids[i], r.prev.tid);
        }
        if (cw_options.print_reports && cw_report_get(ids[i], &r) && !r.suppressed)
            cw_report_print(ids[i], log_fd, (int)getpid());
    }
    cw_tls_state.busy--;
    cw_error_restore(&saved);
}

PyObject *cw_call_with_self(PyObject *callable, PyObject *self, PyObject *const *args,
                            Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *small[8];
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    Py_ssize_t total = nargs + nkw + 1;
    PyObject **stack = total <= 8 ? small : PyMem_Malloc(total * sizeof(PyObject *));
    if (stack == NULL)
        return PyErr_NoMemory();
    stack[0] = self;
    if (nargs + nkw)
        memcpy(stack + 1, args, (nargs + nkw) * sizeof(PyObject *));
    PyObject *res = PyObject_Vectorcall(callable, stack, nargs + 1, kwnames);
    if (stack != small)
        PyMem_Free(stack);
    return res;
}

/* ---- recording an access --------------------------------------------- */

int cw_record_access(cw_thread *t, cw_access *a, PyFrameObject *frame)
{
    if (a->stack == 0 && frame != NULL)
        a->stack = cw_thread_cached_stack(t, (uintptr_t)frame, a->site);
    for (int attempt = 0; attempt < 4; attempt++) {
        int rc = cw_shadow_access(t, a);
        if (rc != CW_NEED_STACK)
            return cw_check_status(rc, "no memory for shadow state");
        if (a->stack == 0) {
            a->stack = frame ? cw_stack_for(t, frame, a->site) : cw_capture_stack();
            if (a->stack == 0)
                return 0; /* could not capture: record nothing this time */
        } else if (a->need_check_stack) {
            a->check_stack = cw_stack_with_site(a->stack, a->check_site);
            if (a->check_stack == 0)
                a->check_stack = a->stack;
        }
    }
    return 0;
}

/* ---- activation -------------------------------------------------------- */

/* Raise exc with a message that quotes user text (a path): one printable
 * line, as every message that quotes what a user wrote. */
static void raise_printable(PyObject *exc, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cw_text_printable(msg, sizeof(msg));
    PyErr_SetString(exc, msg);
}

static int open_log(const char *path)
{
    if (path == NULL || path[0] == '\0')
        return 2;
    char expanded[1100];
    size_t o = 0;
    for (const char *p = path; *p && o + 24 < sizeof(expanded); p++) {
        if (p[0] == '%' && p[1] == 'p') {
            o += (size_t)snprintf(expanded + o, sizeof(expanded) - o, "%d", (int)getpid());
            p++;
        } else {
            expanded[o++] = *p;
        }
    }
    expanded[o] = '\0';
    int fd = open(expanded, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        raise_printable(PyExc_OSError, "cachewatch: cannot open log_path '%s'", expanded);
        return -1;
    }
    return fd;
}

/* log_path opened for this process (its %p), the previous file closed. */
static int reopen_log(void)
{
    int fd = open_log(cw_options.log_path);
    if (fd < 0)
        return -1;
    if (log_fd > 2)
        close(log_fd);
    log_fd = fd;
    return 0;
}

/* The suppressions file named by the option, read at each start: all of it
 * or none of it. */
static int load_suppressions(const char *path)
{
    cw_suppress_clear(); /* a start begins with its own suppressions */
    if (path == NULL || *path == '\0')
        return 0;
    FILE *f = fopen(path, "r");
    struct stat st;
    if (f == NULL || fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        raise_printable(PyExc_OSError, "cachewatch: cannot read suppressions file '%s' (%s)", path,
                     f == NULL ? strerror(errno) : "not a regular file");
        if (f != NULL)
            fclose(f);
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    while (text != NULL) {
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
        if (len + 1 >= cap) {
            char *bigger = realloc(text, cap *= 2);
            if (bigger == NULL)
                free(text);
            text = bigger;
        }
    }
    bool unreadable = ferror(f);
    fclose(f);
    if (text == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    text[len] = '\0';
    const char *nul = memchr(text, '\0', len);
    PyObject *decoded = unreadable || nul ? NULL : PyUnicode_DecodeUTF8(text, (Py_ssize_t)len, NULL);
    if (decoded == NULL) { /* patterns become Python str: they must be UTF-8 */
        PyErr_Clear();
        free(text);
        raise_printable(PyExc_ValueError, "cachewatch: cannot read suppressions file '%s' (%s)", path,
                        unreadable ? "read error"
                        : nul      ? "a NUL byte: not a text file"
                                   : "not UTF-8 text");
        return -1;
    }
    Py_DECREF(decoded);
    char err[512];
    int rc = cw_suppress_parse(text, path, err, sizeof(err));
    free(text);
    if (rc < 0) {
        PyErr_Format(PyExc_ValueError, "cachewatch: %s", err);
        return -1;
    }
    return 0;
}

static PyObject *py_configure(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "options must be a str");
        return NULL;
    }
    if (__atomic_load_n(&cw_active, __ATOMIC_ACQUIRE)) {
        PyErr_SetString(PyExc_RuntimeError, "cachewatch is running; stop it before configuring");
        return NULL;
    }
    const char *text = PyUnicode_AsUTF8(arg);
    if (text == NULL) { /* the Python layer names the word; this is the backstop */
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "options are not UTF-8 text");
        return NULL;
    }
    cw_flags f;
    char err[256] = "";
    if (cw_flags_set_defaults(&f) < 0) {
        cw_flags_free(&f);
        return PyErr_NoMemory();
    }
    if (cw_flags_parse(&f, text, err, sizeof(err)) < 0 ||
        cw_flags_validate(&f, err, sizeof(err)) < 0) {
        cw_flags_free(&f);
        PyErr_Format(PyExc_ValueError, "%s", err);
        return NULL;
    }
    cw_flags_free(&cw_options);
    cw_options = f;
    Py_RETURN_NONE;
}

static PyObject *py_start(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    if (__atomic_load_n(&cw_active, __ATOMIC_ACQUIRE))
        Py_RETURN_NONE;
    if (__atomic_load_n(&failed, __ATOMIC_ACQUIRE)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cachewatch was disabled by an internal error in this process");
        return NULL;
    }
    if (cw_options.log_path == NULL && cw_flags_set_defaults(&cw_options) < 0) {
        cw_flags_free(&cw_options);
        return PyErr_NoMemory();
    }
    char err[256];
    if (cw_redact_set(cw_options.redact, err, sizeof(err)) < 0) { /* validated: cannot fail */
        PyErr_Format(PyExc_ValueError, "%s", err);
        return NULL;
    }
    if (!cw_engine_ready) {
        if (cw_engine_init(&cw_options) != CW_OK || cw_stack_init() < 0)
            return PyErr_NoMemory();
        cw_engine_ready = 1;
    }
    if (load_suppressions(cw_options.suppressions) < 0)
        return NULL;
    if (reopen_log() < 0)
        return NULL;
    static int fork_handler_set;
    if (!fork_handler_set) {
        fork_handler_set = pthread_atfork(NULL, NULL, note_fork_in_child) == 0;
    }
    if (threading_active == NULL) {
        PyObject *threading = PyImport_ImportModule("threading");
        if (threading == NULL)
            return NULL;
        threading_active = PyObject_GetAttrString(threading, "_active");
        Py_DECREF(threading);
        if (threading_active == NULL)
            return NULL;
    }
    if (cw_current_thread() == NULL)
        return PyErr_NoMemory();
    if (cw_options.native_stacks && !cw_unwind_available()) {
        static const char msg[] = "cachewatch: native_stacks needs libunwind, and this build has "
                                  "none (apt-get install libunwind-dev, then reinstall "
                                  "cachewatch); reporting Python frames only\n";
        if (write(2, msg, sizeof(msg) - 1) < 0) {
            /* nowhere to say it */
        }
    }
    for (size_t i = 0; i < nfamilies; i++)
        if (families[i].start != NULL && families[i].start() < 0)
            return NULL;
    __atomic_store_n(&cw_active, 1, __ATOMIC_RELEASE);
    Py_RETURN_NONE;
}

static PyObject *py_stop(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    __atomic_store_n(&cw_active, 0, __ATOMIC_RELEASE);
    for (size_t i = 0; i < nfamilies; i++)
        if (families[i].stop != NULL)
            families[i].stop();
    Py_RETURN_NONE;
}

static PyObject *py_is_active(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyBool_FromLong(__atomic_load_n(&cw_active, __ATOMIC_ACQUIRE));
}

static PyObject *py_internal_failure(PyObject *self, PyObject *arg)
{
    (void)self;
    const char *what = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (what == NULL) {
        PyErr_Clear();
        what = "an error in cachewatch's Python layer";
    }
    /* One line: the text may come from an exception. */
    char line[200];
    size_t n = 0;
    for (; what[n] && n < sizeof(line) - 1; n++)
        line[n] = (what[n] == '\n' || what[n] == '\r') ? ' ' : what[n];
    line[n] = '\0';
    cw_internal_failure(line);
    Py_RETURN_NONE;
}

/* Testing: the nth engine allocation from now fails, and every one after. */
static PyObject *py_fail_allocations_after(PyObject *self, PyObject *arg)
{
    (void)self;
    unsigned long long n = PyLong_AsUnsignedLongLong(arg);
    if (n == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    cw_mem_fail_after((uint64_t)n);
    Py_RETURN_NONE;
}

static PyObject *py_has_failed(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyBool_FromLong(__atomic_load_n(&failed, __ATOMIC_ACQUIRE));
}

static PyObject *py_options(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    if (cw_options.log_path == NULL && cw_flags_set_defaults(&cw_options) < 0) {
        cw_flags_free(&cw_options);
        return PyErr_NoMemory();
    }
    char err[256];
    if (cw_redact_set(cw_options.redact, err, sizeof(err)) < 0) { /* validated: cannot fail */
        PyErr_Format(PyExc_ValueError, "%s", err);
        return NULL;
    }
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
#define CW_OPT_bool(name) PyBool_FromLong(cw_options.name)
#define CW_OPT_int(name) PyLong_FromLong(cw_options.name)
#define CW_OPT_str(name) PyUnicode_FromString(cw_options.name ? cw_options.name : "")
#define CW_FLAG(type, name, def, help)                                \
    {                                                                 \
        PyObject *v = CW_OPT_##type(name);                            \
        if (v == NULL || PyDict_SetItemString(d, #name, v) < 0) {     \
            Py_XDECREF(v);                                            \
            Py_DECREF(d);                                             \
            return NULL;                                              \
        }                                                             \
        Py_DECREF(v);                                                 \
    }
#include "flags.inc"
#undef CW_FLAG
    return d;
}

static PyObject *py_flag_table(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list && i < cw_flag_count; i++) {
        const cw_flag_desc *d = &cw_flag_table[i];
        const char *type = d->type == CW_FLAG_BOOL ? "bool" : d->type == CW_FLAG_INT ? "int" : "str";
        PyObject *row = Py_BuildValue("(ssss)", d->name, type, d->default_text, d->help);
        if (row == NULL || PyList_Append(list, row) < 0) {
            Py_XDECREF(row);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(row);
    }
    return list;
}

static PyObject *py_format_report(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned int id;
    if (!PyArg_ParseTuple(args, "I", &id))
        return NULL;
    char *buf = PyMem_Malloc(64 * 1024);
    if (buf == NULL)
        return PyErr_NoMemory();
    cw_report r;
    PyObject *res = NULL;
    if (!cw_report_get(id, &r)) {
        PyErr_Format(PyExc_KeyError, "no report %u", id);
    } else {
        size_t len = cw_report_format(&r, (int)getpid(), buf, 64 * 1024);
        res = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)len, "replace");
    }
    PyMem_Free(buf);
    return res;
}

/* ---- findings as Python data ------------------------------------------- */

static PyObject *stack_to_list(cw_stack_id id)
{
    uint32_t n;
    const cw_frame *f = cw_depot_get(id, &n);
    PyObject *list = PyList_New(0);
    for (uint32_t i = 0; list && i < n; i++) {
        PyObject *fr = Py_BuildValue("{s:s,s:i,s:s,s:O}", "file", cw_str_get(f[i].file), "line",
                                     f[i].line, "function", cw_str_get(f[i].function), "native",
                                     f[i].offset == CW_FRAME_NATIVE ? Py_True : Py_False);
        if (fr == NULL || PyList_Append(list, fr) < 0)
            Py_CLEAR(list);
        Py_XDECREF(fr);
    }
    return list;
}

/* "L3 Lock first acquired at app.py:12 in f": a lock as reports name it. */
static PyObject *lock_text(cw_lock_id id)
{
    cw_lockinfo li;
    if (!cw_lockinfo_get(id, &li))
        return PyUnicode_FromFormat("L%llu", (unsigned long long)id);
    static const char *kinds[] = {"Lock", "RLock", "Semaphore", "lock"};
    uint32_t nf;
    const cw_frame *f = cw_depot_get(li.role_stack, &nf);
    char where[512] = "";
    if (nf)
        snprintf(where, sizeof(where), "%s:%d in %s", cw_str_get(f[0].file), f[0].line,
                 cw_str_get(f[0].function));
    return PyUnicode_FromFormat("L%llu %s%s%s", (unsigned long long)li.id, kinds[li.kind],
                                nf ? " first acquired at " : "", where);
}

static PyObject *locks_to_list(cw_lockset_id locks)
{
    uint32_t n;
    const cw_lock_id *ids = cw_lockset_get(locks, &n);
    PyObject *list = PyList_New(0);
    for (uint32_t i = 0; list && i < n; i++) {
        PyObject *item = lock_text(ids[i]);
        if (item == NULL || PyList_Append(list, item) < 0)
            Py_CLEAR(list);
        Py_XDECREF(item);
    }
    return list;
}

/* The side's thread's last sync events. objects numbers the sync objects of
 * one report (address -> 1, 2...): a publish and its consume share one. */
static PyObject *history_to_list(const cw_report_access *a, PyObject *objects)
{
    PyObject *list = PyList_New(0);
    for (uint32_t i = 0; list && i < a->nhistory; i++) {
        const cw_event *e = &a->history[i];
        PyObject *addr = PyLong_FromVoidPtr((void *)e->object);
        PyObject *num = addr ? PyDict_GetItemWithError(objects, addr) : NULL;
        if (num == NULL && addr != NULL && !PyErr_Occurred()) {
            num = PyLong_FromSsize_t(PyDict_GET_SIZE(objects) + 1);
            if (num == NULL || PyDict_SetItem(objects, addr, num) < 0)
                Py_CLEAR(num);
            Py_XDECREF(num); /* the dict holds it */
        }
        Py_XDECREF(addr);
        PyObject *lock = e->lock ? lock_text(e->lock) : (Py_INCREF(Py_None), Py_None);
        PyObject *at = e->stack ? stack_to_list(e->stack) : PyList_New(0);
        PyObject *ev = NULL;
        if (num != NULL && lock != NULL && at != NULL)
            ev = Py_BuildValue("{s:s,s:K,s:I,s:O,s:O,s:s,s:O}", "kind",
                               cw_event_kind_name((cw_event_kind)e->kind), "seq",
                               (unsigned long long)e->seq, "n", e->ordinal, "object", num,
                               "lock", lock, "label", e->label ? cw_str_get(e->label) : "",
                               "at", at);
        Py_XDECREF(lock);
        Py_XDECREF(at);
        if (ev == NULL || PyList_Append(list, ev) < 0)
            Py_CLEAR(list);
        Py_XDECREF(ev);
    }
    return list;
}

static PyObject *access_to_dict(const cw_report_access *a, PyObject *objects)
{
    PyObject *stack = stack_to_list(a->stack);
    PyObject *locks = locks_to_list(a->locks);
    cw_thread *t = cw_thread_get(a->tid);
    PyObject *created = t && t->created_at ? stack_to_list(t->created_at) : (Py_INCREF(Py_None), Py_None);
    PyObject *check = Py_None;
    Py_INCREF(check);
    if (a->check_stack) {
        Py_DECREF(check);
        check = Py_BuildValue("{s:s,s:N}", "op", cw_op_name(a->check_op), "stack",
                              stack_to_list(a->check_stack));
        if (check != NULL && a->has_check_events) {
            PyObject *n = PyLong_FromUnsignedLong(a->check_events);
            if (n == NULL || PyDict_SetItemString(check, "events_before", n) < 0)
                Py_CLEAR(check);
            Py_XDECREF(n);
        }
    }
    PyObject *history = history_to_list(a, objects);
    PyObject *d = NULL;
    if (stack && locks && created && check && history)
        d = Py_BuildValue("{s:s,s:I,s:s,s:s,s:O,s:O,s:O,s:O,s:O,s:I,s:K}", "thread",
                          a->thread_name, "tid", a->tid, "op", cw_op_name(a->op), "access",
                          a->write ? "write" : "read", "locks", locks, "stack", stack,
                          "thread_created_at", created, "check", check, "history", history,
                          "events_before", a->events, "history_until",
                          (unsigned long long)a->history_until);
    Py_XDECREF(history);
    Py_XDECREF(stack);
    Py_XDECREF(locks);
    Py_XDECREF(created);
    Py_XDECREF(check);
    return d;
}

static PyObject *finding_to_dict(uint32_t id, const cw_report *r)
{
    PyObject *facts = PyDict_New();
    PyObject *stacks = PyList_New(0);
    for (uint32_t i = 0; facts && i < r->nfacts; i++) {
        PyObject *v = PyLong_FromLongLong(r->facts[i].value);
        if (v == NULL || PyDict_SetItemString(facts, cw_str_get(r->facts[i].name), v) < 0)
            Py_CLEAR(facts);
        Py_XDECREF(v);
    }
    for (uint32_t i = 0; stacks && i < r->nsections; i++) {
        const cw_report_section *s = &r->sections[i];
        char name[CW_NAME_MAX] = "";
        if (s->tid)
            cw_thread_name(s->tid, name, sizeof(name));
        PyObject *item = Py_BuildValue("{s:s,s:s,s:I,s:N}", "title", cw_str_get(s->title),
                                       "thread", name, "tid", s->tid, "stack",
                                       stack_to_list(s->stack));
        if (item == NULL || PyList_Append(stacks, item) < 0)
            Py_CLEAR(stacks);
        Py_XDECREF(item);
    }
    PyObject *d = NULL;
    if (facts && stacks)
        d = Py_BuildValue("{s:I,s:s,s:s,s:s,s:s,s:O,s:O,s:I}", "id", id, "kind",
                          cw_report_kind_name(r->kind), "category", cw_report_kind_name(r->kind),
                          "target", cw_str_get(r->target), "detail", cw_str_get(r->detail),
                          "facts", facts, "stacks", stacks, "hits", r->hits);
    Py_XDECREF(facts);
    Py_XDECREF(stacks);
    return d;
}

/* A race report as a dict (new reference; NULL on error). */
static PyObject *race_to_dict(uint32_t id, const cw_report *r)
{
    PyObject *objects = PyDict_New();
    PyObject *cur = objects ? access_to_dict(&r->cur, objects) : NULL;
    PyObject *prev = objects ? access_to_dict(&r->prev, objects) : NULL;
    Py_XDECREF(objects);
    PyObject *d = NULL;
    if (cur && prev)
        d = Py_BuildValue("{s:I,s:s,s:s,s:s,s:s,s:s,s:[OO],s:I}", "id", id, "kind", "race",
                          "category", cw_report_kind_name(r->kind), "target",
                          cw_str_get(r->target), "location", cw_location_kind_name(r->location),
                          "key", r->has_key ? (r->key_repr ? r->key_repr : "<unknown>") : "",
                          "accesses", cur, prev, "hits", r->hits);
    if (d != NULL && !r->has_key)
        PyDict_SetItemString(d, "key", Py_None);
    if (d != NULL && r->nkeys > 0) { /* distinct keys it was seen at; a string past 8 */
        PyObject *keys = r->more_keys ? PyUnicode_FromFormat("over %u", r->nkeys)
                                      : PyLong_FromUnsignedLong(r->nkeys);
        if (keys == NULL || PyDict_SetItemString(d, "keys", keys) < 0)
            Py_CLEAR(d);
        Py_XDECREF(keys);
    }
    if (d != NULL && r->detail) {
        PyObject *what = PyUnicode_FromString(cw_str_get(r->detail));
        if (what == NULL || PyDict_SetItemString(d, "object", what) < 0)
            PyErr_Clear();
        Py_XDECREF(what);
    }
    Py_XDECREF(cur);
    Py_XDECREF(prev);
    return d;
}

/* The suppression that hid a report, as a dict {type, pattern, reason}. */
static int add_suppressed_by(PyObject *d, uint32_t which)
{
    const char *type, *pattern, *reason;
    uint64_t hits;
    if (!cw_suppress_get(which - 1, &type, &pattern, &reason, &hits))
        return 0;
    PyObject *by = Py_BuildValue("{s:s,s:s,s:s}", "type", type, "pattern", pattern, "reason",
                                 reason ? reason : "");
    int rc = by == NULL ? -1 : PyDict_SetItemString(d, "suppressed_by", by);
    Py_XDECREF(by);
    return rc;
}

/* Every report shown (suppressed == false), or every one a suppression hid. */
static PyObject *reports_as_list(bool suppressed)
{
    PyObject *list = PyList_New(0);
    uint32_t n = cw_engine_ready ? cw_report_count() : 0;
    for (uint32_t id = 1; list && id <= n; id++) {
        cw_report r;
        if (!cw_report_get(id, &r) || (r.suppressed != 0) != suppressed)
            continue;
        PyObject *d = cw_report_kind_is_race(r.kind) ? race_to_dict(id, &r)
                                                     : finding_to_dict(id, &r);
        if (d != NULL && suppressed && add_suppressed_by(d, r.suppressed) < 0)
            Py_CLEAR(d);
        if (d == NULL || PyList_Append(list, d) < 0)
            Py_CLEAR(list);
        Py_XDECREF(d);
    }
    return list;
}

static PyObject *py_findings(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return reports_as_list(false);
}

static PyObject *py_suppressed_findings(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return reports_as_list(true);
}

/* Engine bytes by kind: live now and the most ever live. */
static PyObject *memory_dict(size_t (*get)(cw_mem_kind))
{
    PyObject *d = PyDict_New();
    for (int k = 0; d != NULL && k < CW_MEM_KIND_COUNT; k++) {
        PyObject *n = PyLong_FromSize_t(get((cw_mem_kind)k));
        if (n == NULL || PyDict_SetItemString(d, cw_mem_kind_name((cw_mem_kind)k), n) < 0)
            Py_CLEAR(d);
        Py_XDECREF(n);
    }
    return d;
}

static PyObject *py_stats(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    if (!cw_engine_ready)
        return PyDict_New();
    return Py_BuildValue("{s:I,s:I,s:I,s:n,s:n,s:n,s:I,s:n,s:n,s:N,s:N}", "reports", cw_report_count(),
                         "reports_dropped", cw_report_dropped(), "threads", cw_thread_count(),
                         "watched", (Py_ssize_t)cw_shadow_watched_count(), "locations",
                         (Py_ssize_t)cw_shadow_location_count(), "sync_objects",
                         (Py_ssize_t)cw_sync_count(), "stacks", cw_depot_count(),
                         "memo_hits", (Py_ssize_t)cw_shadow_memo_hits(),
                         "memory_bytes", (Py_ssize_t)cw_mem_total(),
                         "memory", memory_dict(cw_mem_bytes),
                         "memory_peak", memory_dict(cw_mem_peak));
}

static PyObject *py_clear_findings(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    if (cw_engine_ready)
        cw_report_clear();
    Py_RETURN_NONE;
}

static PyObject *py_native_stacks_available(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyBool_FromLong(cw_unwind_available());
}

PyMethodDef cw_runtime_methods[] = {
    {"configure", py_configure, METH_O, "Set options from 'name=value ...' text."},
    {"start", py_start, METH_NOARGS, "Install the C hooks and start checking."},
    {"stop", py_stop, METH_NOARGS, "Stop checking and undo the C hooks."},
    {"is_active", py_is_active, METH_NOARGS, "True while checking."},
    {"has_failed", py_has_failed, METH_NOARGS, "True after an internal failure."},
    {"internal_failure", py_internal_failure, METH_O,
     "Disable checking after an internal error, warning once."},
    {"_fail_allocations_after", py_fail_allocations_after, METH_O,
     "Testing: make the nth engine allocation from now, and all later ones, fail (0: none)."},
    {"options", py_options, METH_NOARGS, "The current options as a dict."},
    {"flag_table", py_flag_table, METH_NOARGS, "Rows (name, type, default, help)."},
    {"findings", py_findings, METH_NOARGS, "Every report as a dict (not those suppressed)."},
    {"suppressed_findings", py_suppressed_findings, METH_NOARGS,
     "Every report a suppression hid, as a dict with suppressed_by."},
    {"format_report", py_format_report, METH_VARARGS, "format_report(id): the text of one report."},
    {"stats", py_stats, METH_NOARGS, "Engine counters."},
    {"clear_findings", py_clear_findings, METH_NOARGS, "Forget every report."},
    {"native_stacks_available", py_native_stacks_available, METH_NOARGS,
     "True when built with libunwind."},
    {NULL, NULL, 0, NULL},
};

int cw_runtime_init(PyObject *module)
{
    return cw_sync_objects_init(module);
}

/* ---- findings that are not races (pools, threads) ----------------------- */

static int kind_from_name(const char *name, cw_report_kind *out, bool races_too)
{
    for (int k = CW_REPORT_CHECK_THEN_ACT; k <= CW_REPORT_THREAD_LEAK; k++) {
        if ((races_too || !cw_report_kind_is_race((cw_report_kind)k)) &&
            strcmp(cw_report_kind_name((cw_report_kind)k), name) == 0) {
            *out = (cw_report_kind)k;
            return 0;
        }
    }
    return -1;
}

/* add_finding(kind, target, detail, facts: {name: int}, sections: [(title,
 * tid, stack_id)], dedup: str) -> report id, 0 when it repeats one. */
static PyObject *py_add_finding(PyObject *self, PyObject *args)
{
    (void)self;
    const char *kind_name, *target, *detail, *dedup;
    PyObject *facts, *sections;
    if (!PyArg_ParseTuple(args, "sssO!O!s:add_finding", &kind_name, &target, &detail, &PyDict_Type,
                          &facts, &PyList_Type, &sections, &dedup))
        return NULL;
    if (!cw_engine_ready) {
        PyErr_SetString(PyExc_RuntimeError, "cachewatch is not started");
        return NULL;
    }
    cw_report r;
    memset(&r, 0, sizeof(r));
    if (kind_from_name(kind_name, &r.kind, false) < 0)
        return PyErr_Format(PyExc_ValueError, "unknown finding kind '%s'", kind_name);
    r.target = cw_str_intern(target);
    r.detail = cw_str_intern(detail);
    r.dedup_key = *dedup ? cw_hash_bytes(dedup, strlen(dedup), 11) | 1 : 0;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(facts, &pos, &k, &v) && r.nfacts < CW_REPORT_FACTS) {
        const char *name = PyUnicode_Check(k) ? PyUnicode_AsUTF8(k) : NULL;
        long long value = PyLong_Check(v) ? PyLong_AsLongLong(v) : 0;
        if (name == NULL || PyErr_Occurred())
            return NULL;
        r.facts[r.nfacts++] = (cw_report_fact){cw_str_intern(name), value};
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(sections) && r.nsections < CW_REPORT_SECTIONS; i++) {
        const char *title;
        unsigned int tid, stack;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(sections, i), "sII", &title, &tid, &stack))
            return NULL;
        r.sections[r.nsections++] = (cw_report_section){cw_str_intern(title), tid, stack};
    }
    uint32_t id = cw_report_add(&r);
    cw_report kept;
    if (id != 0 && cw_options.print_reports && cw_report_get(id, &kept) && !kept.suppressed)
        cw_report_print(id, log_fd, (int)getpid());
    return PyLong_FromUnsignedLong(id);
}

static PyObject *py_capture_stack(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    cw_tls_state.busy++;
    cw_stack_id id = cw_engine_ready ? cw_capture_stack() : 0;
    cw_tls_state.busy--;
    return PyLong_FromUnsignedLong(id);
}

static PyObject *py_stack_of_frame(PyObject *self, PyObject *frame)
{
    (void)self;
    if (!PyFrame_Check(frame))
        return PyErr_Format(PyExc_TypeError, "stack_of_frame wants a frame");
    cw_tls_state.busy++;
    cw_stack_id id = cw_engine_ready ? cw_capture_stack_of((PyFrameObject *)frame) : 0;
    cw_tls_state.busy--;
    return PyLong_FromUnsignedLong(id);
}

/* thread_of(ident) -> (tid, creation stack id, creator tid) of a live
 * registered thread, or None. */
static PyObject *py_thread_of(PyObject *self, PyObject *arg)
{
    (void)self;
    unsigned long long ident = PyLong_AsUnsignedLongLong(arg);
    if (ident == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    cw_thread *t = cw_engine_ready ? cw_thread_by_ident(ident) : NULL;
    if (t == NULL)
        Py_RETURN_NONE;
    return Py_BuildValue("(III)", t->number, t->created_at, t->parent);
}

static PyObject *py_current_tid(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    cw_thread *t = cw_engine_ready ? cw_current_thread() : NULL;
    return PyLong_FromUnsignedLong(t ? t->number : 0);
}

/* finding_hint(category) -> what to do about it, one line. */
static PyObject *py_finding_hint(PyObject *self, PyObject *arg)
{
    (void)self;
    const char *name = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    cw_report_kind kind;
    if (name == NULL || kind_from_name(name, &kind, true) < 0) {
        PyErr_Clear();
        return PyErr_Format(PyExc_ValueError, "unknown finding kind %R", arg);
    }
    return PyUnicode_FromString(cw_report_kind_hint(kind));
}

PyMethodDef cw_finding_methods[] = {
    {"finding_hint", py_finding_hint, METH_O, "finding_hint(category) -> what to do, one line."},
    {"add_finding", py_add_finding, METH_VARARGS,
     "add_finding(kind, target, detail, facts, sections, dedup) -> id (0: a repeat)."},
    {"capture_stack", py_capture_stack, METH_NOARGS, "The caller's stack, interned; its id."},
    {"stack_of_frame", py_stack_of_frame, METH_O, "The stack from a frame of any thread; its id."},
    {"thread_of", py_thread_of, METH_O,
     "(tid, creation stack id, creator tid) of a live thread, or None."},
    {"current_tid", py_current_tid, METH_NOARGS, "The calling thread's tid."},
    {NULL, NULL, 0, NULL},
};

/* ---- suppressions -------------------------------------------------------- */

static PyObject *py_add_suppression(PyObject *self, PyObject *args)
{
    (void)self;
    const char *type, *pattern, *reason = "";
    if (!PyArg_ParseTuple(args, "ss|s:add_suppression", &type, &pattern, &reason))
        return NULL;
    char err[256];
    if (cw_suppress_add(type, pattern, reason, err, sizeof(err)) < 0)
        return PyErr_Format(PyExc_ValueError, "cachewatch: %s", err);
    Py_RETURN_NONE;
}

static PyObject *py_suppressions(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    PyObject *list = PyList_New(0);
    const char *type, *pattern, *reason;
    uint64_t hits;
    for (size_t i = 0; list && cw_suppress_get(i, &type, &pattern, &reason, &hits); i++) {
        PyObject *d = Py_BuildValue("{s:s,s:s,s:s,s:K}", "type", type, "pattern", pattern,
                                    "reason", reason, "hits", (unsigned long long)hits);
        if (d == NULL || PyList_Append(list, d) < 0)
            Py_CLEAR(list);
        Py_XDECREF(d);
    }
    return list;
}

/* ---- fork ------------------------------------------------------------------ */

/* In a forked child: the other threads are gone, and so is everything the
 * engine knew of them; start with a clean registry and keep watching. */
static PyObject *py_after_fork_child(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    if (!cw_engine_ready)
        Py_RETURN_NONE;
    cw_fork_catch_up(); /* done already if a hook ran first */
    if (cw_current_thread() == NULL)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *py_omit_frames_under(PyObject *self, PyObject *dirs)
{
    (void)self;
    if (cw_stack_omit_under(dirs) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* The exit status a process gets when it would exit 0 with findings
 * (exitcode under CACHEWATCH_OPTIONS, as TSAN_OPTIONS=exitcode does): only
 * exit(3) itself knows the program's status, so an on_exit handler changes
 * it there, in the process that asked and not in its forked children. */
static int exit_status_on_findings; /* atomic */
static pid_t exit_status_pid;

#ifdef __GLIBC__
static void exit_with_findings(int status, void *arg)
{
    (void)arg;
    int code = __atomic_load_n(&exit_status_on_findings, __ATOMIC_ACQUIRE);
    if (status == 0 && code != 0 && getpid() == exit_status_pid) {
        fflush(NULL);
        _exit(code);
    }
}
#endif

static PyObject *py_exit_status_on_findings(PyObject *self, PyObject *arg)
{
    (void)self;
    long value = PyLong_AsLong(arg);
    if (value == -1 && PyErr_Occurred())
        return NULL;
    if (value < 0 || value > 255)
        return PyErr_Format(PyExc_ValueError, "cachewatch: exit status %ld is not 0-255", value);
    int code = (int)value;
#ifdef __GLIBC__
    static int registered;
    if (!registered && on_exit(exit_with_findings, NULL) != 0)
        return PyErr_Format(PyExc_OSError, "cachewatch: cannot set the exit status");
    registered = 1;
    exit_status_pid = getpid();
    __atomic_store_n(&exit_status_on_findings, code, __ATOMIC_RELEASE);
    Py_RETURN_TRUE;
#else
    (void)code;
    Py_RETURN_FALSE; /* no on_exit(3): the program's status stands */
#endif
}

static PyObject *py_frame_local(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *frame, *fallback;
    int i;
    if (!PyArg_ParseTuple(args, "O!iO", &PyFrame_Type, &frame, &i, &fallback))
        return NULL;
    PyObject *value = cw_frame_local((PyFrameObject *)frame, i);
    if (value == NULL) {
        Py_INCREF(fallback);
        return fallback;
    }
    return value;
}

static PyObject *py_set_library_files(PyObject *self, PyObject *files)
{
    (void)self;
    PyObject *seq = PySequence_Fast(files, "set_library_files takes a list of str");
    if (seq == NULL)
        return NULL;
    const char *paths[CW_LIBRARY_FILES];
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    size_t k = 0;
    for (Py_ssize_t i = 0; i < n && k < CW_LIBRARY_FILES; i++) {
        const char *path = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(seq, i));
        if (path == NULL) {
            Py_DECREF(seq);
            return NULL;
        }
        paths[k++] = path;
    }
    cw_report_set_library_files(paths, k);
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

PyMethodDef cw_service_methods[] = {
    {"frame_local", py_frame_local, METH_VARARGS,
     "frame_local(frame, i, fallback): local i of a running frame, read without making "
     "its f_locals (which would keep its locals alive); fallback when unbound."},
    {"exit_status_on_findings", py_exit_status_on_findings, METH_O,
     "exit_status_on_findings(code): exit with code instead of 0 at this process's exit "
     "(0: the program's own status). False where it cannot (no on_exit)."},
    {"set_library_files", py_set_library_files, METH_O,
     "set_library_files([file, ...]): a pool's or thread's SUMMARY line names the first "
     "frame outside these modules' files."},
    {"omit_frames_under", py_omit_frames_under, METH_O,
     "omit_frames_under([dir, ...]): leave frames of code under these directories out of "
     "stacks (how the program runs, such as a test runner)."},
    {"add_suppression", py_add_suppression, METH_VARARGS,
     "add_suppression(type, pattern, reason=''): hide matching findings (counted)."},
    {"suppressions", py_suppressions, METH_NOARGS, "Every suppression with its hit count."},
    {"after_fork_child", py_after_fork_child, METH_NOARGS,
     "Reset the engine in a forked child (a clean thread registry, no history)."},
    {NULL, NULL, 0, NULL},
};
