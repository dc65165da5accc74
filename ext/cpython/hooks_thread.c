/* hooks_thread.c: thread start and exit, and the death of frames.
 *
 * The low-level thread starter (_thread.start_new_thread, or
 * start_joinable_thread from 3.13) is wrapped: the new thread runs a
 * Trampoline that registers it with its creator's clock and creation stack,
 * runs the real function, and at the end publishes its clock on the
 * threading.Thread object, which Thread.join then consumes.
 *
 * Frame objects are the identity of a call (see thread.h): when one dies,
 * the thread forgets what it noted for it. Guarded by the GIL: the frame
 * type's tp_dealloc store. Without the GIL: an atomic release store (both
 * functions stay valid); a frame may die in any thread, and forgets only in
 * the record of the thread it dies in, which that thread owns. */
#include "binding.h"

#include <string.h>

#include "sync.h"

typedef struct {
    PyObject_HEAD
    PyObject *func;       /* Owned: what the thread runs */
    PyObject *thread_obj; /* Owned: the threading.Thread, or NULL */
    cw_vc *inherited;     /* Owned: the creator's clock at start */
    cw_tid parent;
    cw_stack_id created_at;
    char name[CW_NAME_MAX];
} Trampoline;

static PyTypeObject Trampoline_Type;

/* Called with no arguments first thing in each new OS thread (set by
 * _greenlets.py: greenlet's trace function is per OS thread). Read and set
 * under the GIL; without one it would be swapped atomically and a reference
 * taken before the call. */
static PyObject *os_thread_start_callback;

static void finish_thread(Trampoline *tr, cw_thread *t)
{
    if (t == NULL)
        return;
    /* A fork from this thread gave the child's copy of it a new record. */
    if (!__atomic_load_n(&t->alive, __ATOMIC_ACQUIRE))
        t = cw_tls_state.thread;
    if (t == NULL)
        return;
    cw_saved_error saved;
    cw_error_save(&saved);
    cw_tls_state.busy++;
    if (tr->thread_obj != NULL && __atomic_load_n(&cw_active, __ATOMIC_ACQUIRE)) {
        bool is_new = false;
        uintptr_t key = cw_sync_key(tr->thread_obj);
        if (cw_check_status(cw_sync_publish_clock(key, t->vc, &is_new),
                            "no memory at thread exit") == 0 &&
            is_new)
            cw_sync_key_new(tr->thread_obj, key);
        cw_check_status(cw_note_event_at(t, CW_EVENT_END, key), CW_HISTORY_FAILED);
    }
    /* A green thread's greenlet ends on an OS thread that goes on: its record
     * runs until the greenlet switches out for the last time (which may hand
     * its clock on, and then ends it: logical.c). */
    if (!t->cooperative) {
        cw_thread_exit(t);
        cw_tls_state.thread = cw_tls_state.os_thread = NULL;
    }
    cw_tls_state.busy--;
    cw_error_restore(&saved);
}

/* An exception out of a thread's function, told as _thread's thread_run
 * tells it, naming the program's function (were it left to thread_run, the
 * unraisable hook would be shown this trampoline). SystemExit ends the
 * thread quietly, as there. Returns None: nothing is left to tell. */
static PyObject *report_as_thread_run(PyObject *func)
{
    if (PyErr_ExceptionMatches(PyExc_SystemExit))
        PyErr_Clear();
    else
#if PY_VERSION_HEX >= 0x030D0000
        PyErr_FormatUnraisable("Exception ignored in thread started by %R", func);
#else
        _PyErr_WriteUnraisableMsg("in thread started by", func);
#endif
    Py_RETURN_NONE;
}

static PyObject *trampoline_call(Trampoline *tr, PyObject *args, PyObject *kwargs)
{
    cw_thread *t = NULL;
    /* Under eventlet or gevent a started thread is a greenlet: it runs as a
     * logical thread of this OS thread (logical.c switched one in). */
    cw_thread *running = cw_tls_state.thread;
    bool green = running != NULL && running->cooperative;
    if (__atomic_load_n(&cw_active, __ATOMIC_ACQUIRE) && (running == NULL || green))
        t = cw_register_child(tr->parent, tr->inherited, tr->name, tr->created_at, green);
    if (t != NULL && green)
        cw_thread_exit(running); /* the greenlet's record until now, unused */
    cw_check_status(cw_note_event_at(t, CW_EVENT_BEGIN, (uintptr_t)tr), CW_HISTORY_FAILED);
    if (t != NULL && !green && os_thread_start_callback != NULL) {
        PyObject *callback = os_thread_start_callback;
        Py_INCREF(callback);
        PyObject *ignored = PyObject_CallNoArgs(callback);
        Py_DECREF(callback);
        if (ignored == NULL)
            PyErr_Clear(); /* the callback reports its own failures (guarded) */
        Py_XDECREF(ignored);
    }
    PyObject *res = PyObject_Call(tr->func, args, kwargs);
    if (res == NULL && !green)
        res = report_as_thread_run(tr->func);
    finish_thread(tr, t);
    return res;
}

static void trampoline_dealloc(Trampoline *tr)
{
    PyObject_GC_UnTrack(tr);
    Py_XDECREF(tr->func);
    Py_XDECREF(tr->thread_obj);
    cw_vc_unref(tr->inherited);
    PyObject_GC_Del(tr);
}

static int trampoline_traverse(Trampoline *tr, visitproc visit, void *arg)
{
    Py_VISIT(tr->func);
    Py_VISIT(tr->thread_obj);
    return 0;
}

/* The function's own attributes show through: eventlet's green
 * start_new_thread knows a threading.Thread's bootstrap by its __module__ and
 * __self__ (and wraps it to release the thread's end lock, or join hangs). */
static PyObject *trampoline_getattro(Trampoline *tr, PyObject *name)
{
    PyObject *found = PyObject_GenericGetAttr((PyObject *)tr, name);
    if (found != NULL || !PyErr_ExceptionMatches(PyExc_AttributeError))
        return found;
    PyErr_Clear();
    return PyObject_GetAttr(tr->func, name);
}

static PyTypeObject Trampoline_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cachewatch._Trampoline",
    .tp_basicsize = sizeof(Trampoline),
    .tp_dealloc = (destructor)trampoline_dealloc,
    .tp_call = (ternaryfunc)trampoline_call,
    .tp_getattro = (getattrofunc)trampoline_getattro,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)trampoline_traverse,
};

/* The Thread object whose _bootstrap the new thread runs, if any. */
static PyObject *thread_object_of(PyObject *func)
{
    if (!PyMethod_Check(func))
        return NULL;
    PyObject *self = PyMethod_GET_SELF(func);
    static PyObject *thread_type;
    if (thread_type == NULL) {
        PyObject *threading = PyImport_ImportModule("threading");
        thread_type = threading ? PyObject_GetAttrString(threading, "Thread") : NULL;
        Py_XDECREF(threading);
        if (thread_type == NULL) {
            PyErr_Clear();
            return NULL;
        }
    }
    int is = PyObject_IsInstance(self, thread_type);
    if (is == 0) {
        /* eventlet's unpatched copy of threading (its tpool's threads) has
         * a Thread class of its own. */
        PyObject *modules = PyImport_GetModuleDict();
        PyObject *copy = modules ? PyDict_GetItemString(modules, "__original_module_threading") : NULL;
        PyObject *copy_type = copy ? PyObject_GetAttrString(copy, "Thread") : NULL;
        if (copy_type != NULL && PyType_Check(copy_type))
            is = PyObject_IsInstance(self, copy_type);
        Py_XDECREF(copy_type);
    }
    if (is < 0 || PyErr_Occurred())
        PyErr_Clear();
    return is > 0 ? self : NULL;
}

static PyObject *make_trampoline(PyObject *func)
{
    cw_thread *parent = cw_current_thread();
    if (parent == NULL)
        return NULL;
    Trampoline *tr = PyObject_GC_New(Trampoline, &Trampoline_Type);
    if (tr == NULL)
        return NULL;
    Py_INCREF(func);
    tr->func = func;
    tr->thread_obj = thread_object_of(func);
    Py_XINCREF(tr->thread_obj);
    tr->parent = parent->number;
    tr->created_at = cw_capture_stack();
    tr->name[0] = '\0';
    if (tr->thread_obj != NULL) {
        PyObject *name = PyObject_GetAttrString(tr->thread_obj, "name");
        const char *s = name && PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
        if (s)
            snprintf(tr->name, sizeof(tr->name), "%s", s);
        Py_XDECREF(name);
        PyErr_Clear();
    }
    tr->inherited = cw_thread_fork_snapshot(parent);
    if (tr->inherited != NULL)
        cw_check_status(cw_note_event(parent, CW_EVENT_START, (uintptr_t)tr, 0, 0),
                        CW_HISTORY_FAILED);
    PyObject_GC_Track(tr);
    if (tr->inherited == NULL) {
        Py_DECREF(tr);
        cw_internal_failure("no memory starting a thread");
        return NULL;
    }
    return (PyObject *)tr;
}

/* The wrapped starter: start(function, *rest, **kw) -> orig(trampoline, *rest, **kw). */
typedef struct {
    PyObject_HEAD
    PyObject *orig;
    vectorcallfunc vectorcall;
} Starter;

static PyObject *starter_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                                    PyObject *kwnames)
{
    Starter *st = (Starter *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs < 1 || !cw_hook_ready())
        return PyObject_Vectorcall(st->orig, args, nargsf, kwnames);
    cw_tls_state.busy++;
    PyObject *tr = make_trampoline(args[0]);
    cw_tls_state.busy--;
    if (tr == NULL) {
        PyErr_Clear();
        return PyObject_Vectorcall(st->orig, args, nargsf, kwnames);
    }
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *small[8];
    PyObject **stack = nargs + nkw <= 8 ? small : PyMem_Malloc((nargs + nkw) * sizeof(PyObject *));
    if (stack == NULL) {
        Py_DECREF(tr);
        return PyErr_NoMemory();
    }
    memcpy(stack, args, (nargs + nkw) * sizeof(PyObject *));
    stack[0] = tr;
    PyObject *res = PyObject_Vectorcall(st->orig, stack, nargs, kwnames);
    if (stack != small)
        PyMem_Free(stack);
    Py_DECREF(tr);
    return res;
}

static PyObject *starter_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *orig;
    if (!PyArg_ParseTuple(args, "O:Starter", &orig) || (kwds && PyDict_GET_SIZE(kwds))) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "Starter(original)");
        return NULL;
    }
    Starter *st = (Starter *)type->tp_alloc(type, 0);
    if (st == NULL)
        return NULL;
    Py_INCREF(orig);
    st->orig = orig;
    st->vectorcall = starter_vectorcall;
    return (PyObject *)st;
}

static void starter_dealloc(Starter *st)
{
    Py_XDECREF(st->orig);
    Py_TYPE(st)->tp_free((PyObject *)st);
}

static PyMemberDef starter_members[] = {
    {"__wrapped__", T_OBJECT, offsetof(Starter, orig), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject Starter_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cachewatch.Starter",
    .tp_basicsize = sizeof(Starter),
    .tp_dealloc = (destructor)starter_dealloc,
    .tp_vectorcall_offset = offsetof(Starter, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Starter(original): a thread starter that records thread creation.",
    .tp_members = starter_members,
    .tp_new = starter_new,
};

/* ---- frames ---------------------------------------------------------- */

static destructor orig_frame_dealloc; /* kept once known: a death may be under way */

static void frame_dealloc_hook(PyObject *frame)
{
    cw_thread *t = cw_tls_state.thread;
    if (t != NULL)
        cw_thread_forget_frame(t, (uintptr_t)frame);
    orig_frame_dealloc(frame);
}

int cw_frame_hook_install(void)
{
    if (PyFrame_Type.tp_dealloc != frame_dealloc_hook) {
        orig_frame_dealloc = PyFrame_Type.tp_dealloc;
        PyFrame_Type.tp_dealloc = frame_dealloc_hook;
    }
    return 0;
}

void cw_frame_hook_uninstall(void)
{
    if (PyFrame_Type.tp_dealloc == frame_dealloc_hook)
        PyFrame_Type.tp_dealloc = orig_frame_dealloc;
}

PyObject *cw_py_on_os_thread_start(PyObject *self, PyObject *callback)
{
    (void)self;
    if (callback != Py_None && !PyCallable_Check(callback)) {
        PyErr_SetString(PyExc_TypeError, "on_os_thread_start(callable or None)");
        return NULL;
    }
    PyObject *old = os_thread_start_callback;
    os_thread_start_callback = callback == Py_None ? NULL : callback;
    Py_XINCREF(os_thread_start_callback);
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

int cw_thread_hooks_init(PyObject *module)
{
    if (PyType_Ready(&Trampoline_Type) < 0 || PyType_Ready(&Starter_Type) < 0)
        return -1;
    return cw_module_add(module, "Starter", (PyObject *)&Starter_Type);
}
