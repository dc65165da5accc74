/* around.c: Around(original, before, after), a method wrapper that runs
 * cachewatch's bookkeeping before and after a Python method with no frame of
 * its own: the original's caller stays its caller. asyncio's Handle records
 * its creator's stack as sys._getframe(1) in debug mode, and a Python-level
 * wrapper would be that frame (CPython's own test_asyncio sees it).
 *
 * before(self, *args) -> state (None: no before); after(self, state) runs
 * when the original returns or raises, its error kept. With outcome=True,
 * after(self, state, result, error_type): the result (None if it raised)
 * and the type of what it raised (None if it returned). Both are cachewatch's
 * own: an exception from either is an internal failure (checking stops with
 * one warning), never the host's. An Around is immutable once made: it needs
 * no GIL of its own. */
#include "binding.h"

#include <stddef.h>

typedef struct {
    PyObject_HEAD
    PyObject *orig, *before, *after; /* Owned; before and after may be None */
    vectorcallfunc vectorcall;
    int outcome; /* after is given the result and the error's type */
} Around;

/* Our bookkeeping raised: say what, once, and stop checking. */
static void bookkeeping_failed(Around *a)
{
    cw_saved_error saved;
    cw_error_save(&saved);
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *value = saved.exc;
#else
    PyObject *value = saved.value ? saved.value : saved.type;
#endif
    PyObject *text = value ? PyObject_Repr(value) : NULL;
    const char *s = text && PyUnicode_Check(text) ? PyUnicode_AsUTF8(text) : NULL;
    char what[240];
    snprintf(what, sizeof(what), "around %.60s: %.160s",
             Py_TYPE(a->orig)->tp_name, s ? s : "an exception");
    Py_XDECREF(text);
    cw_error_restore(&saved);
    PyErr_Clear();
    cw_internal_failure(what);
}

static PyObject *around_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                                   PyObject *kwnames)
{
    Around *a = (Around *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs < 1)
        return PyObject_Vectorcall(a->orig, args, nargsf, kwnames);
    PyObject *state = NULL;
    if (a->before != Py_None) {
        state = PyObject_Vectorcall(a->before, args, nargsf, kwnames);
        if (state == NULL)
            bookkeeping_failed(a);
    }
    PyObject *res = PyObject_Vectorcall(a->orig, args, nargsf, kwnames);
    if (a->after != Py_None) {
        cw_saved_error saved;
        cw_error_save(&saved);
        PyObject *error_type = Py_None;
        if (cw_error_is_set(&saved)) {
#if PY_VERSION_HEX >= 0x030C0000
            error_type = (PyObject *)Py_TYPE(saved.exc);
#else
            error_type = saved.type;
#endif
        }
        PyObject *call[4] = {args[0], state ? state : Py_None, res ? res : Py_None, error_type};
        PyObject *done = PyObject_Vectorcall(a->after, call, a->outcome ? 4 : 2, NULL);
        if (done == NULL)
            bookkeeping_failed(a);
        Py_XDECREF(done);
        cw_error_restore(&saved);
    }
    Py_XDECREF(state);
    return res;
}

static PyObject *around_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *orig, *before, *after;
    int outcome = 0;
    static char *names[] = {"original", "before", "after", "outcome", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO|p:Around", names, &orig, &before, &after,
                                     &outcome))
        return NULL;
    if (!PyCallable_Check(orig) || (before != Py_None && !PyCallable_Check(before)) ||
        (after != Py_None && !PyCallable_Check(after))) {
        PyErr_SetString(PyExc_TypeError, "Around(original, before, after): callables or None");
        return NULL;
    }
    Around *a = (Around *)type->tp_alloc(type, 0);
    if (a == NULL)
        return NULL;
    Py_INCREF(orig);
    Py_INCREF(before);
    Py_INCREF(after);
    a->orig = orig;
    a->before = before;
    a->after = after;
    a->outcome = outcome;
    a->vectorcall = around_vectorcall;
    return (PyObject *)a;
}

static void around_dealloc(Around *a)
{
    PyObject_GC_UnTrack(a);
    Py_XDECREF(a->orig);
    Py_XDECREF(a->before);
    Py_XDECREF(a->after);
    Py_TYPE(a)->tp_free((PyObject *)a);
}

static int around_traverse(Around *a, visitproc visit, void *arg)
{
    Py_VISIT(a->orig);
    Py_VISIT(a->before);
    Py_VISIT(a->after);
    return 0;
}

static PyObject *around_descr_get(PyObject *self, PyObject *obj, PyObject *type)
{
    (void)type;
    if (obj == NULL || obj == Py_None) {
        Py_INCREF(self);
        return self;
    }
    return PyMethod_New(self, obj);
}

static PyObject *around_getattro(PyObject *self, PyObject *name)
{
    PyObject *res = PyObject_GenericGetAttr(self, name);
    if (res != NULL || !PyErr_ExceptionMatches(PyExc_AttributeError))
        return res;
    PyErr_Clear();
    return PyObject_GetAttr(((Around *)self)->orig, name); /* __name__, __doc__ ... */
}

static PyMemberDef around_members[] = {
    {"__wrapped__", T_OBJECT, offsetof(Around, orig), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject Around_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cachewatch.Around",
    .tp_basicsize = sizeof(Around),
    .tp_dealloc = (destructor)around_dealloc,
    .tp_vectorcall_offset = offsetof(Around, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_getattro = around_getattro,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "Around(original, before, after, outcome=False): a method wrapper with no frame "
              "of its own.",
    .tp_traverse = (traverseproc)around_traverse,
    .tp_members = around_members,
    .tp_descr_get = around_descr_get,
    .tp_new = around_new,
};

int cw_around_init(PyObject *module)
{
    return PyModule_AddType(module, &Around_Type); /* readies it; named Around */
}
