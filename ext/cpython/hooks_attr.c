/* hooks_attr.c: watched objects' attributes.
 *
 * Watching an object (a module-level singleton, cachewatch.watch(obj)) makes
 * each of its attributes a location of its own ("module.NAME.attr"), as a
 * module-level name is one: every load is a read that a later store in the
 * same call may act on (`self.hits += 1`, `if self._conn is None:
 * self._conn = connect()`), a store is a write, and rebinding an attribute
 * that holds a watched container while another thread writes into the old
 * one is a lost update. A dict, list, set or deque stored in one is watched
 * under the attribute's name.
 *
 * The object keeps its type. Its class is wrapped once (heap classes only):
 * its tp_getattro calls the class's own and then, for a watched object,
 * records; stores and deletions go through a __setattr__ and __delattr__ put
 * in the class's dict (tp_setattro itself must stay a Python-level slot:
 * object.__setattr__ refuses to run on an object whose class has a C-level
 * one of its own), which record and call what the class had. Other
 * instances pay one table lookup per access.
 * The interpreter does not specialise attribute access on a class whose
 * tp_getattro is not the generic one (PyType_Modified drops what it had
 * specialised). An attribute is what the object's dict or slots hold, or a
 * class-level default the instance may shadow later; methods, properties
 * and other descriptors are not locations (what a property's code does to
 * the object is seen).
 *
 * Every instance of a class (module:Class()): an instance is taken in when
 * first used, owned by that thread; nothing is recorded while only its owner
 * uses it (most objects never leave their thread, as in Eraser's and TSan's
 * shadow states), and from the first use by another thread on it is watched
 * as above, its reports saying where it was first used and where it became
 * shared. Such instances need weak references (to be forgotten at death).
 *
 * An object of a Python class that is a mapping of its own (a cachetools
 * cache, a registry class with __getitem__/__setitem__ in Python) is also a
 * container to its users: `k in obj`, `obj[k]` and `obj[k] = v` from the
 * code using it are recorded on its items under its own name, key by key,
 * so `if k not in CACHE: CACHE[k] = v` is a check-then-act even though
 * each operation is a method call of its own (whose insides are seen too).
 *
 * Guarded by the GIL: the tables below (read on every attribute access of
 * a wrapped class) and a store with its record as one step. Without the GIL:
 * the object's critical section around a store and its record; the tables
 * read without a lock from an immutable snapshot, replaced under a PyMutex
 * on the rare write (docs/internals.md, "Without the GIL"). */
#include "containers.h"

#include <string.h>

#include "hashtable.h"

typedef struct wrapped_class {
    getattrofunc getattro; /* the class's own */
    PyObject *setattr;     /* Owned: the __setattr__ its dict had, or NULL */
    PyObject *delattr;     /* Owned: the __delattr__ its dict had, or NULL */
    int generic_store;     /* neither, and its only base is object: stores are generic */
    /* The class's own item slots (a mapping written in Python), or NULL. */
    binaryfunc subscript;
    objobjargproc ass_subscript;
    objobjproc contains;
    PyObject *get; /* Owned: the get() the class had (a mapping written in Python), or NULL */
} wrapped_class;

typedef struct watched_object {
    PyObject *target; /* Owned: "module.NAME" */
    PyObject *attrs;  /* Owned: {name: location id (int)} */
    PyObject *what;   /* Owned: what the object is, for reports (a str), or NULL */
    PyObject *ref;    /* Owned: a weak reference, or the object itself when it has none */
    cw_tid owner;     /* an instance of a watched class used by one thread so far; 0: shared */
    int is_class;     /* the object is a class (hooks_class.c): its own attributes */
    PyObject *only;   /* Owned: the names watched (a set), or NULL for all */
    uintptr_t items;  /* the location of its items as a mapping (0: none yet) */
    struct {
        PyObject *name;       /* Owned */
        uintptr_t loc;
        unsigned int version; /* the class's version tag when is_attr was found */
        int is_attr;
        int plain;            /* it holds what we last stored, no container: a store
                                 need not read what it replaces (one made around us,
                                 object.__setattr__ or __dict__, is not seen) */
    } recent[4];      /* the last attributes used, by name identity (names are interned) */
} watched_object;

static cw_hashtable wrapped; /* class address -> wrapped_class* */
static cw_hashtable objects; /* object address -> watched_object* */
static cw_hashtable classes; /* class address -> "module.Class" (owned str): every instance */
static uint64_t object_bits;  /* a bit per watched object's address hash, never cleared: most
                                 unwatched instances of a wrapped class skip the lookup */
static int tables_ready;
static uintptr_t next_location;
static uintptr_t objects_gen = 1; /* bumped when an entry goes: a thread's repeat memo
                                     (cw_binding_repeat) names objects by address */

/* ---- what is an attribute --------------------------------------------- */

/* The wrapper of this very class, or NULL. */
static const wrapped_class *wrapped_exact(PyTypeObject *type)
{
    /* The last one found: wrapped classes live as long as the process. */
    static PyTypeObject *last_type;
    static const wrapped_class *last;
    if (type == last_type)
        return last;
    const wrapped_class *w = cw_ht_get(&wrapped, (uintptr_t)type);
    if (w != NULL) {
        last_type = type;
        last = w;
    }
    return w;
}

static const wrapped_class *wrapped_of(PyTypeObject *type)
{
    const wrapped_class *w = wrapped_exact(type);
    if (w != NULL)
        return w;
    /* A subclass made after the wrapping inherited the wrapper. */
    PyObject *mro = type->tp_mro;
    for (Py_ssize_t i = 1; mro != NULL && i < PyTuple_GET_SIZE(mro); i++)
        if ((w = cw_ht_get(&wrapped, (uintptr_t)PyTuple_GET_ITEM(mro, i))) != NULL)
            return w;
    return NULL;
}

/* A data attribute: an instance's (its dict or __slots__, or the
 * class-level default it may shadow) or, of_class, a class's own (plain data
 * in its MRO, not a nested class); not a method, property or other
 * descriptor. One not found may be set later: it is one. */
static int is_attribute(PyTypeObject *type, PyObject *name, int of_class)
{
    if (!PyUnicode_Check(name))
        return 0;
    PyObject *found = cw_type_lookup_obj(type, name);
    if (found == NULL)
        return 1;
    PyTypeObject *kind = Py_TYPE(found);
    int yes = of_class                     ? kind->tp_descr_get == NULL && !PyType_Check(found)
              : kind->tp_descr_set != NULL ? kind == &PyMemberDescr_Type /* __slots__ */
                                           : kind->tp_descr_get == NULL;
    Py_DECREF(found);
    return yes;
}

static int is_attribute_of(watched_object *w, PyTypeObject *type, PyObject *name);

/* Whether name is one of w's locations (self: its object). */
static int names_state(watched_object *w, PyObject *self, PyObject *name)
{
    if (w->only != NULL) {
        int in = PySet_Contains(w->only, name);
        if (in < 0)
            PyErr_Clear(); /* an unhashable name: only str names are attributes */
        if (in != 1)
            return 0;
    }
    return w->is_class ? is_attribute((PyTypeObject *)self, name, 1)
                       : is_attribute_of(w, Py_TYPE(self), name);
}

static uint64_t object_bit(PyObject *obj) { return 1ULL << (cw_hash_word((uintptr_t)obj) & 63); }

static watched_object *adopt(PyObject *self);
static int still_owned(watched_object *w);

/* The object's entry when its accesses are to be recorded now. */
static watched_object *watched_of(PyObject *self)
{
    if ((classes.used == 0 && !(object_bits & object_bit(self))) || !cw_hook_ready())
        return NULL;
    watched_object *w = cw_ht_get(&objects, (uintptr_t)self);
    if (w == NULL && classes.used != 0)
        w = adopt(self);
    return w == NULL || (w->owner != 0 && still_owned(w)) ? NULL : w;
}

/* ---- recording --------------------------------------------------------- */

static size_t recent_slot(PyObject *name) { return ((uintptr_t)name >> 4) & 3; }

/* The attribute holds what a store through us put there, no container. */
static int holds_plain(const watched_object *w, PyObject *name)
{
    size_t slot = recent_slot(name);
    return w->recent[slot].name == name && w->recent[slot].plain;
}

static void remember(watched_object *w, size_t slot, PyObject *name, uintptr_t loc)
{
    Py_INCREF(name);
    Py_XSETREF(w->recent[slot].name, name);
    w->recent[slot].loc = loc;
    w->recent[slot].version = 0; /* is_attr not known yet */
    w->recent[slot].plain = 0;
}

/* The location of one attribute, made on first use. */
static uintptr_t location_of(watched_object *w, PyObject *name)
{
    size_t slot = recent_slot(name);
    if (w->recent[slot].name == name)
        return w->recent[slot].loc;
    PyObject *id = PyDict_GetItemWithError(w->attrs, name);
    if (id != NULL) {
        uintptr_t loc = (uintptr_t)PyLong_AsVoidPtr(id);
        remember(w, slot, name, loc);
        return loc;
    }
    if (PyErr_Occurred())
        return 0;
    /* Odd: never the address of an object. */
    uintptr_t loc = (++next_location << 4) | 0x9;
    PyObject *target = PyUnicode_FromFormat("%U.%U", w->target, name);
    const char *text = target ? PyUnicode_AsUTF8(target) : NULL;
    id = PyLong_FromVoidPtr((void *)loc);
    int ok = text != NULL && id != NULL && cw_shadow_watch_attribute(loc, text) == CW_OK &&
             PyDict_SetItem(w->attrs, name, id) == 0;
    const char *what = ok && w->what ? PyUnicode_AsUTF8(w->what) : NULL;
    if (what != NULL)
        cw_shadow_describe(loc, what);
    if (ok)
        remember(w, slot, name, loc);
    Py_XDECREF(target);
    Py_XDECREF(id);
    return ok ? loc : 0;
}

/* The same access as this thread's last stable one of its kind (read or
 * write), by the same instruction of the same call, with nothing changed
 * that could change the engine's answer: skip it. A frame's address reused
 * by another call at the same offset passes for it: only the site a
 * report-free access would have carried differs. */
static int repeats(PyObject *self, PyObject *name, int write)
{
    cw_thread *t = cw_tls_state.thread;
    const cw_binding_repeat *r = t ? &t->repeats[write] : NULL;
    if (r == NULL || r->object != (uintptr_t)self) /* first: most objects are not watched */
        return 0;
    if (r->name != (uintptr_t)name || r->generation != objects_gen || !cw_hook_ready() ||
        cw_tls_state.fork_gen != __atomic_load_n(&cw_fork_gen, __ATOMIC_RELAXED))
        return 0;
    if (r->anywhere) /* the stamp's pending reads are none, and still are */
        return cw_shadow_stamp_holds(t, &r->stamp);
    PyFrameObject *f = PyEval_GetFrame();
    return f != NULL && (uintptr_t)f == r->frame && cw_frame_lasti(f) == r->lasti &&
           cw_shadow_stamp_holds(t, &r->stamp);
}

/* Could value be a container we watch (the common values are not)? */
static int may_hold_state(PyObject *value)
{
    PyTypeObject *type = Py_TYPE(value);
    if (type == &PyLong_Type || type == &PyUnicode_Type || value == Py_None ||
        type == &PyFloat_Type || type == &PyBool_Type || type == &PyTuple_Type)
        return 0;
    return cw_container_can_watch(value);
}

/* memo: a plain access whose stable answer may be kept for its repeats. */
static void record(watched_object *w, PyObject *self, PyObject *name, cw_op op, bool write,
                   bool memo)
{
    /* Callers have no error set (a load's is saved around this). */
    cw_tls_state.busy++;
    uintptr_t loc = location_of(w, name);
    cw_tls_state.busy--;
    if (loc == 0) {
        PyErr_Clear(); /* no memory for the location: not recorded */
        return;
    }
    /* Every load is a direct read, as of a module-level name. */
    cw_repeat_stamp stamp;
    if (!cw_record_stamped(loc, op, write ? CW_WRITE : 0, CW_CHECK_ALWAYS, &stamp) || !memo)
        return;
    cw_thread *t = cw_tls_state.thread;
    PyFrameObject *f = t ? PyEval_GetFrame() : NULL;
    if (f != NULL)
        t->repeats[write] = (cw_binding_repeat){(uintptr_t)self, (uintptr_t)name, (uintptr_t)f,
                                                objects_gen, cw_frame_lasti(f),
                                                write && t->nrecent == 0, loc, stamp};
}

/* ---- an object that is a mapping of its own ------------------------------ */

static uintptr_t items_of(watched_object *w, PyObject *self)
{
    if (w->items == 0) {
        uintptr_t loc = (++next_location << 4) | 0x9;
        const char *target = PyUnicode_AsUTF8(w->target);
        if (target != NULL && cw_shadow_watch(loc, target) == CW_OK) {
            w->items = loc;
            PyObject *module = PyObject_GetAttrString((PyObject *)Py_TYPE(self), "__module__");
            PyObject *name = PyObject_GetAttrString((PyObject *)Py_TYPE(self), "__qualname__");
            PyObject *what = module && name ? PyUnicode_FromFormat("the items of a %S.%S (its own "
                                                                   "mapping methods)", module, name)
                                            : NULL;
            const char *text = what ? PyUnicode_AsUTF8(what) : NULL;
            if (text != NULL)
                cw_shadow_describe(loc, text);
            Py_XDECREF(module);
            Py_XDECREF(name);
            Py_XDECREF(what);
        }
        if (PyErr_Occurred())
            PyErr_Clear();
    }
    return w->items;
}

/* One item operation from the code using the object (check_opcode: as
 * cw_record's). */
static void record_item(watched_object *w, PyObject *self, PyObject *key, cw_op op, bool write,
                        int check_opcode)
{
    Py_hash_t hash;
    if (!cw_quiet_hash(key, &hash))
        return;
    cw_saved_error saved;
    cw_error_save(&saved);
    cw_tls_state.busy++;
    uintptr_t loc = items_of(w, self);
    cw_tls_state.busy--;
    cw_error_restore(&saved);
    if (loc != 0)
        cw_record_at(loc, key, hash, op, write ? CW_WRITE : 0, check_opcode);
}

static PyObject *hook_subscript(PyObject *self, PyObject *key)
{
    const wrapped_class *c = wrapped_of(Py_TYPE(self));
    PyObject *res = c && c->subscript ? c->subscript(self, key) : NULL;
    if (c == NULL || c->subscript == NULL)
        return PyErr_Format(PyExc_TypeError, "'%.100s' object is not subscriptable",
                            Py_TYPE(self)->tp_name);
    watched_object *w = watched_of(self);
    if (w != NULL && !w->is_class && (res != NULL || PyErr_ExceptionMatches(PyExc_KeyError)))
        record_item(w, self, key, CW_OP_GETITEM, false, CW_CHECK_SUBSCRIPT);
    return res;
}

static int hook_ass_subscript(PyObject *self, PyObject *key, PyObject *value)
{
    const wrapped_class *c = wrapped_of(Py_TYPE(self));
    if (c == NULL || c->ass_subscript == NULL) {
        PyErr_Format(PyExc_TypeError, "'%.100s' object does not support item assignment",
                     Py_TYPE(self)->tp_name);
        return -1;
    }
    int rc = c->ass_subscript(self, key, value);
    watched_object *w = rc == 0 ? watched_of(self) : NULL;
    if (w != NULL && !w->is_class)
        record_item(w, self, key, value ? CW_OP_SETITEM : CW_OP_DELITEM, true, CW_CHECK_NEVER);
    return rc;
}

static int hook_contains(PyObject *self, PyObject *key)
{
    const wrapped_class *c = wrapped_of(Py_TYPE(self));
    int rc = c && c->contains ? c->contains(self, key) : -1;
    if (c == NULL || c->contains == NULL) {
        PyErr_SetString(PyExc_TypeError, "containment is not supported");
        return -1;
    }
    watched_object *w = rc >= 0 ? watched_of(self) : NULL;
    if (w != NULL && !w->is_class)
        record_item(w, self, key, CW_OP_CONTAINS, false, cw_opcode.contains);
    return rc;
}

/* obj.get(k): a check of k by the code calling it (its insides are seen
 * too). owner: the class whose dict holds this get. */
static PyObject *method_get(PyObject *self, PyTypeObject *owner, PyObject *const *args,
                            Py_ssize_t nargs, PyObject *kwnames)
{
    const wrapped_class *c = cw_ht_get(&wrapped, (uintptr_t)owner);
    if (c == NULL || c->get == NULL)
        return PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute 'get'",
                            Py_TYPE(self)->tp_name);
    PyObject *res = cw_call_with_self(c->get, self, args, nargs, kwnames);
    watched_object *w = res != NULL && nargs >= 1 ? watched_of(self) : NULL;
    if (w != NULL && !w->is_class)
        record_item(w, self, args[0], CW_OP_GET, false, CW_CHECK_ALWAYS);
    return res;
}

static PyMethodDef get_def = {"get", (PyCFunction)(void (*)(void))method_get,
                              METH_METHOD | METH_FASTCALL | METH_KEYWORDS,
                              "D.get(k[,d]) -> D[k] if k in D, else d."};

static int is_our_get(PyObject *f)
{
    return f != NULL && Py_IS_TYPE(f, &PyMethodDescr_Type) &&
           ((PyMethodDescrObject *)f)->d_method == &get_def;
}

/* get() of a mapping class: ours in its dict, calling the one it had. */
static void wrap_get(PyTypeObject *type, wrapped_class *c, const wrapped_class *base)
{
    PyObject *had = cw_type_lookup(type, "get");
    if (is_our_get(had)) { /* a base's, inherited: call what that one calls */
        Py_DECREF(had);
        had = base && base->get ? (Py_INCREF(base->get), base->get) : NULL;
    }
    if (had == NULL || !PyCallable_Check(had)) {
        Py_XDECREF(had);
        PyErr_Clear();
        return;
    }
    PyObject *descr = PyDescr_NewMethod(type, &get_def);
    if (descr == NULL || PyObject_SetAttrString((PyObject *)type, "get", descr) < 0) {
        Py_XDECREF(descr);
        Py_DECREF(had);
        PyErr_Clear();
        return;
    }
    Py_DECREF(descr);
    c->get = had;
}

/* A class whose __setitem__ is Python code is a mapping of its own: its
 * item slots get the hooks above (a subclass made later inherits them). */
static void wrap_items(PyTypeObject *type, wrapped_class *c, const wrapped_class *base)
{
    PyObject *setitem = cw_type_lookup(type, "__setitem__");
    int python_mapping = setitem != NULL && PyFunction_Check(setitem);
    Py_XDECREF(setitem);
    if (!python_mapping || type->tp_as_mapping == NULL)
        return;
    PyMappingMethods *m = type->tp_as_mapping;
    PySequenceMethods *sq = type->tp_as_sequence;
    c->subscript = m->mp_subscript == hook_subscript && base ? base->subscript : m->mp_subscript;
    c->ass_subscript = m->mp_ass_subscript == hook_ass_subscript && base ? base->ass_subscript
                                                                         : m->mp_ass_subscript;
    c->contains = sq && sq->sq_contains == hook_contains && base ? base->contains
                  : sq                                           ? sq->sq_contains
                                                                 : NULL;
    if (c->subscript)
        m->mp_subscript = hook_subscript;
    if (c->ass_subscript)
        m->mp_ass_subscript = hook_ass_subscript;
    if (sq && c->contains)
        sq->sq_contains = hook_contains;
    wrap_get(type, c, base);
}

/* ---- the wrappers ------------------------------------------------------ */

/* is_attribute, answered from w's recent names while the class's version
 * tag (which any change of a class in its MRO renews) stands still. */
static int is_attribute_of(watched_object *w, PyTypeObject *type, PyObject *name)
{
    size_t slot = recent_slot(name);
    unsigned int version = (type->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) ? type->tp_version_tag : 0;
    if (version != 0 && w->recent[slot].name == name && w->recent[slot].version == version)
        return w->recent[slot].is_attr;
    int yes = is_attribute(type, name, 0);
    if (version != 0 && w->recent[slot].name == name) {
        w->recent[slot].version = version;
        w->recent[slot].is_attr = yes;
    }
    return yes;
}

static PyObject *hook_getattro(PyObject *self, PyObject *name)
{
    const wrapped_class *c = wrapped_of(Py_TYPE(self));
    PyObject *res = c ? c->getattro(self, name) : PyObject_GenericGetAttr(self, name);
    cw_attr_loaded(self, name, res != NULL);
    return res;
}

void cw_attr_loaded(PyObject *self, PyObject *name, int found)
{
    if (found && repeats(self, name, 0))
        return;
    watched_object *w = watched_of(self);
    if (w == NULL || (!found && !PyErr_ExceptionMatches(PyExc_AttributeError)))
        return;
    /* The load's AttributeError stays set for the caller: the type lookup
     * naming the attribute must not see it (it may clear it). */
    cw_saved_error saved;
    cw_error_save(&saved);
    if (names_state(w, self, name))
        record(w, self, name, CW_OP_GET, false, found);
    cw_error_restore(&saved);
}

/* Store (value) or delete (NULL) as the object's class would without us:
 * what the wrapped class's dict had, else the next class's in the MRO. */
static int store_as_before(PyTypeObject *owner, PyObject *self, PyObject *name, PyObject *value)
{
    const wrapped_class *c = wrapped_exact(owner);
    if (c != NULL && c->generic_store && Py_TYPE(self) == owner)
        return PyObject_GenericSetAttr(self, name, value);
    const char *slot = value ? "__setattr__" : "__delattr__";
    PyObject *f = c ? (value ? c->setattr : c->delattr) : NULL;
    Py_XINCREF(f);
    PyObject *mro = Py_TYPE(self)->tp_mro;
    Py_ssize_t i = 0, n = mro ? PyTuple_GET_SIZE(mro) : 0;
    while (i < n && PyTuple_GET_ITEM(mro, i) != (PyObject *)owner)
        i++;
    for (i++; f == NULL && i < n; i++) {
        PyTypeObject *base = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (base == &PyBaseObject_Type) /* object's own: no need of its wrapper */
            return PyObject_GenericSetAttr(self, name, value);
        PyObject *dict = PyType_GetDict_compat(base);
        f = dict ? PyDict_GetItemString(dict, slot) : NULL;
        Py_XINCREF(f);
        Py_XDECREF(dict);
    }
    if (f == NULL)
        return PyObject_GenericSetAttr(self, name, value);
    PyObject *res = value ? PyObject_CallFunctionObjArgs(f, self, name, value, NULL)
                          : PyObject_CallFunctionObjArgs(f, self, name, NULL);
    Py_DECREF(f);
    Py_XDECREF(res);
    return res ? 0 : -1;
}

/* A store or deletion through a wrapped class (owner: the class whose dict
 * holds the __setattr__ called), recorded once, by the outermost one. */
static int watched_store(PyTypeObject *owner, PyObject *self, PyObject *name, PyObject *value)
{
    watched_object *w = watched_of(self);
    if (w == NULL || !names_state(w, self, name) ||
        wrapped_exact(owner) != wrapped_of(Py_TYPE(self)))
        return store_as_before(owner, self, name, value);
    /* What it held, read without running code, for a container it held. */
    PyObject *old = NULL;
    const wrapped_class *c = wrapped_of(Py_TYPE(self));
    if (w->is_class) {
        PyObject *dict = PyType_GetDict_compat((PyTypeObject *)self);
        old = dict ? PyDict_GetItemWithError(dict, name) : NULL;
        Py_XINCREF(old);
        Py_XDECREF(dict);
        if (old == NULL && PyErr_Occurred())
            PyErr_Clear();
    } else if (!holds_plain(w, name) && c != NULL && c->getattro == PyObject_GenericGetAttr) {
        cw_saved_error saved;
        cw_error_save(&saved);
        cw_tls_state.busy++;
        old = PyObject_GenericGetAttr(self, name);
        if (old == NULL)
            PyErr_Clear();
        cw_tls_state.busy--;
        cw_error_restore(&saved);
    }
    /* A store that may run Python code may also end the watching of self. */
    int plain = c != NULL && c->generic_store && Py_TYPE(self) == owner;
    int rc = store_as_before(owner, self, name, value);
    if (rc == 0 && (plain || (w = watched_of(self)) != NULL)) {
        /* A container stored, or one replaced: the rebinding's rules. */
        int stored = value != NULL && cw_container_can_watch(value);
        int was_container = old != NULL && cw_container_is_watched(old);
        record(w, self, name, value ? CW_OP_STORE : CW_OP_DELITEM, true,
               value != NULL && !stored && !was_container);
        size_t slot = recent_slot(name);
        if (w->recent[slot].name == name)
            w->recent[slot].plain = !stored;
        int containers = old != value && (stored || was_container);
        PyObject *target = containers ? PyUnicode_FromFormat("%U.%U", w->target, name) : NULL;
        if (target != NULL)
            cw_container_rebound(old, value, target);
        Py_XDECREF(target);
        if (PyErr_Occurred())
            PyErr_Clear();
    }
    Py_XDECREF(old);
    return rc;
}

static PyObject *method_setattr(PyObject *self, PyTypeObject *owner, PyObject *const *args,
                                Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs != 2 || (kwnames && PyTuple_GET_SIZE(kwnames)))
        return PyErr_Format(PyExc_TypeError, "expected 2 arguments, got %zd", nargs);
    if (!PyUnicode_Check(args[0]))
        return PyErr_Format(PyExc_TypeError, "attribute name must be string, not '%.200s'",
                            Py_TYPE(args[0])->tp_name);
    /* The same plain store again: only the store (the attribute holds what
     * the last one put there, no container, as holds_plain says). */
    int rc;
    if (repeats(self, args[0], 1) && !may_hold_state(args[1])) {
        const wrapped_class *c = wrapped_exact(owner);
        rc = c != NULL && c->generic_store && Py_TYPE(self) == owner
                 ? PyObject_GenericSetAttr(self, args[0], args[1])
                 : store_as_before(owner, self, args[0], args[1]);
    } else {
        rc = watched_store(owner, self, args[0], args[1]);
    }
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *method_delattr(PyObject *self, PyTypeObject *owner, PyObject *const *args,
                                Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs != 1 || (kwnames && PyTuple_GET_SIZE(kwnames)))
        return PyErr_Format(PyExc_TypeError, "expected 1 argument, got %zd", nargs);
    if (!PyUnicode_Check(args[0]))
        return PyErr_Format(PyExc_TypeError, "attribute name must be string, not '%.200s'",
                            Py_TYPE(args[0])->tp_name);
    if (watched_store(owner, self, args[0], NULL) < 0)
        return NULL;
    Py_RETURN_NONE;
}

#define CMETHOD (METH_METHOD | METH_FASTCALL | METH_KEYWORDS)
static PyMethodDef store_methods[] = {
    {"__setattr__", (PyCFunction)(void (*)(void))method_setattr, CMETHOD,
     "Implement setattr(self, name, value)."},
    {"__delattr__", (PyCFunction)(void (*)(void))method_delattr, CMETHOD,
     "Implement delattr(self, name)."},
    {NULL, NULL, 0, NULL},
};

PyMethodDef *cw_attr_store_methods(void) { return store_methods; }

/* ---- watching ---------------------------------------------------------- */

/* Put a method of ours in the class's dict under def's name, keeping what
 * was there in *kept. */
static int install(PyTypeObject *type, PyMethodDef *def, PyObject **kept)
{
    PyObject *dict = PyType_GetDict_compat(type);
    PyObject *had = dict ? PyDict_GetItemString(dict, def->ml_name) : NULL;
    Py_XINCREF(had);
    Py_XDECREF(dict);
    *kept = had;
    PyObject *descr = PyDescr_NewMethod(type, def);
    int rc = descr ? PyObject_SetAttrString((PyObject *)type, def->ml_name, descr) : -1;
    Py_XDECREF(descr);
    return rc;
}

static int wrap_class(PyTypeObject *type)
{
    if (cw_ht_get(&wrapped, (uintptr_t)type) != NULL)
        return 0;
    wrapped_class *c = PyMem_RawCalloc(1, sizeof(*c));
    if (c == NULL || cw_ht_put(&wrapped, (uintptr_t)type, c) < 0) {
        PyMem_RawFree(c);
        PyErr_NoMemory();
        return -1;
    }
    /* A subclass made after its base was wrapped inherited our getattro. */
    const wrapped_class *base = type->tp_getattro == hook_getattro && type->tp_base
                                    ? wrapped_of(type->tp_base)
                                    : NULL;
    c->getattro = base                ? base->getattro
                  : type->tp_getattro ? type->tp_getattro
                                      : PyObject_GenericGetAttr;
    Py_INCREF(type); /* the wrapper stays as long as the process */
    if (install(type, &store_methods[0], &c->setattr) < 0 ||
        install(type, &store_methods[1], &c->delattr) < 0)
        return -1;
    c->generic_store = c->setattr == NULL && c->delattr == NULL &&
                       type->tp_base == &PyBaseObject_Type && type->tp_mro != NULL &&
                       PyTuple_GET_SIZE(type->tp_mro) == 2;
    wrap_items(type, c, base ? base : (type->tp_base ? wrapped_of(type->tp_base) : NULL));
    type->tp_getattro = hook_getattro;
    PyType_Modified(type);
    return 0;
}

static void forget(uintptr_t addr)
{
    watched_object *w = cw_ht_get(&objects, addr);
    if (w == NULL)
        return;
    cw_ht_remove(&objects, addr);
    objects_gen++;
    Py_ssize_t pos = 0;
    PyObject *name, *id;
    while (PyDict_Next(w->attrs, &pos, &name, &id))
        cw_shadow_unwatch((uintptr_t)PyLong_AsVoidPtr(id));
    if (w->items)
        cw_shadow_unwatch(w->items);
    PyErr_Clear();
    Py_XDECREF(w->target);
    Py_XDECREF(w->attrs);
    Py_XDECREF(w->what);
    Py_XDECREF(w->only);
    Py_XDECREF(w->ref);
    for (size_t i = 0; i < sizeof(w->recent) / sizeof(w->recent[0]); i++)
        Py_XDECREF(w->recent[i].name);
    PyMem_RawFree(w);
}

/* The object died: its address may be reused. self: the address (int). */
static PyObject *object_died(PyObject *addr, PyObject *ref)
{
    (void)ref;
    forget((uintptr_t)PyLong_AsVoidPtr(addr));
    PyErr_Clear();
    Py_RETURN_NONE;
}

static PyMethodDef died_def = {"object_died", object_died, METH_O, NULL};

const char *cw_object_unwatchable(PyObject *obj)
{
    if (PyType_Check(obj))
        return "a class (watch_class watches its own attributes)";
    if (!cw_type_is_open(Py_TYPE(obj)))
        return "an object of a C type, whose attribute access cannot be wrapped";
    return NULL;
}

/* A new entry for obj (strong: kept alive when it has no weak references,
 * else it must have them); NULL with an error. */
static watched_object *add_object(PyObject *obj, PyObject *target, PyObject *what, int strong)
{
    watched_object *w = PyMem_RawCalloc(1, sizeof(*w));
    if (w == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    PyObject *addr = PyLong_FromVoidPtr(obj);
    PyObject *died = addr ? PyCFunction_New(&died_def, addr) : NULL;
    w->ref = died ? PyWeakref_NewRef(obj, died) : NULL;
    Py_XDECREF(addr);
    Py_XDECREF(died);
    if (w->ref == NULL && strong && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear(); /* no weak references: kept alive while watched */
        Py_INCREF(obj);
        w->ref = obj;
    }
    Py_INCREF(target);
    w->target = target;
    Py_XINCREF(what);
    w->what = what;
    w->attrs = PyDict_New();
    if (w->ref == NULL || w->attrs == NULL || cw_ht_put(&objects, (uintptr_t)obj, w) < 0) {
        Py_XDECREF(w->ref);
        Py_XDECREF(w->target);
        Py_XDECREF(w->attrs);
        Py_XDECREF(w->what);
        PyMem_RawFree(w);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        return NULL;
    }
    object_bits |= object_bit(obj);
    return w;
}

/* Watched again, maybe for other names: the union (NULL: all). */
static int widen(watched_object *w, PyObject *only)
{
    if (w->only == NULL)
        return 0;
    if (only == NULL) {
        Py_CLEAR(w->only);
        return 0;
    }
    PyObject *it = PyObject_GetIter(only), *name;
    while (it != NULL && (name = PyIter_Next(it)) != NULL) {
        int rc = PySet_Add(w->only, name);
        Py_DECREF(name);
        if (rc < 0)
            break;
    }
    Py_XDECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static int set_only(watched_object *w, PyObject *only)
{
    w->only = only ? PySet_New(only) : NULL;
    return only && w->only == NULL ? -1 : 0;
}

int cw_attr_watch_class(PyObject *cls, PyObject *target, PyObject *what, PyObject *only)
{
    watched_object *w = cw_ht_get(&objects, (uintptr_t)cls);
    if (w != NULL)
        return widen(w, only);
    w = add_object(cls, target, what, 1);
    if (w == NULL)
        return -1;
    w->is_class = 1;
    return set_only(w, only);
}

void cw_attr_unwatch(PyObject *obj)
{
    if (tables_ready)
        forget((uintptr_t)obj);
}

int cw_object_watch(PyObject *obj, PyObject *target, PyObject *what, PyObject *only)
{
    const char *why = cw_object_unwatchable(obj);
    if (why != NULL) {
        PyErr_Format(PyExc_TypeError, "cachewatch cannot watch %s", why);
        return -1;
    }
    if (!tables_ready || !cw_is_started()) {
        PyErr_SetString(PyExc_RuntimeError, "cachewatch is not started");
        return -1;
    }
    watched_object *w = cw_ht_get(&objects, (uintptr_t)obj);
    if (w != NULL) {
        w->owner = 0; /* named: watched from now on, whoever uses it */
        return widen(w, only); /* its locations and their histories stay */
    }
    if (wrap_class(Py_TYPE(obj)) < 0 || (w = add_object(obj, target, what, 1)) == NULL)
        return -1;
    return set_only(w, only);
}

/* ---- every instance of a class ------------------------------------------ */

/* "file:line" of the running code, or of its caller when that is a
 * constructor (where the object is being made). */
static PyObject *where_now(void)
{
    PyFrameObject *frame = PyEval_GetFrame();
    Py_XINCREF(frame);
    for (int up = 0; frame != NULL && up < 2; up++) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        int constructor = PyUnicode_CompareWithASCIIString(code->co_name, "__init__") == 0 ||
                          PyUnicode_CompareWithASCIIString(code->co_name, "__new__") == 0;
        if (!constructor || up == 1) {
            PyObject *text = PyUnicode_FromFormat("%U:%d", code->co_filename,
                                                  PyFrame_GetLineNumber(frame));
            Py_DECREF(code);
            Py_DECREF(frame);
            return text;
        }
        Py_DECREF(code);
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    Py_XDECREF(frame);
    return PyUnicode_FromString("?");
}

static PyObject *class_target(PyTypeObject *type)
{
    PyObject *target = cw_ht_get(&classes, (uintptr_t)type);
    PyObject *mro = type->tp_mro;
    for (Py_ssize_t i = 1; target == NULL && mro != NULL && i < PyTuple_GET_SIZE(mro); i++)
        target = cw_ht_get(&classes, (uintptr_t)PyTuple_GET_ITEM(mro, i));
    return target;
}

/* An instance of a watched class, used for the first time: owned by this
 * thread. Returns its entry (NULL if it cannot be watched). */
static watched_object *adopt(PyObject *self)
{
    PyObject *prefix = class_target(Py_TYPE(self));
    cw_thread *t = prefix ? cw_current_thread() : NULL;
    if (t == NULL || !PyType_SUPPORTS_WEAKREFS(Py_TYPE(self)))
        return NULL;
    cw_saved_error saved;
    cw_error_save(&saved);
    cw_tls_state.busy++;
    PyObject *where = where_now();
    PyObject *target = PyUnicode_FromFormat("%U()", prefix);
    PyObject *what = where ? PyUnicode_FromFormat("an attribute of an instance of %U first used "
                                                  "at %U", prefix, where)
                           : NULL;
    watched_object *w = target && what ? add_object(self, target, what, 0) : NULL;
    if (w != NULL)
        w->owner = t->number;
    Py_XDECREF(where);
    Py_XDECREF(target);
    Py_XDECREF(what);
    PyErr_Clear();
    cw_tls_state.busy--;
    cw_error_restore(&saved);
    return w;
}

/* Is w still used by its owner only? A use by another thread makes it
 * shared: watched from now on, its reports saying where. */
static int still_owned(watched_object *w)
{
    cw_thread *t = cw_current_thread();
    if (t == NULL || t->number == w->owner)
        return 1;
    w->owner = 0;
    cw_saved_error saved;
    cw_error_save(&saved);
    cw_tls_state.busy++;
    char name[CW_NAME_MAX];
    cw_thread_name(t->number, name, sizeof(name));
    PyObject *where = where_now();
    PyObject *what = where ? PyUnicode_FromFormat("%U, shared from thread T%u '%s' at %U",
                                                  w->what, (unsigned)t->number, name, where)
                           : NULL;
    if (what != NULL)
        Py_SETREF(w->what, what);
    Py_XDECREF(where);
    PyErr_Clear();
    cw_tls_state.busy--;
    cw_error_restore(&saved);
    return 0;
}

const char *cw_class_unwatchable(PyObject *cls)
{
    if (!PyType_Check(cls))
        return "not a class";
    PyTypeObject *type = (PyTypeObject *)cls;
    if (!cw_type_is_open(type))
        return "a C type, whose attribute access cannot be wrapped";
    if (!PyType_SUPPORTS_WEAKREFS(type))
        return "a class whose instances have no weak references (__slots__ without "
               "__weakref__), so their deaths cannot be seen";
    return NULL;
}

PyObject *cw_py_watch_instances(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *cls, *target;
    if (!PyArg_ParseTuple(args, "OU", &cls, &target))
        return NULL;
    const char *why = cw_class_unwatchable(cls);
    if (why != NULL)
        return PyErr_Format(PyExc_TypeError, "cachewatch cannot watch the instances of %s", why);
    if (!tables_ready || !cw_is_started()) {
        PyErr_SetString(PyExc_RuntimeError, "cachewatch is not started");
        return NULL;
    }
    if (cw_ht_get(&classes, (uintptr_t)cls) != NULL)
        Py_RETURN_NONE;
    if (wrap_class((PyTypeObject *)cls) < 0)
        return NULL;
    Py_INCREF(target);
    Py_INCREF(cls); /* its entry lives as long as the process */
    if (cw_ht_put(&classes, (uintptr_t)cls, target) < 0) {
        Py_DECREF(target);
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

PyObject *cw_py_class_unwatchable(PyObject *self, PyObject *cls)
{
    (void)self;
    const char *why = cw_class_unwatchable(cls);
    if (why == NULL)
        Py_RETURN_NONE;
    return PyUnicode_FromString(why);
}

void cw_objects_unwatch_all(void)
{
    if (!tables_ready)
        return;
    size_t pos = 0;
    uintptr_t addr;
    while (cw_ht_next(&objects, &pos, &addr, NULL)) {
        forget(addr);
        pos = 0; /* the table changed */
    }
    void *target;
    pos = 0;
    while (cw_ht_next(&classes, &pos, &addr, &target))
        Py_DECREF((PyObject *)target);
    cw_ht_fini(&classes);
    cw_ht_init(&classes, 16, NULL, NULL, CW_MEM_MISC);
}

PyObject *cw_py_watch_object(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *obj, *target, *what = NULL, *only = NULL;
    if (!PyArg_ParseTuple(args, "OU|OO", &obj, &target, &what, &only))
        return NULL;
    what = what == Py_None ? NULL : what;
    only = only == Py_None ? NULL : only;
    if (what != NULL && !PyUnicode_Check(what))
        return PyErr_Format(PyExc_TypeError, "what must be a str");
    if (cw_object_watch(obj, target, what, only) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyObject *cw_py_unwatch_object(PyObject *self, PyObject *obj)
{
    (void)self;
    if (tables_ready)
        forget((uintptr_t)obj);
    Py_RETURN_NONE;
}

PyObject *cw_py_object_unwatchable(PyObject *self, PyObject *obj)
{
    (void)self;
    const char *why = cw_object_unwatchable(obj);
    if (why == NULL)
        Py_RETURN_NONE;
    return PyUnicode_FromString(why);
}

int cw_attr_hooks_init(PyObject *module)
{
    (void)module;
    if (cw_ht_init(&wrapped, 16, NULL, NULL, CW_MEM_MISC) < 0 ||
        cw_ht_init(&objects, 16, NULL, NULL, CW_MEM_MISC) < 0 ||
        cw_ht_init(&classes, 16, NULL, NULL, CW_MEM_MISC) < 0)
        return -1;
    tables_ready = 1;
    return 0;
}
