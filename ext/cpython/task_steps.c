/* task_steps.c: asyncio's Handles as hand-offs between logical threads, in C.
 *
 * The policy is cachewatch/_tasks.py's: each Handle remembers who made it
 * and what they knew; when it runs, a task's step runs as that task, any
 * other callback as its maker, and either receives what the maker knew. A
 * finished task publishes its clock on itself and its logical thread ends.
 * This file is that policy on the hot path (every Handle an event loop makes
 * and runs, every task born and ended), so neither a step nor a task costs
 * a Python frame of cachewatch's. It also keeps the counts of
 * _task_pools.py's unbounded-pool check: tasks made at each line of the
 * program and in flight (stepping, not waiting for an asyncio Lock); Python
 * is called on a finding, at a task's birth for the watch targets' retry
 * point, and for every step and end while some waiter gave up on a task
 * (abandoned-task).
 *
 * A task's record is dropped by a weak reference's callback when the task
 * is collected unfinished, so an address reused by a later task never finds
 * an earlier one's thread.
 *
 * Without the GIL: the tables (Handles, tasks, sites, the gone ring) are the
 * binding's, touched only from calls made with the GIL held (the module
 * declares Py_MOD_GIL_USED); handles are made on any thread
 * (call_soon_threadsafe), so a free-threaded port guards them with one
 * PyMutex. */
#include "binding.h"

#include <stdio.h>
#include <string.h>

#include "hashtable.h"
#include "memory.h"

typedef struct {
    unsigned long maker; /* the thread that made the Handle */
    cw_vc *given;        /* Owned: what it knew then; NULL inside a lock's release */
    PyObject *task;      /* Borrowed: the task whose step or wake-up it is, or
                            NULL; the Handle's callback holds it while this
                            record lives (cancel() drops the callback and the
                            record together) */
} made_rec;

/* A line of the program where tasks are made. */
typedef struct {
    PyObject *file;      /* Owned: its code's co_filename ("?": not known) */
    int line;
    Py_hash_t hash;
    long in_flight;      /* made here, stepping, not waiting for a lock */
    int reported;        /* its unbounded-pool finding is made */
} task_site;

typedef struct {
    PyObject *ref;       /* Owned: a weak reference whose callback drops this */
    unsigned long tid;   /* the task's logical thread */
    task_site *site;     /* where the program made it; NULL: not counted */
    uint32_t lock_waits; /* acquires of an asyncio Lock it waits in */
    int stepped;         /* its first step began */
    int in_flight;       /* counted in its site's in_flight */
} task_rec;

/* A task collected unfinished, remembered for a moment: the garbage
 * collector runs weak reference callbacks before finalizers, and a pending
 * task's finalizer is what tells the loop it was destroyed pending
 * (task_forget asks after it by its address, not reused until then). */
typedef struct {
    uintptr_t task;
    task_site *site;
    unsigned long tid;
} gone_task;

#define GONE_TASKS 64
static gone_task gone[GONE_TASKS];
static unsigned gone_next;

static cw_hashtable handles; /* Handle address -> made_rec */
static cw_hashtable tasks;   /* Task address -> task_rec */
static cw_hashtable sites;   /* task_site * (by file and line) -> itself */
/* The site of a (code, instruction) met lately: working a line out of the
 * line table costs more than the rest of a task's birth. Direct-mapped; an
 * entry holds its code so the address keeps naming it. */
#define LINE_CACHE 64
#define BIRTH_FRAMES 512 /* a task's creation stack and the library frames above it */
static struct line_cached {
    PyObject *code; /* Owned, or NULL */
    int lasti;
    task_site *site;
} line_cache[LINE_CACHE];
/* Whether a code object met lately runs a library's module (its globals'
 * __name__ answered by library_answers, which never changes an answer):
 * a birth asks for every frame out of asyncio. Direct-mapped, as above. */
#define LIBRARY_CACHE 64
static struct library_cached {
    PyObject *code; /* Owned, or NULL */
    int library;
} library_cache[LIBRARY_CACHE];
static int tables_ready;
static PyObject *task_types; /* a tuple of the Task classes */
/* Python's side (_tasks.py, _task_pools.py, _pools.py): */
static PyObject *spawn_hooks;  /* () : a task is born (the targets' retry point) */
static PyObject *is_library;   /* (module name) -> its frames are not the program's */
static PyObject *on_fanout;    /* (task, file, line, in flight, tid): a finding */
static PyObject *on_step;      /* (task): every step, while a waiter gave up */
static PyObject *on_finished;  /* (task, tid, file, line): an end, the same */
static PyObject *library_answers; /* _pools.py's: module name -> True/False */
static PyObject *task_gone_callable;
static long pool_backlog;    /* tasks of one line in flight that make a finding */
static int quiet;            /* inside an asyncio Lock's release: wake-ups carry nothing */
static int every_step;       /* a waiter gave up on some task: Python sees steps and ends */
static unsigned long eager_tid; /* the eager task being made (3.12+), 0: none */
static PyObject *eager_frame;   /* Owned: where the program made it */
static PyObject *str_callback, *str_self, *str_done, *str_get_name, *str_get_coro,
    *str_qualname, *str_name, *str_unknown;

static void drop_made(made_rec *rec)
{
    cw_vc_unref(rec->given);
    cw_free(rec);
}

static void drop_task(task_rec *rec)
{
    Py_XDECREF(rec->ref);
    cw_free(rec);
}

/* ---- where tasks are made ------------------------------------------------ */

static uint64_t site_hash(uintptr_t key)
{
    return (uint64_t)((const task_site *)key)->hash;
}

static bool site_eq(uintptr_t a, uintptr_t b)
{
    const task_site *x = (const task_site *)a, *y = (const task_site *)b;
    return x->line == y->line && PyUnicode_Compare(x->file, y->file) == 0;
}

/* The site of (file, line), made on first use; NULL without memory. */
static task_site *site_at(PyObject *file, int line)
{
    Py_hash_t h = PyObject_Hash(file);
    if (h == -1) {
        PyErr_Clear();
        return NULL;
    }
    task_site probe = {file, line, (Py_hash_t)cw_hash_word((uint64_t)h ^ (uint64_t)line), 0, 0};
    task_site *site = cw_ht_get(&sites, (uintptr_t)&probe);
    if (site != NULL)
        return site;
    if ((site = cw_malloc(CW_MEM_MISC, sizeof(*site))) == NULL)
        return NULL;
    *site = probe;
    Py_INCREF(file);
    if (cw_ht_put(&sites, (uintptr_t)site, site) < 0) {
        Py_DECREF(file);
        cw_free(site);
        return NULL;
    }
    return site;
}

/* The site of the instruction at byte offset lasti of code (borrowed). */
static task_site *site_of_code(PyCodeObject *code, int lasti)
{
    struct line_cached *c =
        &line_cache[cw_hash_word((uint64_t)(uintptr_t)code ^ (uint64_t)lasti) % LINE_CACHE];
    if (c->code == (PyObject *)code && c->lasti == lasti)
        return c->site;
    task_site *site = site_at(code->co_filename, PyCode_Addr2Line(code, lasti));
    if (site != NULL) {
        Py_INCREF(code);
        Py_XSETREF(c->code, (PyObject *)code);
        c->lasti = lasti;
        c->site = site;
    }
    return site;
}

/* The site of a frame (NULL: "?", line 0). */
static task_site *site_of_frame(PyObject *frame)
{
    if (frame == NULL || !PyFrame_Check(frame))
        return site_at(str_unknown, 0);
    PyCodeObject *code = cw_frame_code((PyFrameObject *)frame);
    task_site *site = site_of_code(code, cw_frame_lasti((PyFrameObject *)frame));
    Py_DECREF(code);
    return site;
}

/* Is code run with these globals (borrowed) a library's: the pools', the
 * event loop's, a hub's or cachewatch's, not the program's? Decided by its
 * module's name (_pools.py's rule and its table of answers: Python is asked
 * once a name). */
static int library_globals(PyObject *globals)
{
    PyObject *name = globals ? PyDict_GetItemWithError(globals, str_name) : NULL;
    int library = 0;
    if (name != NULL && PyUnicode_Check(name)) {
        PyObject *answer = PyDict_GetItemWithError(library_answers, name);
        Py_XINCREF(answer);
        if (answer == NULL && !PyErr_Occurred() &&
            (answer = PyObject_CallOneArg(is_library, name)) == NULL) { /* it fills the table */
            PyErr_Clear();
            cw_internal_failure("asking whether a module is a library's raised");
        }
        library = answer != NULL && PyObject_IsTrue(answer) == 1;
        Py_XDECREF(answer);
    }
    PyErr_Clear();
    return library;
}

/* The same for a running frame's code and globals (borrowed). */
static int library_code(PyCodeObject *code, PyObject *globals)
{
    struct library_cached *c = &library_cache[cw_hash_word((uintptr_t)code) % LIBRARY_CACHE];
    if (c->code == (PyObject *)code)
        return c->library;
    int library = library_globals(globals);
    Py_INCREF(code);
    Py_XSETREF(c->code, (PyObject *)code);
    c->library = library;
    return library;
}

/* "Task-3 (handle)": its name and its coroutine's, as _tasks.py names it,
 * written into out (an engine thread's name: no str is made for it). */
static void task_name(PyObject *task, char *out, size_t size)
{
    PyObject *name = PyObject_CallMethodNoArgs(task, str_get_name);
    PyObject *coro = PyObject_CallMethodNoArgs(task, str_get_coro);
    PyObject *qualname = coro != NULL ? PyObject_GetAttr(coro, str_qualname) : NULL;
    PyErr_Clear();
    PyObject *text = name != NULL && !PyUnicode_Check(name) ? PyObject_Str(name) : NULL;
    const char *n = text != NULL ? PyUnicode_AsUTF8(text)
                    : name != NULL ? PyUnicode_AsUTF8(name) : NULL;
    const char *q = qualname != NULL && PyUnicode_Check(qualname) ? PyUnicode_AsUTF8(qualname)
                                                                  : NULL;
    PyErr_Clear();
    if (n == NULL)
        snprintf(out, size, "Task");
    else if (q != NULL)
        snprintf(out, size, "%s (%s)", n, q);
    else
        snprintf(out, size, "%s", n);
    Py_XDECREF(text);
    Py_XDECREF(name);
    Py_XDECREF(coro);
    Py_XDECREF(qualname);
}

/* The task whose step or wake-up this Handle's callback is, or NULL (a new
 * reference; errors are cleared: a callback without __self__ is no task's). */
static PyObject *task_of(PyObject *handle)
{
    PyObject *cb = cw_optional_attr(handle, str_callback);
    if (cb == NULL)
        return NULL;
    PyObject *owner;
    if (PyCFunction_Check(cb)) {
        owner = PyCFunction_GET_SELF(cb);
        Py_XINCREF(owner);
    } else if (PyMethod_Check(cb)) {
        owner = PyMethod_GET_SELF(cb);
        Py_INCREF(owner);
    } else if (PyFunction_Check(cb)) {
        owner = NULL; /* gather's and the like: no task's step */
    } else {
        owner = cw_optional_attr(cb, str_self); /* 3.11's TaskStepMethWrapper */
    }
    Py_DECREF(cb);
    if (owner == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(task_types); i++)
        if (PyObject_TypeCheck(owner, (PyTypeObject *)PyTuple_GET_ITEM(task_types, i)))
            return owner;
    Py_DECREF(owner);
    return NULL;
}

static task_rec *find_task(PyObject *task)
{
    return tables_ready ? cw_ht_get(&tasks, (uintptr_t)task) : NULL;
}

/* task runs as tid from its next step on, counted at site. 0, or -1 (not
 * adopted: it runs as whoever made each of its Handles). */
static int adopt(PyObject *task, unsigned long tid, task_site *site)
{
    task_rec *rec = cw_malloc(CW_MEM_MISC, sizeof(*rec));
    if (rec == NULL) {
        cw_internal_failure("no memory for a task's record");
        return -1;
    }
    rec->tid = tid;
    rec->site = site;
    rec->lock_waits = 0;
    rec->stepped = rec->in_flight = 0;
    rec->ref = PyWeakref_NewRef(task, task_gone_callable);
    if (rec->ref == NULL) {
        PyErr_Clear(); /* a Task subclass without weak references */
        cw_free(rec);
        return -1;
    }
    task_rec *old = cw_ht_remove(&tasks, (uintptr_t)task);
    if (old != NULL)
        drop_task(old);
    for (unsigned i = 0; i < GONE_TASKS; i++)
        if (gone[i].task == (uintptr_t)task)
            gone[i].task = 0; /* its address is a new task's now */
    if (cw_ht_put(&tasks, (uintptr_t)task, rec) < 0) {
        drop_task(rec);
        cw_internal_failure("no memory for a task's record");
        return -1;
    }
    return 0;
}

static void call_quietly(PyObject *fn, PyObject *args) /* args: a tuple, stolen */
{
    PyObject *res = args != NULL ? PyObject_Call(fn, args, NULL) : NULL;
    if (res == NULL)
        PyErr_Clear(); /* guarded on the Python side: it has said why */
    Py_XDECREF(res);
    Py_XDECREF(args);
}

/* Births need not call spawn_hooks while the callbacks a birth last ran all
 * said there is nothing left for them to do (task_births_quiet): the same
 * callbacks (the list holds the same items), no fork since (a child has its
 * catching up to do) and no watch target added since (Python wakes them). */
static PyObject *quiet_list;  /* Owned: the callbacks' list then, or NULL */
static PyObject *quiet_items; /* Owned: a tuple of its items then */
static unsigned quiet_fork_gen;

static int births_quiet(void)
{
    if (quiet_list == NULL || __atomic_load_n(&cw_fork_gen, __ATOMIC_ACQUIRE) != quiet_fork_gen)
        return 0;
    Py_ssize_t n = PyList_GET_SIZE(quiet_list);
    if (n != PyTuple_GET_SIZE(quiet_items))
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyList_GET_ITEM(quiet_list, i) != PyTuple_GET_ITEM(quiet_items, i))
            return 0;
    return 1;
}

/* task_births_quiet(callbacks or None): the birth callbacks (a list) have
 * nothing to do until they change, a fork or a new target; None: they may. */
static PyObject *py_task_births_quiet(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_CLEAR(quiet_list);
    Py_CLEAR(quiet_items);
    if (arg == Py_None)
        Py_RETURN_NONE;
    if (!PyList_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "task_births_quiet wants the list of callbacks or None");
        return NULL;
    }
    if ((quiet_items = PyList_AsTuple(arg)) == NULL)
        return NULL;
    Py_INCREF(arg);
    quiet_list = arg;
    quiet_fork_gen = __atomic_load_n(&cw_fork_gen, __ATOMIC_ACQUIRE);
    Py_RETURN_NONE;
}

/* Its first step was scheduled, by whoever made it: the task is born (or
 * it is the eager task being made, whose thread exists). */
static void born(PyObject *task)
{
    if (eager_tid) {
        adopt(task, eager_tid, site_of_frame(eager_frame));
        return;
    }
    if (!births_quiet())
        call_quietly(spawn_hooks, PyTuple_New(0));
    /* Made where the program's own innermost frame is, read from the
     * running frames as the interpreter keeps them: walking out of the
     * library with PyFrame_GetBack would make a frame object for each. */
    PyCodeObject *codes[BIRTH_FRAMES];
    int lastis[BIRTH_FRAMES];
    PyObject *globals[BIRTH_FRAMES];
    int n = cw_current_code_frames_globals(codes, lastis, globals, BIRTH_FRAMES);
    int k = 0;
    while (k < n && library_code(codes[k], globals[k]))
        k++;
    char name[CW_NAME_MAX];
    task_name(task, name, sizeof(name));
    cw_stack_id made_at = cw_stack_of_code_frames(codes + k, lastis + k, n - k);
    unsigned long tid = cw_logical_spawn_at(name, NULL, made_at);
    if (tid)
        adopt(task, tid, k < n ? site_of_code(codes[k], lastis[k]) : site_at(str_unknown, 0));
}

/* Its first step: in flight from now until it waits for a lock or ends (a
 * task made and not yet run holds nothing). */
static void first_step(PyObject *task, task_rec *rec)
{
    task_site *site = rec->site;
    if (site == NULL)
        return;
    rec->in_flight = 1;
    long n = ++site->in_flight;
    if (n >= pool_backlog && !site->reported) {
        site->reported = 1;
        call_quietly(on_fanout, Py_BuildValue("(OOlkk)", task, site->file, (long)site->line,
                                              (unsigned long)n, rec->tid));
    }
}

/* No longer in flight (it ended, or was destroyed pending). */
static void settle(task_rec *rec)
{
    if (rec->in_flight && rec->lock_waits == 0 && rec->site != NULL)
        rec->site->in_flight--;
    rec->in_flight = 0;
    rec->lock_waits = 0;
}

/* A step ended: a finished task publishes its clock on itself (what
 * task.result() and awaiting it receive) and its logical thread ends. */
static void end_if_done(PyObject *task, unsigned long tid)
{
    PyObject *done = PyObject_CallMethodNoArgs(task, str_done);
    int finished = done != NULL && PyObject_IsTrue(done) == 1;
    Py_XDECREF(done);
    PyErr_Clear();
    task_rec *rec = finished ? cw_ht_remove(&tasks, (uintptr_t)task) : NULL;
    if (rec == NULL)
        return;
    settle(rec);
    if (every_step && rec->site != NULL)
        call_quietly(on_finished, Py_BuildValue("(OkOl)", task, rec->tid, rec->site->file,
                                                (long)rec->site->line));
    drop_task(rec);
    Py_XDECREF(cw_py_publish(NULL, task));
    PyErr_Clear();
    cw_logical_end(tid);
}

/* Handle.__init__'s after: who made it, and what they knew. */
static PyObject *py_task_handle_made(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1 || !tables_ready)
        Py_RETURN_NONE;
    PyObject *handle = args[0];
    /* An earlier Handle's at this address that never ran: never this one's. */
    made_rec *old = cw_ht_remove(&handles, (uintptr_t)handle);
    if (old != NULL)
        drop_made(old);
    if (cw_logical_running() == NULL)
        Py_RETURN_NONE;
    PyObject *task = task_of(handle);
    if (task != NULL && find_task(task) == NULL)
        born(task); /* its first step, scheduled by whoever made it */
    Py_XDECREF(task); /* the callback holds it */
    cw_thread *maker = cw_logical_running();
    made_rec *rec = cw_malloc(CW_MEM_MISC, sizeof(*rec));
    if (rec == NULL || maker == NULL) {
        cw_free(rec);
        Py_RETURN_NONE;
    }
    rec->maker = maker->number;
    /* Nothing watched: it carries nothing (hooks_sync.c's publish says why). */
    rec->given = quiet || !cw_shadow_any_watched() ? NULL : cw_logical_hand_off(maker);
    rec->task = task;
    if (cw_ht_put(&handles, (uintptr_t)handle, rec) < 0) {
        drop_made(rec);
        cw_internal_failure("no memory for a Handle's record");
    }
    Py_RETURN_NONE;
}

/* Handle._run's before: switch to the task (or the maker), which receives
 * what the maker knew. Returns the state step_ends needs. */
static PyObject *py_task_step_begins(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1 || !tables_ready || cw_logical_running() == NULL)
        Py_RETURN_NONE;
    PyObject *handle = args[0];
    made_rec *rec = cw_ht_remove(&handles, (uintptr_t)handle);
    unsigned long maker = rec ? rec->maker : 0;
    PyObject *task = rec ? rec->task : NULL;
    if (task != NULL)
        Py_INCREF(task);
    else if (rec == NULL)
        task = task_of(handle); /* made before the hooks were */
    task_rec *trec = task ? find_task(task) : NULL;
    unsigned long tid = trec ? trec->tid : maker;
    int first = trec != NULL && !trec->stepped;
    if (trec != NULL)
        trec->stepped = 1;
    unsigned long left = rec ? cw_logical_switch_to_from(tid, rec->given, rec->maker)
                             : cw_logical_switch_to(tid, NULL);
    if (rec != NULL)
        drop_made(rec);
    if (task == NULL)
        return PyLong_FromUnsignedLong(left);
    if (first)
        first_step(task, trec);
    if (trec != NULL && every_step)
        call_quietly(on_step, PyTuple_Pack(1, task));
    PyObject *state = Py_BuildValue("(Nkk)", task, tid, left);
    return state;
}

/* Handle._run's after: a finished task ends; the one left runs again. */
static PyObject *py_task_step_ends(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 2 || !tables_ready)
        Py_RETURN_NONE;
    PyObject *state = args[1];
    unsigned long left;
    if (PyTuple_Check(state) && PyTuple_GET_SIZE(state) == 3) {
        end_if_done(PyTuple_GET_ITEM(state, 0),
                    PyLong_AsUnsignedLong(PyTuple_GET_ITEM(state, 1)));
        left = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(state, 2));
    } else if (PyLong_Check(state)) {
        left = PyLong_AsUnsignedLong(state);
    } else {
        Py_RETURN_NONE;
    }
    PyErr_Clear();
    cw_logical_switch_to(left, NULL);
    Py_RETURN_NONE;
}

/* Handle.cancel's before: it will never run. */
static PyObject *py_task_handle_cancelled(PyObject *self, PyObject *const *args,
                                          Py_ssize_t nargs)
{
    (void)self;
    made_rec *rec = nargs >= 1 && tables_ready ? cw_ht_remove(&handles, (uintptr_t)args[0])
                                                : NULL;
    if (rec != NULL)
        drop_made(rec);
    Py_RETURN_NONE;
}

/* The weak reference's callback: a task collected unfinished (destroyed
 * pending). Rare, so found by a scan. Its thread ends (on its home only). */
static PyObject *py_task_gone(PyObject *self, PyObject *ref)
{
    (void)self;
    size_t pos = 0;
    uintptr_t key;
    void *value;
    while (tables_ready && cw_ht_next(&tasks, &pos, &key, &value)) {
        task_rec *rec = value;
        if (rec->ref == ref) {
            unsigned long tid = rec->tid;
            cw_ht_remove(&tasks, key);
            settle(rec);
            if (rec->site != NULL)
                gone[gone_next++ % GONE_TASKS] = (gone_task){key, rec->site, tid};
            drop_task(rec);
            cw_logical_end(tid);
            break;
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef task_gone_def = {"task_gone", py_task_gone, METH_O, NULL};

static void clear_tables(void)
{
    if (!tables_ready)
        return;
    size_t pos = 0;
    uintptr_t key;
    void *value;
    while (cw_ht_next(&handles, &pos, &key, &value))
        drop_made(value);
    pos = 0;
    while (cw_ht_next(&tasks, &pos, &key, &value))
        drop_task(value);
    pos = 0;
    while (cw_ht_next(&sites, &pos, &key, &value)) {
        Py_DECREF(((task_site *)value)->file);
        cw_free(value);
    }
    cw_ht_fini(&handles);
    cw_ht_fini(&tasks);
    cw_ht_fini(&sites);
    for (int i = 0; i < LINE_CACHE; i++) /* its sites are gone */
        Py_CLEAR(line_cache[i].code);
    for (int i = 0; i < LIBRARY_CACHE; i++)
        Py_CLEAR(library_cache[i].code);
    Py_CLEAR(eager_frame);
    eager_tid = 0;
    memset(gone, 0, sizeof(gone));
    tables_ready = 0;
}

/* task_steps_install(task_types, spawn_hooks, is_library, library_answers,
 * fanout, step, finished, pool_backlog): the Python side (see the statics
 * above). */
static PyObject *py_task_steps_install(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *types, *answers, *fns[5];
    long backlog;
    if (!PyArg_ParseTuple(args, "O!OOO!OOOl:task_steps_install", &PyTuple_Type, &types,
                          &fns[0], &fns[1], &PyDict_Type, &answers, &fns[2], &fns[3], &fns[4],
                          &backlog))
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(types); i++)
        if (!PyType_Check(PyTuple_GET_ITEM(types, i))) {
            PyErr_SetString(PyExc_TypeError, "task_steps_install: task_types must be classes");
            return NULL;
        }
    clear_tables();
    if (task_gone_callable == NULL &&
        (task_gone_callable = PyCFunction_New(&task_gone_def, NULL)) == NULL)
        return NULL;
    if (cw_ht_init(&handles, 64, NULL, NULL, CW_MEM_MISC) < 0 ||
        cw_ht_init(&tasks, 64, NULL, NULL, CW_MEM_MISC) < 0 ||
        cw_ht_init(&sites, 16, site_hash, site_eq, CW_MEM_MISC) < 0) {
        cw_ht_fini(&handles);
        cw_ht_fini(&tasks);
        return PyErr_NoMemory();
    }
    PyObject **slots[5] = {&spawn_hooks, &is_library, &on_fanout, &on_step, &on_finished};
    for (int i = 0; i < 5; i++) {
        Py_INCREF(fns[i]);
        Py_XSETREF(*slots[i], fns[i]);
    }
    Py_INCREF(types);
    Py_XSETREF(task_types, types);
    Py_INCREF(answers);
    Py_XSETREF(library_answers, answers);
    pool_backlog = backlog;
    quiet = every_step = 0;
    tables_ready = 1;
    Py_RETURN_NONE;
}

static PyObject *py_task_steps_clear(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    clear_tables();
    Py_CLEAR(task_types);
    Py_CLEAR(spawn_hooks);
    Py_CLEAR(is_library);
    Py_CLEAR(on_fanout);
    Py_CLEAR(on_step);
    Py_CLEAR(on_finished);
    Py_CLEAR(library_answers);
    Py_CLEAR(quiet_list);
    Py_CLEAR(quiet_items);
    Py_RETURN_NONE;
}

/* task_steps_quiet(delta): entering (1) or leaving (-1) a lock's release. */
static PyObject *py_task_steps_quiet(PyObject *self, PyObject *arg)
{
    (void)self;
    long delta = PyLong_AsLong(arg);
    if (delta == -1 && PyErr_Occurred())
        return NULL;
    quiet += (int)delta;
    Py_RETURN_NONE;
}

/* task_steps_every_step(flag): tell Python of every step and end. */
static PyObject *py_task_steps_every_step(PyObject *self, PyObject *arg)
{
    (void)self;
    int flag = PyObject_IsTrue(arg);
    if (flag < 0)
        return NULL;
    every_step = flag;
    Py_RETURN_NONE;
}

/* task_eager(tid, frame): the eager task being made (tid 0: none now). */
static PyObject *py_task_eager(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *frame;
    unsigned long tid;
    if (!PyArg_ParseTuple(args, "kO:task_eager", &tid, &frame))
        return NULL;
    eager_tid = tid;
    Py_INCREF(frame);
    Py_XSETREF(eager_frame, frame);
    Py_RETURN_NONE;
}

/* task_eager_end(task, tid, frame): an eager task's first step, run inside
 * create_task with no Handle, is over: it is adopted if no Handle of its
 * own did so, in flight from that step, and ends if it is done. */
static PyObject *py_task_eager_end(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *task, *frame;
    unsigned long tid;
    if (!PyArg_ParseTuple(args, "OkO:task_eager_end", &task, &tid, &frame))
        return NULL;
    if (!tables_ready || !tid)
        Py_RETURN_NONE;
    task_rec *rec = find_task(task);
    if (rec == NULL && adopt(task, tid, site_of_frame(frame)) == 0)
        rec = find_task(task);
    if (rec != NULL && !rec->stepped) {
        rec->stepped = 1;
        first_step(task, rec);
    }
    end_if_done(task, tid);
    Py_RETURN_NONE;
}

/* task_info(task) -> (file, line, tid) where it was made and its thread, or
 * None: not a task the pools count (unknown, or forgotten as destroyed). */
static PyObject *py_task_info(PyObject *self, PyObject *task)
{
    (void)self;
    task_rec *rec = find_task(task);
    if (rec == NULL || rec->site == NULL)
        Py_RETURN_NONE;
    return Py_BuildValue("(Olk)", rec->site->file, (long)rec->site->line, rec->tid);
}

/* task_forget(task) -> task_info(task) as it was: a task destroyed pending
 * is no longer in flight nor counted (its thread lives until collected). */
static PyObject *py_task_forget(PyObject *self, PyObject *task)
{
    task_rec *rec = find_task(task);
    if (rec != NULL) {
        PyObject *info = py_task_info(self, task);
        settle(rec);
        rec->site = NULL;
        return info;
    }
    for (unsigned i = 0; tables_ready && i < GONE_TASKS; i++)
        if (gone[i].task == (uintptr_t)task) {
            gone[i].task = 0;
            return Py_BuildValue("(Olk)", gone[i].site->file, (long)gone[i].site->line,
                                 gone[i].tid);
        }
    Py_RETURN_NONE;
}

/* task_lock_wait(task, entering): it began or ended waiting in an asyncio
 * Lock's or Semaphore's acquire (a task waiting there is not in flight). */
static PyObject *py_task_lock_wait(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *task;
    int entering;
    if (!PyArg_ParseTuple(args, "Op:task_lock_wait", &task, &entering))
        return NULL;
    task_rec *rec = find_task(task);
    if (rec == NULL || !rec->in_flight || rec->site == NULL)
        Py_RETURN_NONE;
    if (entering) {
        if (rec->lock_waits++ == 0)
            rec->site->in_flight--;
    } else if (rec->lock_waits > 0 && --rec->lock_waits == 0) {
        rec->site->in_flight++;
    }
    Py_RETURN_NONE;
}

static PyMethodDef task_step_methods[] = {
    {"task_steps_install", py_task_steps_install, METH_VARARGS,
     "task_steps_install(task_types, spawn_hooks, is_library, library_answers, fanout, step, "
     "finished, pool_backlog): the hooks' Python side."},
    {"task_steps_clear", py_task_steps_clear, METH_NOARGS, "Forget every Handle and task."},
    {"task_births_quiet", py_task_births_quiet, METH_O,
     "task_births_quiet(callbacks or None): a birth need not call them until they change, a "
     "fork or None."},
    {"task_steps_quiet", py_task_steps_quiet, METH_O,
     "task_steps_quiet(delta): inside a lock's release, Handles made carry nothing."},
    {"task_steps_every_step", py_task_steps_every_step, METH_O,
     "task_steps_every_step(flag): Python is told of every step and end."},
    {"task_handle_made", (PyCFunction)(void (*)(void))py_task_handle_made, METH_FASTCALL,
     "Handle.__init__'s after."},
    {"task_step_begins", (PyCFunction)(void (*)(void))py_task_step_begins, METH_FASTCALL,
     "Handle._run's before."},
    {"task_step_ends", (PyCFunction)(void (*)(void))py_task_step_ends, METH_FASTCALL,
     "Handle._run's after."},
    {"task_handle_cancelled", (PyCFunction)(void (*)(void))py_task_handle_cancelled,
     METH_FASTCALL, "Handle.cancel's before."},
    {"task_eager", py_task_eager, METH_VARARGS,
     "task_eager(tid, frame): the eager task being made (0: none)."},
    {"task_eager_end", py_task_eager_end, METH_VARARGS,
     "task_eager_end(task, tid, frame): an eager task's first step is over."},
    {"task_info", py_task_info, METH_O,
     "task_info(task) -> (file, line, tid), or None when the pools do not count it."},
    {"task_forget", py_task_forget, METH_O,
     "task_forget(task) -> task_info(task): destroyed pending, no longer counted."},
    {"task_lock_wait", py_task_lock_wait, METH_VARARGS,
     "task_lock_wait(task, entering): waiting in an asyncio Lock's acquire or not."},
    {NULL, NULL, 0, NULL},
};

int cw_task_steps_init(PyObject *module)
{
    if ((str_callback = PyUnicode_InternFromString("_callback")) == NULL ||
        (str_self = PyUnicode_InternFromString("__self__")) == NULL ||
        (str_done = PyUnicode_InternFromString("done")) == NULL ||
        (str_get_name = PyUnicode_InternFromString("get_name")) == NULL ||
        (str_get_coro = PyUnicode_InternFromString("get_coro")) == NULL ||
        (str_qualname = PyUnicode_InternFromString("__qualname__")) == NULL ||
        (str_name = PyUnicode_InternFromString("__name__")) == NULL ||
        (str_unknown = PyUnicode_InternFromString("?")) == NULL)
        return -1;
    return PyModule_AddFunctions(module, task_step_methods);
}
