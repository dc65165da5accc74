/* hooks_dict.c: watched dicts.
 *
 * Watching a dict changes its type in place to CwDict_Type, a static C
 * subclass of dict with the same layout, so every alias sees the watched
 * object. Each operation calls dict's own implementation and then tells the
 * engine what it did: a pop or setdefault that changed nothing is a read.
 * The type goes back to dict before the object is freed and at unwatch.
 *
 * Operations that bypass subclass slots in CPython (popitem, |=, update,
 * clear, views) get methods of their own. Iteration is seen through tp_iter
 * and the views' iterators; a loop counts as Python-level when its first step
 * comes from a FOR_ITER instruction, while list(d), dict(d), sorted(d) and
 * the like are atomic snapshots and never race.
 *
 * Guarded by the GIL: the watched set below, and an operation with its
 * record as one step. Without the GIL: the object's critical section around
 * both, a PyMutex for the set (docs/internals.md, "Without the GIL"). */
#include "containers.h"

#include <string.h>

static PyTypeObject CwDict_Type;
static PyTypeObject CwKeys_Type, CwValues_Type, CwItems_Type;
static PyTypeObject CwODictKeys_Type, CwODictValues_Type, CwODictItems_Type;

/* dict's own methods, looked up once (borrowed from dict's type dict). */
static PyObject *dict_get, *dict_setdefault, *dict_pop, *dict_popitem, *dict_update,
    *dict_clear, *dict_keys, *dict_values, *dict_items, *dict_reversed;

#define call_dict_method cw_call_with_self

/* ---- slots ----------------------------------------------------------- */

static PyObject *cwdict_subscript(PyObject *self, PyObject *key)
{
    PyObject *res = CW_PLAIN_TYPE(self)->tp_as_mapping->mp_subscript(self, key);
    if (cw_hook_ready() && (res != NULL || PyErr_ExceptionMatches(PyExc_KeyError)))
        cw_record_key(self, key, CW_OP_GETITEM, 0, CW_CHECK_SUBSCRIPT);
    return res;
}

static int cwdict_ass_subscript(PyObject *self, PyObject *key, PyObject *value)
{
    Py_ssize_t before = PyDict_GET_SIZE(self);
    int rc = CW_PLAIN_TYPE(self)->tp_as_mapping->mp_ass_subscript(self, key, value);
    if (rc == 0 && cw_hook_ready())
        cw_record_key(self, key, value ? CW_OP_SETITEM : CW_OP_DELITEM,
                      CW_WRITE | (PyDict_GET_SIZE(self) != before ? CW_STRUCTURAL : 0),
                      CW_CHECK_NEVER);
    return rc;
}

static int cwdict_contains(PyObject *self, PyObject *key)
{
    int rc = CW_PLAIN_TYPE(self)->tp_as_sequence->sq_contains(self, key);
    if (rc >= 0 && cw_hook_ready())
        cw_record_key(self, key, CW_OP_CONTAINS, 0, cw_opcode.contains);
    return rc;
}

/* ---- methods --------------------------------------------------------- */

static PyObject *cwdict_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    PyObject *res = call_dict_method(dict_get, self, args, nargs, kwnames);
    if (res != NULL && nargs >= 1 && cw_hook_ready())
        cw_record_key(self, args[0], CW_OP_GET, 0, CW_CHECK_ALWAYS);
    return res;
}

/* setdefault and pop: a write if they changed the size, else a read.
 * unobserved: what the method does through the slots is part of it. */
static PyObject *size_sensitive(PyObject *method, cw_op op, PyObject *self,
                                PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                                int unobserved)
{
    Py_ssize_t before = PyDict_GET_SIZE(self);
    cw_tls_state.busy += unobserved;
    PyObject *res = method ? call_dict_method(method, self, args, nargs, kwnames) : NULL;
    cw_tls_state.busy -= unobserved;
    if (nargs >= 1 && cw_hook_ready() &&
        (res != NULL || PyErr_ExceptionMatches(PyExc_KeyError))) {
        bool changed = PyDict_GET_SIZE(self) != before;
        cw_record_key(self, args[0], op, changed ? CW_WRITE | CW_STRUCTURAL : 0, CW_CHECK_ALWAYS);
    }
    return res;
}

static PyObject *cwdict_setdefault(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    return size_sensitive(dict_setdefault, CW_OP_SETDEFAULT, self, args, nargs, kwnames, 0);
}

static PyObject *cwdict_pop(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    return size_sensitive(dict_pop, CW_OP_POP, self, args, nargs, kwnames, 0);
}

/* Pops from many threads commute, as list pops do: each takes one entry. */
static PyObject *cwdict_popitem(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    PyObject *res = call_dict_method(dict_popitem, self, NULL, 0, NULL);
    if (res != NULL && PyTuple_Check(res) && PyTuple_GET_SIZE(res) == 2 && cw_hook_ready())
        cw_record_key(self, PyTuple_GET_ITEM(res, 0), CW_OP_POPITEM,
                      CW_WRITE | CW_STRUCTURAL | CW_COMMUTES, CW_CHECK_NEVER);
    return res;
}

/* Apply the pairs of a plain dict to self one by one, recording each. */
static int apply_pairs(PyObject *self, PyObject *pairs, cw_op op)
{
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    int ready = cw_hook_ready();
    while (PyDict_Next(pairs, &pos, &k, &v)) {
        Py_ssize_t before = PyDict_GET_SIZE(self);
        Py_INCREF(k);
        Py_INCREF(v);
        int rc = PyDict_SetItem(self, k, v);
        if (rc == 0 && ready)
            cw_record_key(self, k, op, CW_WRITE | (PyDict_GET_SIZE(self) != before ? CW_STRUCTURAL : 0),
                          CW_CHECK_NEVER);
        Py_DECREF(k);
        Py_DECREF(v);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* dict.update semantics, seen key by key: gather into a plain dict exactly
 * as update would (same errors, same consumption of the argument), then
 * apply. On an error part-way, what was gathered is applied first, as
 * update itself would have done. */
static PyObject *update_recorded(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames, cw_op op)
{
    if (!cw_hook_ready())
        return call_dict_method(dict_update, self, args, nargs, kwnames);
    PyObject *pairs = PyDict_New();
    if (pairs == NULL)
        return NULL;
    PyObject *res = call_dict_method(dict_update, pairs, args, nargs, kwnames);
    cw_saved_error gathering;
    cw_error_save(&gathering); /* set exactly when res is NULL */
    int rc = apply_pairs(self, pairs, op);
    Py_DECREF(pairs);
    if (rc < 0) {
        Py_XDECREF(res);
        if (cw_error_is_set(&gathering)) {
            PyErr_Clear();
            cw_error_restore(&gathering);
        }
        return NULL;
    }
    cw_error_restore(&gathering);
    return res;
}

static PyObject *cwdict_update(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    return update_recorded(self, args, nargs, kwnames, CW_OP_UPDATE);
}

static PyObject *cwdict_ior(PyObject *self, PyObject *other)
{
    PyObject *args[1] = {other};
    /* dict |= needs a mapping or an iterable of pairs, like update. */
    PyObject *res = update_recorded(self, args, 1, NULL, CW_OP_UPDATE);
    if (res == NULL)
        return NULL;
    Py_DECREF(res);
    Py_INCREF(self);
    return self;
}

/* clear() through method (dict's own, or a subclass's in C). */
static PyObject *clear_with(PyObject *method, PyObject *self)
{
    PyObject *keys = NULL;
    if (cw_hook_ready() && PyDict_GET_SIZE(self) > 0)
        keys = PyDict_Keys(self);
    PyObject *res = call_dict_method(method, self, NULL, 0, NULL);
    if (res != NULL && keys != NULL && cw_hook_ready()) {
        /* Only keys with a history can race; the rest have nothing to say. */
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
            PyObject *k = PyList_GET_ITEM(keys, i);
            Py_hash_t h = PyObject_Hash(k);
            if (h == -1) {
                PyErr_Clear();
                continue;
            }
            if (cw_shadow_has_cell((uintptr_t)self, (int64_t)h))
                cw_record(self, k, h, CW_OP_CLEAR, CW_WRITE, CW_CHECK_NEVER);
        }
        cw_record(self, NULL, 0, CW_OP_CLEAR, CW_STRUCTURAL, CW_CHECK_NEVER);
    }
    Py_XDECREF(keys);
    if (PyErr_Occurred() && res != NULL)
        PyErr_Clear();
    return res;
}

static PyObject *cwdict_clear(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    return clear_with(dict_clear, self);
}

/* d.copy() and copy.copy(d): a plain dict, as atomic as dict.copy of a
 * plain dict. dict.copy itself would take the generic mapping path for a
 * watched dict (its tp_iter is not dict's), running keys' __hash__ between
 * items, where another thread may change the dict. Here the items are taken
 * with no Python code running in between, then inserted into the copy. */
static PyObject *cwdict_copy(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    PyObject *keys = NULL, *values = NULL;
    Py_ssize_t n, got = 0;
    CW_BEGIN_CRITICAL_SECTION(self);
    for (;;) {
        n = PyDict_GET_SIZE(self);
        keys = PyTuple_New(n);
        values = PyTuple_New(n);
        if (keys == NULL || values == NULL || PyDict_GET_SIZE(self) == n)
            break;
        /* The allocations ran the GC, and a finalizer changed the dict. */
        Py_CLEAR(keys);
        Py_CLEAR(values);
    }
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (keys != NULL && values != NULL && got < n && PyDict_Next(self, &pos, &k, &v)) {
        Py_INCREF(k);
        Py_INCREF(v);
        PyTuple_SET_ITEM(keys, got, k);
        PyTuple_SET_ITEM(values, got, v);
        got++;
    }
    CW_END_CRITICAL_SECTION();
    if (keys == NULL || values == NULL) {
        Py_XDECREF(keys);
        Py_XDECREF(values);
        return NULL;
    }
    PyObject *copy = PyDict_New();
    for (Py_ssize_t i = 0; copy != NULL && i < got; i++)
        if (PyDict_SetItem(copy, PyTuple_GET_ITEM(keys, i), PyTuple_GET_ITEM(values, i)) < 0)
            Py_CLEAR(copy);
    Py_DECREF(keys);
    Py_DECREF(values);
    return copy;
}

static PyObject *cwdict_iter(PyObject *self)
{
    return cw_wrap_iter(CW_PLAIN_TYPE(self)->tp_iter(self), self);
}

static PyObject *cwdict_reversed(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    return cw_wrap_iter(call_dict_method(dict_reversed, self, NULL, 0, NULL), self);
}

/* ---- a subclass's own methods in C (OrderedDict's) ---------------------- */

/* What the watched object's plain type has under name (a new reference). */
static PyObject *plain_method(PyObject *self, const char *name)
{
    PyObject *m = cw_type_lookup(CW_PLAIN_TYPE(self), name);
    if (m == NULL)
        PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute '%s'",
                     Py_TYPE(self)->tp_name, name);
    return m;
}

static PyObject *make_view(PyTypeObject *type, PyObject *method, PyObject *self);

static PyObject *plain_view(PyObject *self, PyTypeObject *type, const char *name)
{
    PyObject *m = plain_method(self, name);
    PyObject *v = m ? make_view(type, m, self) : NULL;
    Py_XDECREF(m);
    return v;
}

static PyObject *extra_keys(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    return plain_view(self, &CwKeys_Type, "keys");
}

static PyObject *extra_values(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    return plain_view(self, &CwValues_Type, "values");
}

static PyObject *extra_items(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    return plain_view(self, &CwItems_Type, "items");
}

static PyObject *extra_reversed(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    PyObject *m = plain_method(self, "__reversed__");
    PyObject *it = m ? cw_wrap_iter(call_dict_method(m, self, NULL, 0, NULL), self) : NULL;
    Py_XDECREF(m);
    return it;
}

static PyObject *extra_clear(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    PyObject *m = plain_method(self, "clear");
    PyObject *res = m ? clear_with(m, self) : NULL;
    Py_XDECREF(m);
    return res;
}

/* move_to_end changes the order, not what a key holds: loops over the
 * dict race it, nothing else. */
static PyObject *extra_move_to_end(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    PyObject *m = plain_method(self, "move_to_end");
    PyObject *res = m ? call_dict_method(m, self, args, nargs, kwnames) : NULL;
    Py_XDECREF(m);
    if (res != NULL && cw_hook_ready())
        cw_record(self, NULL, 0, CW_OP_UPDATE, CW_STRUCTURAL, CW_CHECK_NEVER);
    return res;
}

/* OrderedDict's own pop, popitem and setdefault take the dict's entries
 * directly from 3.10 on (nothing of them was seen) and go through the slots
 * on 3.9 (seen as a check and a write at one line): run with the slots
 * unobserved, each is one operation, seen as dict's own is. */
static PyObject *call_plain_as_one(PyObject *self, const char *name, PyObject *const *args,
                                   Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *m = plain_method(self, name);
    cw_tls_state.busy++;
    PyObject *res = m ? call_dict_method(m, self, args, nargs, kwnames) : NULL;
    cw_tls_state.busy--;
    Py_XDECREF(m);
    return res;
}

static PyObject *extra_popitem(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    PyObject *res = call_plain_as_one(self, "popitem", args, nargs, kwnames);
    if (res != NULL && PyTuple_Check(res) && PyTuple_GET_SIZE(res) == 2 && cw_hook_ready())
        cw_record_key(self, PyTuple_GET_ITEM(res, 0), CW_OP_POPITEM,
                      CW_WRITE | CW_STRUCTURAL | CW_COMMUTES, CW_CHECK_NEVER);
    return res;
}

static PyObject *extra_size_sensitive(const char *name, cw_op op, PyObject *self,
                                      PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *m = plain_method(self, name);
    PyObject *res = size_sensitive(m, op, self, args, nargs, kwnames, 1);
    Py_XDECREF(m);
    return res;
}

static PyObject *extra_pop(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    return extra_size_sensitive("pop", CW_OP_POP, self, args, nargs, kwnames);
}

static PyObject *extra_setdefault(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames)
{
    return extra_size_sensitive("setdefault", CW_OP_SETDEFAULT, self, args, nargs, kwnames);
}

/* For a subclass that has these in C (OrderedDict): its own, seen. */
static PyMethodDef cwdict_subclass_methods[] = {
    {"popitem", (PyCFunction)(void (*)(void))extra_popitem, METH_FASTCALL | METH_KEYWORDS, NULL},
    {"pop", (PyCFunction)(void (*)(void))extra_pop, METH_FASTCALL | METH_KEYWORDS, NULL},
    {"setdefault", (PyCFunction)(void (*)(void))extra_setdefault, METH_FASTCALL | METH_KEYWORDS,
     NULL},
    {"keys", (PyCFunction)extra_keys, METH_NOARGS, NULL},
    {"values", (PyCFunction)extra_values, METH_NOARGS, NULL},
    {"items", (PyCFunction)extra_items, METH_NOARGS, NULL},
    {"__reversed__", (PyCFunction)extra_reversed, METH_NOARGS, NULL},
    {"clear", (PyCFunction)extra_clear, METH_NOARGS, NULL},
    {"move_to_end", (PyCFunction)(void (*)(void))extra_move_to_end,
     METH_FASTCALL | METH_KEYWORDS, NULL},
    {NULL, NULL, 0, NULL},
};

/* ---- views: the real view, with iteration seen ------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *view;      /* Owned: the real dict view */
    PyObject *container; /* Owned */
} CwView;

static int is_view(PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    return t == &CwKeys_Type || t == &CwValues_Type || t == &CwItems_Type ||
           t == &CwODictKeys_Type || t == &CwODictValues_Type || t == &CwODictItems_Type;
}

static PyObject *unwrap(PyObject *o) { return is_view(o) ? ((CwView *)o)->view : o; }

static PyObject *make_view(PyTypeObject *type, PyObject *method, PyObject *self)
{
    PyObject *real = call_dict_method(method, self, NULL, 0, NULL);
    if (real == NULL)
        return NULL;
    /* An OrderedDict's views keep their names (messages print them). */
    if (strncmp(Py_TYPE(real)->tp_name, "odict_", 6) == 0)
        type = type == &CwKeys_Type     ? &CwODictKeys_Type
               : type == &CwValues_Type ? &CwODictValues_Type
                                        : &CwODictItems_Type;
    CwView *v = PyObject_GC_New(CwView, type);
    if (v == NULL) {
        Py_DECREF(real);
        return NULL;
    }
    v->view = real;
    Py_INCREF(self);
    v->container = self;
    PyObject_GC_Track(v);
    return (PyObject *)v;
}

static PyObject *cwdict_keys(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    return make_view(&CwKeys_Type, dict_keys, self);
}

static PyObject *cwdict_values(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    return make_view(&CwValues_Type, dict_values, self);
}

static PyObject *cwdict_items(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    return make_view(&CwItems_Type, dict_items, self);
}

static void cwview_dealloc(CwView *v)
{
    PyObject_GC_UnTrack(v);
    Py_XDECREF(v->view);
    Py_XDECREF(v->container);
    PyObject_GC_Del(v);
}

static int cwview_traverse(CwView *v, visitproc visit, void *arg)
{
    Py_VISIT(v->view);
    Py_VISIT(v->container);
    return 0;
}

static PyObject *cwview_iter(CwView *v) { return cw_wrap_iter(PyObject_GetIter(v->view), v->container); }

static PyObject *cwview_reversed(CwView *v, PyObject *noargs)
{
    (void)noargs;
    PyObject *r = PyObject_CallMethod(v->view, "__reversed__", NULL);
    return cw_wrap_iter(r, v->container);
}

static Py_ssize_t cwview_len(CwView *v) { return PyObject_Size(v->view); }

static int cwview_contains(CwView *v, PyObject *x) { return PySequence_Contains(v->view, x); }

static PyObject *cwview_repr(CwView *v) { return PyObject_Repr(v->view); }

static PyObject *cwview_richcompare(PyObject *a, PyObject *b, int op)
{
    return PyObject_RichCompare(unwrap(a), unwrap(b), op);
}

#define CW_VIEW_BINOP(name, fn)                                         \
    static PyObject *name(PyObject *a, PyObject *b)                     \
    {                                                                   \
        return fn(unwrap(a), unwrap(b));                                \
    }
CW_VIEW_BINOP(cwview_and, PyNumber_And)
CW_VIEW_BINOP(cwview_or, PyNumber_Or)
CW_VIEW_BINOP(cwview_xor, PyNumber_Xor)
CW_VIEW_BINOP(cwview_sub, PyNumber_Subtract)

static PyObject *cwview_isdisjoint(CwView *v, PyObject *other)
{
    return PyObject_CallMethod(v->view, "isdisjoint", "O", unwrap(other));
}

static PyObject *cwview_getattro(PyObject *self, PyObject *name)
{
    PyObject *res = PyObject_GenericGetAttr(self, name);
    if (res != NULL || !PyErr_ExceptionMatches(PyExc_AttributeError))
        return res;
    PyErr_Clear();
    return PyObject_GetAttr(((CwView *)self)->view, name); /* e.g. .mapping */
}

static PyMethodDef cwview_methods[] = {
    {"isdisjoint", (PyCFunction)cwview_isdisjoint, METH_O, NULL},
    {"__reversed__", (PyCFunction)cwview_reversed, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods cwview_as_sequence = {
    .sq_length = (lenfunc)cwview_len,
    .sq_contains = (objobjproc)cwview_contains,
};

static PyNumberMethods cwview_as_number = {
    .nb_subtract = cwview_sub,
    .nb_and = cwview_and,
    .nb_xor = cwview_xor,
    .nb_or = cwview_or,
};

#define CW_VIEW_TYPE(cname, pyname, hash)                                \
    static PyTypeObject cname = {                                        \
        PyVarObject_HEAD_INIT(NULL, 0)                                   \
        .tp_name = pyname,                                               \
        .tp_basicsize = sizeof(CwView),                                  \
        .tp_dealloc = (destructor)cwview_dealloc,                        \
        .tp_repr = (reprfunc)cwview_repr,                                \
        .tp_as_number = &cwview_as_number,                               \
        .tp_as_sequence = &cwview_as_sequence,                           \
        .tp_hash = hash,                                                 \
        .tp_getattro = cwview_getattro,                                  \
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,             \
        .tp_traverse = (traverseproc)cwview_traverse,                    \
        .tp_richcompare = cwview_richcompare,                            \
        .tp_iter = (getiterfunc)cwview_iter,                             \
        .tp_methods = cwview_methods,                                    \
    };
static Py_hash_t cwview_identity_hash(PyObject *v) { return PyBaseObject_Type.tp_hash(v); }

/* Keys and items views are set-like, so unhashable; a values view hashes
 * by identity, as dict_values does. */
CW_VIEW_TYPE(CwKeys_Type, "dict_keys", PyObject_HashNotImplemented)
CW_VIEW_TYPE(CwValues_Type, "dict_values", cwview_identity_hash)
CW_VIEW_TYPE(CwItems_Type, "dict_items", PyObject_HashNotImplemented)
CW_VIEW_TYPE(CwODictKeys_Type, "odict_keys", PyObject_HashNotImplemented)
CW_VIEW_TYPE(CwODictValues_Type, "odict_values", cwview_identity_hash)
CW_VIEW_TYPE(CwODictItems_Type, "odict_items", PyObject_HashNotImplemented)

/* ---- the type ---------------------------------------------------------- */

static PyObject *cwdict_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)type;
    /* type(d)() makes a plain dict: nothing is watched by accident. */
    return PyObject_Call((PyObject *)&PyDict_Type, args, kwds);
}

static void cwdict_dealloc(PyObject *self)
{
    cw_container_dying(self);
    PyDict_Type.tp_dealloc(self);
}

static PyMappingMethods cwdict_as_mapping = {
    .mp_subscript = cwdict_subscript,
    .mp_ass_subscript = cwdict_ass_subscript,
};

static PySequenceMethods cwdict_as_sequence = {
    .sq_contains = cwdict_contains,
};

static PyNumberMethods cwdict_as_number = {
    .nb_inplace_or = cwdict_ior,
};

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)
static PyMethodDef cwdict_methods[] = {
    {"get", (PyCFunction)(void (*)(void))cwdict_get, FASTKW, NULL},
    {"setdefault", (PyCFunction)(void (*)(void))cwdict_setdefault, FASTKW, NULL},
    {"pop", (PyCFunction)(void (*)(void))cwdict_pop, FASTKW, NULL},
    {"popitem", (PyCFunction)cwdict_popitem, METH_NOARGS, NULL},
    {"update", (PyCFunction)(void (*)(void))cwdict_update, FASTKW, NULL},
    {"clear", (PyCFunction)cwdict_clear, METH_NOARGS, NULL},
    {"keys", (PyCFunction)cwdict_keys, METH_NOARGS, NULL},
    {"values", (PyCFunction)cwdict_values, METH_NOARGS, NULL},
    {"items", (PyCFunction)cwdict_items, METH_NOARGS, NULL},
    {"__reversed__", (PyCFunction)cwdict_reversed, METH_NOARGS, NULL},
    {"copy", (PyCFunction)cwdict_copy, METH_NOARGS, NULL},
    {"__copy__", (PyCFunction)cwdict_copy, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CwDict_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dict",
    .tp_basicsize = sizeof(PyDictObject),
    .tp_dealloc = cwdict_dealloc,
    .tp_as_number = &cwdict_as_number,
    .tp_as_sequence = &cwdict_as_sequence,
    .tp_as_mapping = &cwdict_as_mapping,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A dict watched by cachewatch.",
    .tp_iter = cwdict_iter,
    .tp_methods = cwdict_methods,
    .tp_new = cwdict_new,
};

static int lookup_dict_methods(void)
{
    PyObject *dict = PyType_GetDict_compat(&PyDict_Type);
    struct {
        PyObject **slot;
        const char *name;
    } wanted[] = {
        {&dict_get, "get"},       {&dict_setdefault, "setdefault"}, {&dict_pop, "pop"},
        {&dict_popitem, "popitem"}, {&dict_update, "update"},     {&dict_clear, "clear"},
        {&dict_keys, "keys"},     {&dict_values, "values"},         {&dict_items, "items"},
        {&dict_reversed, "__reversed__"},
    };
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        *wanted[i].slot = PyDict_GetItemString(dict, wanted[i].name);
        if (*wanted[i].slot == NULL) {
            PyErr_Format(PyExc_RuntimeError, "dict has no method %s", wanted[i].name);
            Py_DECREF(dict);
            return -1;
        }
        Py_INCREF(*wanted[i].slot);
    }
    Py_DECREF(dict);
    return 0;
}

int cw_dict_hooks_init(PyObject *module)
{
    CwDict_Type.tp_base = &PyDict_Type;
    CwDict_Type.tp_traverse = PyDict_Type.tp_traverse;
    CwDict_Type.tp_clear = PyDict_Type.tp_clear;
    if (PyType_Ready(&CwDict_Type) < 0 || PyType_Ready(&CwKeys_Type) < 0 ||
        PyType_Ready(&CwValues_Type) < 0 || PyType_Ready(&CwItems_Type) < 0 ||
        PyType_Ready(&CwODictKeys_Type) < 0 || PyType_Ready(&CwODictValues_Type) < 0 ||
        PyType_Ready(&CwODictItems_Type) < 0)
        return -1;
    if (lookup_dict_methods() < 0 ||
        cw_container_kind_register(&PyDict_Type, &CwDict_Type, cwdict_subclass_methods) < 0)
        return -1;
    if (cw_module_add(module, "WatchedDict", (PyObject *)&CwDict_Type) < 0 ||
        cw_module_add(module, "WatchedKeys", (PyObject *)&CwKeys_Type) < 0 ||
        cw_module_add(module, "WatchedValues", (PyObject *)&CwValues_Type) < 0 ||
        cw_module_add(module, "WatchedItems", (PyObject *)&CwItems_Type) < 0 ||
        cw_module_add(module, "WatchedODictKeys", (PyObject *)&CwODictKeys_Type) < 0 ||
        cw_module_add(module, "WatchedODictValues", (PyObject *)&CwODictValues_Type) < 0 ||
        cw_module_add(module, "WatchedODictItems", (PyObject *)&CwODictItems_Type) < 0)
        return -1;
    return 0;
}
