/* key_text.c: the text a report shows for a key (see key_text.h). */
#include "key_text.h"

#include <string.h>

#include "redact.h"

/* Containers nested deeper than this show as "...". */
#define MAX_DEPTH 6

/* How long the key's whole repr, or the key itself, is, when known (nested
 * items pass NULL: the note is about the key itself). */
typedef struct whole {
    const char *what; /* "str", "bytes", "repr"; NULL: unknown */
    Py_ssize_t length;
} whole;

static PyObject *bounded(PyObject *obj, Py_ssize_t budget, int depth, whole *w);

/* Does obj's type show with the builtin repr of base (a plain or watched
 * container, not a subclass with a __repr__ of its own)? */
static int builtin_repr(PyObject *obj, PyTypeObject *base)
{
    return PyObject_TypeCheck(obj, base) && Py_TYPE(obj)->tp_repr == base->tp_repr;
}

/* A str or bytes of more than budget characters: the repr of its head. */
static PyObject *head_repr(PyObject *obj, Py_ssize_t n, Py_ssize_t budget, whole *w,
                           const char *what)
{
    PyObject *head = PyUnicode_Check(obj) ? PyUnicode_Substring(obj, 0, budget)
                                          : PySequence_GetSlice(obj, 0, budget);
    if (head == NULL)
        return NULL;
    PyObject *r = PyObject_Repr(head);
    Py_DECREF(head);
    if (w != NULL) {
        w->what = what;
        w->length = n;
    }
    return r;
}

/* Append part to the list of pieces, counting it against the budget. */
static int put(PyObject *pieces, PyObject *part, Py_ssize_t *left)
{
    if (part == NULL)
        return -1;
    *left -= PyUnicode_GET_LENGTH(part);
    int rc = PyList_Append(pieces, part);
    Py_DECREF(part);
    return rc;
}

static int put_str(PyObject *pieces, const char *s, Py_ssize_t *left)
{
    return put(pieces, PyUnicode_FromString(s), left);
}

/* The items of a list, tuple, set, frozenset or dict, shown until the budget
 * runs out. Items are held while their repr runs: that may run any code. */
static int items(PyObject *obj, PyObject *pieces, Py_ssize_t *left, int depth)
{
    int is_dict = PyDict_Check(obj);
    PyObject *it = PyObject_GetIter(obj);
    if (it == NULL)
        return -1;
    Py_ssize_t i = 0;
    PyObject *item;
    int rc = 0;
    while (rc == 0 && (item = PyIter_Next(it)) != NULL) {
        if (i++ && put_str(pieces, ", ", left) < 0)
            rc = -1;
        else if (*left <= 0)
            rc = put_str(pieces, "...", left) < 0 ? -1 : 1;
        else if (is_dict) {
            PyObject *value = PyDict_GetItemWithError(obj, item);
            Py_XINCREF(value);
            if (value == NULL)
                rc = PyErr_Occurred() ? -1 : put_str(pieces, "...", left) < 0 ? -1 : 1;
            else if (put(pieces, bounded(item, *left, depth + 1, NULL), left) < 0 ||
                     put_str(pieces, ": ", left) < 0 ||
                     put(pieces, bounded(value, *left, depth + 1, NULL), left) < 0)
                rc = -1;
            Py_XDECREF(value);
        } else {
            rc = put(pieces, bounded(item, *left, depth + 1, NULL), left);
        }
        Py_DECREF(item);
    }
    Py_DECREF(it);
    if (rc < 0 || PyErr_Occurred()) {
        /* Changed while an item's repr ran, or an item has no repr. */
        PyErr_Clear();
        return put_str(pieces, "...", left) < 0 ? -1 : (int)i;
    }
    return (int)i;
}

/* The repr of a builtin container, or NULL with no error when obj is not
 * one (or is inside its own repr already). */
static PyObject *container_repr(PyObject *obj, Py_ssize_t budget, int depth)
{
    const char *open, *close;
    if (builtin_repr(obj, &PyTuple_Type))
        open = "(", close = ")";
    else if (builtin_repr(obj, &PyList_Type))
        open = "[", close = "]";
    else if (builtin_repr(obj, &PyDict_Type))
        open = "{", close = "}";
    else if (builtin_repr(obj, &PySet_Type) && Py_TYPE(obj) != &PyFrozenSet_Type)
        open = "{", close = "}";
    else if (builtin_repr(obj, &PyFrozenSet_Type))
        open = "frozenset({", close = "})";
    else
        return NULL;
    Py_ssize_t size = PyObject_Size(obj); /* a subclass's __len__ may run, and raise */
    if (size < 0) {
        PyErr_Clear();
        size = 1;
    }
    if (size == 0)
        return PyObject_Repr(obj);
    if (depth >= MAX_DEPTH)
        return PyUnicode_FromFormat("%s...%s", open, close);
    int rc = Py_ReprEnter(obj);
    if (rc != 0)
        return rc > 0 ? PyUnicode_FromFormat("%s...%s", open, close) : NULL;
    PyObject *pieces = PyList_New(0), *res = NULL;
    Py_ssize_t left = budget;
    int n = -1;
    if (pieces != NULL && put_str(pieces, open, &left) == 0 &&
        (n = items(obj, pieces, &left, depth)) >= 0 &&
        (n != 1 || !PyTuple_Check(obj) || put_str(pieces, ",", &left) == 0) &&
        put_str(pieces, close, &left) == 0) {
        PyObject *sep = PyUnicode_FromString("");
        if (sep != NULL)
            res = PyUnicode_Join(sep, pieces);
        Py_XDECREF(sep);
    }
    Py_XDECREF(pieces);
    Py_ReprLeave(obj);
    return res;
}

/* A repr of obj of about budget characters at most where obj is a builtin
 * str, bytes, int or container; any other object's own repr. */
static PyObject *bounded(PyObject *obj, Py_ssize_t budget, int depth, whole *w)
{
    if (budget < 1)
        budget = 1;
    if (builtin_repr(obj, &PyUnicode_Type) && PyUnicode_GET_LENGTH(obj) > budget)
        return head_repr(obj, PyUnicode_GET_LENGTH(obj), budget, w, "str");
    if (builtin_repr(obj, &PyBytes_Type) && PyBytes_GET_SIZE(obj) > budget)
        return head_repr(obj, PyBytes_GET_SIZE(obj), budget, w, "bytes");
    if (PyLong_CheckExact(obj)) {
        /* A decimal digit holds 3.3 bits; past the budget, say the size. */
        PyObject *bits = PyObject_CallMethod(obj, "bit_length", NULL);
        long long n = bits ? PyLong_AsLongLong(bits) : -1;
        Py_XDECREF(bits);
        if (n < 0)
            return NULL;
        if (n > 3 * (long long)budget)
            return PyUnicode_FromFormat("<int of %lld bits>", n);
        return PyObject_Repr(obj);
    }
    PyObject *r = container_repr(obj, budget, depth);
    if (r != NULL || PyErr_Occurred())
        return r; /* how long the whole would be is not known */
    r = PyObject_Repr(obj);
    if (r != NULL && w != NULL) {
        w->what = "repr";
        w->length = PyUnicode_GET_LENGTH(r);
    }
    if (r != NULL && PyUnicode_GET_LENGTH(r) > budget)
        Py_SETREF(r, PyUnicode_Substring(r, 0, budget));
    return r;
}

int cw_key_text(PyObject *key, size_t max, char *out)
{
    if (max > CW_KEY_TEXT_SIZE - 64)
        max = CW_KEY_TEXT_SIZE - 64;
    whole w = {NULL, 0};
    PyObject *r = bounded(key, (Py_ssize_t)(max + CW_REDACT_MARGIN), 0, &w);
    /* A repr with lone surrogates has no UTF-8: show them escaped. */
    PyObject *utf8 = r ? PyUnicode_AsEncodedString(r, "utf-8", "backslashreplace") : NULL;
    Py_XDECREF(r);
    if (utf8 == NULL) {
        PyErr_Clear();
        strcpy(out, "<unprintable key>");
        return -1;
    }
    bool cut;
    size_t n = cw_redact_cut(PyBytes_AS_STRING(utf8), (size_t)PyBytes_GET_SIZE(utf8), max, out, &cut);
    Py_DECREF(utf8);
    if (cut) {
        if (w.what != NULL)
            snprintf(out + n, CW_KEY_TEXT_SIZE - n, "... (%s of %zd characters)", w.what, w.length);
        else
            snprintf(out + n, CW_KEY_TEXT_SIZE - n, "...");
    }
    return 0;
}
