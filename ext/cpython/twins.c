/* twins.c: watching subclasses of the watched builtins.
 *
 * The static watched types (CwDict_Type, ...) have the layout of the builtin
 * itself. A subclass (defaultdict, OrderedDict, Counter, a user's `class
 * Registry(dict)`) may have more, and methods of its own. Its objects are
 * watched through a twin: a heap subclass of their own type, made once per
 * type, that nothing can subclass, with the plain type's name, qualname,
 * module and doc. Its slots are the static watched type's hooks, which call
 * the slots of the twin's base (the plain type: CW_PLAIN_TYPE). Its methods
 * are the watched type's for the names the plain type resolves to the
 * builtin's own method; an override (OrderedDict.pop, Counter.update) runs as
 * it is, and what it does to self through the slots is seen, at the line
 * that called it.
 *
 * type(obj)(...) builds a plain object, and __reduce_ex__ names the plain type
 * where the plain one would name the twin, so pickle and copy never see it.
 * On 3.11+ an instance's inline attribute values are laid out by its type's
 * cached keys: the twin shares the plain type's.
 *
 * Twins live as long as the process (instances may outlive a stop). Guarded
 * by the GIL: the twin cache. Without the GIL: a PyMutex for it; a twin,
 * once published, is never changed. */
#include "containers.h"

#include <string.h>

/* What the registry (containers.c) does when a twin's object dies or is
 * given another class: set by cw_twins_init, so this file depends on it
 * only through them. */
static void (*on_dying)(PyObject *);
static void (*on_unwatch)(PyObject *);

void cw_twins_init(void (*dying)(PyObject *), void (*unwatch)(PyObject *))
{
    on_dying = dying;
    on_unwatch = unwatch;
}

static PyObject *twin_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    /* type(obj)() makes a plain object: nothing is watched by accident. */
    return PyObject_Call((PyObject *)type->tp_base, args, kwds);
}

static void twin_dealloc(PyObject *self)
{
    PyTypeObject *plain = CW_PLAIN_TYPE(self);
    on_dying(self); /* gives self its plain type back */
    plain->tp_dealloc(self);
}

int cw_is_twin(PyTypeObject *type) { return type->tp_new == twin_new; }

/* ---- pickle and copy --------------------------------------------------- */

static PyObject *plain_for(PyObject *o, PyObject *self)
{
    PyObject *res = o == (PyObject *)Py_TYPE(self) ? (PyObject *)CW_PLAIN_TYPE(self) : o;
    Py_INCREF(res);
    return res;
}

/* A reduce value with the plain type where the object's type was: as the
 * callable, or as the first argument (copyreg.__newobj__, _reconstructor). */
static PyObject *name_plain_type(PyObject *self, PyObject *rv)
{
    if (!PyTuple_Check(rv) || PyTuple_GET_SIZE(rv) < 2)
        return rv;
    Py_ssize_t n = PyTuple_GET_SIZE(rv);
    PyObject *out = PyTuple_New(n);
    if (out == NULL) {
        Py_DECREF(rv);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(rv, i);
        if (i == 1 && PyTuple_Check(item) && PyTuple_GET_SIZE(item) > 0) {
            PyObject *args = PyTuple_GetSlice(item, 0, PyTuple_GET_SIZE(item));
            if (args == NULL) {
                Py_DECREF(out);
                Py_DECREF(rv);
                return NULL;
            }
            PyObject *first = PyTuple_GET_ITEM(args, 0);
            PyTuple_SET_ITEM(args, 0, plain_for(first, self));
            Py_DECREF(first);
            PyTuple_SET_ITEM(out, i, args);
        } else {
            PyTuple_SET_ITEM(out, i, i == 0 ? plain_for(item, self) : (Py_INCREF(item), item));
        }
    }
    Py_DECREF(rv);
    return out;
}

PyObject *cw_reduce_ex_as_plain(PyObject *self, PyObject *proto)
{
    PyObject *method = cw_type_lookup(CW_PLAIN_TYPE(self), "__reduce_ex__");
    if (method == NULL)
        return PyErr_Format(PyExc_TypeError, "cannot reduce %.100s", Py_TYPE(self)->tp_name);
    PyObject *rv = PyObject_CallFunctionObjArgs(method, self, proto, NULL);
    Py_DECREF(method);
    return rv == NULL ? NULL : name_plain_type(self, rv);
}

static PyMethodDef reduce_def = {"__reduce_ex__", cw_reduce_ex_as_plain, METH_O, NULL};

/* obj.__class__ is the plain type, as pickle and copy check it. Setting it
 * first gives the object its plain type back (watching ends). */
static PyObject *get_class(PyObject *self, void *closure)
{
    (void)closure;
    PyObject *plain = (PyObject *)CW_PLAIN_TYPE(self);
    Py_INCREF(plain);
    return plain;
}

static int set_class(PyObject *self, PyObject *value, void *closure)
{
    (void)closure;
    PyObject *object_class = cw_type_lookup(&PyBaseObject_Type, "__class__");
    if (object_class == NULL || Py_TYPE(object_class)->tp_descr_set == NULL) {
        Py_XDECREF(object_class);
        PyErr_SetString(PyExc_TypeError, "__class__ cannot be set");
        return -1;
    }
    on_unwatch(self);
    int rc = Py_TYPE(object_class)->tp_descr_set(object_class, self, value);
    Py_DECREF(object_class);
    return rc;
}

static PyGetSetDef class_def = {"__class__", get_class, set_class, NULL, NULL};

/* ---- making a twin ----------------------------------------------------- */

/* Twins made so far: plain type -> twin (both owned, never freed). */
static PyObject *twins;

/* The hooks of the static watched type where it has its own. The mapping,
 * sequence and iteration hooks call the plain type's slot (an override runs
 * as it is); the in-place operators reimplement the builtin's, so they are
 * used only where the plain type has the builtin's own (OrderedDict's |= is
 * not dict's). */
static void copy_slots(PyTypeObject *twin, PyTypeObject *hooks, PyTypeObject *builtin,
                       PyTypeObject *plain)
{
#define SLOT(sub, field)                                                                    \
    if (hooks->sub != NULL && hooks->sub->field != NULL &&                                  \
        (builtin->sub == NULL || hooks->sub->field != builtin->sub->field))                 \
        twin->sub->field = hooks->sub->field;
#define SLOT_IF_BUILTINS(sub, field)                                                        \
    if (plain->sub != NULL && builtin->sub != NULL && plain->sub->field == builtin->sub->field) \
        SLOT(sub, field)
    SLOT(tp_as_mapping, mp_length)
    SLOT(tp_as_mapping, mp_subscript)
    SLOT(tp_as_mapping, mp_ass_subscript)
    SLOT(tp_as_sequence, sq_length)
    SLOT(tp_as_sequence, sq_item)
    SLOT(tp_as_sequence, sq_ass_item)
    SLOT(tp_as_sequence, sq_contains)
    SLOT(tp_as_sequence, sq_inplace_concat)
    SLOT(tp_as_sequence, sq_inplace_repeat)
    SLOT_IF_BUILTINS(tp_as_number, nb_bool) /* 3.9's deque has its own */
    SLOT_IF_BUILTINS(tp_as_number, nb_inplace_or)
    SLOT_IF_BUILTINS(tp_as_number, nb_inplace_and)
    SLOT_IF_BUILTINS(tp_as_number, nb_inplace_xor)
    SLOT_IF_BUILTINS(tp_as_number, nb_inplace_subtract)
#undef SLOT_IF_BUILTINS
#undef SLOT
    if (hooks->tp_iter != builtin->tp_iter)
        twin->tp_iter = hooks->tp_iter;
}

/* The watched type's methods, for each name the plain type resolves to the
 * builtin's own. */
static int add_method(PyObject *dict, PyTypeObject *owner, PyMethodDef *def)
{
    PyObject *descr = PyDescr_NewMethod(owner, def);
    int rc = descr == NULL ? -1 : PyDict_SetItemString(dict, def->ml_name, descr);
    Py_XDECREF(descr);
    return rc;
}

/* The subclass methods of the kind for each name the plain type has its own
 * C method for (a Python one works through the slots). */
static int add_subclass_methods(PyObject *dict, PyTypeObject *twin, PyTypeObject *plain,
                                PyTypeObject *builtin, PyMethodDef *defs)
{
    int rc = 0;
    for (PyMethodDef *def = defs; rc == 0 && def && def->ml_name; def++) {
        PyObject *mine = cw_type_lookup(builtin, def->ml_name);
        PyObject *theirs = cw_type_lookup(plain, def->ml_name);
        if (theirs != NULL && theirs != mine && Py_IS_TYPE(theirs, &PyMethodDescr_Type))
            rc = add_method(dict, twin, def);
        Py_XDECREF(mine);
        Py_XDECREF(theirs);
    }
    return rc;
}

static int copy_methods(PyTypeObject *twin, PyTypeObject *plain, PyTypeObject *hooks,
                        PyTypeObject *builtin, PyMethodDef *subclass_methods)
{
    PyObject *dict = PyType_GetDict_compat(twin);
    int rc = dict == NULL ? -1 : add_subclass_methods(dict, twin, plain, builtin, subclass_methods);
    for (PyMethodDef *def = hooks->tp_methods; rc == 0 && def && def->ml_name; def++) {
        PyObject *mine = cw_type_lookup(builtin, def->ml_name);
        PyObject *theirs = cw_type_lookup(plain, def->ml_name);
        /* Bound to the builtin, as the method it stands for: its messages
         * name the builtin ("dict.popitem() takes ..."). */
        if (mine != NULL && mine == theirs)
            rc = add_method(dict, builtin, def);
        Py_XDECREF(mine);
        Py_XDECREF(theirs);
    }
    if (rc == 0)
        rc = add_method(dict, twin, &reduce_def);
    if (rc == 0) {
        PyObject *descr = PyDescr_NewGetSet(twin, &class_def);
        rc = descr == NULL ? -1 : PyDict_SetItemString(dict, "__class__", descr);
        Py_XDECREF(descr);
    }
    Py_XDECREF(dict);
    return rc;
}

/* Name, qualname, module and doc as the plain type's. */
static int copy_names(PyTypeObject *twin, PyTypeObject *plain)
{
    static const char *names[] = {"__name__", "__qualname__", "__module__", "__doc__"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        PyObject *v = PyObject_GetAttrString((PyObject *)plain, names[i]);
        if (v == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            continue;
        }
        int rc = v == NULL ? -1 : PyObject_SetAttrString((PyObject *)twin, names[i], v);
        Py_XDECREF(v);
        if (rc < 0)
            return -1;
    }
    twin->tp_name = plain->tp_name; /* messages name the plain type as they did */
    return 0;
}

static PyTypeObject *make_twin(PyTypeObject *plain, PyTypeObject *hooks, PyTypeObject *builtin,
                               PyMethodDef *subclass_methods)
{
    PyType_Slot slots[] = {
        {Py_tp_new, (void *)twin_new},
        {Py_tp_dealloc, (void *)twin_dealloc},
        {0, NULL},
    };
    PyType_Spec spec = {
        .name = "cachewatch.twin",
        .basicsize = 0, /* the plain type's */
        .itemsize = 0,
        .flags = Py_TPFLAGS_DEFAULT, /* GC and the rest come from the base */
        .slots = slots,
    };
    PyObject *bases = PyTuple_Pack(1, (PyObject *)plain);
    if (bases == NULL)
        return NULL;
    PyTypeObject *twin = (PyTypeObject *)PyType_FromSpecWithBases(&spec, bases);
    Py_DECREF(bases);
    if (twin == NULL)
        return NULL;
    if (twin->tp_basicsize != plain->tp_basicsize || twin->tp_dictoffset != plain->tp_dictoffset ||
        twin->tp_weaklistoffset != plain->tp_weaklistoffset) {
        Py_DECREF(twin);
        PyErr_Format(PyExc_TypeError, "cannot lay out a watched %.100s", plain->tp_name);
        return NULL;
    }
    cw_type_share_layout(twin, plain);
    if (copy_names(twin, plain) < 0 || copy_methods(twin, plain, hooks, builtin, subclass_methods) < 0) {
        Py_DECREF(twin);
        return NULL;
    }
    copy_slots(twin, hooks, builtin, plain);
    PyType_Modified(twin);
    return twin;
}

PyTypeObject *cw_twin_for(PyTypeObject *plain, PyTypeObject *hooks, PyTypeObject *builtin,
                          PyMethodDef *subclass_methods)
{
    if (twins == NULL && (twins = PyDict_New()) == NULL)
        return NULL;
    PyObject *twin = PyDict_GetItemWithError(twins, (PyObject *)plain);
    if (twin != NULL)
        return (PyTypeObject *)twin;
    if (PyErr_Occurred())
        return NULL;
    twin = (PyObject *)make_twin(plain, hooks, builtin, subclass_methods);
    if (twin == NULL)
        return NULL;
    int rc = PyDict_SetItem(twins, (PyObject *)plain, twin);
    Py_DECREF(twin); /* the table holds it */
    return rc < 0 ? NULL : (PyTypeObject *)twin;
}
