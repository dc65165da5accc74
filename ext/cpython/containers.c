/* containers.c: what the dict, list and set hooks share (see containers.h). */
#include "containers.h"

#include <string.h>

#include "hashtable.h"


static cw_hashtable watched; /* address -> the container (borrowed) */
static int watched_ready;

/* ---- recording --------------------------------------------------------- */

static int current_opcode(const cw_site *site)
{
    if (cw_site_is_null(*site))
        return -1;
    return cw_code_opcode((PyCodeObject *)site->code, site->offset);
}

void cw_record(PyObject *self, PyObject *key, Py_hash_t hash, cw_op op, unsigned flags,
               int check_opcode)
{
    cw_record_marked(self, key, hash, op, flags, check_opcode, 0);
}

static uint32_t record(uintptr_t container, PyObject *key, Py_hash_t hash, cw_op op,
                       unsigned flags, int check_opcode, uint32_t mark, const Py_ssize_t *range,
                       cw_repeat_stamp *stamp);

uint32_t cw_record_marked(PyObject *self, PyObject *key, Py_hash_t hash, cw_op op, unsigned flags,
                          int check_opcode, uint32_t mark)
{
    return record((uintptr_t)self, key, hash, op, flags, check_opcode, mark, NULL, NULL);
}

void cw_record_at(uintptr_t location, PyObject *key, Py_hash_t hash, cw_op op, unsigned flags,
                  int check_opcode)
{
    record(location, key, hash, op, flags, check_opcode, 0, NULL, NULL);
}

bool cw_record_stamped(uintptr_t location, cw_op op, unsigned flags, int check_opcode,
                       cw_repeat_stamp *stamp)
{
    stamp->locks = CW_LOCKSET_UNKNOWN; /* never holds: none until answered stably */
    record(location, NULL, 0, op, flags, check_opcode, 0, NULL, stamp);
    return stamp->locks != CW_LOCKSET_UNKNOWN;
}

void cw_record_range(PyObject *self, Py_ssize_t lo, Py_ssize_t hi, cw_op op)
{
    if (hi <= lo)
        return;
    Py_ssize_t range[2] = {lo, hi};
    record((uintptr_t)self, NULL, (Py_hash_t)CW_RANGE_KEY, op, CW_WRITE | CW_COMMUTES | CW_AT_INDEX,
           CW_CHECK_NEVER, 0, range, NULL);
}

static uint32_t record(uintptr_t container, PyObject *key, Py_hash_t hash, cw_op op,
                       unsigned flags, int check_opcode, uint32_t mark, const Py_ssize_t *range,
                       cw_repeat_stamp *stamp)
{
    cw_saved_error saved;
    cw_error_save(&saved);
    cw_tls_state.busy++;
    cw_thread *t = cw_current_thread();
    cw_access a; /* the inputs and what is read back; not the report array (hot) */
    a.check = a.ranged = a.need_check_stack = a.stable = false;
    a.stack = a.check_stack = 0;
    a.range_lo = a.range_hi = 0;
    a.marks = a.nreports = 0;
    bool write = flags & CW_WRITE, structural = flags & CW_STRUCTURAL;
    PyFrameObject *frame = t ? PyEval_GetFrame() : NULL;
    int lasti = frame ? cw_frame_lasti(frame) : -1;
    /* The same check by the same instruction again, nothing changed since. */
    bool repeated = frame != NULL && !write && !structural && range == NULL &&
                    check_opcode != CW_CHECK_NEVER &&
                    cw_shadow_check_repeats(t, container, (int64_t)hash, (uintptr_t)frame, lasti,
                                            &a.marks);
    if (t != NULL && !repeated) {
        cw_site site = cw_frame_site(frame, lasti);
        a.container = container;
        a.key_hash = (int64_t)hash;
        a.op = op;
        a.write = write;
        a.structural = structural;
        a.commutes = flags & CW_COMMUTES;
        a.frame = (uintptr_t)frame;
        a.lasti = lasti;
        a.site = site;
        a.mark = mark;
        a.index = (flags & CW_AT_INDEX) && range == NULL;
        if (range != NULL) {
            a.ranged = true;
            a.range_lo = range[0];
            a.range_hi = range[1];
        }
        /* A single-key read can be the check a later write acts on when the
         * program asked for it directly (not dict(d), not C code). */
        if (!write && frame != NULL) {
            if (check_opcode == CW_CHECK_ALWAYS) {
                a.check = true;
            } else if (check_opcode == CW_CHECK_SUBSCRIPT) {
                int opcode = current_opcode(&site);
                a.check = opcode >= 0 && (opcode == cw_opcode.binary_subscr || opcode == cw_opcode.binary_op);
            } else if (check_opcode >= 0) {
                a.check = current_opcode(&site) == check_opcode;
            }
        }
        if (write || a.check || structural)
            cw_record_access(t, &a, frame);
        if (stamp != NULL && a.stable && a.nreports == 0)
            cw_shadow_stamp(t, &a, stamp);
    } else if (stamp != NULL && repeated) {
        a.write = false;
        a.tick = 0;
        cw_shadow_stamp(t, &a, stamp);
    }
    cw_tls_state.busy--;
    cw_emit_reports_as(a.reports, a.nreports, key,
                       flags & CW_AT_INDEX     ? CW_LOC_INDEX
                       : flags & CW_AT_ELEMENT ? CW_LOC_ELEMENT
                       : flags & CW_AT_LENGTH  ? CW_LOC_LENGTH
                                               : CW_LOC_KEY);
    cw_error_restore(&saved);
    return a.marks;
}

int cw_quiet_hash(PyObject *key, Py_hash_t *hash)
{
#ifndef Py_GIL_DISABLED
    /* The common key: a str whose hash is cached (no code can run). */
    if (PyUnicode_CheckExact(key) && (*hash = ((PyASCIIObject *)key)->hash) != -1)
        return 1;
#endif
    /* The operation may have raised (KeyError): a Python __hash__ must not
     * run with its exception set, nor clear it. */
    cw_saved_error saved;
    cw_error_save(&saved);
    cw_tls_state.busy++;
    *hash = PyObject_Hash(key);
    cw_tls_state.busy--;
    if (*hash == -1)
        PyErr_Clear();
    cw_error_restore(&saved);
    return *hash != -1;
}

void cw_record_key(PyObject *self, PyObject *key, cw_op op, unsigned flags, int check_opcode)
{
    Py_hash_t hash;
    if (cw_quiet_hash(key, &hash))
        cw_record(self, key, hash, op, flags, check_opcode);
}

/* ---- iteration --------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *inner;     /* Owned: the real iterator */
    PyObject *container; /* Owned: the watched container */
    int state;           /* 0: first step not taken; 1: live loop; 2: not tracked */
    cw_iteration it;
} CwIter;

static PyTypeObject CwIter_Type;

PyObject *cw_wrap_iter(PyObject *inner, PyObject *container)
{
    if (inner == NULL)
        return NULL;
    CwIter *w = PyObject_GC_New(CwIter, &CwIter_Type);
    if (w == NULL) {
        Py_DECREF(inner);
        return NULL;
    }
    w->inner = inner;
    Py_INCREF(container);
    w->container = container;
    w->state = 0;
    memset(&w->it, 0, sizeof(w->it));
    PyObject_GC_Track(w);
    return (PyObject *)w;
}

static void end_loop(CwIter *w)
{
    if (w->state != 1 || !w->it.open)
        return;
    w->state = 2;
    cw_saved_error saved;
    cw_error_save(&saved);
    cw_tls_state.busy++;
    uint32_t reports[CW_MAX_NEW_REPORTS], n = 0;
    cw_thread *t = cw_tls_state.thread;
    cw_check_status(cw_shadow_iter_end(t, &w->it, reports, &n), "no memory ending a loop");
    cw_tls_state.busy--;
    cw_emit_reports(reports, n, NULL);
    cw_error_restore(&saved);
}

/* Is the first step taken by a Python for-loop (or comprehension)? list(d),
 * sorted(d), dict(d) and the like take all steps inside one C call: an
 * atomic snapshot, never a race. */
static void classify(CwIter *w)
{
    w->state = 2;
    if (!cw_hook_ready() || !cw_container_is_watched(w->container))
        return;
    cw_site site;
    PyFrameObject *frame = cw_current_site(&site);
    if (frame == NULL || current_opcode(&site) != cw_opcode.for_iter)
        return;
    cw_tls_state.busy++;
    cw_thread *t = cw_current_thread();
    if (t != NULL) {
        cw_stack_id stack = cw_stack_for(t, frame, site);
        if (cw_check_status(cw_shadow_iter_begin(t, (uintptr_t)w->container, stack, &w->it),
                            "no memory starting a loop") == 0 &&
            w->it.open)
            w->state = 1;
    }
    cw_tls_state.busy--;
}

static PyObject *cwiter_next(CwIter *w)
{
    if (w->state == 0)
        classify(w);
    PyObject *item = Py_TYPE(w->inner)->tp_iternext(w->inner);
    if (item == NULL && w->state == 1)
        end_loop(w);
    return item;
}

static void cwiter_dealloc(CwIter *w)
{
    PyObject_GC_UnTrack(w);
    end_loop(w);
    if (w->it.start) {
        cw_vc_unref(w->it.start);
        w->it.start = NULL;
    }
    Py_XDECREF(w->inner);
    Py_XDECREF(w->container);
    PyObject_GC_Del(w);
}

static int cwiter_traverse(CwIter *w, visitproc visit, void *arg)
{
    Py_VISIT(w->inner);
    Py_VISIT(w->container);
    return 0;
}

static PyObject *cwiter_repr(CwIter *w) { return PyObject_Repr(w->inner); }

static PyObject *cwiter_length_hint(CwIter *w, PyObject *noargs)
{
    (void)noargs;
    /* An iterator without one (odict_iterator): no hint, as for the plain. */
    PyObject *hint = PyObject_GetAttrString(w->inner, "__length_hint__");
    if (hint == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *res = hint ? PyObject_CallNoArgs(hint) : NULL;
    Py_XDECREF(hint);
    return res;
}

static PyObject *cwiter_reduce(CwIter *w, PyObject *noargs)
{
    (void)noargs;
    return PyObject_CallMethod(w->inner, "__reduce__", NULL);
}

static PyObject *cwiter_setstate(CwIter *w, PyObject *state)
{
    return PyObject_CallMethod(w->inner, "__setstate__", "O", state);
}

static PyMethodDef cwiter_methods[] = {
    {"__length_hint__", (PyCFunction)cwiter_length_hint, METH_NOARGS, NULL},
    {"__reduce__", (PyCFunction)cwiter_reduce, METH_NOARGS, NULL},
    {"__setstate__", (PyCFunction)cwiter_setstate, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CwIter_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "iterator",
    .tp_basicsize = sizeof(CwIter),
    .tp_dealloc = (destructor)cwiter_dealloc,
    .tp_repr = (reprfunc)cwiter_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)cwiter_traverse,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)cwiter_next,
    .tp_methods = cwiter_methods,
};

/* ---- kinds and the watched registry ------------------------------------ */

/* A builtin cachewatch watches, and its static watched type. */
typedef struct base_kind {
    PyTypeObject *builtin;
    PyTypeObject *hooks;
    PyMethodDef *subclass_methods;
} base_kind;

#define MAX_KINDS 8
static base_kind bases[MAX_KINDS];
static int nbases;

int cw_container_kind_register(PyTypeObject *plain, PyTypeObject *watched_type,
                               PyMethodDef *subclass_methods)
{
    if (nbases == MAX_KINDS)
        return -1;
    bases[nbases++] = (base_kind){plain, watched_type, subclass_methods};
    return 0;
}

/* What an object is: its plain type and the type it has while watched (NULL
 * for a subclass whose twin is not made yet). */
typedef struct kind {
    PyTypeObject *plain;
    PyTypeObject *watched;
    const base_kind *base;
} kind;

static int kind_of(PyObject *obj, kind *out)
{
    PyTypeObject *tp = Py_TYPE(obj);
    /* Values most stores hold: none can also be a container (layouts clash). */
    if (obj == Py_None || PyFloat_CheckExact(obj) ||
        (tp->tp_flags & (Py_TPFLAGS_LONG_SUBCLASS | Py_TPFLAGS_UNICODE_SUBCLASS |
                         Py_TPFLAGS_BYTES_SUBCLASS | Py_TPFLAGS_TUPLE_SUBCLASS |
                         Py_TPFLAGS_TYPE_SUBCLASS | Py_TPFLAGS_BASE_EXC_SUBCLASS)))
        return 0;
    for (int i = 0; i < nbases; i++)
        if (tp == bases[i].builtin || tp == bases[i].hooks) {
            *out = (kind){bases[i].builtin, bases[i].hooks, &bases[i]};
            return 1;
        }
    if (cw_is_twin(tp)) {
        *out = (kind){tp->tp_base, tp, NULL};
        return 1;
    }
    for (int i = 0; i < nbases; i++)
        if (PyType_IsSubtype(tp, bases[i].builtin)) {
            *out = (kind){tp, NULL, &bases[i]};
            return 1;
        }
    return 0;
}

/* Give obj another type; an instance holds a reference to a heap type. */
static void swap_type(PyObject *obj, PyTypeObject *to)
{
    PyTypeObject *from = Py_TYPE(obj);
    if (from == to)
        return;
    if (to->tp_flags & Py_TPFLAGS_HEAPTYPE)
        Py_INCREF(to);
    cw_set_type(obj, to);
    if (from->tp_flags & Py_TPFLAGS_HEAPTYPE)
        Py_DECREF(from);
}

/* A report on a subclass or a deque says what the object is. */
static void describe(PyObject *obj, const kind *k)
{
    if (k->plain == &PyDict_Type || k->plain == &PyList_Type || k->plain == &PySet_Type)
        return;
    PyObject *module = PyObject_GetAttrString((PyObject *)k->plain, "__module__");
    PyObject *qualname = PyObject_GetAttrString((PyObject *)k->plain, "__qualname__");
    PyObject *what = module && qualname && PyUnicode_Check(module) && PyUnicode_Check(qualname)
                         ? PyUnicode_FromFormat("a %U.%U", module, qualname)
                         : NULL;
    const char *text = what ? PyUnicode_AsUTF8(what) : NULL;
    if (text != NULL)
        cw_shadow_describe((uintptr_t)obj, text);
    PyErr_Clear();
    Py_XDECREF(module);
    Py_XDECREF(qualname);
    Py_XDECREF(what);
}

int cw_container_can_watch(PyObject *obj)
{
    kind k;
    return kind_of(obj, &k);
}

int cw_container_is_watched(PyObject *obj)
{
    kind k;
    return kind_of(obj, &k) && Py_TYPE(obj) == k.watched;
}

int cw_container_watch(PyObject *obj, const char *target)
{
    kind k;
    if (!kind_of(obj, &k)) {
        PyErr_Format(PyExc_TypeError,
                     "cachewatch watches dicts, lists, sets and deques (and their subclasses), "
                     "not %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (!watched_ready || !cw_is_started()) {
        PyErr_SetString(PyExc_RuntimeError, "cachewatch is not started");
        return -1;
    }
    if (k.watched == NULL &&
        (k.watched = cw_twin_for(k.plain, k.base->hooks, k.base->builtin,
                                 k.base->subclass_methods)) == NULL)
        return -1;
    if (cw_shadow_watch((uintptr_t)obj, target) != CW_OK ||
        cw_ht_put(&watched, (uintptr_t)obj, obj) < 0) {
        cw_shadow_unwatch((uintptr_t)obj);
        PyErr_NoMemory();
        return -1;
    }
    describe(obj, &k);
    swap_type(obj, k.watched);
    return 0;
}

void cw_container_unwatch(PyObject *obj)
{
    kind k;
    if (!kind_of(obj, &k) || Py_TYPE(obj) != k.watched)
        return;
    if (cw_tls_state.thread != NULL)
        cw_thread_forget_container(cw_tls_state.thread, (uintptr_t)obj);
    cw_shadow_unwatch((uintptr_t)obj);
    cw_ht_remove(&watched, (uintptr_t)obj);
    swap_type(obj, k.plain);
}

void cw_container_dying(PyObject *obj)
{
    kind k;
    if (watched_ready)
        cw_ht_remove(&watched, (uintptr_t)obj);
    cw_shadow_unwatch((uintptr_t)obj);
    if (kind_of(obj, &k))
        swap_type(obj, k.plain);
}

void cw_containers_unwatch_all(void)
{
    if (!watched_ready)
        return;
    size_t pos = 0;
    void *v;
    while (cw_ht_next(&watched, &pos, NULL, &v)) {
        PyObject *obj = v;
        kind k;
        cw_shadow_unwatch((uintptr_t)obj);
        if (kind_of(obj, &k))
            swap_type(obj, k.plain);
    }
    cw_ht_fini(&watched);
    cw_ht_init(&watched, 64, NULL, NULL, CW_MEM_MISC);
}

void cw_container_rebound(PyObject *old_value, PyObject *new_value, PyObject *target)
{
    cw_saved_error saved;
    cw_error_save(&saved);
    cw_tls_state.busy++;
    cw_thread *t = cw_current_thread();
    if (t != NULL && old_value != NULL && cw_container_is_watched(old_value)) {
        uint32_t reports[CW_MAX_NEW_REPORTS], n = 0;
        cw_stack_id stack = cw_capture_stack();
        if (cw_check_status(cw_shadow_replaced(t, (uintptr_t)old_value, CW_OP_STORE, stack,
                                               reports, &n),
                            "no memory recording a rebinding") == 0) {
            cw_tls_state.busy--;
            cw_emit_reports(reports, n, NULL);
            cw_tls_state.busy++;
        }
    }
    if (new_value != NULL && cw_container_can_watch(new_value)) {
        const char *name = PyUnicode_AsUTF8(target);
        if (name == NULL || cw_container_watch(new_value, name) < 0)
            PyErr_Clear();
    }
    cw_tls_state.busy--;
    cw_error_restore(&saved);
}

/* ---- Python-facing ----------------------------------------------------- */

PyObject *cw_py_watch_container(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *obj;
    const char *target;
    if (!PyArg_ParseTuple(args, "Os", &obj, &target))
        return NULL;
    if (cw_container_watch(obj, target) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyObject *cw_py_unwatch_container(PyObject *self, PyObject *obj)
{
    (void)self;
    cw_container_unwatch(obj);
    Py_RETURN_NONE;
}

PyObject *cw_py_can_watch(PyObject *self, PyObject *obj)
{
    (void)self;
    return PyBool_FromLong(cw_container_can_watch(obj));
}

PyObject *cw_py_is_watched(PyObject *self, PyObject *obj)
{
    (void)self;
    return PyBool_FromLong(cw_container_is_watched(obj));
}

int cw_containers_init(PyObject *module)
{
    (void)module;
    if (PyType_Ready(&CwIter_Type) < 0 || cw_opcodes_init() < 0)
        return -1;
    cw_twins_init(cw_container_dying, cw_container_unwatch);
    if (cw_ht_init(&watched, 64, NULL, NULL, CW_MEM_MISC) < 0)
        return -1;
    watched_ready = 1;
    return 0;
}
