/* containers.h: what the dict, list and set hooks share.
 *
 * A watched container has its type changed in place to a C subclass with the
 * same layout (CwDict_Type, CwList_Type, CwSet_Type), registered here as a
 * "kind"; watching, unwatching and the swap back at death go through here.
 * Each operation of a watched container is told to the engine with
 * cw_record(); loops over it go through cw_wrap_iter(). Guarded by the GIL;
 * without it, as hooks_dict.c says. */
#ifndef CW_CONTAINERS_H
#define CW_CONTAINERS_H

#include "binding.h"

/* Flags of cw_record(). */
#define CW_WRITE 1u       /* changed the location */
#define CW_STRUCTURAL 2u  /* changed the set of keys (or a list's length) */
#define CW_COMMUTES 4u    /* a write that commutes with others of its kind */
#define CW_AT_INDEX 8u    /* the key is a list's index (for the report) */
#define CW_AT_ELEMENT 16u /* the key is a list's element (for the report) */
#define CW_AT_LENGTH 32u  /* the key is a deque's length (for the report) */

/* check_opcode of cw_record(): the read is a check when the current
 * instruction is this opcode; CW_CHECK_ALWAYS for an explicit method call,
 * CW_CHECK_NEVER for reads no write acts on. */
#define CW_CHECK_ALWAYS (-2)
#define CW_CHECK_NEVER (-1)
#define CW_CHECK_SUBSCRIPT (-3) /* a subscript: BINARY_SUBSCR, or BINARY_OP from 3.14 */


/* A list's "contents": the location its membership tests and length checks
 * read and its appends, inserts, pops and removals write. */
#define CW_CONTENTS_KEY ((Py_hash_t)0x6c697374636f6e74LL)

/* Tell the engine about one access to a location (key with its hash) of a
 * watched container. key (may be NULL) is only used for the report text. */
void cw_record(PyObject *self, PyObject *key, Py_hash_t hash, cw_op op, unsigned flags,
               int check_opcode);
/* The same, also adding mark to the container's marks (cw_shadow_mark);
 * returns its marks as the engine saw them (0 when nothing was recorded). */
uint32_t cw_record_marked(PyObject *self, PyObject *key, Py_hash_t hash, cw_op op, unsigned flags,
                          int check_opcode, uint32_t mark);
/* The same for a watched location that is not a container object's own (a
 * module-level name, an object's attribute or items). */
void cw_record_at(uintptr_t location, PyObject *key, Py_hash_t hash, cw_op op, unsigned flags,
                  int check_opcode);
/* cw_record_at without a key, true when the access was answered stably:
 * *stamp then says until when the same access is answered the same. */
bool cw_record_stamped(uintptr_t location, cw_op op, unsigned flags, int check_opcode,
                       cw_repeat_stamp *stamp);
/* A write of every index of a list in [lo, hi) in one change (a deletion
 * shifting the later ones, a slice store, a sort): see shadow.h. */
void cw_record_range(PyObject *self, Py_ssize_t lo, Py_ssize_t hi, cw_op op);
/* key's hash, computed with the thread busy and the caller's error state
 * kept; 0 (and no error) when key is unhashable. */
int cw_quiet_hash(PyObject *key, Py_hash_t *hash);
/* The same with the hash computed here (nothing is recorded for an
 * unhashable key). */
void cw_record_key(PyObject *self, PyObject *key, cw_op op, unsigned flags, int check_opcode);

/* Wrap an iterator over a watched container so a Python-level loop over it
 * is seen (steals inner; NULL passes through). */
PyObject *cw_wrap_iter(PyObject *inner, PyObject *container);

/* The plain type of a watched container: the static watched types and the
 * twins (twins.c) are direct subclasses of it. Hooks call its slots. */
#define CW_PLAIN_TYPE(obj) (Py_TYPE(obj)->tp_base)

/* Twins (twins.c): the watched type of a subclass of a builtin, made once. */
PyTypeObject *cw_twin_for(PyTypeObject *plain, PyTypeObject *hooks, PyTypeObject *builtin,
                          PyMethodDef *subclass_methods);
int cw_is_twin(PyTypeObject *type);
/* What to do when a twin's object dies, or is given another class. */
void cw_twins_init(void (*dying)(PyObject *), void (*unwatch)(PyObject *));
/* __reduce_ex__ of the plain type, naming the plain type where it named the
 * watched one. */
PyObject *cw_reduce_ex_as_plain(PyObject *self, PyObject *proto);

/* Kinds of watched container. */
/* subclass_methods (may be NULL): methods a subclass's twin gets where the
 * subclass has a C method of that name of its own (OrderedDict.keys); they
 * call it and see what it does. */
int cw_container_kind_register(PyTypeObject *plain, PyTypeObject *watched,
                               PyMethodDef *subclass_methods);
/* A watched container is being freed: forget it and give it its plain type
 * back (the caller then runs the plain type's dealloc). */
void cw_container_dying(PyObject *obj);

int cw_containers_init(PyObject *module);

#endif
