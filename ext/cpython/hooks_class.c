/* hooks_class.c: watched classes' own attributes.
 *
 * A class watched as a target (module:Resolver) has each of its attributes
 * that holds data (`_instance = None`, `count = 0`, `_cache = {}`; not
 * methods, descriptors or nested classes) as a location "module.Class.attr",
 * with the rules of objects' attributes (hooks_attr.c): `if cls._instance is
 * None: cls._instance = cls()` is a check-then-act. Class attributes are
 * loaded and stored through the class's metaclass, so the watched class is
 * given a twin of its metaclass: a heap subclass of it, made once per
 * metaclass, with the same name, whose tp_getattro records loads and whose
 * dict has the __setattr__ and __delattr__ that record stores (a C-level
 * tp_setattro would make type.__setattr__(cls, ...) refuse to run). The
 * class keeps its identity, dict and MRO; type(cls) is the twin, named as
 * its metaclass, and classes made from it later (subclasses) have it too.
 * Reads of a class attribute through an instance (self._cache) are the
 * instance's (module:Class()). Guarded by the GIL: the metaclass twins.
 * Without the GIL: a PyMutex for them; the class's type is changed as a
 * container's (cw_set_type). */
#include "binding.h"

static PyObject *twins;   /* metaclass -> its twin (owned, never freed) */
static PyObject *watched; /* [class] whose metaclass is a twin */

static PyObject *twin_getattro(PyObject *cls, PyObject *name)
{
    /* The metaclass's own (a metaclass derived from a twin inherits ours). */
    PyTypeObject *meta = Py_TYPE(cls);
    while (meta->tp_getattro == twin_getattro && meta->tp_base != NULL)
        meta = meta->tp_base;
    PyObject *res = meta->tp_getattro(cls, name);
    if (cw_hook_ready())
        cw_attr_loaded(cls, name, res != NULL);
    return res;
}

static int is_twin(PyTypeObject *meta) { return meta->tp_getattro == twin_getattro; }

static PyTypeObject *make_twin(PyTypeObject *meta)
{
    PyType_Slot slots[] = {{Py_tp_getattro, (void *)twin_getattro}, {0, NULL}};
    PyType_Spec spec = {"cachewatch.metaclass", 0, 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
                        slots};
    PyObject *bases = PyTuple_Pack(1, (PyObject *)meta);
    PyTypeObject *twin = bases ? (PyTypeObject *)PyType_FromSpecWithBases(&spec, bases) : NULL;
    Py_XDECREF(bases);
    if (twin == NULL)
        return NULL;
    static const char *names[] = {"__name__", "__qualname__", "__module__"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        PyObject *v = PyObject_GetAttrString((PyObject *)meta, names[i]);
        if (v == NULL || PyObject_SetAttrString((PyObject *)twin, names[i], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(twin);
            return NULL;
        }
        Py_DECREF(v);
    }
    twin->tp_name = meta->tp_name;
    for (PyMethodDef *def = cw_attr_store_methods(); def->ml_name; def++) {
        PyObject *descr = PyDescr_NewMethod(twin, def);
        int rc = descr ? PyObject_SetAttrString((PyObject *)twin, def->ml_name, descr) : -1;
        Py_XDECREF(descr);
        if (rc < 0) {
            Py_DECREF(twin);
            return NULL;
        }
    }
    return twin;
}

static PyTypeObject *twin_of(PyTypeObject *meta)
{
    PyObject *twin = PyDict_GetItemWithError(twins, (PyObject *)meta);
    if (twin != NULL || PyErr_Occurred())
        return (PyTypeObject *)twin;
    twin = (PyObject *)make_twin(meta);
    if (twin == NULL || PyDict_SetItem(twins, (PyObject *)meta, twin) < 0) {
        Py_XDECREF(twin);
        return NULL;
    }
    Py_DECREF(twin); /* the table holds it */
    return (PyTypeObject *)twin;
}

static const char *unwatchable(PyObject *cls)
{
    if (!PyType_Check(cls))
        return "not a class";
    if (!cw_type_is_open((PyTypeObject *)cls))
        return "a C type, whose attributes cannot change";
    return NULL;
}

static int watch_class(PyObject *cls, PyObject *target, PyObject *what, PyObject *only)
{
    const char *why = unwatchable(cls);
    if (why != NULL) {
        PyErr_Format(PyExc_TypeError, "cachewatch cannot watch %s", why);
        return -1;
    }
    PyTypeObject *meta = Py_TYPE(cls);
    PyTypeObject *twin = is_twin(meta) ? meta : twin_of(meta);
    if (twin == NULL || cw_attr_watch_class(cls, target, what, only) < 0)
        return -1;
    if (twin != meta) {
        if (PyList_Append(watched, cls) < 0) {
            cw_attr_unwatch(cls);
            return -1;
        }
        Py_INCREF(twin); /* the class is an instance of a heap type now */
        cw_set_type(cls, twin);
        if (meta->tp_flags & Py_TPFLAGS_HEAPTYPE)
            Py_DECREF(meta);
        PyType_Modified((PyTypeObject *)cls);
    }
    return 0;
}

void cw_classes_unwatch_all(void)
{
    for (Py_ssize_t i = 0; watched != NULL && i < PyList_GET_SIZE(watched); i++) {
        PyObject *cls = PyList_GET_ITEM(watched, i);
        PyTypeObject *twin = Py_TYPE(cls);
        if (!is_twin(twin))
            continue;
        cw_attr_unwatch(cls);
        PyTypeObject *meta = twin->tp_base;
        if (meta->tp_flags & Py_TPFLAGS_HEAPTYPE)
            Py_INCREF(meta);
        cw_set_type(cls, meta);
        Py_DECREF(twin);
        PyType_Modified((PyTypeObject *)cls);
    }
    if (watched != NULL)
        PyList_SetSlice(watched, 0, PyList_GET_SIZE(watched), NULL);
}

PyObject *cw_py_watch_class(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *cls, *target, *what = NULL, *only = NULL;
    if (!PyArg_ParseTuple(args, "OU|OO", &cls, &target, &what, &only))
        return NULL;
    what = what == Py_None ? NULL : what;
    only = only == Py_None ? NULL : only;
    if (what != NULL && !PyUnicode_Check(what))
        return PyErr_Format(PyExc_TypeError, "what must be a str");
    if (!cw_is_started()) {
        PyErr_SetString(PyExc_RuntimeError, "cachewatch is not started");
        return NULL;
    }
    if (watch_class(cls, target, what, only) < 0)
        return NULL;
    Py_RETURN_NONE;
}

int cw_class_hooks_init(PyObject *module)
{
    (void)module;
    twins = PyDict_New();
    watched = PyList_New(0);
    return twins && watched ? 0 : -1;
}
