/* hooks_set.c: watched sets.
 *
 * A set is keyed by its elements, like a dict by its keys: `x in s` is a
 * check of x; add, discard and remove write x when they change the set and
 * read it when they do not (adding an element twice is no conflict). Bulk
 * updates (update, |=, -=, ...) change the set of elements as a whole. Type
 * swap, loops and the rest, and what stands in for the GIL without one, as
 * for dicts (hooks_dict.c). */
#include "containers.h"

static PyTypeObject CwSet_Type;

static PyObject *set_add, *set_discard, *set_remove, *set_pop, *set_clear, *set_update,
    *set_difference_update, *set_intersection_update, *set_symmetric_difference_update;

static int cwset_contains(PyObject *self, PyObject *x)
{
    int rc = CW_PLAIN_TYPE(self)->tp_as_sequence->sq_contains(self, x);
    if (rc >= 0 && cw_hook_ready())
        cw_record_key(self, x, CW_OP_CONTAINS, 0, cw_opcode.contains);
    return rc;
}

/* add, discard, remove: a write of the element when the size changed. */
static PyObject *element_op(PyObject *method, cw_op op, PyObject *self, PyObject *x)
{
    Py_ssize_t before = PySet_GET_SIZE(self);
    PyObject *res = PyObject_CallFunctionObjArgs(method, self, x, NULL);
    if (cw_hook_ready() && (res != NULL || PyErr_ExceptionMatches(PyExc_KeyError))) {
        bool changed = res != NULL && PySet_GET_SIZE(self) != before;
        cw_record_key(self, x, op, changed ? CW_WRITE | CW_STRUCTURAL : 0, CW_CHECK_ALWAYS);
    }
    return res;
}

static PyObject *cwset_add(PyObject *self, PyObject *x) { return element_op(set_add, CW_OP_ADD, self, x); }

static PyObject *cwset_discard(PyObject *self, PyObject *x)
{
    return element_op(set_discard, CW_OP_DISCARD, self, x);
}

static PyObject *cwset_remove(PyObject *self, PyObject *x)
{
    return element_op(set_remove, CW_OP_REMOVE, self, x);
}

static PyObject *cwset_pop(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    PyObject *res = PyObject_CallOneArg(set_pop, self);
    if (res != NULL && cw_hook_ready())
        cw_record_key(self, res, CW_OP_POP, CW_WRITE | CW_STRUCTURAL, CW_CHECK_NEVER);
    return res;
}

static PyObject *cwset_clear(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    PyObject *items = NULL;
    if (cw_hook_ready() && PySet_GET_SIZE(self) > 0)
        items = PySequence_List(self);
    if (items == NULL)
        PyErr_Clear();
    PyObject *res = PyObject_CallOneArg(set_clear, self);
    if (res != NULL && items != NULL && cw_hook_ready()) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
            PyObject *x = PyList_GET_ITEM(items, i);
            Py_hash_t h = PyObject_Hash(x);
            if (h != -1 && cw_shadow_has_cell((uintptr_t)self, (int64_t)h))
                cw_record(self, x, h, CW_OP_CLEAR, CW_WRITE, CW_CHECK_NEVER);
            else if (h == -1)
                PyErr_Clear();
        }
        cw_record(self, NULL, 0, CW_OP_CLEAR, CW_STRUCTURAL, CW_CHECK_NEVER);
    }
    Py_XDECREF(items);
    return res;
}

/* Bulk changes: the set of elements changes as a whole. */
static PyObject *bulk(PyObject *method, PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                      PyObject *kwnames)
{
    Py_ssize_t before = PySet_GET_SIZE(self);
    PyObject *res = cw_call_with_self(method, self, args, nargs, kwnames);
    if (res != NULL && cw_hook_ready() && PySet_GET_SIZE(self) != before)
        cw_record(self, NULL, 0, CW_OP_UPDATE, CW_STRUCTURAL, CW_CHECK_NEVER);
    return res;
}

#define BULK(fname, method)                                                                    \
    static PyObject *fname(PyObject *self, PyObject *const *args, Py_ssize_t nargs,            \
                           PyObject *kwnames)                                                  \
    {                                                                                          \
        return bulk(method, self, args, nargs, kwnames);                                       \
    }
BULK(cwset_update, set_update)
BULK(cwset_difference_update, set_difference_update)
BULK(cwset_intersection_update, set_intersection_update)
BULK(cwset_symmetric_difference_update, set_symmetric_difference_update)
#undef BULK

#define INPLACE(fname, slot)                                                                   \
    static PyObject *fname(PyObject *self, PyObject *other)                                    \
    {                                                                                          \
        Py_ssize_t before = PySet_GET_SIZE(self);                                              \
        PyObject *res = CW_PLAIN_TYPE(self)->tp_as_number->slot(self, other);                            \
        if (res != NULL && res != Py_NotImplemented && cw_hook_ready() &&                      \
            PySet_GET_SIZE(self) != before)                                                    \
            cw_record(self, NULL, 0, CW_OP_UPDATE, CW_STRUCTURAL, CW_CHECK_NEVER);             \
        return res;                                                                            \
    }
INPLACE(cwset_ior, nb_inplace_or)
INPLACE(cwset_iand, nb_inplace_and)
INPLACE(cwset_isub, nb_inplace_subtract)
INPLACE(cwset_ixor, nb_inplace_xor)
#undef INPLACE

static PyObject *cwset_iter(PyObject *self) { return cw_wrap_iter(CW_PLAIN_TYPE(self)->tp_iter(self), self); }

static PyObject *cwset_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)type;
    return PyObject_Call((PyObject *)&PySet_Type, args, kwds); /* type(s)() is a plain set */
}

static void cwset_dealloc(PyObject *self)
{
    cw_container_dying(self);
    PySet_Type.tp_dealloc(self);
}

static PySequenceMethods cwset_as_sequence = {
    .sq_contains = cwset_contains,
};

static PyNumberMethods cwset_as_number = {
    .nb_inplace_subtract = cwset_isub,
    .nb_inplace_and = cwset_iand,
    .nb_inplace_xor = cwset_ixor,
    .nb_inplace_or = cwset_ior,
};

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)
#define B(name, fn) {name, (PyCFunction)(void (*)(void))fn, FASTKW, NULL}
/* copy.copy(s): a plain set, its table copied in one C call as set.copy. */
static PyObject *cwset_copy(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    return PySet_New(self);
}

static PyMethodDef cwset_methods[] = {
    {"add", cwset_add, METH_O, NULL},
    {"discard", cwset_discard, METH_O, NULL},
    {"remove", cwset_remove, METH_O, NULL},
    {"pop", cwset_pop, METH_NOARGS, NULL},
    {"clear", cwset_clear, METH_NOARGS, NULL},
    B("update", cwset_update),
    B("difference_update", cwset_difference_update),
    B("intersection_update", cwset_intersection_update),
    B("symmetric_difference_update", cwset_symmetric_difference_update),
    {"__copy__", cwset_copy, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
#undef B

/* set's repr names a subtype ("set({1})"); a watched set prints as a set. */
static PyObject *cwset_repr(PyObject *self)
{
    PyObject *res = PySet_Type.tp_repr(self);
    if (res == NULL || PySet_GET_SIZE(self) == 0)
        return res; /* "set()" either way */
    Py_ssize_t n = PyUnicode_GET_LENGTH(res);
    PyObject *inner = n > 5 && PyUnicode_READ_CHAR(res, 4) == '{'
                          ? PyUnicode_Substring(res, 4, n - 1) /* set({...}) */
                          : NULL; /* set(...): a repr within itself, as plain */
    if (inner == NULL) {
        PyErr_Clear();
        return res;
    }
    Py_DECREF(res);
    return inner;
}

static PyTypeObject CwSet_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "set",
    .tp_repr = cwset_repr,
    .tp_basicsize = sizeof(PySetObject),
    .tp_dealloc = cwset_dealloc,
    .tp_as_number = &cwset_as_number,
    .tp_as_sequence = &cwset_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A set watched by cachewatch.",
    .tp_iter = cwset_iter,
    .tp_methods = cwset_methods,
    .tp_new = cwset_new,
};

static int lookup(PyObject *dict, PyObject **slot, const char *name)
{
    *slot = PyDict_GetItemString(dict, name);
    if (*slot == NULL) {
        PyErr_Format(PyExc_RuntimeError, "set has no method %s", name);
        return -1;
    }
    Py_INCREF(*slot);
    return 0;
}

int cw_set_hooks_init(PyObject *module)
{
    CwSet_Type.tp_base = &PySet_Type;
    CwSet_Type.tp_traverse = PySet_Type.tp_traverse;
    CwSet_Type.tp_clear = PySet_Type.tp_clear;
    CwSet_Type.tp_weaklistoffset = PySet_Type.tp_weaklistoffset;
    if (PyType_Ready(&CwSet_Type) < 0)
        return -1;
    PyObject *dict = PyType_GetDict_compat(&PySet_Type);
    int rc = dict == NULL || lookup(dict, &set_add, "add") < 0 ||
             lookup(dict, &set_discard, "discard") < 0 || lookup(dict, &set_remove, "remove") < 0 ||
             lookup(dict, &set_pop, "pop") < 0 || lookup(dict, &set_clear, "clear") < 0 ||
             lookup(dict, &set_update, "update") < 0 ||
             lookup(dict, &set_difference_update, "difference_update") < 0 ||
             lookup(dict, &set_intersection_update, "intersection_update") < 0 ||
             lookup(dict, &set_symmetric_difference_update, "symmetric_difference_update") < 0;
    Py_XDECREF(dict);
    if (rc || cw_container_kind_register(&PySet_Type, &CwSet_Type, NULL) < 0)
        return -1;
    return cw_module_add(module, "WatchedSet", (PyObject *)&CwSet_Type);
}
