/* hooks_lock.c: _thread.lock and _thread.RLock.
 *
 * Their methods are replaced in the types' dicts, so every lock is seen,
 * including those created before cachewatch started (logging's, threading's
 * own). Each replacement calls the original descriptor. An acquire is told
 * to the engine after it succeeded; a release before it happens, so a
 * hand-off is published before another thread can take the lock.
 *
 * Guarded by the GIL: the patch table, and the method stores seen whole.
 * Without the GIL: installing stays single-threaded (a PyMutex), each store
 * goes through the type dict's own lock and PyType_Modified; the originals
 * are kept, so a caller holding either method is served. */
#include "binding.h"

#include "sync.h"

typedef enum hook_kind {
    ACQUIRE,        /* acquire, acquire_lock, __enter__: returns a bool */
    RELEASE,        /* release, release_lock, __exit__ */
    RELEASE_SAVE,   /* RLock._release_save: gives up every level */
    ACQUIRE_RESTORE,/* RLock._acquire_restore((count, owner)) */
} hook_kind;

typedef struct patch {
    const char *type_path; /* "lock" or "RLock" in _thread */
    const char *name;
    hook_kind kind;
    PyTypeObject *type;    /* borrowed (kept alive by _thread) */
    PyObject *orig;        /* Owned while installed */
    PyMethodDef *orig_def; /* orig's C function when it is a method descriptor */
    PyMethodDef def;
} patch;

static PyObject *hook_entry(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames, patch *p);

static patch patches[12];

#define ENTRY(i)                                                                    \
    static PyObject *entry_##i(PyObject *self, PyObject *const *args,               \
                               Py_ssize_t nargs, PyObject *kwnames)                 \
    {                                                                               \
        return hook_entry(self, args, nargs, kwnames, &patches[i]);                 \
    }
ENTRY(0) ENTRY(1) ENTRY(2) ENTRY(3) ENTRY(4) ENTRY(5) ENTRY(6)
ENTRY(7) ENTRY(8) ENTRY(9) ENTRY(10) ENTRY(11)
#undef ENTRY

#define FASTKW (METH_FASTCALL | METH_KEYWORDS)
#define P(i, type, name, kind) \
    {type, name, kind, NULL, NULL, NULL, {name, (PyCFunction)(void (*)(void))entry_##i, FASTKW, NULL}}
static patch patches[12] = {
    P(0, "LockType", "acquire", ACQUIRE),
    P(1, "LockType", "acquire_lock", ACQUIRE),
    P(2, "LockType", "__enter__", ACQUIRE),
    P(3, "LockType", "release", RELEASE),
    P(4, "LockType", "release_lock", RELEASE),
    P(5, "LockType", "__exit__", RELEASE),
    P(6, "RLock", "acquire", ACQUIRE),
    P(7, "RLock", "__enter__", ACQUIRE),
    P(8, "RLock", "release", RELEASE),
    P(9, "RLock", "__exit__", RELEASE),
    P(10, "RLock", "_release_save", RELEASE_SAVE),
    P(11, "RLock", "_acquire_restore", ACQUIRE_RESTORE),
};
#undef P
#define NPATCHES (sizeof(patches) / sizeof(patches[0]))

static int installed; /* guarded by the GIL */

static cw_lock_kind kind_of(const patch *p)
{
    return p->type_path[0] == 'R' ? CW_LOCK_RLOCK : CW_LOCK_LOCK;
}

void cw_lock_acquired(PyObject *lock, uintptr_t key, cw_lock_kind kind, bool is_mutex,
                      uint32_t count)
{
    cw_saved_error saved;
    cw_error_save(&saved);
    cw_tls_state.busy++;
    cw_thread *t = cw_current_thread();
    if (t != NULL) {
        bool is_new = false;
        cw_lock_id fresh = 0;
        int rc = cw_sync_lock_acquired(t, key, kind, is_mutex, count, &is_new, &fresh);
        if (cw_check_status(rc, "no memory for a lock") == 0) {
            if (is_new)
                cw_sync_key_new(lock, key);
            if (cw_shadow_any_watched()) { /* its history: only then (events.c) */
                const cw_held *held = cw_thread_find_held(t, key);
                cw_check_status(cw_note_event(t, CW_EVENT_ACQUIRE, key, held ? held->id : 0, 0),
                                CW_HISTORY_FAILED);
            }
            if (fresh) {
                /* Its role: where it is first acquired. */
                cw_site site;
                cw_current_site(&site);
                cw_lockinfo_set_role(fresh, site, cw_stack_of_site(site));
            }
        }
    }
    cw_tls_state.busy--;
    cw_error_restore(&saved);
}

void cw_lock_releasing(uintptr_t key, bool all)
{
    cw_tls_state.busy++;
    cw_thread *t = cw_current_thread();
    if (t != NULL) {
        const cw_held *held = cw_shadow_any_watched() ? cw_thread_find_held(t, key) : NULL;
        cw_lock_id id = held ? held->id : 0;
        if (cw_check_status(cw_sync_lock_releasing(t, key, all), "no memory releasing a lock") == 0)
            cw_check_status(cw_note_event(t, CW_EVENT_RELEASE, key, id, 0), CW_HISTORY_FAILED);
    }
    cw_tls_state.busy--;
}

static PyObject *empty_args; /* Owned: () */

/* Call the original. The calls without keywords (acquire(), acquire(False),
 * release(), with) go straight to its C function: this is every lock
 * operation of the process, and the descriptor's own dispatch costs as much
 * as our check. Our descriptor checked self's type, so the tuple of the
 * arguments is all the original's descriptor would add. */
static PyObject *call_orig(patch *p, PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    const PyMethodDef *def = p->orig_def;
    int flags = def ? def->ml_flags & ~(METH_CLASS | METH_STATIC | METH_COEXIST) : 0;
    if (def != NULL && kwnames == NULL && nargs == 0 && flags == METH_NOARGS)
        return def->ml_meth(self, NULL);
    if (def == NULL || kwnames != NULL || empty_args == NULL ||
        (flags != METH_VARARGS && flags != (METH_VARARGS | METH_KEYWORDS)))
        return cw_call_with_self(p->orig, self, args, nargs, kwnames);
    PyObject *tuple = nargs == 0 ? empty_args : PyTuple_New(nargs);
    if (tuple == NULL)
        return NULL;
    if (nargs == 0)
        Py_INCREF(tuple);
    for (Py_ssize_t i = 0; i < nargs; i++) {
        Py_INCREF(args[i]);
        PyTuple_SET_ITEM(tuple, i, args[i]);
    }
    PyObject *res =
        flags == METH_VARARGS
            ? def->ml_meth(self, tuple)
            : ((PyCFunctionWithKeywords)(void (*)(void))def->ml_meth)(self, tuple, NULL);
    Py_DECREF(tuple);
    return res;
}

static PyObject *hook_entry(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames, patch *p)
{
    PyObject *res;
    switch (p->kind) {
    case ACQUIRE:
        res = call_orig(p, self, args, nargs, kwnames);
        if (res == Py_True && cw_hook_ready())
            cw_lock_acquired(self, (uintptr_t)self, kind_of(p), true, 1);
        return res;
    case RELEASE:
        if (cw_hook_ready())
            cw_lock_releasing((uintptr_t)self, false);
        return call_orig(p, self, args, nargs, kwnames);
    case RELEASE_SAVE:
        if (cw_hook_ready())
            cw_lock_releasing((uintptr_t)self, true);
        return call_orig(p, self, args, nargs, kwnames);
    case ACQUIRE_RESTORE:
        res = call_orig(p, self, args, nargs, kwnames);
        if (res != NULL && cw_hook_ready()) {
            long count = 1;
            if (nargs >= 1 && PyTuple_Check(args[0]) && PyTuple_GET_SIZE(args[0]) >= 1) {
                count = PyLong_AsLong(PyTuple_GET_ITEM(args[0], 0));
                if (count < 1) {
                    PyErr_Clear();
                    count = 1;
                }
            }
            cw_lock_acquired(self, (uintptr_t)self, CW_LOCK_RLOCK, true, (uint32_t)count);
        }
        return res;
    }
    return NULL;
}

int cw_lock_hooks_install(void)
{
    if (installed)
        return 0;
    if (empty_args == NULL && (empty_args = PyTuple_New(0)) == NULL)
        return -1;
    PyObject *thread_mod = PyImport_ImportModule("_thread");
    if (thread_mod == NULL)
        return -1;
    size_t done = 0;
    for (; done < NPATCHES; done++) {
        patch *p = &patches[done];
        PyObject *type = PyObject_GetAttrString(thread_mod, p->type_path);
        if (type == NULL || !PyType_Check(type)) {
            Py_XDECREF(type);
            PyErr_Format(PyExc_RuntimeError, "cachewatch: _thread.%s is not a type", p->type_path);
            goto fail;
        }
        p->type = (PyTypeObject *)type;
        Py_DECREF(type); /* _thread keeps it alive */
        PyObject *dict = PyType_GetDict_compat(p->type);
        PyObject *orig = dict ? PyDict_GetItemString(dict, p->name) : NULL;
        if (orig == NULL) {
            /* Not every version has every alias. */
            Py_XDECREF(dict);
            p->type = NULL;
            continue;
        }
        Py_INCREF(orig); /* the dict drops its reference below */
        PyObject *descr = PyDescr_NewMethod(p->type, &p->def);
        if (descr == NULL || PyDict_SetItemString(dict, p->name, descr) < 0) {
            Py_XDECREF(descr);
            Py_DECREF(orig);
            Py_DECREF(dict);
            goto fail;
        }
        Py_XSETREF(p->orig, orig);
        p->orig_def = Py_IS_TYPE(orig, &PyMethodDescr_Type)
                          ? ((PyMethodDescrObject *)orig)->d_method : NULL;
        Py_DECREF(descr);
        Py_DECREF(dict);
        PyType_Modified(p->type);
    }
    Py_DECREF(thread_mod);
    installed = 1;
    return 0;
fail:
    Py_DECREF(thread_mod);
    installed = 1;
    cw_lock_hooks_uninstall();
    return -1;
}

void cw_lock_hooks_uninstall(void)
{
    if (!installed)
        return;
    for (size_t i = 0; i < NPATCHES; i++) {
        patch *p = &patches[i];
        if (p->orig == NULL || p->type == NULL)
            continue;
        PyObject *dict = PyType_GetDict_compat(p->type);
        if (dict != NULL && PyDict_SetItemString(dict, p->name, p->orig) < 0)
            PyErr_Clear();
        Py_XDECREF(dict);
        PyType_Modified(p->type);
        /* p->orig stays: a thread inside `with lock:` holds our bound
         * __exit__ and calls it after checking stopped. */
    }
    installed = 0;
}
