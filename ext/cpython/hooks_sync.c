/* hooks_sync.c: hand-offs through Python-level synchronisation classes.
 *
 * A Hook wraps one method of a class (threading.Event.set, queue.Queue.get,
 * concurrent.futures.Future.result, ...) and tells the engine what the call
 * means for ordering. The Python layer decides which methods get which kind
 * (cachewatch/_hooks.py); this file only runs them. Hooks behave as methods
 * (descriptor binding, __wrapped__, __name__ from the original).
 *
 * Relies on the GIL for nothing of its own: a giver publishes before the
 * real hand-off (set, put, release) and a taker consumes after it (wait,
 * get, acquire), each under the engine's lock for that object, so the
 * program's own synchronisation orders the two without a global lock. */
#include "binding.h"

#include <stddef.h>

#include "sync.h"

enum hook_kind {
    HOOK_PUBLISH,          /* publish, then call (set, notify, put, set_result) */
    HOOK_CONSUME,          /* call, then consume whatever happened (get, result) */
    HOOK_CONSUME_IF_TRUE,  /* call; consume when it returned true (wait, is_set, done) */
    HOOK_CONSUME_IF_FALSE, /* call; consume when it returned false (is_alive) */
    HOOK_CONSUME_BEFORE,   /* consume, then call (add_done_callback) */
    HOOK_PUBLISH_CONSUME,  /* publish, call, consume (Barrier.wait) */
    HOOK_JOIN,             /* call; consume when the thread is no longer alive */
    HOOK_SEM_INIT,         /* call; declare a mutex when the initial value is 1 */
    HOOK_SEM_ACQUIRE,      /* call; a lock-like acquire when it returned true */
    HOOK_SEM_RELEASE,      /* release n times, then call */
    HOOK_TRANSPARENT,      /* call observed, even inside an opaque hook (a
                              Future's done-callbacks, run by set_result) */
    HOOK_KIND_COUNT,
};

typedef struct {
    PyObject_HEAD
    PyObject *orig; /* Owned */
    int kind;
    int opaque;     /* the original runs unobserved: its inner locks and
                       conditions are its own business */
    cw_str_id label; /* the original's __qualname__, for a thread's history */
    vectorcallfunc vectorcall;
} CwHook;

static PyObject *call_orig(CwHook *h, PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    if (!h->opaque)
        return cw_call_with_self(h->orig, self, args, nargs, kwnames);
    cw_tls_state.busy++;
    PyObject *res = cw_call_with_self(h->orig, self, args, nargs, kwnames);
    cw_tls_state.busy--;
    return res;
}

/* label: what the program called (0: nothing to say), for its history.
 *
 * While nothing is watched, hand-offs carry nothing: an access is recorded
 * only once its location is watched, and two recorded accesses are ordered
 * only by hand-offs made after the first of them, so none made before
 * watching began can order any. (Locks still count as held: a lockset is
 * what is held at the access, whenever it was taken.) */
/* The record a hand-off on key goes through: a Condition's is its lock's
 * own (CW_TAG_MONITOR), whose clock every acquire of the lock joins. */
static uintptr_t record_of(uintptr_t key)
{
    return (key & 15) == CW_TAG_MONITOR ? key & ~(uintptr_t)15 : key;
}

static void publish(PyObject *obj, cw_str_id label)
{
    if (!cw_shadow_any_watched())
        return;
    cw_tls_state.busy++;
    cw_thread *t = cw_current_thread();
    if (t != NULL) {
        bool is_new = false;
        uintptr_t key = cw_sync_key(obj);
        if (cw_check_status(cw_sync_publish(t, record_of(key), &is_new), "no memory publishing") == 0) {
            if (is_new)
                cw_sync_key_new(obj, key); /* tagged: the lock's death is seen */
            cw_check_status(cw_note_event(t, CW_EVENT_PUBLISH, key, 0, label), CW_HISTORY_FAILED);
        }
    }
    cw_tls_state.busy--;
}

static void consume(PyObject *obj, cw_str_id label)
{
    if (!cw_shadow_any_watched())
        return; /* as publish */
    cw_tls_state.busy++;
    cw_thread *t = cw_current_thread();
    if (t != NULL) {
        uintptr_t key = cw_sync_key(obj);
        if (cw_check_status(cw_sync_consume(t, record_of(key)), "no memory consuming") == 0)
            cw_check_status(cw_note_event(t, CW_EVENT_CONSUME, key, 0, label), CW_HISTORY_FAILED);
    }
    cw_tls_state.busy--;
}

static int truth(PyObject *res)
{
    if (res == Py_True)
        return 1;
    if (res == Py_False || res == Py_None)
        return 0;
    cw_tls_state.busy++;
    int v = PyObject_IsTrue(res);
    cw_tls_state.busy--;
    if (v < 0) {
        PyErr_Clear();
        return 0;
    }
    return v;
}

static long int_attr(PyObject *obj, const char *name, long fallback)
{
    cw_tls_state.busy++;
    PyObject *v = PyObject_GetAttrString(obj, name);
    cw_tls_state.busy--;
    long x = v && PyLong_Check(v) ? PyLong_AsLong(v) : fallback;
    Py_XDECREF(v);
    if (PyErr_Occurred())
        PyErr_Clear();
    return x;
}

/* join() returned: a hand-off from the thread if it has ended. */
static void joined(PyObject *thread, cw_str_id label)
{
    cw_tls_state.busy++;
    PyObject *alive = PyObject_CallMethod(thread, "is_alive", NULL);
    cw_tls_state.busy--;
    if (alive == NULL)
        PyErr_Clear();
    else if (alive == Py_False)
        consume(thread, label);
    Py_XDECREF(alive);
}

/* A Semaphore made while checking: a mutex when its value is 1. */
static void semaphore_made(PyObject *sem)
{
    bool is_new = false;
    long value = int_attr(sem, "_value", -1);
    uintptr_t key = cw_sync_key(sem);
    if (cw_check_status(cw_sync_declare(key, CW_LOCK_SEMAPHORE, value == 1, &is_new),
                        "no memory for a semaphore") == 0 &&
        is_new)
        cw_sync_key_new(sem, key);
}

static void semaphore_acquired(PyObject *sem)
{
    /* Undeclared (made before we started): a mutex if now empty. */
    long left = int_attr(sem, "_value", -1);
    cw_lock_acquired(sem, cw_sync_key(sem), CW_LOCK_SEMAPHORE, left == 0, 1);
}

/* release(n): n releases, as many as a semaphore could sensibly be given. */
static void semaphore_releasing(PyObject *sem, PyObject *const *args, Py_ssize_t nargs)
{
    long n = 1;
    if (nargs >= 1 && PyLong_Check(args[0]))
        n = PyLong_AsLong(args[0]);
    if (n < 1 || n > 1024) {
        PyErr_Clear();
        n = 1;
    }
    uintptr_t key = cw_sync_key(sem);
    for (long i = 0; i < n; i++)
        cw_lock_releasing(key, false);
}

static PyObject *run_hook(CwHook *h, PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
    int ready = cw_hook_ready();
    PyObject *res;
    cw_saved_error saved;
    cw_str_id label = ready ? cw_event_label(&h->label, h->orig) : 0;
    switch (h->kind) {
    case HOOK_TRANSPARENT: {
        int busy = cw_tls_state.busy;
        cw_tls_state.busy = 0;
        res = cw_call_with_self(h->orig, self, args, nargs, kwnames);
        cw_tls_state.busy = busy;
        return res;
    }
    case HOOK_PUBLISH:
        if (ready)
            publish(self, label);
        return call_orig(h, self, args, nargs, kwnames);
    case HOOK_CONSUME:
        res = call_orig(h, self, args, nargs, kwnames);
        if (ready && cw_hook_ready()) {
            cw_error_save(&saved);
            consume(self, label);
            cw_error_restore(&saved);
        }
        return res;
    case HOOK_CONSUME_IF_TRUE:
    case HOOK_CONSUME_IF_FALSE:
        res = call_orig(h, self, args, nargs, kwnames);
        if (res != NULL && ready && cw_hook_ready() &&
            truth(res) == (h->kind == HOOK_CONSUME_IF_TRUE))
            consume(self, label);
        return res;
    case HOOK_CONSUME_BEFORE:
        if (ready)
            consume(self, label);
        return call_orig(h, self, args, nargs, kwnames);
    case HOOK_PUBLISH_CONSUME:
        if (ready)
            publish(self, label);
        res = call_orig(h, self, args, nargs, kwnames);
        if (res != NULL && ready && cw_hook_ready())
            consume(self, label);
        return res;
    case HOOK_JOIN:
        res = call_orig(h, self, args, nargs, kwnames);
        if (res != NULL && ready && cw_hook_ready())
            joined(self, label);
        return res;
    case HOOK_SEM_INIT:
        res = call_orig(h, self, args, nargs, kwnames);
        if (res != NULL && ready && cw_hook_ready())
            semaphore_made(self);
        return res;
    case HOOK_SEM_ACQUIRE:
        res = call_orig(h, self, args, nargs, kwnames);
        if (res != NULL && ready && cw_hook_ready() && truth(res))
            semaphore_acquired(self);
        return res;
    case HOOK_SEM_RELEASE:
        if (ready)
            semaphore_releasing(self, args, nargs);
        return call_orig(h, self, args, nargs, kwnames);
    }
    return call_orig(h, self, args, nargs, kwnames);
}

static PyObject *hook_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                                 PyObject *kwnames)
{
    CwHook *h = (CwHook *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs < 1) {
        PyErr_Format(PyExc_TypeError, "%R needs its instance", h->orig);
        return NULL;
    }
    return run_hook(h, args[0], args + 1, nargs - 1, kwnames);
}

static PyObject *hook_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    int kind, opaque = 0;
    PyObject *orig;
    static char *names[] = {"kind", "original", "opaque", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iO|p:Hook", names, &kind, &orig, &opaque))
        return NULL;
    if (kind < 0 || kind >= HOOK_KIND_COUNT) {
        PyErr_Format(PyExc_ValueError, "unknown hook kind %d", kind);
        return NULL;
    }
    if (!PyCallable_Check(orig)) {
        PyErr_SetString(PyExc_TypeError, "original must be callable");
        return NULL;
    }
    CwHook *h = (CwHook *)type->tp_alloc(type, 0);
    if (h == NULL)
        return NULL;
    Py_INCREF(orig);
    h->orig = orig;
    h->kind = kind;
    h->opaque = opaque;
    h->vectorcall = hook_vectorcall;
    return (PyObject *)h;
}

static void hook_dealloc(CwHook *h)
{
    PyObject_GC_UnTrack(h);
    Py_XDECREF(h->orig);
    Py_TYPE(h)->tp_free((PyObject *)h);
}

static int hook_traverse(CwHook *h, visitproc visit, void *arg)
{
    Py_VISIT(h->orig);
    return 0;
}

static PyObject *hook_descr_get(PyObject *self, PyObject *obj, PyObject *type)
{
    (void)type;
    if (obj == NULL || obj == Py_None) {
        Py_INCREF(self);
        return self;
    }
    return PyMethod_New(self, obj);
}

static PyObject *hook_getattro(PyObject *self, PyObject *name)
{
    PyObject *res = PyObject_GenericGetAttr(self, name);
    if (res != NULL || !PyErr_ExceptionMatches(PyExc_AttributeError))
        return res;
    PyErr_Clear();
    return PyObject_GetAttr(((CwHook *)self)->orig, name); /* __name__, __doc__ ... */
}

static PyObject *hook_repr(CwHook *h) { return PyUnicode_FromFormat("<cachewatch hook of %R>", h->orig); }

static PyMemberDef hook_members[] = {
    {"__wrapped__", T_OBJECT, offsetof(CwHook, orig), READONLY, NULL},
    {"kind", T_INT, offsetof(CwHook, kind), READONLY, NULL},
    {"opaque", T_INT, offsetof(CwHook, opaque), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

PyTypeObject CwHook_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cachewatch.Hook",
    .tp_basicsize = sizeof(CwHook),
    .tp_dealloc = (destructor)hook_dealloc,
    .tp_vectorcall_offset = offsetof(CwHook, vectorcall),
    .tp_repr = (reprfunc)hook_repr,
    .tp_call = PyVectorcall_Call,
    .tp_getattro = hook_getattro,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "Hook(kind, original, opaque=False): a method wrapper that records a hand-off.",
    .tp_traverse = (traverseproc)hook_traverse,
    .tp_members = hook_members,
    .tp_descr_get = hook_descr_get,
    .tp_new = hook_new,
};

PyObject *cw_py_publish(PyObject *self, PyObject *obj)
{
    (void)self;
    if (cw_hook_ready())
        publish(obj, 0);
    Py_RETURN_NONE;
}

PyObject *cw_py_consume(PyObject *self, PyObject *obj)
{
    (void)self;
    if (cw_hook_ready())
        consume(obj, 0);
    Py_RETURN_NONE;
}

/* ---- awaiting a future that is already done ----------------------------
 *
 * `await fut` on a done asyncio future returns its result in C, in the same
 * step of the awaiting task (no wake-up callback carries the setter's clock):
 * the await itself receives what the future's setter published. The types'
 * am_await slots are wrapped (asyncio's C Future and Task). */
#define MAX_AWAIT_TYPES 4
static struct {
    PyTypeObject *type; /* Owned */
    unaryfunc orig;
} awaits[MAX_AWAIT_TYPES];
static int nawaits;

static unaryfunc await_orig(PyTypeObject *type)
{
    for (; type != NULL; type = type->tp_base)
        for (int i = 0; i < nawaits; i++)
            if (awaits[i].type == type)
                return awaits[i].orig;
    return NULL;
}

static PyObject *await_hook(PyObject *self)
{
    unaryfunc orig = await_orig(Py_TYPE(self));
    if (orig == NULL) {
        PyErr_SetString(PyExc_TypeError, "cachewatch: an await hook lost its original");
        return NULL;
    }
    if (cw_hook_ready()) {
        cw_saved_error saved;
        cw_error_save(&saved);
        consume(self, 0);
        cw_error_restore(&saved);
    }
    return orig(self);
}

PyObject *cw_py_hook_await(PyObject *self, PyObject *type)
{
    (void)self;
    if (!PyType_Check(type) || ((PyTypeObject *)type)->tp_as_async == NULL ||
        ((PyTypeObject *)type)->tp_as_async->am_await == NULL) {
        PyErr_SetString(PyExc_TypeError, "hook_await(type): a type with am_await");
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)type;
    unaryfunc orig = tp->tp_as_async->am_await;
    if (orig == await_hook) {
        /* Hooked through another type sharing its slots (3.11's Task and
         * Future share one table): the same original. */
        orig = NULL;
        for (int i = 0; i < nawaits; i++) {
            if (awaits[i].type == tp)
                Py_RETURN_NONE;
            if (awaits[i].type->tp_as_async == tp->tp_as_async)
                orig = awaits[i].orig;
        }
        if (orig == NULL)
            Py_RETURN_NONE;
    }
    if (nawaits == MAX_AWAIT_TYPES) {
        PyErr_SetString(PyExc_RuntimeError, "hook_await: too many types");
        return NULL;
    }
    Py_INCREF(tp);
    awaits[nawaits].type = tp;
    awaits[nawaits++].orig = orig;
    tp->tp_as_async->am_await = await_hook;
    PyType_Modified(tp);
    Py_RETURN_NONE;
}

PyObject *cw_py_unhook_awaits(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    while (nawaits > 0) { /* in reverse: a shared table gets its first original back */
        nawaits--;
        awaits[nawaits].type->tp_as_async->am_await = awaits[nawaits].orig;
        PyType_Modified(awaits[nawaits].type);
        Py_CLEAR(awaits[nawaits].type);
    }
    Py_RETURN_NONE;
}

/* lock_acquired(obj, is_mutex) / lock_released(obj): a lock-like object
 * whose acquire cannot be a Hook (asyncio.Lock's is awaited) was taken or is
 * about to be given back by the running thread: its locksets. */
PyObject *cw_py_lock_acquired(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *obj;
    int is_mutex;
    if (!PyArg_ParseTuple(args, "Op:lock_acquired", &obj, &is_mutex))
        return NULL;
    if (cw_hook_ready())
        cw_lock_acquired(obj, cw_sync_key(obj), CW_LOCK_SEMAPHORE, is_mutex, 1);
    Py_RETURN_NONE;
}

PyObject *cw_py_lock_released(PyObject *self, PyObject *obj)
{
    (void)self;
    if (cw_hook_ready())
        cw_lock_releasing(cw_sync_key(obj), false);
    Py_RETURN_NONE;
}

/* busy_call_begin()/busy_call_end(): what runs between is not observed (a
 * Python-level hook's original, whose inner locks are its own). */
PyObject *cw_py_busy_call_begin(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    cw_tls_state.busy++;
    Py_RETURN_NONE;
}

PyObject *cw_py_busy_call_end(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    if (cw_tls_state.busy > 0)
        cw_tls_state.busy--;
    Py_RETURN_NONE;
}

PyObject *cw_py_ignore(PyObject *self, PyObject *obj)
{
    (void)self;
    bool is_new = false;
    uintptr_t key = cw_sync_key(obj);
    if (cw_hook_ready() &&
        cw_check_status(cw_sync_ignore(key, &is_new), "no memory") == 0 && is_new)
        cw_sync_key_new(obj, key);
    Py_RETURN_NONE;
}

/* set_type_attr(type, name, value): put a method on a C type whose
 * attributes Python may not set (SimpleQueue is immutable). */
PyObject *cw_py_set_type_attr(PyObject *self, PyObject *args)
{
    (void)self;
    PyTypeObject *type;
    PyObject *name, *value;
    if (!PyArg_ParseTuple(args, "O!UO", &PyType_Type, &type, &name, &value))
        return NULL;
    PyObject *dict = PyType_GetDict_compat(type);
    if (dict == NULL)
        return NULL;
    int rc = PyDict_SetItem(dict, name, value);
    Py_DECREF(dict);
    if (rc < 0)
        return NULL;
    PyType_Modified(type);
    Py_RETURN_NONE;
}

int cw_sync_hooks_init(PyObject *module)
{
    if (PyType_Ready(&CwHook_Type) < 0)
        return -1;
    if (cw_module_add(module, "Hook", (PyObject *)&CwHook_Type) < 0)
        return -1;
    static const char *names[] = {
        "HOOK_PUBLISH",         "HOOK_CONSUME",   "HOOK_CONSUME_IF_TRUE", "HOOK_CONSUME_IF_FALSE",
        "HOOK_CONSUME_BEFORE",  "HOOK_PUBLISH_CONSUME", "HOOK_JOIN",    "HOOK_SEM_INIT",
        "HOOK_SEM_ACQUIRE",     "HOOK_SEM_RELEASE",   "HOOK_TRANSPARENT",
    };
    for (int i = 0; i < HOOK_KIND_COUNT; i++)
        if (PyModule_AddIntConstant(module, names[i], i) < 0)
            return -1;
    return PyModule_AddIntConstant(module, "TAG_MONITOR", CW_TAG_MONITOR);
}
