/* module.c: builds cachewatch._cachewatch and registers its types and
 * functions; nothing else. */
#include "containers.h"

extern PyMethodDef cw_runtime_methods[];
extern PyMethodDef cw_finding_methods[];
extern PyMethodDef cw_service_methods[];
int cw_runtime_init(PyObject *module);

static PyMethodDef hook_methods[] = {
    {"watch_container", cw_py_watch_container, METH_VARARGS,
     "watch_container(obj, target): watch a plain dict, list or set."},
    {"unwatch_container", cw_py_unwatch_container, METH_O, "Stop watching a container."},
    {"is_watched", cw_py_is_watched, METH_O, "Is this container watched?"},
    {"can_watch", cw_py_can_watch, METH_O,
     "Is this a container cachewatch can watch (a dict, list, set or deque, or a subclass)?"},
    {"watch_object", cw_py_watch_object, METH_VARARGS,
     "watch_object(obj, target[, what]): watch the attributes of obj as target.attr "
     "(what: what it is, for reports)."},
    {"unwatch_object", cw_py_unwatch_object, METH_O, "Stop watching an object's attributes."},
    {"object_unwatchable", cw_py_object_unwatchable, METH_O,
     "Why obj's attributes cannot be watched, or None."},
    {"watch_class", cw_py_watch_class, METH_VARARGS,
     "watch_class(cls, target[, what]): watch the class's own data attributes as target.attr."},
    {"watch_instances", cw_py_watch_instances, METH_VARARGS,
     "watch_instances(cls, target): watch every instance of cls once a second thread uses it."},
    {"class_unwatchable", cw_py_class_unwatchable, METH_O,
     "Why the instances of cls cannot be watched, or None."},
    {"publish", cw_py_publish, METH_O, "Record a hand-off from the calling thread through obj."},
    {"consume", cw_py_consume, METH_O, "Record that the calling thread received obj's hand-offs."},
    {"ignore", cw_py_ignore, METH_O, "Never treat obj as a lock (a thread's lifetime sentinel)."},
    {"set_anchor", cw_py_set_anchor, METH_VARARGS,
     "set_anchor(cls, path): name instances of cls after the C lock at that attribute path."},
    {"sync_key", cw_py_sync_key, METH_O, "The engine's key for a synchronisation object."},
    {"busy_call_begin", cw_py_busy_call_begin, METH_NOARGS,
     "Observe nothing in this thread until busy_call_end() (an original's insides)."},
    {"busy_call_end", cw_py_busy_call_end, METH_NOARGS, "Observe again."},
    {"lock_acquired", cw_py_lock_acquired, METH_VARARGS,
     "lock_acquired(obj, is_mutex): the running thread took a lock-like object."},
    {"lock_released", cw_py_lock_released, METH_O,
     "lock_released(obj): the running thread is giving a lock-like object back."},
    {"hook_await", cw_py_hook_await, METH_O,
     "hook_await(type): awaiting its instances receives their hand-offs (a done future's)."},
    {"unhook_awaits", cw_py_unhook_awaits, METH_NOARGS, "Give the awaited types their slots back."},
    {"watch_module", cw_py_watch_module, METH_VARARGS,
     "watch_module(module, {name: Binding}): route module.NAME through the bindings."},
    {"unwatch_module", cw_py_unwatch_module, METH_O, "Give a module its own type back."},
    {"watch_module_dict", cw_py_watch_module_dict, METH_O,
     "Watch writes through a module's dict (3.12+ dict watchers); False where unavailable."},
    {"unwatch_module_dict", cw_py_unwatch_module_dict, METH_O, "Stop that."},
    {"was_bound", cw_py_was_bound, METH_O, "Did the Binding's name ever hold a value?"},
    {"notice_binding", cw_py_notice_binding, METH_O,
     "Watch what a Binding's name holds now (it may have been bound unseen)."},
    {"set_type_attr", cw_py_set_type_attr, METH_VARARGS, "Set an attribute of a C type."},
    {"on_os_thread_start", cw_py_on_os_thread_start, METH_O,
     "Call this (or None) first thing in each OS thread started from now."},
    {NULL, NULL, 0, NULL},
};

/* Started in this order; stopped in this order. */
static const cw_hook_family families[] = {
    /* The frame hook stays at stop: it only forgets state, costs nothing idle. */
    {"frames", cw_frame_hook_install, NULL},
    {"deaths of synchronisation objects", cw_dealloc_hooks_install, NULL},
    {"locks", cw_lock_hooks_install, cw_lock_hooks_uninstall},
    {"containers", NULL, cw_containers_unwatch_all},
    {"classes", NULL, cw_classes_unwatch_all},
    {"objects", NULL, cw_objects_unwatch_all},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "cachewatch._cachewatch",
    .m_doc = "The C core of cachewatch: engine, hooks and reports.",
    .m_size = -1,
    .m_methods = hook_methods,
};

PyMODINIT_FUNC PyInit__cachewatch(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
#ifdef Py_GIL_DISABLED
    /* The hooks' own tables still rely on the GIL (docs/internals.md, "Without
     * the GIL"): a free-threaded CPython turns it back on as it imports us,
     * and cachewatch refuses to start where PYTHON_GIL=0 forbids that. */
    if (PyUnstable_Module_SetGIL(m, Py_MOD_GIL_USED) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#endif
    cw_runtime_set_families(families, sizeof(families) / sizeof(families[0]));
    if (PyModule_AddFunctions(m, cw_runtime_methods) < 0 ||
        PyModule_AddFunctions(m, cw_finding_methods) < 0 ||
        PyModule_AddFunctions(m, cw_service_methods) < 0 || cw_runtime_init(m) < 0 ||
        cw_containers_init(m) < 0 || cw_dict_hooks_init(m) < 0 || cw_list_hooks_init(m) < 0 ||
        cw_set_hooks_init(m) < 0 || cw_deque_hooks_init(m) < 0 || cw_attr_hooks_init(m) < 0 || cw_class_hooks_init(m) < 0 || cw_global_hooks_init(m) < 0 || cw_sync_hooks_init(m) < 0 ||
        cw_thread_hooks_init(m) < 0 || cw_logical_init(m) < 0 || cw_task_steps_init(m) < 0 ||
        cw_pool_tasks_init(m) < 0 || cw_around_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
