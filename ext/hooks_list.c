/* hooks_list.c: watched lists.
 *
 * A list has two kinds of location: each index (l[i] read and assigned), and
 * its contents, which membership tests, index(), count() and len() read and
 * appends, inserts, pops, removals and sorts write. Those writes commute with
 * each other (two appends never conflict; list.append from many threads is
 * fine), but a check of the contents followed by one in the same call
 * (`if x not in l: l.append(x)`, `if l: l.pop()`) is a check-then-act; clear()
 * and slice assignment do not commute. Type swap, loops and the rest as for
 * dicts (hooks_dict.c). Guarded by the GIL. */
#include "containers.h"

static PyTypeObject CwList_Type;

/* list's own methods (borrowed from list's type dict). */
static PyObject *list_append, *list_extend, *list_insert, *list_pop, *list_remove, *list_clear,
    *list_sort, *list_reverse, *list_index, *list_count, *list_reversed;

static void record_contents(PyObject *self, cw_op op, unsigned flags, int check_opcode)
{
    cw_record(self, NULL, CW_CONTENTS_KEY, op, flags, check_opcode);
}

#define CHANGED (CW_WRITE | CW_STRUCTURAL | CW_COMMUTES)

/* The index an integer subscript names, or -1 (a slice, or out of range). */
static Py_ssize_t index_of(PyObject *self, PyObject *item)
{
    if (!PyLong_Check(item))
        return -1;
    Py_ssize_t i = PyLong_AsSsize_t(item);
    if (i == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    if (i < 0)
        i += PyList_GET_SIZE(self);
    return i < 0 ? -1 : i;
}

static PyObject *cwlist_subscript(PyObject *self, PyObject *item)
{
    Py_ssize_t i = cw_hook_ready() ? index_of(self, item) : -1;
    PyObject *res = PyList_Type.tp_as_mapping->mp_subscript(self, item);
    if (i >= 0 && (res != NULL || PyErr_ExceptionMatches(PyExc_IndexError)))
        cw_record(self, item, (Py_hash_t)i, CW_OP_GETITEM, 0, CW_CHECK_SUBSCRIPT);
    return res;
}

static int cwlist_ass_subscript(PyObject *self, PyObject *item, PyObject *value)
{
    int ready = cw_hook_ready();
    Py_ssize_t i = ready ? index_of(self, item) : -1;
    Py_ssize_t before = PyList_GET_SIZE(self);
    int rc = PyList_Type.tp_as_mapping->mp_ass_subscript(self, item, value);
    if (rc < 0 || !ready)
        return rc;
    if (i >= 0 && value != NULL) {
        cw_record(self, item, (Py_hash_t)i, CW_OP_SETITEM, CW_WRITE, CW_CHECK_NEVER);
    } else if (i >= 0) {
        record_contents(self, CW_OP_DELITEM, CHANGED, CW_CHECK_NEVER);
    } else {
        /* A slice assignment replaces part of the list: it does not commute. */
        record_contents(self, value ? CW_OP_SETITEM : CW_OP_DELITEM,
                        CW_WRITE | (PyList_GET_SIZE(self) != before ? CW_STRUCTURAL : 0),
                        CW_CHECK_NEVER);
    }
    return rc;
}

static int cwlist_contains(PyObject *self, PyObject *x)
{
    int rc = PyList_Type.tp_as_sequence->sq_contains(self, x);
    if (rc >= 0 && cw_hook_ready())
        record_contents(self, CW_OP_CONTAINS, 0, cw_opcode.contains);
    return rc;
}

static Py_ssize_t cwlist_length(PyObject *self)
{
    if (cw_hook_ready())
        record_contents(self, CW_OP_GET, 0, CW_CHECK_ALWAYS);
    return PyList_GET_SIZE(self);
}

static PyObject *cwlist_inplace_concat(PyObject *self, PyObject *other)
{
    PyObject *res = PyList_Type.tp_as_sequence->sq_inplace_concat(self, other);
    if (res != NULL && cw_hook_ready())
        record_contents(self, CW_OP_EXTEND, CHANGED, CW_CHECK_NEVER);
    return res;
}

static PyObject *cwlist_inplace_repeat(PyObject *self, Py_ssize_t n)
{
    PyObject *res = PyList_Type.tp_as_sequence->sq_inplace_repeat(self, n);
    if (res != NULL && cw_hook_ready())
        record_contents(self, CW_OP_EXTEND, CW_WRITE | CW_STRUCTURAL, CW_CHECK_NEVER);
    return res;
}

/* A method that changes the contents when it succeeds and reads them when it
 * fails (pop from an empty list, remove of a missing item). */
static PyObject *changing(PyObject *method, cw_op op, unsigned flags, PyObject *failed_with,
                          PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
    PyObject *res = cw_call_with_self(method, self, args, nargs, kwnames);
    if (!cw_hook_ready())
        return res;
    if (res != NULL)
        record_contents(self, op, flags, CW_CHECK_NEVER);
    else if (failed_with != NULL && PyErr_ExceptionMatches(failed_with))
        record_contents(self, op, 0, CW_CHECK_ALWAYS);
    return res;
}

#define CHANGING(fname, method, op, flags, failed)                                             \
    static PyObject *fname(PyObject *self, PyObject *const *args, Py_ssize_t nargs,            \
                           PyObject *kwnames)                                                  \
    {                                                                                          \
        return changing(method, op, flags, failed, self, args, nargs, kwnames);                \
    }
CHANGING(cwlist_append, list_append, CW_OP_APPEND, CHANGED, NULL)
CHANGING(cwlist_extend, list_extend, CW_OP_EXTEND, CHANGED, NULL)
CHANGING(cwlist_insert, list_insert, CW_OP_INSERT, CHANGED, NULL)
CHANGING(cwlist_pop, list_pop, CW_OP_POP, CHANGED, PyExc_IndexError)
CHANGING(cwlist_remove, list_remove, CW_OP_REMOVE, CHANGED, PyExc_ValueError)
CHANGING(cwlist_sort, list_sort, CW_OP_UPDATE, CW_WRITE | CW_COMMUTES, NULL)
CHANGING(cwlist_reverse, list_reverse, CW_OP_UPDATE, CW_WRITE | CW_COMMUTES, NULL)
CHANGING(cwlist_clear, list_clear, CW_OP_CLEAR, CW_WRITE | CW_STRUCTURAL, NULL)
#undef CHANGING

/* index() and count() read the contents, found or not. */
static PyObject *reading(PyObject *method, cw_op op, PyObject *self, PyObject *const *args,
                         Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *res = cw_call_with_self(method, self, args, nargs, kwnames);
    if (cw_hook_ready() && (res != NULL || PyErr_ExceptionMatches(PyExc_ValueError)))
        record_contents(self, op, 0, CW_CHECK_ALWAYS);
    return res;
}

static PyObject *cwlist_index(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    return reading(list_index, CW_OP_INDEX, self, args, nargs, kwnames);
}

static PyObject *cwlist_count(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    return reading(list_count, CW_OP_INDEX, self, args, nargs, kwnames);
}

static PyObject *cwlist_iter(PyObject *self) { return cw_wrap_iter(PyList_Type.tp_iter(self), self); }

static PyObject *cwlist_reversed(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    return cw_wrap_iter(cw_call_with_self(list_reversed, self, NULL, 0, NULL), self);
}

static PyObject *cwlist_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)type;
    return PyObject_Call((PyObject *)&PyList_Type, args, kwds); /* type(l)() is a plain list */
}

static void cwlist_dealloc(PyObject *self)
{
    cw_container_dying(self);
    PyList_Type.tp_dealloc(self);
}

static PyMappingMethods cwlist_as_mapping = {
    .mp_length = cwlist_length,
    .mp_subscript = cwlist_subscript,
    .mp_ass_subscript = cwlist_ass_subscript,
};

static PySequenceMethods cwlist_as_sequence = {
    .sq_length = cwlist_length,
    .sq_contains = cwlist_contains,
    .sq_inplace_concat = cwlist_inplace_concat,
    .sq_inplace_repeat = cwlist_inplace_repeat,
};

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)
#define M(name, fn) {name, (PyCFunction)(void (*)(void))fn, FASTKW, NULL}
static PyMethodDef cwlist_methods[] = {
    M("append", cwlist_append),   M("extend", cwlist_extend), M("insert", cwlist_insert),
    M("pop", cwlist_pop),         M("remove", cwlist_remove), M("clear", cwlist_clear),
    M("sort", cwlist_sort),       M("reverse", cwlist_reverse), M("index", cwlist_index),
    M("count", cwlist_count),
    {"__reversed__", (PyCFunction)cwlist_reversed, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};
#undef M

static PyTypeObject CwList_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "list",
    .tp_basicsize = sizeof(PyListObject),
    .tp_dealloc = cwlist_dealloc,
    .tp_as_sequence = &cwlist_as_sequence,
    .tp_as_mapping = &cwlist_as_mapping,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A list watched by cachewatch.",
    .tp_iter = cwlist_iter,
    .tp_methods = cwlist_methods,
    .tp_new = cwlist_new,
};

static int lookup(PyObject *dict, PyObject **slot, const char *name)
{
    *slot = PyDict_GetItemString(dict, name);
    if (*slot == NULL) {
        PyErr_Format(PyExc_RuntimeError, "list has no method %s", name);
        return -1;
    }
    Py_INCREF(*slot);
    return 0;
}

int cw_list_hooks_init(PyObject *module)
{
    CwList_Type.tp_base = &PyList_Type;
    CwList_Type.tp_traverse = PyList_Type.tp_traverse;
    CwList_Type.tp_clear = PyList_Type.tp_clear;
    if (PyType_Ready(&CwList_Type) < 0)
        return -1;
    PyObject *dict = PyType_GetDict_compat(&PyList_Type);
    int rc = dict == NULL || lookup(dict, &list_append, "append") < 0 ||
             lookup(dict, &list_extend, "extend") < 0 || lookup(dict, &list_insert, "insert") < 0 ||
             lookup(dict, &list_pop, "pop") < 0 || lookup(dict, &list_remove, "remove") < 0 ||
             lookup(dict, &list_clear, "clear") < 0 || lookup(dict, &list_sort, "sort") < 0 ||
             lookup(dict, &list_reverse, "reverse") < 0 || lookup(dict, &list_index, "index") < 0 ||
             lookup(dict, &list_count, "count") < 0 ||
             lookup(dict, &list_reversed, "__reversed__") < 0;
    Py_XDECREF(dict);
    if (rc || cw_container_kind_register(&PyList_Type, &CwList_Type) < 0)
        return -1;
    return cw_module_add(module, "WatchedList", (PyObject *)&CwList_Type);
}
