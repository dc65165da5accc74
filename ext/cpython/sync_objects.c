/* sync_objects.c: how the engine names a synchronisation object, and how
 * it learns that the object died (so its address can name another).
 *
 * C objects (_thread.lock, _thread.RLock, _queue.SimpleQueue): their types'
 * tp_dealloc is wrapped, which costs one table lookup at each death.
 * Python-level objects whose class has an anchor (Event: _cond._lock,
 * Future: _condition._lock, ...) are named after that inner C lock, tagged
 * (address | tag) so their hand-offs never mix with the lock's own record
 * nor with another object anchored on the same lock (a Thread and its
 * _started Event); the lock's death is theirs. Anything else gets a weakref death notice,
 * which costs a weakref per object.
 *
 * Guarded by the GIL: the anchor table, the wrapped types' tp_dealloc
 * stores. Without the GIL: a PyMutex for the table, atomic release stores
 * for the slots (the original stays valid). */
#include "binding.h"

#include "sync.h"

/* ---- death notices: a weakref that tells the engine an object died ---- */

typedef struct {
    PyWeakReference base;
    uintptr_t addr;
} DeathNotice;

static PyTypeObject DeathNotice_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cachewatch._DeathNotice",
    .tp_basicsize = sizeof(DeathNotice),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Tells cachewatch that a synchronisation object died.",
};

static PyObject *on_death(PyObject *self, PyObject *notice)
{
    (void)self;
    if (Py_IS_TYPE(notice, &DeathNotice_Type) && cw_is_started()) {
        void *cookie = cw_sync_forget(((DeathNotice *)notice)->addr);
        if (cookie != NULL)
            Py_DECREF((PyObject *)cookie); /* the engine's reference */
    }
    Py_RETURN_NONE;
}

static PyMethodDef on_death_def = {"_on_death", on_death, METH_O, NULL};
static PyObject *on_death_callback; /* Owned */

static void attach_notice(PyObject *obj, uintptr_t key)
{
    if (on_death_callback == NULL || !PyType_SUPPORTS_WEAKREFS(Py_TYPE(obj)))
        return; /* it lives in the table until the engine goes; harmless */
    cw_tls_state.busy++;
    PyObject *notice = PyObject_CallFunctionObjArgs((PyObject *)&DeathNotice_Type, obj,
                                                    on_death_callback, NULL);
    cw_tls_state.busy--;
    if (notice == NULL) {
        PyErr_Clear();
        return;
    }
    ((DeathNotice *)notice)->addr = key;
    void *back = cw_sync_set_cookie(key, notice);
    if (back != NULL)
        Py_DECREF(notice);
}

void cw_drop_cookie(void *cookie)
{
    Py_XDECREF((PyObject *)cookie);
}

/* ---- C types whose deaths we see ----------------------------------------- */

#define MAX_TAG CW_TAG_MONITOR /* objects are 16-byte aligned: tags up to 15 would fit */

typedef struct wrapped_type {
    const char *module, *name;
    PyTypeObject *type;   /* Owned while wrapped */
    destructor orig;
} wrapped_type;

static wrapped_type wrapped[] = {
    {"_thread", "LockType", NULL, NULL},
    {"_thread", "RLock", NULL, NULL},
    {"_queue", "SimpleQueue", NULL, NULL},
};
#define NWRAPPED (sizeof(wrapped) / sizeof(wrapped[0]))

/* The wrapped type obj is an instance of (exactly or by subclassing). */
static const wrapped_type *wrapped_of(PyTypeObject *type)
{
    for (; type != NULL; type = type->tp_base)
        for (size_t i = 0; i < NWRAPPED; i++)
            if (wrapped[i].type == type)
                return &wrapped[i];
    return NULL;
}

static void forget(uintptr_t key)
{
    void *cookie = cw_sync_forget(key);
    if (cookie != NULL)
        Py_DECREF((PyObject *)cookie);
}

static void dealloc_hook(PyObject *obj)
{
    const wrapped_type *w = wrapped_of(Py_TYPE(obj));
    if (cw_is_started() && cw_sync_count_hint() > 0) {
        forget((uintptr_t)obj);
        for (uintptr_t tag = 1; tag <= MAX_TAG; tag++)
            forget((uintptr_t)obj | tag); /* what anchored on it */
    }
    if (w != NULL)
        w->orig(obj);
}

static int defined_in(PyObject *type, const char *module)
{
    PyObject *name = PyObject_GetAttrString(type, "__module__");
    int same = name != NULL && PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, module) == 0;
    Py_XDECREF(name);
    PyErr_Clear();
    return same;
}

int cw_dealloc_hooks_install(void)
{
    for (size_t i = 0; i < NWRAPPED; i++) {
        wrapped_type *w = &wrapped[i];
        if (w->type != NULL)
            continue;
        PyObject *module = PyImport_ImportModule(w->module);
        PyObject *type = module ? PyObject_GetAttrString(module, w->name) : NULL;
        Py_XDECREF(module);
        if (type == NULL || !PyType_Check(type) || !defined_in(type, w->module)) {
            /* Not in this version, or a stand-in (eventlet's monkey_patch()
             * makes _thread.LockType a Python class, whose deallocator
             * calls its type's: wrapping it would recurse): its objects get
             * notices. */
            Py_XDECREF(type);
            PyErr_Clear();
            continue;
        }
        w->type = (PyTypeObject *)type;
        w->orig = w->type->tp_dealloc;
        w->type->tp_dealloc = dealloc_hook;
    }
    return 0;
}

/* Idle, the hook costs a flag test per death; it is removed only when no
 * record can be left (the process ends or forks), like the frame hook. */
void cw_dealloc_hooks_uninstall(void)
{
    for (size_t i = 0; i < NWRAPPED; i++) {
        wrapped_type *w = &wrapped[i];
        if (w->type == NULL)
            continue;
        w->type->tp_dealloc = w->orig;
        Py_CLEAR(w->type);
    }
}

/* ---- anchors ------------------------------------------------------------- */

#define MAX_ANCHORS 16

typedef struct anchor {
    PyTypeObject *cls; /* Owned */
    PyObject *path;    /* Owned: tuple of interned attribute names */
    uintptr_t tag;
} anchor;

static anchor anchors[MAX_ANCHORS];
static int nanchors;

/* The answers for the types met lately (every sync operation asks): an
 * entry holds its type, so the address keeps naming it; emptied when the
 * anchors change. */
#define ANCHOR_CACHE 8
static struct anchor_cached {
    PyTypeObject *type; /* Owned, or NULL */
    const anchor *found;
} anchor_cache[ANCHOR_CACHE];

static void forget_anchor_answers(void)
{
    for (int i = 0; i < ANCHOR_CACHE; i++)
        Py_CLEAR(anchor_cache[i].type);
}

static const anchor *anchor_of(PyTypeObject *type)
{
    if (nanchors == 0)
        return NULL;
    struct anchor_cached *c = &anchor_cache[((uintptr_t)type >> 4) % ANCHOR_CACHE];
    if (c->type == type)
        return c->found;
    const anchor *found = NULL;
    for (PyTypeObject *t = type; t != NULL && found == NULL; t = t->tp_base)
        for (int i = 0; i < nanchors; i++)
            if (anchors[i].cls == t) {
                found = &anchors[i];
                break;
            }
    Py_INCREF(type);
    Py_XSETREF(c->type, type);
    c->found = found;
    return found;
}

/* The inner C object an anchor leads to, or NULL (borrowed: obj owns it). */
static PyObject *follow(PyObject *obj, PyObject *path)
{
    PyObject *cur = obj;
    cw_tls_state.busy++;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(path); i++) {
        PyObject *next = PyObject_GetAttr(cur, PyTuple_GET_ITEM(path, i));
        if (cur != obj)
            Py_DECREF(cur);
        if (next == NULL) {
            PyErr_Clear();
            cur = NULL;
            break;
        }
        cur = next;
    }
    cw_tls_state.busy--;
    if (cur == NULL || cur == obj)
        return NULL;
    /* Still referenced by obj's attribute chain while obj lives. */
    Py_DECREF(cur);
    return wrapped_of(Py_TYPE(cur)) ? cur : NULL;
}

uintptr_t cw_sync_key(PyObject *obj)
{
    const anchor *a = anchor_of(Py_TYPE(obj));
    if (a != NULL) {
        PyObject *inner = follow(obj, a->path);
        if (inner != NULL)
            return (uintptr_t)inner | a->tag;
    }
    return (uintptr_t)obj;
}

void cw_sync_key_new(PyObject *obj, uintptr_t key)
{
    if ((key & 15) || wrapped_of(Py_TYPE(obj)) != NULL)
        return; /* its death is seen by a dealloc hook */
    attach_notice(obj, key);
}

/* set_anchor(cls, ("attr", ...), tag=1): name instances of cls after the C
 * lock at the end of that attribute path, tagged. */
PyObject *cw_py_set_anchor(PyObject *self, PyObject *args)
{
    (void)self;
    PyTypeObject *cls;
    PyObject *path;
    int tag = 1;
    if (!PyArg_ParseTuple(args, "O!O!|i", &PyType_Type, &cls, &PyTuple_Type, &path, &tag))
        return NULL;
    if (tag < 1 || tag > MAX_TAG) {
        PyErr_Format(PyExc_ValueError, "an anchor's tag is 1-%d", MAX_TAG);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(path); i++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(path, i))) {
            PyErr_SetString(PyExc_TypeError, "an anchor is a tuple of attribute names");
            return NULL;
        }
    }
    PyObject *interned = PyTuple_New(PyTuple_GET_SIZE(path));
    if (interned == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(path); i++) {
        PyObject *name = PyTuple_GET_ITEM(path, i);
        Py_INCREF(name);
        PyUnicode_InternInPlace(&name);
        PyTuple_SET_ITEM(interned, i, name);
    }
    forget_anchor_answers();
    for (int i = 0; i < nanchors; i++) {
        if (anchors[i].cls == cls) {
            Py_SETREF(anchors[i].path, interned);
            anchors[i].tag = (uintptr_t)tag;
            Py_RETURN_NONE;
        }
    }
    if (nanchors == MAX_ANCHORS) {
        Py_DECREF(interned);
        PyErr_SetString(PyExc_RuntimeError, "cachewatch: too many anchors");
        return NULL;
    }
    Py_INCREF(cls);
    anchors[nanchors++] = (anchor){cls, interned, (uintptr_t)tag};
    Py_RETURN_NONE;
}

/* sync_key(obj) -> int: the engine's name for obj (for tests). */
PyObject *cw_py_sync_key(PyObject *self, PyObject *obj)
{
    (void)self;
    return PyLong_FromUnsignedLongLong((unsigned long long)cw_sync_key(obj));
}

int cw_sync_objects_init(PyObject *module)
{
    (void)module;
    DeathNotice_Type.tp_base = &_PyWeakref_RefType;
    DeathNotice_Type.tp_traverse = _PyWeakref_RefType.tp_traverse;
    DeathNotice_Type.tp_clear = _PyWeakref_RefType.tp_clear;
    if (PyType_Ready(&DeathNotice_Type) < 0)
        return -1;
    if (on_death_callback == NULL &&
        (on_death_callback = PyCFunction_New(&on_death_def, NULL)) == NULL)
        return -1;
    return 0;
}
