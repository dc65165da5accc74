/* compat.h: the only file with PY_VERSION_HEX checks. */
#ifndef CW_COMPAT_H
#define CW_COMPAT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <structmember.h>

#if PY_VERSION_HEX < 0x03090000
#error "cachewatch needs CPython 3.9 or newer"
#endif

/* Frame accessors: public since 3.9 (GetCode) and 3.11 (GetLasti). */
static inline PyCodeObject *cw_frame_code(PyFrameObject *f) /* new ref */
{
    return PyFrame_GetCode(f);
}

/* obj.name (new ref), or NULL and no error when obj has no such attribute
 * (or getting it failed): no AttributeError is made on the way where the
 * type's getattr is the generic one. Public from 3.13, private before. */
static inline PyObject *cw_optional_attr(PyObject *obj, PyObject *name)
{
    PyObject *res = NULL;
#if PY_VERSION_HEX >= 0x030D0000
    int found = PyObject_GetOptionalAttr(obj, name, &res);
#else
    int found = _PyObject_LookupAttr(obj, name, &res);
#endif
    if (found < 0)
        PyErr_Clear();
    return found > 0 ? res : NULL;
}

/* A frame's globals (new ref): public from 3.11, a field before. */
static inline PyObject *cw_frame_globals(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    return PyFrame_GetGlobals(f);
#else
    Py_XINCREF(f->f_globals);
    return f->f_globals;
#endif
}

/* The current instruction's byte offset in its code object. */
static inline int cw_frame_lasti(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    return PyFrame_GetLasti(f);
#elif PY_VERSION_HEX >= 0x030A0000
    return f->f_lasti < 0 ? -1 : f->f_lasti * (int)sizeof(_Py_CODEUNIT); /* 3.10: an index */
#else
    return f->f_lasti; /* 3.9: already a byte offset */
#endif
}

/* The (deoptimised) opcode at a byte offset of a code object, -1 if out of
 * range. co_code is cached by CPython from 3.11 on. */
static inline int cw_code_opcode(PyCodeObject *code, int offset)
{
    if (offset < 0)
        return -1;
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *bytes = PyCode_GetCode(code);
#else
    PyObject *bytes = code->co_code;
    Py_XINCREF(bytes);
#endif
    if (bytes == NULL) {
        PyErr_Clear();
        return -1;
    }
    int op = offset < PyBytes_GET_SIZE(bytes)
                 ? (unsigned char)PyBytes_AS_STRING(bytes)[offset]
                 : -1;
    Py_DECREF(bytes);
    return op;
}

static inline PyObject *cw_code_qualname(PyCodeObject *code) /* borrowed */
{
#if PY_VERSION_HEX >= 0x030B0000
    return code->co_qualname;
#else
    return code->co_name;
#endif
}

/* A code object's extra slots (PEP 523's co_extra): ours caches what a
 * code object is (stack.c), so a frame's class costs a pointer read. */
#if PY_VERSION_HEX >= 0x030C0000
#define cw_code_extra_index() PyUnstable_Eval_RequestCodeExtraIndex(NULL)
#define cw_code_get_extra PyUnstable_Code_GetExtra
#define cw_code_set_extra PyUnstable_Code_SetExtra
#else
#define cw_code_extra_index() _PyEval_RequestCodeExtraIndex(NULL)
#define cw_code_get_extra _PyCode_GetExtra
#define cw_code_set_extra _PyCode_SetExtra
#endif

/* Saving and restoring the error indicator around hook work. */
typedef struct cw_saved_error {
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc;
#else
    PyObject *type, *value, *tb;
#endif
} cw_saved_error;

/* Hooks save and restore around every access; most run with no error set,
 * which costs a test each way (PyErr_Occurred reads the thread state). */
static inline void cw_error_save(cw_saved_error *s)
{
#if PY_VERSION_HEX >= 0x030C0000
    s->exc = PyErr_Occurred() ? PyErr_GetRaisedException() : NULL;
#else
    if (PyErr_Occurred())
        PyErr_Fetch(&s->type, &s->value, &s->tb);
    else
        s->type = s->value = s->tb = NULL;
#endif
}

static inline void cw_error_restore(cw_saved_error *s)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (s->exc == NULL) {
        if (PyErr_Occurred())
            PyErr_Clear();
        return;
    }
    PyErr_SetRaisedException(s->exc);
#else
    if (s->type == NULL) {
        if (PyErr_Occurred())
            PyErr_Clear();
        return;
    }
    PyErr_Restore(s->type, s->value, s->tb);
#endif
}

static inline int cw_error_is_set(const cw_saved_error *s)
{
#if PY_VERSION_HEX >= 0x030C0000
    return s->exc != NULL;
#else
    return s->type != NULL;
#endif
}

/* A type's dict, as a new reference (static builtin types keep theirs per
 * interpreter from 3.12 on). */
static inline PyObject *PyType_GetDict_compat(PyTypeObject *type)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyType_GetDict(type);
#else
    Py_XINCREF(type->tp_dict);
    return type->tp_dict;
#endif
}

static inline int cw_module_add(PyObject *module, const char *name, PyObject *value)
{
#if PY_VERSION_HEX >= 0x030A0000
    return PyModule_AddObjectRef(module, name, value);
#else
    Py_INCREF(value);
    if (PyModule_AddObject(module, name, value) < 0) {
        Py_DECREF(value);
        return -1;
    }
    return 0;
#endif
}

/* A block that reads a container's internals as one step: with the GIL that
 * is any stretch running no Python code; a free-threaded build (3.13+) also
 * needs the object's critical section. */
#if PY_VERSION_HEX >= 0x030D0000
#define CW_BEGIN_CRITICAL_SECTION(op) Py_BEGIN_CRITICAL_SECTION(op)
#define CW_END_CRITICAL_SECTION() Py_END_CRITICAL_SECTION()
#else
#define CW_BEGIN_CRITICAL_SECTION(op) {
#define CW_END_CRITICAL_SECTION() }
#endif

/* What type's MRO finds under name (a new reference; NULL, no error, if
 * nothing). _PyType_Lookup answers from the type cache; it is exported up
 * to 3.14. */
static inline PyObject *cw_type_lookup_obj(PyTypeObject *type, PyObject *name)
{
    PyObject *found = _PyType_Lookup(type, name);
    Py_XINCREF(found);
    return found;
}

static inline PyObject *cw_type_lookup(PyTypeObject *type, const char *name)
{
    PyObject *key = PyUnicode_InternFromString(name);
    if (key == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *found = cw_type_lookup_obj(type, key);
    Py_DECREF(key);
    return found;
}

/* A type whose slots and dict cachewatch may change: made by a class
 * statement (a heap type) and not marked immutable (3.10+). */
static inline int cw_type_is_open(PyTypeObject *type)
{
    unsigned long fixed = 0;
#ifdef Py_TPFLAGS_IMMUTABLETYPE
    fixed = Py_TPFLAGS_IMMUTABLETYPE;
#endif
    return (type->tp_flags & Py_TPFLAGS_HEAPTYPE) && !(type->tp_flags & fixed);
}

/* A heap subclass made with nothing of its own (twins.c) reads its
 * instances' attributes as the base lays them out: from 3.11 a managed dict
 * and inline values, found through the flags and the type's cached keys. */
static inline void cw_type_share_layout(PyTypeObject *sub, PyTypeObject *base)
{
#if PY_VERSION_HEX >= 0x030B0000
    unsigned long layout = Py_TPFLAGS_MANAGED_DICT;
#ifdef Py_TPFLAGS_MANAGED_WEAKREF
    layout |= Py_TPFLAGS_MANAGED_WEAKREF;
#endif
#ifdef Py_TPFLAGS_INLINE_VALUES
    layout |= Py_TPFLAGS_INLINE_VALUES;
#endif
    sub->tp_flags |= base->tp_flags & layout;
    if (base->tp_flags & Py_TPFLAGS_HEAPTYPE)
        ((PyHeapTypeObject *)sub)->ht_cached_keys = ((PyHeapTypeObject *)base)->ht_cached_keys;
#else
    (void)sub;
    (void)base;
#endif
}

/* Change a live object's type. With the GIL the store is one step for every
 * other thread. Without it (free-threaded builds) it is made inside the
 * object's critical section, which its own methods hold, as an atomic
 * release store: an operation already dispatched through the old type
 * finishes unrecorded, and both types outlive every reader. */
#ifdef Py_GIL_DISABLED
static inline void cw_set_type(PyObject *obj, PyTypeObject *type)
{
    Py_BEGIN_CRITICAL_SECTION(obj);
    __atomic_store_n(&obj->ob_type, type, __ATOMIC_RELEASE);
    Py_END_CRITICAL_SECTION();
}
#else
#define cw_set_type(obj, type) Py_SET_TYPE((obj), (type))
#endif

#endif
