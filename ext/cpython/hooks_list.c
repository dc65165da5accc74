/* hooks_list.c: watched lists.
 *
 * A list has three kinds of location:
 * - each index (l[i] read and assigned): a write there is any operation
 *   that changes what the index holds, so a slice store, a deletion or
 *   insertion before it (which shifts it), sort and reverse write the
 *   indices they change;
 * - each element x, twice: "an element equal to x was added" and "... was
 *   removed". A check of whether the list holds x (`x in l`, l.count(x), a
 *   failed l.remove(x)) reads both; appending, inserting, removing or
 *   replacing an element writes the one for what it did, so the act after a
 *   check decides which one the check-then-act is on. `if cb in l:
 *   l.remove(cb)` conflicts only with threads removing an equal cb (an added
 *   one leaves it there to remove), `if x not in l: l.append(x)` only with
 *   threads adding an equal x, and neither with changes of other elements;
 * - its contents (length and order): len(l), `if l:` and index() read
 *   them; appends, inserts, pops and removals write them.
 * Appends, pops and removals commute with each other (list.append from many
 * threads is fine), but a check followed by one in the same call (`if l:
 * l.pop()`, `if x not in l: l.append(x)`) is a check-then-act; clear() and
 * slice stores do not commute. Element writes are recorded only once some
 * membership check was made on the list, and a change that only removes
 * indices from the end (pop(), clear()) writes them only once some index
 * was used (the container's marks), so a list used as a stack or queue pays
 * for neither. An unhashable element has no location of its own: its
 * checks read the contents. Type swap, loops and
 * the rest, and what stands in for the GIL without one, as for dicts
 * (hooks_dict.c). */
#include "containers.h"

#include <string.h>

static PyTypeObject CwList_Type;

/* list's own methods (borrowed from list's type dict). */
static PyObject *list_append, *list_extend, *list_insert, *list_pop, *list_remove, *list_clear,
    *list_sort, *list_reverse, *list_index, *list_count, *list_reversed;

/* The container's marks: which kinds of location are in use. */
#define ON_ELEMENTS 1u
#define ON_INDICES 2u

static uint32_t record_contents(PyObject *self, cw_op op, unsigned flags, int check_opcode)
{
    return cw_record_marked(self, NULL, CW_CONTENTS_KEY, op, flags, check_opcode, 0);
}

#define CHANGED (CW_WRITE | CW_STRUCTURAL | CW_COMMUTES)

/* ---- elements ------------------------------------------------------------ */

/* The location of "an element equal to x was added" (or removed): x's hash
 * mixed (splitmix64) away from the small integers that are indices and from
 * the contents key. */
#define ADDED 0
#define REMOVED 1
static int64_t element_location(Py_hash_t h, int what)
{
    uint64_t z = (uint64_t)h ^ (what == ADDED ? 0x656c656d2b2b2b21ULL : 0x656c656d2d2d2d21ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (int64_t)(z ^ (z >> 31));
}

/* A check of whether the list holds x (x in l, count, a failed remove). */
static void check_element(PyObject *self, PyObject *x, cw_op op, int check_opcode)
{
    Py_hash_t h;
    if (cw_quiet_hash(x, &h)) {
        cw_record_marked(self, x, element_location(h, ADDED), op, CW_AT_ELEMENT, check_opcode,
                         ON_ELEMENTS);
        cw_record(self, x, element_location(h, REMOVED), op, CW_AT_ELEMENT, check_opcode);
    }
    else
        record_contents(self, op, 0, check_opcode);
}

/* x was added to (or removed from) the list. Single changes commute: they
 * conflict only with a check-then-act on an equal element. */
static void element_changed(PyObject *self, PyObject *x, int what, cw_op op)
{
    Py_hash_t h;
    if (cw_quiet_hash(x, &h))
        cw_record(self, x, element_location(h, what), op, CW_WRITE | CW_COMMUTES | CW_AT_ELEMENT,
                  CW_CHECK_NEVER);
}

static void elements_changed(PyObject *self, PyObject *items, int what, cw_op op)
{
    for (Py_ssize_t i = 0; items != NULL && i < PyList_GET_SIZE(items); i++)
        element_changed(self, PyList_GET_ITEM(items, i), what, op);
}

/* ---- indices and changes ------------------------------------------------- */

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

/* A change of the list in one call, seen before and after: the elements it
 * adds or removes (once the list's elements are in use). */
typedef struct change {
    uint32_t marks;
    Py_ssize_t before;  /* length before */
    PyObject *removed;  /* with ON_ELEMENTS: the items it may remove (a list) */
} change;

/* Before a change that may remove the items in [lo, hi). */
static void change_begin(PyObject *self, change *c, Py_ssize_t lo, Py_ssize_t hi)
{
    c->marks = hi > lo ? cw_shadow_marks((uintptr_t)self) : 0;
    c->before = PyList_GET_SIZE(self);
    c->removed = NULL;
    if ((c->marks & ON_ELEMENTS) && (c->removed = PyList_GetSlice(self, lo, hi)) == NULL)
        PyErr_Clear();
}

/* After it (ok: it succeeded; c->marks: as the engine saw them when it
 * recorded the change of the contents): the items now in [added_lo,
 * added_hi) were added, and the indices in [lo, hi) were written. */
static void change_end(PyObject *self, change *c, int ok, cw_op op, Py_ssize_t lo, Py_ssize_t hi,
                       Py_ssize_t added_lo, Py_ssize_t added_hi)
{
    if (ok && cw_hook_ready()) {
        /* Indices that are gone conflict only with a history there (a later
         * access to them finds no item); shifted ones with later ones too. */
        if (lo < PyList_GET_SIZE(self) || (c->marks & ON_INDICES))
            cw_record_range(self, lo, hi, op);
        elements_changed(self, c->removed, REMOVED, op);
        if (added_hi > added_lo && (c->marks & ON_ELEMENTS)) {
            PyObject *added = PyList_GetSlice(self, added_lo, added_hi);
            if (added == NULL)
                PyErr_Clear();
            elements_changed(self, added, ADDED, op);
            Py_XDECREF(added);
        }
    }
    Py_CLEAR(c->removed);
}

/* ---- slots --------------------------------------------------------------- */

static PyObject *cwlist_subscript(PyObject *self, PyObject *item)
{
    Py_ssize_t i = cw_hook_ready() ? index_of(self, item) : -1;
    PyObject *res = CW_PLAIN_TYPE(self)->tp_as_mapping->mp_subscript(self, item);
    if (i >= 0 && (res != NULL || PyErr_ExceptionMatches(PyExc_IndexError)))
        cw_record_marked(self, item, (Py_hash_t)i, CW_OP_GETITEM, CW_AT_INDEX, CW_CHECK_SUBSCRIPT,
                         ON_INDICES);
    return res;
}

/* The indices a slice names in a list of length len: [*lo, *hi) holds them
 * all (a step > 1 names some of them); 0 when item is no slice. */
static int slice_range(PyObject *item, Py_ssize_t len, Py_ssize_t *lo, Py_ssize_t *hi,
                       Py_ssize_t *step)
{
    Py_ssize_t start, stop;
    if (!PySlice_Check(item) || PySlice_Unpack(item, &start, &stop, step) < 0) {
        PyErr_Clear();
        return 0;
    }
    Py_ssize_t n = PySlice_AdjustIndices(len, &start, &stop, *step);
    if (n <= 0) {
        *lo = *hi = start < 0 ? 0 : start > len ? len : start;
    } else if (*step > 0) {
        *lo = start;
        *hi = start + (n - 1) * *step + 1;
    } else {
        *lo = start + (n - 1) * *step;
        *hi = start + 1;
    }
    return 1;
}

/* l[i] = v, del l[i], l[a:b] = seq, del l[a:b]. */
static int cwlist_ass_subscript(PyObject *self, PyObject *item, PyObject *value)
{
    if (!cw_hook_ready())
        return CW_PLAIN_TYPE(self)->tp_as_mapping->mp_ass_subscript(self, item, value);
    Py_ssize_t before = PyList_GET_SIZE(self);
    Py_ssize_t i = index_of(self, item), lo = 0, hi = 0, step = 1;
    int is_slice = i < 0 && slice_range(item, before, &lo, &hi, &step);
    if (i >= 0 && value != NULL) {
        /* One index stored to: it, and the elements it swaps. */
        PyObject *old = i < before ? PyList_GET_ITEM(self, i) : NULL;
        Py_XINCREF(old);
        int rc = CW_PLAIN_TYPE(self)->tp_as_mapping->mp_ass_subscript(self, item, value);
        if (rc == 0 && cw_hook_ready()) {
            uint32_t marks = cw_record_marked(self, item, (Py_hash_t)i, CW_OP_SETITEM,
                                              CW_WRITE | CW_AT_INDEX, CW_CHECK_NEVER, ON_INDICES);
            if ((marks & ON_ELEMENTS) && old != value) {
                element_changed(self, old, REMOVED, CW_OP_SETITEM);
                element_changed(self, value, ADDED, CW_OP_SETITEM);
            }
        }
        Py_XDECREF(old);
        return rc;
    }
    if (i >= 0 && i < before)
        lo = i, hi = i + 1;
    else if (!is_slice)
        return CW_PLAIN_TYPE(self)->tp_as_mapping->mp_ass_subscript(self, item, value);
    change c;
    change_begin(self, &c, lo, hi);
    if (step != 1 && c.removed != NULL) { /* an extended slice: only its own items */
        Py_SETREF(c.removed, PyObject_GetItem(self, item));
        if (c.removed == NULL || !PyList_Check(c.removed)) {
            PyErr_Clear();
            Py_CLEAR(c.removed);
        }
    }
    int rc = CW_PLAIN_TYPE(self)->tp_as_mapping->mp_ass_subscript(self, item, value);
    Py_ssize_t after = PyList_GET_SIZE(self);
    cw_op op = value ? CW_OP_SETITEM : CW_OP_DELITEM;
    if (rc == 0) {
        if (i >= 0)
            c.marks |= record_contents(self, CW_OP_DELITEM, CHANGED, CW_CHECK_NEVER);
        else /* A slice store replaces part of the list: it does not commute. */
            c.marks |= record_contents(self, op, CW_WRITE | (after != before ? CW_STRUCTURAL : 0),
                                       CW_CHECK_NEVER);
    }
    /* Same length: the indices stored to; else every index from the first
     * changed on shifts. */
    Py_ssize_t end = after == before ? hi : (before > after ? before : after);
    Py_ssize_t added_hi = lo + (after - before) + (hi - lo);
    change_end(self, &c, rc == 0, op, lo, end, value && step == 1 ? lo : 0,
               value && step == 1 ? added_hi : 0);
    if (rc == 0 && value && step != 1 && (c.marks & ON_ELEMENTS) && cw_hook_ready()) {
        /* An extended slice stored to: its new items, as they now stand. */
        PyObject *now = PyObject_GetItem(self, item);
        if (now == NULL)
            PyErr_Clear();
        else
            elements_changed(self, PyList_Check(now) ? now : NULL, ADDED, op);
        Py_XDECREF(now);
    }
    return rc;
}

static int cwlist_contains(PyObject *self, PyObject *x)
{
    int rc = CW_PLAIN_TYPE(self)->tp_as_sequence->sq_contains(self, x);
    if (rc >= 0 && cw_hook_ready())
        check_element(self, x, CW_OP_CONTAINS, cw_opcode.contains);
    return rc;
}

static Py_ssize_t cwlist_length(PyObject *self)
{
    if (cw_hook_ready())
        record_contents(self, CW_OP_GET, 0, CW_CHECK_ALWAYS);
    return CW_PLAIN_TYPE(self)->tp_as_sequence->sq_length(self);
}

/* l += seq, l.extend(seq), l.append(x): added at the end. */
static void appended(PyObject *self, cw_op op, Py_ssize_t before)
{
    uint32_t marks = record_contents(self, op, CHANGED, CW_CHECK_NEVER);
    if (!(marks & ON_ELEMENTS))
        return;
    PyObject *added = PyList_GetSlice(self, before, PY_SSIZE_T_MAX);
    if (added == NULL)
        PyErr_Clear();
    elements_changed(self, added, ADDED, op);
    Py_XDECREF(added);
}

static PyObject *cwlist_inplace_concat(PyObject *self, PyObject *other)
{
    Py_ssize_t before = PyList_GET_SIZE(self);
    PyObject *res = CW_PLAIN_TYPE(self)->tp_as_sequence->sq_inplace_concat(self, other);
    if (res != NULL && cw_hook_ready())
        appended(self, CW_OP_EXTEND, before);
    return res;
}

static PyObject *cwlist_inplace_repeat(PyObject *self, Py_ssize_t n)
{
    if (!cw_hook_ready())
        return CW_PLAIN_TYPE(self)->tp_as_sequence->sq_inplace_repeat(self, n);
    /* l *= 0 empties the list; l *= n > 1 adds copies of what it holds. */
    change c;
    change_begin(self, &c, 0, n <= 0 ? PyList_GET_SIZE(self) : 0);
    PyObject *res = CW_PLAIN_TYPE(self)->tp_as_sequence->sq_inplace_repeat(self, n);
    if (res != NULL)
        c.marks |= record_contents(self, CW_OP_EXTEND, CW_WRITE | CW_STRUCTURAL, CW_CHECK_NEVER);
    change_end(self, &c, res != NULL, CW_OP_EXTEND, 0, n <= 0 ? c.before : 0, 0, 0);
    return res;
}

/* ---- methods ------------------------------------------------------------- */

/* append and extend: added at the end. */
static PyObject *adding(PyObject *method, cw_op op, PyObject *self, PyObject *const *args,
                        Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t before = PyList_GET_SIZE(self);
    PyObject *res = cw_call_with_self(method, self, args, nargs, kwnames);
    if (res != NULL && cw_hook_ready())
        appended(self, op, before);
    return res;
}

static PyObject *cwlist_append(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    return adding(list_append, CW_OP_APPEND, self, args, nargs, kwnames);
}

static PyObject *cwlist_extend(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    return adding(list_extend, CW_OP_EXTEND, self, args, nargs, kwnames);
}

/* A method argument as an index into the list as it is now (as list's own
 * methods clamp it: insert to [0, len], pop to [-len, len)); -1 if none. */
static Py_ssize_t arg_index(PyObject *arg, Py_ssize_t len, int clamp)
{
    Py_ssize_t i = PyNumber_AsSsize_t(arg, NULL);
    if (i == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    if (i < 0)
        i += len;
    if (clamp)
        return i < 0 ? 0 : i > len ? len : i;
    return i < 0 || i >= len ? -1 : i;
}

static PyObject *cwlist_insert(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    if (!cw_hook_ready() || nargs != 2 || kwnames != NULL)
        return cw_call_with_self(list_insert, self, args, nargs, kwnames);
    Py_ssize_t at = arg_index(args[0], PyList_GET_SIZE(self), 1);
    change c;
    change_begin(self, &c, 0, 0);
    PyObject *res = cw_call_with_self(list_insert, self, args, nargs, kwnames);
    if (res != NULL)
        c.marks |= record_contents(self, CW_OP_INSERT, CHANGED, CW_CHECK_NEVER);
    /* Every index from the insertion point on now holds what was before it
     * (at the end, none: as an append). */
    change_end(self, &c, res != NULL && at >= 0, CW_OP_INSERT, at, c.before, at, at + 1);
    return res;
}

static PyObject *cwlist_pop(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    if (!cw_hook_ready())
        return cw_call_with_self(list_pop, self, args, nargs, kwnames);
    Py_ssize_t len = PyList_GET_SIZE(self);
    Py_ssize_t at = nargs >= 1 ? arg_index(args[0], len, 0) : len - 1;
    change c;
    change_begin(self, &c, 0, 0);
    PyObject *res = cw_call_with_self(list_pop, self, args, nargs, kwnames);
    if (res != NULL)
        c.marks |= record_contents(self, CW_OP_POP, CHANGED, CW_CHECK_NEVER);
    else if (PyErr_ExceptionMatches(PyExc_IndexError))
        record_contents(self, CW_OP_POP, 0, CW_CHECK_ALWAYS); /* popped from empty: a read */
    change_end(self, &c, res != NULL && at >= 0, CW_OP_POP, at, c.before, 0, 0);
    if (res != NULL && (c.marks & ON_ELEMENTS) && cw_hook_ready())
        element_changed(self, res, REMOVED, CW_OP_POP);
    return res;
}

/* The first index at which the list no longer holds what items[] held (the
 * list's items before a change, by identity), or n if none. */
static Py_ssize_t first_changed(PyObject *self, PyObject *const *items, Py_ssize_t n)
{
    Py_ssize_t len = PyList_GET_SIZE(self), i = 0;
    while (i < n && i < len && PyList_GET_ITEM(self, i) == items[i])
        i++;
    return i;
}

static PyObject *cwlist_remove(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    if (!cw_hook_ready() || nargs != 1)
        return cw_call_with_self(list_remove, self, args, nargs, kwnames);
    /* Where the item was is found afterwards, by comparing the item
     * pointers (copied, never dereferenced): list.remove itself is O(n). */
    change c;
    change_begin(self, &c, 0, 0);
    Py_ssize_t n = c.before;
    PyObject **items = n ? PyMem_Malloc(n * sizeof(PyObject *)) : NULL;
    CW_BEGIN_CRITICAL_SECTION(self);
    if (items != NULL && PyList_GET_SIZE(self) == n)
        memcpy(items, ((PyListObject *)self)->ob_item, n * sizeof(PyObject *));
    else
        PyMem_Free(items), items = NULL;
    CW_END_CRITICAL_SECTION();
    PyObject *res = cw_call_with_self(list_remove, self, args, nargs, kwnames);
    Py_ssize_t at = 0;
    if (res != NULL) {
        CW_BEGIN_CRITICAL_SECTION(self);
        at = items != NULL ? first_changed(self, items, n) : 0; /* unknown: all may have moved */
        CW_END_CRITICAL_SECTION();
        record_contents(self, CW_OP_REMOVE, CHANGED, CW_CHECK_NEVER);
        /* The element's location, marked in use: a remove of one's own
         * element is the act of `if x in l: l.remove(x)`. */
        Py_hash_t h;
        if (cw_hook_ready() && cw_quiet_hash(args[0], &h))
            cw_record_marked(self, args[0], element_location(h, REMOVED), CW_OP_REMOVE,
                             CW_WRITE | CW_COMMUTES | CW_AT_ELEMENT, CW_CHECK_NEVER, ON_ELEMENTS);
    } else if (PyErr_ExceptionMatches(PyExc_ValueError)) {
        check_element(self, args[0], CW_OP_REMOVE, CW_CHECK_ALWAYS); /* not there: a read */
    }
    PyMem_Free(items);
    change_end(self, &c, res != NULL, CW_OP_REMOVE, at, c.before, 0, 0);
    return res;
}

/* sort and reverse: the same elements in another order. */
static PyObject *reorder(PyObject *method, PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    if (!cw_hook_ready())
        return cw_call_with_self(method, self, args, nargs, kwnames);
    change c;
    change_begin(self, &c, 0, 0);
    PyObject *res = cw_call_with_self(method, self, args, nargs, kwnames);
    if (res != NULL)
        record_contents(self, CW_OP_UPDATE, CW_WRITE | CW_COMMUTES, CW_CHECK_NEVER);
    /* Which indices it moved is not looked for: any may have. */
    change_end(self, &c, res != NULL, CW_OP_UPDATE, 0, c.before > 1 ? c.before : 0, 0, 0);
    return res;
}

static PyObject *cwlist_sort(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    return reorder(list_sort, self, args, nargs, kwnames);
}

static PyObject *cwlist_reverse(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    return reorder(list_reverse, self, args, nargs, kwnames);
}

static PyObject *cwlist_clear(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    if (!cw_hook_ready())
        return cw_call_with_self(list_clear, self, args, nargs, kwnames);
    change c;
    change_begin(self, &c, 0, PyList_GET_SIZE(self));
    PyObject *res = cw_call_with_self(list_clear, self, args, nargs, kwnames);
    if (res != NULL)
        c.marks |= record_contents(self, CW_OP_CLEAR, CW_WRITE | CW_STRUCTURAL, CW_CHECK_NEVER);
    change_end(self, &c, res != NULL, CW_OP_CLEAR, 0, c.before, 0, 0);
    return res;
}

/* index() answers where an element is, which any change of the contents
 * can move: it reads the contents, found or not. count(x) is about the
 * element. */
static PyObject *cwlist_index(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    PyObject *res = cw_call_with_self(list_index, self, args, nargs, kwnames);
    if (cw_hook_ready() && (res != NULL || PyErr_ExceptionMatches(PyExc_ValueError)))
        record_contents(self, CW_OP_INDEX, 0, CW_CHECK_ALWAYS);
    return res;
}

static PyObject *cwlist_count(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    PyObject *res = cw_call_with_self(list_count, self, args, nargs, kwnames);
    if (res != NULL && nargs == 1 && cw_hook_ready())
        check_element(self, args[0], CW_OP_INDEX, CW_CHECK_ALWAYS);
    return res;
}

/* copy.copy(l): a plain list, taken in one C call as from a plain list. */
static PyObject *cwlist_copy(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    return PyList_GetSlice(self, 0, PY_SSIZE_T_MAX);
}

static PyObject *cwlist_iter(PyObject *self) { return cw_wrap_iter(CW_PLAIN_TYPE(self)->tp_iter(self), self); }

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
    {"__copy__", (PyCFunction)cwlist_copy, METH_NOARGS, NULL},
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
    if (rc || cw_container_kind_register(&PyList_Type, &CwList_Type, NULL) < 0)
        return -1;
    return cw_module_add(module, "WatchedList", (PyObject *)&CwList_Type);
}
