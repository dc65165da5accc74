/* hooks_deque.c: watched collections.deque.
 *
 * A deque is a queue or a stack: what races is its length, not its items.
 * It has two locations: "it grew" and "it shrank". A length check (len(d),
 * `if d:`, d[i]) reads both; append, appendleft, extend, extendleft and
 * insert write "grew", pop, popleft and remove write "shrank", so the act after a
 * check decides which one the check-then-act is on: `if d: d.popleft()`
 * conflicts with other threads taking items, never with producers adding
 * them (nor with a bounded deque dropping one as it adds: its length stays). Single changes commute (many producers and consumers are fine);
 * clear() does not. rotate, reverse and item stores change only the order:
 * they race loops over the deque, nothing else. Membership tests are not
 * checks (items are not locations). Type swap, loops and the rest, and
 * what stands in for the GIL without one, as for dicts (hooks_dict.c). */
#include "containers.h"

static PyTypeObject *CwDeque_Type; /* made from cwdeque_spec (owned) */
static PyTypeObject *deque_type;   /* collections.deque (owned) */

static PyObject *deque_append, *deque_appendleft, *deque_extend, *deque_extendleft,
    *deque_insert, *deque_pop, *deque_popleft, *deque_remove, *deque_clear, *deque_rotate,
    *deque_reverse, *deque_reversed;

#define GREW ((Py_hash_t)0x6465717565202b21LL)
#define SHRANK ((Py_hash_t)0x6465717565202d21LL)

static void record_length_check(PyObject *self, cw_op op, int check_opcode)
{
    cw_record(self, NULL, GREW, op, CW_AT_LENGTH, check_opcode);
    cw_record(self, NULL, SHRANK, op, CW_AT_LENGTH, check_opcode);
}

/* A change: adds (it grew) or takes (it shrank). A bounded deque at its
 * bound drops an item as it adds one, keeping its length: no length check
 * can see that. */
static void record_change(PyObject *self, cw_op op, int adds, int commutes)
{
    unsigned flags = CW_WRITE | CW_STRUCTURAL | CW_AT_LENGTH | (commutes ? CW_COMMUTES : 0);
    cw_record(self, NULL, adds ? GREW : SHRANK, op, flags, CW_CHECK_NEVER);
}

static Py_ssize_t length_of(PyObject *self)
{
    return CW_PLAIN_TYPE(self)->tp_as_sequence->sq_length(self);
}

/* ---- slots --------------------------------------------------------------- */

static Py_ssize_t cwdeque_length(PyObject *self)
{
    if (cw_hook_ready())
        record_length_check(self, CW_OP_GET, CW_CHECK_ALWAYS);
    return length_of(self);
}

/* 3.9's deque has a truth test of its own (later ones use the length):
 * `if d:` is a length check either way. */
static int cwdeque_bool(PyObject *self)
{
    if (cw_hook_ready())
        record_length_check(self, CW_OP_GET, CW_CHECK_ALWAYS);
    return CW_PLAIN_TYPE(self)->tp_as_number->nb_bool(self);
}

static PyObject *cwdeque_item(PyObject *self, Py_ssize_t i)
{
    PyObject *res = CW_PLAIN_TYPE(self)->tp_as_sequence->sq_item(self, i);
    if (cw_hook_ready() && (res != NULL || PyErr_ExceptionMatches(PyExc_IndexError)))
        record_length_check(self, CW_OP_GETITEM, CW_CHECK_SUBSCRIPT);
    return res;
}

static int cwdeque_ass_item(PyObject *self, Py_ssize_t i, PyObject *value)
{
    int rc = CW_PLAIN_TYPE(self)->tp_as_sequence->sq_ass_item(self, i, value);
    if (rc == 0 && cw_hook_ready()) {
        if (value == NULL)
            record_change(self, CW_OP_DELITEM, 0, 1);
        else /* the order changed, not the length */
            cw_record(self, NULL, GREW, CW_OP_SETITEM, CW_STRUCTURAL | CW_AT_LENGTH, CW_CHECK_NEVER);
    }
    return rc;
}

static PyObject *cwdeque_inplace_concat(PyObject *self, PyObject *other)
{
    PyObject *res = CW_PLAIN_TYPE(self)->tp_as_sequence->sq_inplace_concat(self, other);
    if (res != NULL && cw_hook_ready())
        record_change(self, CW_OP_EXTEND, 1, 1);
    return res;
}

static PyObject *cwdeque_iter(PyObject *self)
{
    return cw_wrap_iter(CW_PLAIN_TYPE(self)->tp_iter(self), self);
}

/* ---- methods ------------------------------------------------------------- */

static PyObject *changing(PyObject *method, cw_op op, int adds, int commutes, PyObject *self,
                          PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *res = cw_call_with_self(method, self, args, nargs, kwnames);
    if (!cw_hook_ready())
        return res;
    if (res != NULL)
        record_change(self, op, adds, commutes);
    else if (PyErr_ExceptionMatches(PyExc_IndexError) || PyErr_ExceptionMatches(PyExc_ValueError))
        record_length_check(self, op, CW_CHECK_ALWAYS); /* found nothing to take: a read */
    return res;
}

/* The order changed, not the length: only loops over the deque care. */
static PyObject *reordering(PyObject *method, PyObject *self, PyObject *const *args,
                            Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *res = cw_call_with_self(method, self, args, nargs, kwnames);
    if (res != NULL && cw_hook_ready())
        cw_record(self, NULL, GREW, CW_OP_UPDATE, CW_STRUCTURAL | CW_AT_LENGTH, CW_CHECK_NEVER);
    return res;
}

#define CHANGING(name, method, op, adds, commutes)                                            \
    static PyObject *name(PyObject *self, PyObject *const *args, Py_ssize_t nargs,            \
                          PyObject *kwnames)                                                  \
    {                                                                                         \
        return changing(method, op, adds, commutes, self, args, nargs, kwnames);              \
    }
CHANGING(cwdeque_append, deque_append, CW_OP_APPEND, 1, 1)
CHANGING(cwdeque_appendleft, deque_appendleft, CW_OP_APPEND, 1, 1)
CHANGING(cwdeque_extend, deque_extend, CW_OP_EXTEND, 1, 1)
CHANGING(cwdeque_extendleft, deque_extendleft, CW_OP_EXTEND, 1, 1)
CHANGING(cwdeque_insert, deque_insert, CW_OP_INSERT, 1, 1)
CHANGING(cwdeque_pop, deque_pop, CW_OP_POP, 0, 1)
CHANGING(cwdeque_popleft, deque_popleft, CW_OP_POP, 0, 1)
CHANGING(cwdeque_remove, deque_remove, CW_OP_REMOVE, 0, 1)
CHANGING(cwdeque_clear, deque_clear, CW_OP_CLEAR, 0, 0)
#undef CHANGING

static PyObject *cwdeque_rotate(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    return reordering(deque_rotate, self, args, nargs, kwnames);
}

static PyObject *cwdeque_reverse(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    return reordering(deque_reverse, self, args, nargs, kwnames);
}

static PyObject *cwdeque_reversed(PyObject *self, PyObject *noargs)
{
    (void)noargs;
    return cw_wrap_iter(cw_call_with_self(deque_reversed, self, NULL, 0, NULL), self);
}

/* ---- the type ------------------------------------------------------------ */

static PyObject *cwdeque_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)type;
    /* type(d)(...) and d.copy() make a plain deque. */
    return PyObject_Call((PyObject *)deque_type, args, kwds);
}

static void cwdeque_dealloc(PyObject *self)
{
    cw_container_dying(self);
    deque_type->tp_dealloc(self);
}

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)
#define M(name, fn) {name, (PyCFunction)(void (*)(void))fn, FASTKW, NULL}
static PyMethodDef cwdeque_methods[] = {
    M("append", cwdeque_append),     M("appendleft", cwdeque_appendleft),
    M("extend", cwdeque_extend),     M("extendleft", cwdeque_extendleft),
    M("insert", cwdeque_insert),     M("pop", cwdeque_pop),
    M("popleft", cwdeque_popleft),   M("remove", cwdeque_remove),
    M("clear", cwdeque_clear),       M("rotate", cwdeque_rotate),
    M("reverse", cwdeque_reverse),
    {"__reversed__", (PyCFunction)cwdeque_reversed, METH_NOARGS, NULL},
    {"__reduce_ex__", cw_reduce_ex_as_plain, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
#undef M

/* A heap type: deque is one from 3.12 on, and a static type cannot derive
 * from a heap type. */
static PyType_Slot cwdeque_slots[] = {
    {Py_tp_dealloc, (void *)cwdeque_dealloc},
    {Py_tp_new, (void *)cwdeque_new},
    {Py_tp_iter, (void *)cwdeque_iter},
    {Py_tp_methods, (void *)cwdeque_methods},
    {Py_tp_doc, (void *)"A deque watched by cachewatch."},
    {Py_sq_length, (void *)cwdeque_length},
    {Py_sq_item, (void *)cwdeque_item},
    {Py_sq_ass_item, (void *)cwdeque_ass_item},
    {Py_sq_inplace_concat, (void *)cwdeque_inplace_concat},
    {0, NULL}, /* Py_nb_bool where deque has one (3.9): set at init */
    {0, NULL},
};

static PyType_Spec cwdeque_spec = {
    .name = "collections.deque",
    .basicsize = 0, /* deque's */
    .flags = Py_TPFLAGS_DEFAULT, /* GC and the rest come from deque */
    .slots = cwdeque_slots,
};

static int lookup_methods(void)
{
    PyObject *dict = PyType_GetDict_compat(deque_type);
    struct {
        PyObject **slot;
        const char *name;
    } wanted[] = {
        {&deque_append, "append"},   {&deque_appendleft, "appendleft"},
        {&deque_extend, "extend"},   {&deque_extendleft, "extendleft"},
        {&deque_insert, "insert"},   {&deque_pop, "pop"},
        {&deque_popleft, "popleft"}, {&deque_remove, "remove"},
        {&deque_clear, "clear"},     {&deque_rotate, "rotate"},
        {&deque_reverse, "reverse"}, {&deque_reversed, "__reversed__"},
    };
    for (size_t i = 0; dict != NULL && i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        *wanted[i].slot = PyDict_GetItemString(dict, wanted[i].name);
        if (*wanted[i].slot == NULL) {
            PyErr_Format(PyExc_RuntimeError, "deque has no method %s", wanted[i].name);
            Py_DECREF(dict);
            return -1;
        }
        Py_INCREF(*wanted[i].slot);
    }
    Py_XDECREF(dict);
    return dict == NULL ? -1 : 0;
}

int cw_deque_hooks_init(PyObject *module)
{
    PyObject *collections = PyImport_ImportModule("collections");
    deque_type = collections ? (PyTypeObject *)PyObject_GetAttrString(collections, "deque") : NULL;
    Py_XDECREF(collections);
    if (deque_type == NULL)
        return -1;
    if (deque_type->tp_as_number != NULL && deque_type->tp_as_number->nb_bool != NULL) {
        size_t n = sizeof(cwdeque_slots) / sizeof(cwdeque_slots[0]);
        cwdeque_slots[n - 2] = (PyType_Slot){Py_nb_bool, (void *)cwdeque_bool};
    }
    PyObject *bases = PyTuple_Pack(1, (PyObject *)deque_type);
    CwDeque_Type = bases ? (PyTypeObject *)PyType_FromSpecWithBases(&cwdeque_spec, bases) : NULL;
    Py_XDECREF(bases);
    if (CwDeque_Type == NULL || lookup_methods() < 0 ||
        cw_container_kind_register(deque_type, CwDeque_Type, NULL) < 0)
        return -1;
    return cw_module_add(module, "WatchedDeque", (PyObject *)CwDeque_Type);
}
