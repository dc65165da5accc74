/* pool_tasks.c: what the pool monitor (cachewatch/_pools.py) knows of each
 * task of a watched executor, kept in C. Submit, start and finish run for
 * every task of every pool; as Python they cost more than the task's own
 * hand-offs (three frames and a record a task). Python is called only on a
 * finding (a backlog past pool_backlog, a task that waited pool_wait_ms),
 * when a waiter gives up (a timeout), and while some task is given up on.
 *
 * PoolState is the base class of _pools._Pool: what submit and start read
 * and write. A task's record lives from its submit (or its start, when a
 * worker took it before submit returned) to its finish or cancel, and holds
 * its Future, as the pool's queue does. A waiter that gives up hands the
 * record a follower (_pools._Task): its finish time is written there.
 *
 * Without the GIL: the tables are the binding's, touched only from calls
 * made with the GIL held (the module declares Py_MOD_GIL_USED); a
 * free-threaded port guards both with one PyMutex and calls Python (the
 * rare paths above) outside it. */
#include "binding.h"

#include <stdarg.h>
#include <structmember.h>
#include <time.h>

#include "hashtable.h"
#include "memory.h"

#define BACKLOG_POINTS 256 /* kept for the report; every other dropped when full */

typedef struct {
    PyObject_HEAD
    PyObject *queues;   /* Owned: names of the executor's queues, whose qsize()
                           add up to its backlog (empty: bounded) */
    double made_at;     /* monotonic seconds */
    double max_wait;    /* longest a task waited for a worker, seconds */
    char bounded, reported;
    int npoints;
    int32_t points[BACKLOG_POINTS + 1][2]; /* [ms since made, tasks waiting] */
} PoolState;

typedef struct {
    PyObject *future;   /* Owned */
    PoolState *pool;    /* Owned; NULL while submit has not returned it */
    double submitted, started, finished; /* monotonic seconds; < 0: not yet */
    unsigned long worker, worker_tid;    /* the thread running it (ident, tid) */
    PyObject *follower; /* Owned: the _Task of a waiter that gave up, or NULL */
} task_rec;

static cw_hashtable pools; /* executor address -> PoolState (owned) */
static cw_hashtable tasks; /* future address -> task_rec */
static int tables_ready;

/* Set by pool_monitor_setup: the Future class, the timeout errors, and
 * _pools' callbacks for the rare paths. */
static PyObject *future_type, *timeout_errors, *abandoned, *on_backlog, *on_wait,
    *on_gave_up, *on_still_wanted;
static PyObject *str_state, *str_running, *str_finished, *str_cancelled,
    *str_cancelled_notified, *str_qsize, *str_follower_finished;

static PyObject *owned(PyObject *o) /* Py_NewRef, which 3.9 lacks */
{
    Py_INCREF(o);
    return o;
}

static double monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* time.monotonic()'s clock */
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int ensure_tables(void)
{
    if (tables_ready)
        return 0;
    if (cw_ht_init(&pools, 16, NULL, NULL, CW_MEM_MISC) < 0)
        return -1;
    if (cw_ht_init(&tasks, 64, NULL, NULL, CW_MEM_MISC) < 0) {
        cw_ht_fini(&pools);
        return -1;
    }
    tables_ready = 1;
    return 0;
}

/* ---- PoolState ------------------------------------------------------------ */

static PyObject *pool_state_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args; /* the subclass's __init__ takes them */
    (void)kwds;
    PoolState *p = (PoolState *)type->tp_alloc(type, 0);
    if (p == NULL)
        return NULL;
    p->queues = PyTuple_New(0);
    if (p->queues == NULL) {
        Py_DECREF(p);
        return NULL;
    }
    p->made_at = monotonic_now();
    return (PyObject *)p;
}

static void pool_state_dealloc(PoolState *p)
{
    Py_CLEAR(p->queues);
    Py_TYPE(p)->tp_free((PyObject *)p);
}

static int pool_state_set_queues(PoolState *p, PyObject *value, void *closure)
{
    (void)closure;
    if (value == NULL || !PyTuple_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "queues: a tuple of attribute names");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(value); i++)
        if (!PyUnicode_Check(PyTuple_GET_ITEM(value, i))) {
            PyErr_SetString(PyExc_TypeError, "queues: a tuple of attribute names");
            return -1;
        }
    Py_INCREF(value);
    Py_SETREF(p->queues, value);
    return 0;
}

static PyObject *pool_state_get_queues(PoolState *p, void *closure)
{
    (void)closure;
    Py_INCREF(p->queues);
    return p->queues;
}

/* The backlog's course as [[ms since made, tasks waiting], ...]. */
static PyObject *pool_state_get_backlog(PoolState *p, void *closure)
{
    (void)closure;
    PyObject *list = PyList_New(p->npoints);
    for (int i = 0; list != NULL && i < p->npoints; i++) {
        PyObject *point = Py_BuildValue("[ii]", p->points[i][0], p->points[i][1]);
        if (point == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, point);
    }
    return list;
}

static void sample_backlog(PoolState *p, long waiting, double now)
{
    double ms = (now - p->made_at) * 1000.0;
    p->points[p->npoints][0] = ms < INT32_MAX ? (int32_t)ms : INT32_MAX;
    p->points[p->npoints][1] = waiting < INT32_MAX ? (int32_t)waiting : INT32_MAX;
    if (++p->npoints > BACKLOG_POINTS) { /* keep the shape: drop every other one */
        int kept = 1;
        for (int i = 2; i < p->npoints; i += 2)
            memcpy(p->points[kept++], p->points[i], sizeof(p->points[0]));
        p->npoints = kept;
    }
}

static PyMemberDef pool_state_members[] = {
    {"made_at", T_DOUBLE, offsetof(PoolState, made_at), READONLY, "When it was made (monotonic)."},
    {"max_wait", T_DOUBLE, offsetof(PoolState, max_wait), 0,
     "Longest a task waited for a worker, in seconds."},
    {"bounded", T_BOOL, offsetof(PoolState, bounded), 0, "Its backlog has a bound."},
    {"reported", T_BOOL, offsetof(PoolState, reported), 0,
     "Its unbounded-pool finding is made: its backlog is no longer sampled."},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef pool_state_getset[] = {
    {"queues", (getter)pool_state_get_queues, (setter)pool_state_set_queues,
     "Attribute names of the executor's queues: their qsize() add up to its backlog.", NULL},
    {"backlog", (getter)pool_state_get_backlog, NULL,
     "[[ms since made, tasks waiting], ...] at submits, at most 256 points.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject PoolState_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cachewatch.PoolState",
    .tp_basicsize = sizeof(PoolState),
    .tp_dealloc = (destructor)pool_state_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "What the pool monitor's C half keeps of one executor (the base of _Pool).",
    .tp_members = pool_state_members,
    .tp_getset = pool_state_getset,
    .tp_new = pool_state_new,
};

/* ---- tasks ------------------------------------------------------------------ */

static void task_free(task_rec *t)
{
    Py_XDECREF(t->future);
    Py_XDECREF((PyObject *)t->pool);
    Py_XDECREF(t->follower);
    cw_free(t);
}

static task_rec *task_new(PyObject *future, PoolState *pool)
{
    task_rec *t = cw_calloc(CW_MEM_MISC, 1, sizeof(*t));
    if (t == NULL || cw_ht_put(&tasks, (uintptr_t)future, t) < 0) {
        cw_free(t);
        PyErr_NoMemory();
        return NULL;
    }
    Py_INCREF(future);
    t->future = future;
    Py_XINCREF((PyObject *)pool);
    t->pool = pool;
    t->submitted = t->started = t->finished = -1.0;
    return t;
}

static task_rec *task_of(PyObject *future)
{
    return tables_ready ? cw_ht_get(&tasks, (uintptr_t)future) : NULL;
}

/* The future's _state is one of these (an attribute read, never a method
 * call: done() is a hand-off hook, and our bookkeeping must not make one). */
static int state_is(PyObject *future, PyObject *const *names, int n)
{
    PyObject *state = PyObject_GetAttr(future, str_state);
    if (state == NULL) {
        PyErr_Clear();
        return 0;
    }
    int found = 0;
    for (int i = 0; i < n && !found; i++)
        found = state == names[i] || PyUnicode_Compare(state, names[i]) == 0;
    Py_DECREF(state);
    return found;
}

static int is_done(PyObject *future)
{
    PyObject *done[3] = {str_finished, str_cancelled, str_cancelled_notified};
    return state_is(future, done, 3);
}

/* Call one of _pools' callbacks (a finding, a waiter that gave up: rare
 * paths) with Py_BuildValue's arguments: 0, or -1 with its error. */
static int call_back(PyObject *fn, const char *format, ...)
{
    va_list va;
    va_start(va, format);
    PyObject *args = Py_VaBuildValue(format, va);
    va_end(va);
    PyObject *res = args ? PyObject_CallObject(fn, args) : NULL;
    Py_XDECREF(args);
    Py_XDECREF(res);
    return res == NULL ? -1 : 0;
}

/* The executor's backlog: its queues' qsize() added up (-1: not known). A
 * queue.Queue's qsize takes its mutex: busy, so that is no hand-off. */
static long backlog_of(PyObject *executor, PoolState *pool)
{
    long total = 0;
    cw_tls_state.busy++;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(pool->queues) && total >= 0; i++) {
        PyObject *queue = PyObject_GetAttr(executor, PyTuple_GET_ITEM(pool->queues, i));
        PyObject *size = queue ? PyObject_CallMethodNoArgs(queue, str_qsize) : NULL;
        long n = size ? PyLong_AsLong(size) : -1;
        Py_XDECREF(queue);
        Py_XDECREF(size);
        if (n < 0) {
            PyErr_Clear();
            total = -1;
        } else {
            total += n;
        }
    }
    cw_tls_state.busy--;
    return total;
}

/* pool_watch(executor, pool): submits to executor are pool's tasks. */
static PyObject *py_pool_watch(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyObject_TypeCheck(args[1], &PoolState_Type)) {
        PyErr_SetString(PyExc_TypeError, "pool_watch(executor, pool)");
        return NULL;
    }
    if (ensure_tables() < 0)
        return PyErr_NoMemory();
    PoolState *old = cw_ht_get(&pools, (uintptr_t)args[0]);
    if (cw_ht_put(&pools, (uintptr_t)args[0], args[1]) < 0)
        return PyErr_NoMemory();
    Py_INCREF(args[1]);
    Py_XDECREF((PyObject *)old);
    Py_RETURN_NONE;
}

/* pool_forget(id(executor)): it is gone (a weakref.finalize of _pools). */
static PyObject *py_pool_forget(PyObject *self, PyObject *arg)
{
    (void)self;
    void *address = PyLong_AsVoidPtr(arg);
    if (address == NULL && PyErr_Occurred())
        return NULL;
    PoolState *p = tables_ready ? cw_ht_remove(&pools, (uintptr_t)address) : NULL;
    Py_XDECREF((PyObject *)p);
    Py_RETURN_NONE;
}

/* pool_tasks_clear(): forget every pool and task (a fork's child, a stop). */
static PyObject *py_pool_tasks_clear(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    if (!tables_ready)
        Py_RETURN_NONE;
    /* Empty the tables before any decref: a Future's or pool's finalizer
     * may call back in here. */
    size_t n = cw_ht_size(&tasks) + cw_ht_size(&pools), k = 0;
    void **values = PyMem_Malloc((n ? n : 1) * sizeof(void *));
    if (values == NULL)
        return PyErr_NoMemory();
    size_t pos = 0;
    uintptr_t key;
    void *value;
    while (cw_ht_next(&tasks, &pos, &key, &value))
        values[k++] = value;
    size_t ntasks = k;
    for (pos = 0; cw_ht_next(&pools, &pos, &key, &value);)
        values[k++] = value;
    cw_ht_fini(&tasks);
    cw_ht_fini(&pools);
    tables_ready = 0;
    for (size_t i = 0; i < k; i++) {
        if (i < ntasks)
            task_free(values[i]);
        else
            Py_DECREF((PyObject *)values[i]);
    }
    PyMem_Free(values);
    Py_RETURN_NONE;
}

/* pool_submitted(executor, state, result, error_type): an Around's after,
 * with the outcome, of submit() and its kin. */
static PyObject *py_pool_submitted(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 4)
        return PyErr_Format(PyExc_TypeError, "pool_submitted: 4 arguments, got %zd", nargs);
    PyObject *executor = args[0], *result = args[2];
    PoolState *pool = tables_ready ? cw_ht_get(&pools, (uintptr_t)executor) : NULL;
    if (args[3] != Py_None || pool == NULL)
        Py_RETURN_NONE; /* it raised, or a pool made before checking began */
    double now = monotonic_now();
    if (future_type != NULL && PyObject_TypeCheck(result, (PyTypeObject *)future_type)) {
        task_rec *t = task_of(result);
        if (t != NULL) { /* a worker took it before submit() returned: no wait */
            Py_INCREF((PyObject *)pool);
            Py_XSETREF(t->pool, pool);
            t->submitted = t->started;
        } else if (!is_done(result)) {
            if ((t = task_new(result, pool)) == NULL)
                return NULL;
            t->submitted = now;
        }
    }
    if (pool->bounded || pool->reported)
        Py_RETURN_NONE;
    long backlog = backlog_of(executor, pool);
    if (backlog < 0)
        Py_RETURN_NONE;
    sample_backlog(pool, backlog, now);
    if (backlog > cw_options.pool_backlog && call_back(on_backlog, "(Ol)", (PyObject *)pool, backlog) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* pool_task_started(future, state): set_running_or_notify_cancel's after. */
static PyObject *py_pool_task_started(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1)
        return PyErr_Format(PyExc_TypeError, "pool_task_started(future, state)");
    PyObject *future = args[0];
    if (!state_is(future, &str_running, 1))
        Py_RETURN_NONE; /* cancelled instead: it will not run */
    if (ensure_tables() < 0)
        return PyErr_NoMemory();
    task_rec *t = task_of(future);
    if (t == NULL && (t = task_new(future, NULL)) == NULL)
        return NULL;
    t->started = monotonic_now();
    t->worker = PyThread_get_thread_ident();
    cw_thread *me = cw_engine_ready ? cw_current_thread() : NULL;
    t->worker_tid = me ? me->number : 0;
    PoolState *pool = t->pool;
    if (pool == NULL)
        Py_RETURN_NONE;
    double waited = t->started - t->submitted;
    if (waited > pool->max_wait)
        pool->max_wait = waited;
    int limit = cw_options.pool_wait_ms;
    if (!pool->bounded && !pool->reported && limit > 0 && waited * 1000.0 > limit &&
        call_back(on_wait, "(Odk)", (PyObject *)pool, waited, t->worker_tid) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* pool_task_finished(future, *result): set_result's and set_exception's
 * before. */
static PyObject *py_pool_task_finished(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1)
        return PyErr_Format(PyExc_TypeError, "pool_task_finished(future, ...)");
    task_rec *t = tables_ready ? cw_ht_remove(&tasks, (uintptr_t)args[0]) : NULL;
    if (t == NULL)
        Py_RETURN_NONE;
    int ok = 1;
    if (t->follower != NULL) {
        PyObject *when = PyFloat_FromDouble(monotonic_now());
        ok = when != NULL && PyObject_SetAttr(t->follower, str_follower_finished, when) == 0;
        Py_XDECREF(when);
    }
    task_free(t);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

/* pool_wait_begins(future, timeout=None) -> timeout: result()'s and
 * exception()'s before, keeping the timeout for the message. */
static PyObject *py_pool_wait_begins(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames)
{
    (void)self;
    PyObject *timeout = nargs >= 2 ? args[1] : Py_None;
    for (Py_ssize_t i = 0; kwnames != NULL && i < PyTuple_GET_SIZE(kwnames); i++)
        if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, i), "timeout") == 0)
            timeout = args[nargs + i];
    Py_INCREF(timeout);
    return timeout;
}

/* After result() or exception(): a timeout gave up on the future; anything
 * else means it is wanted (it had been given up on, maybe). */
static PyObject *waited(const char *how, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4)
        return PyErr_Format(PyExc_TypeError, "%s waited: 4 arguments, got %zd", how, nargs);
    PyObject *future = args[0], *timeout = args[1], *error = args[3];
    int timed_out = error != Py_None && timeout_errors != NULL &&
                    PyObject_IsSubclass(error, timeout_errors) == 1;
    PyErr_Clear(); /* PyObject_IsSubclass's, if any: not a timeout */
    int rc = 0;
    if (timed_out)
        rc = call_back(on_gave_up, "(ON)", future,
                       PyUnicode_FromFormat("%s(timeout=%S) ran out", how, timeout));
    else if (abandoned != NULL && PyDict_GET_SIZE(abandoned) > 0)
        rc = call_back(on_still_wanted, "(O)", future);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_pool_result_waited(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    return waited("result", args, nargs);
}

static PyObject *py_pool_exception_waited(PyObject *self, PyObject *const *args,
                                          Py_ssize_t nargs)
{
    (void)self;
    return waited("exception", args, nargs);
}

/* pool_task(future) -> (pool, started, finished, worker ident, worker tid)
 * or None; times are None when not yet. */
static PyObject *py_pool_task(PyObject *self, PyObject *future)
{
    (void)self;
    task_rec *t = task_of(future);
    if (t == NULL)
        Py_RETURN_NONE;
    PyObject *times[2];
    double values[2] = {t->started, t->finished};
    for (int i = 0; i < 2; i++) {
        times[i] = values[i] < 0 ? owned(Py_None) : PyFloat_FromDouble(values[i]);
        if (times[i] == NULL) {
            for (int j = 0; j < i; j++)
                Py_DECREF(times[j]);
            return NULL;
        }
    }
    PyObject *worker = t->started < 0 ? owned(Py_None) : PyLong_FromUnsignedLong(t->worker);
    return Py_BuildValue("(ONNNk)", t->pool ? (PyObject *)t->pool : Py_None, times[0],
                         times[1], worker, t->worker_tid);
}

/* pool_task_follow(future, follower): follower.finished is set when it
 * finishes. False when the future has no record (finished already) or a
 * follower already (given up on before: the first time decides). */
static PyObject *py_pool_task_follow(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "pool_task_follow(future, follower)");
    task_rec *t = task_of(args[0]);
    if (t == NULL || t->follower != NULL)
        Py_RETURN_FALSE;
    Py_INCREF(args[1]);
    t->follower = args[1];
    Py_RETURN_TRUE;
}

/* pool_task_cancelled(future) -> its follower or None: it will never run. */
static PyObject *py_pool_task_cancelled(PyObject *self, PyObject *future)
{
    (void)self;
    task_rec *t = tables_ready ? cw_ht_remove(&tasks, (uintptr_t)future) : NULL;
    if (t == NULL)
        Py_RETURN_NONE;
    PyObject *follower = t->follower ? owned(t->follower) : owned(Py_None);
    task_free(t);
    return follower;
}

/* pool_monitor_setup(future_type, timeout_errors, abandoned, on_backlog,
 * on_wait, on_gave_up, on_still_wanted). */
static PyObject *py_pool_monitor_setup(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 7 || !PyType_Check(args[0]) || !PyDict_Check(args[2]))
        return PyErr_Format(PyExc_TypeError, "pool_monitor_setup: 7 arguments");
    PyObject **slots[7] = {&future_type, &timeout_errors, &abandoned, &on_backlog,
                           &on_wait, &on_gave_up, &on_still_wanted};
    for (int i = 0; i < 7; i++) {
        Py_INCREF(args[i]);
        Py_XSETREF(*slots[i], args[i]);
    }
    if (ensure_tables() < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef pool_task_methods[] = {
    {"pool_monitor_setup", (PyCFunction)(void (*)(void))py_pool_monitor_setup, METH_FASTCALL,
     "pool_monitor_setup(future_type, timeout_errors, abandoned, on_backlog, on_wait, "
     "on_gave_up, on_still_wanted)"},
    {"pool_watch", (PyCFunction)(void (*)(void))py_pool_watch, METH_FASTCALL,
     "pool_watch(executor, pool): submits to executor are pool's tasks."},
    {"pool_forget", py_pool_forget, METH_O, "pool_forget(id(executor)): it is gone."},
    {"pool_tasks_clear", py_pool_tasks_clear, METH_NOARGS, "Forget every pool and task."},
    {"pool_submitted", (PyCFunction)(void (*)(void))py_pool_submitted, METH_FASTCALL,
     "submit()'s after (with its outcome)."},
    {"pool_task_started", (PyCFunction)(void (*)(void))py_pool_task_started, METH_FASTCALL,
     "set_running_or_notify_cancel()'s after."},
    {"pool_task_finished", (PyCFunction)(void (*)(void))py_pool_task_finished, METH_FASTCALL,
     "set_result()'s and set_exception()'s before."},
    {"pool_wait_begins", (PyCFunction)(void (*)(void))py_pool_wait_begins,
     METH_FASTCALL | METH_KEYWORDS, "result()'s and exception()'s before: the timeout."},
    {"pool_result_waited", (PyCFunction)(void (*)(void))py_pool_result_waited, METH_FASTCALL,
     "result()'s after (with its outcome)."},
    {"pool_exception_waited", (PyCFunction)(void (*)(void))py_pool_exception_waited,
     METH_FASTCALL, "exception()'s after (with its outcome)."},
    {"pool_task", py_pool_task, METH_O,
     "pool_task(future) -> (pool, started, finished, worker, worker_tid) or None."},
    {"pool_task_follow", (PyCFunction)(void (*)(void))py_pool_task_follow, METH_FASTCALL,
     "pool_task_follow(future, follower): set follower.finished at its finish."},
    {"pool_task_cancelled", py_pool_task_cancelled, METH_O,
     "pool_task_cancelled(future) -> its follower or None."},
    {NULL, NULL, 0, NULL},
};

int cw_pool_tasks_init(PyObject *module)
{
    if ((str_state = PyUnicode_InternFromString("_state")) == NULL ||
        (str_running = PyUnicode_InternFromString("RUNNING")) == NULL ||
        (str_finished = PyUnicode_InternFromString("FINISHED")) == NULL ||
        (str_cancelled = PyUnicode_InternFromString("CANCELLED")) == NULL ||
        (str_cancelled_notified = PyUnicode_InternFromString("CANCELLED_AND_NOTIFIED")) == NULL ||
        (str_qsize = PyUnicode_InternFromString("qsize")) == NULL ||
        (str_follower_finished = PyUnicode_InternFromString("finished")) == NULL)
        return -1;
    if (PyModule_AddType(module, &PoolState_Type) < 0) /* readies it; named PoolState */
        return -1;
    return PyModule_AddFunctions(module, pool_task_methods);
}
