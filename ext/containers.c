/* containers.c: the kinds of container a watched name can hold, behind one
 * interface (dict today; list and set join here). */
#include "binding.h"

int cw_container_can_watch(PyObject *obj) { return cw_dict_can_watch(obj); }

int cw_container_is_watched(PyObject *obj) { return cw_dict_is_watched(obj); }

int cw_container_watch(PyObject *obj, const char *target)
{
    if (cw_dict_can_watch(obj))
        return cw_dict_watch(obj, target);
    PyErr_Format(PyExc_TypeError, "cachewatch watches dicts, lists and sets, not %.100s",
                 Py_TYPE(obj)->tp_name);
    return -1;
}

void cw_container_unwatch(PyObject *obj) { cw_dict_unwatch(obj); }

void cw_containers_unwatch_all(void) { cw_dict_unwatch_all(); }
