/* task_steps.c: asyncio's Handles as hand-offs between logical threads, in C.
 *
 * The policy is cachewatch/_tasks.py's: each Handle remembers who made it
 * and what they knew; when it runs, a task's step runs as that task, any
 * other callback as its maker, and either receives what the maker knew. A
 * finished task publishes its clock on itself and its logical thread ends.
 * This file is that policy on the hot path (every Handle an event loop makes
 * and runs), so a step costs no Python frame of cachewatch's; Python is
 * called once per task: as it is born (its name, where the program made
 * it), at its first step and as it finishes (the task-pool checks of
 * _task_pools.py).
 *
 * A task's record is dropped by a weak reference's callback when the task
 * is collected unfinished, so an address reused by a later task never finds
 * an earlier one's thread.
 *
 * Without the GIL: the tables are the binding's, touched only from calls
 * made with the GIL held (the module declares Py_MOD_GIL_USED); handles are
 * made on any thread (call_soon_threadsafe), so a free-threaded port guards
 * both tables with one PyMutex. */
#include "binding.h"

#include "hashtable.h"
#include "memory.h"

typedef struct {
    unsigned long maker; /* the thread that made the Handle */
    cw_vc *given;        /* Owned: what it knew then; NULL inside a lock's release */
} made_rec;

typedef struct {
    PyObject *ref;       /* Owned: a weak reference whose callback drops this */
    unsigned long tid;   /* the task's logical thread */
    int stepped;         /* its first step began */
} task_rec;

static cw_hashtable handles; /* Handle address -> made_rec */
static cw_hashtable tasks;   /* Task address -> task_rec */
static int tables_ready;
static PyObject *task_types; /* a tuple of the Task classes */
static PyObject *on_born, *on_step, *on_finished, *task_gone_callable;
static int quiet;            /* inside an asyncio Lock's release: wake-ups carry nothing */
static int every_step;       /* _task_pools.py wants every step (a waiter gave up) */
static PyObject *str_callback, *str_self, *str_done;

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

/* The task whose step or wake-up this Handle's callback is, or NULL (a new
 * reference; errors are cleared: a callback without __self__ is no task's). */
static PyObject *task_of(PyObject *handle)
{
    PyObject *cb = PyObject_GetAttr(handle, str_callback);
    if (cb == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *owner;
    if (PyCFunction_Check(cb)) {
        owner = PyCFunction_GET_SELF(cb);
        Py_XINCREF(owner);
    } else if (PyMethod_Check(cb)) {
        owner = PyMethod_GET_SELF(cb);
        Py_INCREF(owner);
    } else if ((owner = PyObject_GetAttr(cb, str_self)) == NULL) {
        PyErr_Clear();
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

/* task runs as tid from its next step on. 0, or -1 (not adopted: it runs as
 * whoever made each of its Handles). */
static int adopt(PyObject *task, unsigned long tid)
{
    task_rec *rec = cw_malloc(CW_MEM_MISC, sizeof(*rec));
    if (rec == NULL) {
        cw_internal_failure("no memory for a task's record");
        return -1;
    }
    rec->tid = tid;
    rec->stepped = 0;
    rec->ref = PyWeakref_NewRef(task, task_gone_callable);
    if (rec->ref == NULL) {
        PyErr_Clear(); /* a Task subclass without weak references */
        cw_free(rec);
        return -1;
    }
    task_rec *old = cw_ht_remove(&tasks, (uintptr_t)task);
    if (old != NULL)
        drop_task(old);
    if (cw_ht_put(&tasks, (uintptr_t)task, rec) < 0) {
        drop_task(rec);
        cw_internal_failure("no memory for a task's record");
        return -1;
    }
    return 0;
}

/* Python's born(task) -> its tid (0: none), then adopted. */
static void born(PyObject *task)
{
    PyObject *res = PyObject_CallOneArg(on_born, task);
    unsigned long tid = res != NULL && PyLong_Check(res) ? PyLong_AsUnsignedLong(res) : 0;
    Py_XDECREF(res);
    if (PyErr_Occurred()) {
        PyErr_Clear(); /* on_born is guarded: only a tid out of range lands here */
        tid = 0;
    }
    if (tid)
        adopt(task, tid);
}

static void call_quietly(PyObject *fn, PyObject *task)
{
    PyObject *res = PyObject_CallOneArg(fn, task);
    if (res == NULL)
        PyErr_Clear(); /* guarded on the Python side: it has said why */
    Py_XDECREF(res);
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
    drop_task(rec);
    Py_XDECREF(cw_py_publish(NULL, task));
    PyErr_Clear();
    call_quietly(on_finished, task);
    cw_logical_end(tid);
}

/* Handle.__init__'s after: who made it, and what they knew. */
static PyObject *py_task_handle_made(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1 || !tables_ready || cw_logical_running() == NULL)
        Py_RETURN_NONE;
    PyObject *handle = args[0];
    PyObject *task = task_of(handle);
    if (task != NULL) {
        /* Its first step, scheduled by whoever made it: the task is born. */
        if (find_task(task) == NULL)
            born(task);
        Py_DECREF(task);
    }
    cw_thread *maker = cw_logical_running();
    made_rec *rec = cw_malloc(CW_MEM_MISC, sizeof(*rec));
    if (rec == NULL || maker == NULL) {
        cw_free(rec);
        Py_RETURN_NONE;
    }
    rec->maker = maker->number;
    rec->given = quiet ? NULL : cw_logical_hand_off(maker);
    made_rec *old = cw_ht_remove(&handles, (uintptr_t)handle); /* an address reused */
    if (old != NULL)
        drop_made(old);
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
    PyObject *task = task_of(handle);
    task_rec *trec = task ? find_task(task) : NULL;
    unsigned long tid = trec ? trec->tid : maker;
    int first = trec != NULL && !trec->stepped;
    if (trec != NULL)
        trec->stepped = 1;
    unsigned long left = cw_logical_switch_to(tid, rec ? rec->given : NULL);
    if (rec != NULL)
        drop_made(rec);
    if (task == NULL)
        return PyLong_FromUnsignedLong(left);
    if (first || (trec != NULL && every_step))
        call_quietly(on_step, task);
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
    cw_ht_fini(&handles);
    cw_ht_fini(&tasks);
    tables_ready = 0;
}

/* task_steps_install(task_types, born, first_step, finished): born(task) ->
 * tid makes a new task's logical thread; first_step(task) and finished(task)
 * are told. */
static PyObject *py_task_steps_install(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *types, *b, *s, *f;
    if (!PyArg_ParseTuple(args, "O!OOO:task_steps_install", &PyTuple_Type, &types, &b, &s, &f))
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(types); i++)
        if (!PyType_Check(PyTuple_GET_ITEM(types, i))) {
            PyErr_SetString(PyExc_TypeError, "task_steps_install: task_types must be classes");
            return NULL;
        }
    clear_tables();
    if (cw_ht_init(&handles, 64, NULL, NULL, CW_MEM_MISC) < 0)
        return PyErr_NoMemory();
    if (cw_ht_init(&tasks, 64, NULL, NULL, CW_MEM_MISC) < 0) {
        cw_ht_fini(&handles);
        return PyErr_NoMemory();
    }
    if (task_gone_callable == NULL &&
        (task_gone_callable = PyCFunction_New(&task_gone_def, NULL)) == NULL) {
        cw_ht_fini(&handles);
        cw_ht_fini(&tasks);
        return NULL;
    }
    Py_INCREF(types);
    Py_INCREF(b);
    Py_INCREF(s);
    Py_INCREF(f);
    Py_XSETREF(task_types, types);
    Py_XSETREF(on_born, b);
    Py_XSETREF(on_step, s);
    Py_XSETREF(on_finished, f);
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
    Py_CLEAR(on_born);
    Py_CLEAR(on_step);
    Py_CLEAR(on_finished);
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

/* task_steps_every_step(flag): tell first_step(task) of every step. */
static PyObject *py_task_steps_every_step(PyObject *self, PyObject *arg)
{
    (void)self;
    int flag = PyObject_IsTrue(arg);
    if (flag < 0)
        return NULL;
    every_step = flag;
    Py_RETURN_NONE;
}

/* task_tid(task) -> the tid of its logical thread, or None. */
static PyObject *py_task_tid(PyObject *self, PyObject *task)
{
    (void)self;
    task_rec *rec = find_task(task);
    if (rec == NULL)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(rec->tid);
}

/* task_adopt(task, tid): task runs as tid (an eager task's first step). */
static PyObject *py_task_adopt(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *task;
    unsigned long tid;
    if (!PyArg_ParseTuple(args, "Ok:task_adopt", &task, &tid))
        return NULL;
    if (tables_ready && tid)
        adopt(task, tid);
    Py_RETURN_NONE;
}

/* task_end_if_done(task, tid): as at the end of a step. */
static PyObject *py_task_end_if_done(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *task;
    unsigned long tid;
    if (!PyArg_ParseTuple(args, "Ok:task_end_if_done", &task, &tid))
        return NULL;
    if (tables_ready)
        end_if_done(task, tid);
    Py_RETURN_NONE;
}

static PyMethodDef task_step_methods[] = {
    {"task_steps_install", py_task_steps_install, METH_VARARGS,
     "task_steps_install(task_types, born, first_step, finished): the hooks' Python side."},
    {"task_steps_clear", py_task_steps_clear, METH_NOARGS, "Forget every Handle and task."},
    {"task_steps_quiet", py_task_steps_quiet, METH_O,
     "task_steps_quiet(delta): inside a lock's release, Handles made carry nothing."},
    {"task_steps_every_step", py_task_steps_every_step, METH_O,
     "task_steps_every_step(flag): first_step(task) is told of every step."},
    {"task_handle_made", (PyCFunction)(void (*)(void))py_task_handle_made, METH_FASTCALL,
     "Handle.__init__'s after."},
    {"task_step_begins", (PyCFunction)(void (*)(void))py_task_step_begins, METH_FASTCALL,
     "Handle._run's before."},
    {"task_step_ends", (PyCFunction)(void (*)(void))py_task_step_ends, METH_FASTCALL,
     "Handle._run's after."},
    {"task_handle_cancelled", (PyCFunction)(void (*)(void))py_task_handle_cancelled,
     METH_FASTCALL, "Handle.cancel's before."},
    {"task_tid", py_task_tid, METH_O, "task_tid(task) -> its logical thread's tid, or None."},
    {"task_adopt", py_task_adopt, METH_VARARGS, "task_adopt(task, tid): task runs as tid."},
    {"task_end_if_done", py_task_end_if_done, METH_VARARGS,
     "task_end_if_done(task, tid): a finished task publishes itself and its thread ends."},
    {NULL, NULL, 0, NULL},
};

int cw_task_steps_init(PyObject *module)
{
    if ((str_callback = PyUnicode_InternFromString("_callback")) == NULL ||
        (str_self = PyUnicode_InternFromString("__self__")) == NULL ||
        (str_done = PyUnicode_InternFromString("done")) == NULL)
        return -1;
    return PyModule_AddFunctions(module, task_step_methods);
}
