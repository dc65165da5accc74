/* hooks_global.c: watched module-level names (bindings).
 *
 * A Binding stands for one name of one module. Code of that module that
 * loads, stores or deletes the name is rewritten (cachewatch/_rewrite.py) to
 * read or set the Binding's attribute "value" instead, so every access runs
 * here, in the accessing thread, at the line that made it; code that does not
 * touch a watched name is left alone and costs nothing. Access from outside
 * (module.NAME, setattr, del) goes through the module's type, changed in
 * place to CwModule_Type. From 3.12 a dict watcher also sees writes made
 * through the module's dict (vars(module)[NAME] = ...).
 *
 * The binding is a location of its own for the engine; the container it holds
 * (a dict, list or set) is watched too, and re-watched after each rebinding,
 * which also tells the engine that the old container was replaced.
 *
 * Guarded by the GIL: the module table, and a Binding's value with its
 * record as one step. Without the GIL: a PyMutex for the table, the
 * Binding's critical section around a store and its record; the module's
 * type is changed as a container's (cw_set_type). */
#include "containers.h"

#include <string.h>

#include "hashtable.h"

typedef struct {
    PyObject_HEAD
    PyObject *globals;     /* Owned: the module's dict */
    PyObject *name;        /* Owned: the name (interned str) */
    PyObject *target;      /* Owned: "module.NAME" */
    Py_hash_t hash;
    uintptr_t last_value;  /* identity of the value last seen; never dereferenced */
    int was_bound;         /* the name held a value at some point */
} Binding;

static PyTypeObject Binding_Type;
static PyTypeObject CwModule_Type;
static PyObject *value_str; /* Owned: "value" */

/* module address -> dict {name: Binding} (Owned). */
static cw_hashtable modules;
static int modules_ready;

/* ---- recording ---------------------------------------------------------- */

static void record_binding(Binding *b, cw_op op, bool write)
{
    /* Every load is a direct read. */
    cw_record_at((uintptr_t)b, NULL, 0, op, write ? CW_WRITE : 0, CW_CHECK_ALWAYS);
}

/* The name now holds new_value (it held old_value): a watched old container
 * was replaced for every reader of the name; a new container is watched. */
static void rebound(Binding *b, PyObject *old_value, PyObject *new_value)
{
    if (old_value == new_value)
        return;
    cw_container_rebound(old_value, new_value, b->target);
    b->last_value = (uintptr_t)new_value;
    b->was_bound |= new_value != NULL;
}

/* Notice a change made where nothing of ours saw it (on 3.11, through the
 * module's dict): keep watching what the name holds now. */
static void notice_unseen_change(Binding *b, PyObject *value)
{
    b->was_bound |= value != NULL;
    if ((uintptr_t)value == b->last_value)
        return;
    if (value != NULL && cw_container_can_watch(value)) {
        const char *target = PyUnicode_AsUTF8(b->target);
        if (target == NULL || cw_container_watch(value, target) < 0)
            PyErr_Clear();
    }
    b->last_value = (uintptr_t)value;
}

/* ---- the Binding's "value" --------------------------------------------- */

static PyObject *binding_load(Binding *b)
{
    PyObject *v = PyDict_GetItemWithError(b->globals, b->name);
    if (v == NULL && PyErr_Occurred())
        return NULL;
    int ready = cw_hook_ready();
    if (v != NULL) {
        Py_INCREF(v);
        if (ready) {
            notice_unseen_change(b, v);
            record_binding(b, CW_OP_LOAD, false);
        }
        return v;
    }
    if (ready)
        record_binding(b, CW_OP_LOAD, false);
    /* Like LOAD_GLOBAL: the builtins next, then NameError. */
    PyObject *builtins = PyEval_GetBuiltins();
    v = builtins ? PyDict_GetItemWithError(builtins, b->name) : NULL;
    if (v != NULL) {
        Py_INCREF(v);
        return v;
    }
    if (!PyErr_Occurred())
        PyErr_Format(PyExc_NameError, "name '%U' is not defined", b->name);
    return NULL;
}

static int binding_store(Binding *b, PyObject *v)
{
    PyObject *old = PyDict_GetItemWithError(b->globals, b->name);
    if (old == NULL && PyErr_Occurred())
        return -1;
    Py_XINCREF(old);
    int rc;
    cw_tls_state.busy++; /* our own store is not a dict-level write */
    if (v != NULL) {
        rc = PyDict_SetItem(b->globals, b->name, v);
    } else {
        rc = PyDict_DelItem(b->globals, b->name);
        if (rc < 0 && PyErr_ExceptionMatches(PyExc_KeyError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_NameError, "name '%U' is not defined", b->name);
        }
    }
    cw_tls_state.busy--;
    if (rc == 0 && cw_hook_ready()) {
        record_binding(b, v ? CW_OP_STORE : CW_OP_DELETE, true);
        rebound(b, old, v);
    }
    Py_XDECREF(old);
    return rc;
}

static PyObject *binding_getattro(PyObject *self, PyObject *name)
{
    if (name == value_str || (PyUnicode_Check(name) && PyUnicode_Compare(name, value_str) == 0))
        return binding_load((Binding *)self);
    return PyObject_GenericGetAttr(self, name);
}

static int binding_setattro(PyObject *self, PyObject *name, PyObject *v)
{
    if (name == value_str || (PyUnicode_Check(name) && PyUnicode_Compare(name, value_str) == 0))
        return binding_store((Binding *)self, v);
    return PyObject_GenericSetAttr(self, name, v);
}

static PyObject *binding_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *globals, *name, *target;
    static char *names[] = {"globals", "name", "target", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!UU:Binding", names, &PyDict_Type, &globals,
                                     &name, &target))
        return NULL;
    Py_hash_t hash = PyObject_Hash(name);
    if (hash == -1)
        return NULL;
    if (!cw_is_started()) {
        PyErr_SetString(PyExc_RuntimeError, "cachewatch is not started");
        return NULL;
    }
    Binding *b = (Binding *)type->tp_alloc(type, 0);
    if (b == NULL)
        return NULL;
    Py_INCREF(globals);
    b->globals = globals;
    Py_INCREF(name);
    PyUnicode_InternInPlace(&name);
    b->name = name;
    Py_INCREF(target);
    b->target = target;
    b->hash = hash;
    const char *t = PyUnicode_AsUTF8(target);
    if (t == NULL || cw_shadow_watch_binding((uintptr_t)b, t) != CW_OK) {
        Py_DECREF(b);
        return t ? PyErr_NoMemory() : NULL;
    }
    /* Watch what it holds now. */
    PyObject *v = PyDict_GetItemWithError(globals, name);
    if (v != NULL)
        notice_unseen_change(b, v);
    else if (PyErr_Occurred())
        PyErr_Clear();
    return (PyObject *)b;
}

static void binding_dealloc(Binding *b)
{
    PyObject_GC_UnTrack(b);
    cw_shadow_unwatch((uintptr_t)b);
    Py_XDECREF(b->globals);
    Py_XDECREF(b->name);
    Py_XDECREF(b->target);
    Py_TYPE(b)->tp_free((PyObject *)b);
}

static int binding_traverse(Binding *b, visitproc visit, void *arg)
{
    Py_VISIT(b->globals);
    Py_VISIT(b->name);
    Py_VISIT(b->target);
    return 0;
}

static PyObject *binding_repr(Binding *b)
{
    return PyUnicode_FromFormat("<cachewatch binding %U>", b->target);
}

static PyMemberDef binding_members[] = {
    {"name", T_OBJECT, offsetof(Binding, name), READONLY, NULL},
    {"target", T_OBJECT, offsetof(Binding, target), READONLY, NULL},
    {"globals", T_OBJECT, offsetof(Binding, globals), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject Binding_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cachewatch.Binding",
    .tp_basicsize = sizeof(Binding),
    .tp_dealloc = (destructor)binding_dealloc,
    .tp_repr = (reprfunc)binding_repr,
    .tp_getattro = binding_getattro,
    .tp_setattro = binding_setattro,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Binding(globals, name, target): a watched module-level name. Rewritten code "
              "reads and sets its attribute 'value' in place of the global.",
    .tp_traverse = (traverseproc)binding_traverse,
    .tp_members = binding_members,
    .tp_new = binding_new,
};

/* ---- the module's type: access from outside ---------------------------- */

static Binding *binding_of(PyObject *module, PyObject *name)
{
    if (!modules_ready)
        return NULL;
    PyObject *names = cw_ht_get(&modules, (uintptr_t)module);
    if (names == NULL || !PyUnicode_Check(name))
        return NULL;
    PyObject *b = PyDict_GetItemWithError(names, name);
    if (b == NULL)
        PyErr_Clear();
    return (Binding *)b;
}

static PyObject *cwmodule_getattro(PyObject *module, PyObject *name)
{
    PyObject *v = PyModule_Type.tp_getattro(module, name);
    Binding *b;
    if (v != NULL && cw_hook_ready() && (b = binding_of(module, name)) != NULL) {
        notice_unseen_change(b, v);
        record_binding(b, CW_OP_LOAD, false);
    }
    return v;
}

static int cwmodule_setattro(PyObject *module, PyObject *name, PyObject *v)
{
    Binding *b = cw_hook_ready() ? binding_of(module, name) : NULL;
    if (b == NULL)
        return PyModule_Type.tp_setattro(module, name, v);
    Py_INCREF(b);
    int rc = binding_store(b, v);
    if (rc < 0 && v == NULL && PyErr_ExceptionMatches(PyExc_NameError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_AttributeError, "module has no attribute '%U'", name);
    }
    Py_DECREF(b);
    return rc;
}

static void cwmodule_dealloc(PyObject *module)
{
    if (modules_ready) {
        PyObject *names = cw_ht_remove(&modules, (uintptr_t)module);
        Py_XDECREF(names);
    }
    cw_set_type(module, &PyModule_Type);
    PyModule_Type.tp_dealloc(module);
}

static PyTypeObject CwModule_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "module",
    .tp_dealloc = cwmodule_dealloc,
    .tp_getattro = cwmodule_getattro,
    .tp_setattro = cwmodule_setattro,
    .tp_doc = "A module with names watched by cachewatch.",
};

/* watch_module(module, {name: Binding}): route outside access through the
 * bindings (replaces the module's earlier set). */
PyObject *cw_py_watch_module(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *module, *names;
    if (!PyArg_ParseTuple(args, "O!O!", &PyModule_Type, &module, &PyDict_Type, &names))
        return NULL;
    if (Py_TYPE(module) != &PyModule_Type && Py_TYPE(module) != &CwModule_Type) {
        PyErr_Format(PyExc_TypeError, "cachewatch cannot watch names of a %.100s",
                     Py_TYPE(module)->tp_name);
        return NULL;
    }
    if (!modules_ready) {
        if (cw_ht_init(&modules, 16, NULL, NULL, CW_MEM_MISC) < 0)
            return PyErr_NoMemory();
        modules_ready = 1;
    }
    PyObject *copy = PyDict_Copy(names);
    if (copy == NULL)
        return NULL;
    PyObject *old = cw_ht_get(&modules, (uintptr_t)module);
    if (cw_ht_put(&modules, (uintptr_t)module, copy) < 0) {
        Py_DECREF(copy);
        return PyErr_NoMemory();
    }
    Py_XDECREF(old);
    cw_set_type(module, &CwModule_Type);
    Py_RETURN_NONE;
}

PyObject *cw_py_unwatch_module(PyObject *self, PyObject *module)
{
    (void)self;
    if (modules_ready) {
        PyObject *names = cw_ht_remove(&modules, (uintptr_t)module);
        Py_XDECREF(names);
    }
    if (Py_TYPE(module) == &CwModule_Type)
        cw_set_type(module, &PyModule_Type);
    Py_RETURN_NONE;
}

/* ---- 3.12+: writes through the module's dict --------------------------- */

#if PY_VERSION_HEX >= 0x030C0000
static int dict_watcher_id = -1;

/* Which module dict belongs to which bindings: scan the module table (few). */
static Binding *binding_of_globals(PyObject *dict, PyObject *key)
{
    size_t pos = 0;
    uintptr_t module;
    void *names;
    while (cw_ht_next(&modules, &pos, &module, &names)) {
        if (PyModule_GetDict((PyObject *)module) == dict) {
            PyObject *b = PyDict_GetItemWithError((PyObject *)names, key);
            if (b == NULL)
                PyErr_Clear();
            return (Binding *)b;
        }
    }
    return NULL;
}

static int on_module_dict_event(PyDict_WatchEvent event, PyObject *dict, PyObject *key,
                                PyObject *new_value)
{
    if (!cw_hook_ready() || !modules_ready || key == NULL || !PyUnicode_Check(key))
        return 0;
    if (event != PyDict_EVENT_ADDED && event != PyDict_EVENT_MODIFIED &&
        event != PyDict_EVENT_DELETED)
        return 0;
    Binding *b = binding_of_globals(dict, key);
    if (b == NULL)
        return 0;
    /* Runs before the change, in the writing thread, at its line. */
    PyObject *old = PyDict_GetItemWithError(dict, key);
    if (old == NULL)
        PyErr_Clear();
    Py_XINCREF(old);
    record_binding(b, event == PyDict_EVENT_DELETED ? CW_OP_DELETE : CW_OP_STORE, true);
    rebound(b, old, new_value);
    Py_XDECREF(old);
    return 0;
}
#endif

PyObject *cw_py_notice_binding(PyObject *self, PyObject *b)
{
    (void)self;
    if (!Py_IS_TYPE(b, &Binding_Type))
        return PyErr_Format(PyExc_TypeError, "notice_binding wants a Binding");
    Binding *bd = (Binding *)b;
    PyObject *v = PyDict_GetItemWithError(bd->globals, bd->name);
    if (v == NULL && PyErr_Occurred())
        return NULL;
    if (v != NULL)
        notice_unseen_change(bd, v);
    Py_RETURN_NONE;
}

PyObject *cw_py_was_bound(PyObject *self, PyObject *b)
{
    (void)self;
    if (!Py_IS_TYPE(b, &Binding_Type)) {
        PyErr_SetString(PyExc_TypeError, "was_bound wants a Binding");
        return NULL;
    }
    Binding *bd = (Binding *)b;
    if (!bd->was_bound) { /* bound since, where nothing of ours looked */
        PyObject *v = PyDict_GetItemWithError(bd->globals, bd->name);
        if (v == NULL && PyErr_Occurred())
            return NULL;
        bd->was_bound = v != NULL;
    }
    return PyBool_FromLong(bd->was_bound);
}

PyObject *cw_py_watch_module_dict(PyObject *self, PyObject *dict)
{
    (void)self;
#if PY_VERSION_HEX >= 0x030C0000
    if (dict_watcher_id < 0 && (dict_watcher_id = PyDict_AddWatcher(on_module_dict_event)) < 0)
        return NULL;
    if (PyDict_Watch(dict_watcher_id, dict) < 0)
        return NULL;
    Py_RETURN_TRUE;
#else
    (void)dict;
    Py_RETURN_FALSE; /* 3.11 and older: no dict watchers */
#endif
}

PyObject *cw_py_unwatch_module_dict(PyObject *self, PyObject *dict)
{
    (void)self;
#if PY_VERSION_HEX >= 0x030C0000
    if (dict_watcher_id >= 0 && PyDict_Unwatch(dict_watcher_id, dict) < 0)
        PyErr_Clear();
#else
    (void)dict;
#endif
    Py_RETURN_NONE;
}

int cw_global_hooks_init(PyObject *module)
{
    value_str = PyUnicode_InternFromString("value");
    if (value_str == NULL)
        return -1;
    CwModule_Type.tp_base = &PyModule_Type;
    CwModule_Type.tp_basicsize = PyModule_Type.tp_basicsize;
    CwModule_Type.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC;
    CwModule_Type.tp_traverse = PyModule_Type.tp_traverse;
    CwModule_Type.tp_clear = PyModule_Type.tp_clear;
    CwModule_Type.tp_dictoffset = PyModule_Type.tp_dictoffset;
    CwModule_Type.tp_weaklistoffset = PyModule_Type.tp_weaklistoffset;
    if (PyType_Ready(&Binding_Type) < 0 || PyType_Ready(&CwModule_Type) < 0)
        return -1;
    if (cw_module_add(module, "Binding", (PyObject *)&Binding_Type) < 0 ||
        cw_module_add(module, "WatchedModule", (PyObject *)&CwModule_Type) < 0)
        return -1;
    return 0;
}
