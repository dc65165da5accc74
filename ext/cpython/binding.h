/* binding.h: what the binding files (the ones that include Python.h) share.
 *
 * Hooks run with the GIL held (rule 3 of cw.h: Python calls happen outside
 * engine calls). Each hook sets the thread's busy flag while it works so
 * nothing it calls (repr, stack capture, GC) is observed. */
#ifndef CW_BINDING_H
#define CW_BINDING_H

#include "compat.h"

#include "cw.h"
#include "depot.h"
#include "flags.h"
#include "history.h"
#include "lockset.h"
#include "report.h"
#include "shadow.h"
#include "thread.h"

/* Runtime state. cw_active is read without the GIL by hooks (atomic). */
extern int cw_active;
extern cw_flags cw_options; /* guarded by the GIL; set before activation */

/* Per-thread binding state. */
typedef struct cw_tls {
    cw_thread *thread;  /* the engine thread running now (this OS thread's
                           own, or a logical one switched in), or NULL */
    cw_thread *os_thread; /* this OS thread's own record, or NULL */
    int busy;           /* inside a hook: observe nothing */
    unsigned fork_gen;  /* the process's fork generation when thread was set */
    uintptr_t event_code; /* the code object of the last sync event, and */
    int event_class;      /* its cw_code_class (classified codes never die) */
} cw_tls;

/* initial-exec: a hook reads it on every access; the general model would
 * call __tls_get_addr each time. */
extern __thread cw_tls cw_tls_state __attribute__((tls_model("initial-exec")));

/* The hook may record something: active and not re-entered. */
static inline int cw_hook_ready(void)
{
    return __atomic_load_n(&cw_active, __ATOMIC_RELAXED) && !cw_tls_state.busy;
}

/* The engine is up (start() ran at least once); set by runtime.c. */
extern int cw_engine_ready;
int cw_is_started(void);

/* A family of hooks: what starting and stopping the checker does for it.
 * The module's init gives runtime the table (module.c), in order; runtime
 * walks it, so it depends on no hook file while every hook file may use it.
 * start: at each start, idempotent, -1 with a Python error; stop: at each
 * stop, in table order (NULL: nothing). */
typedef struct cw_hook_family {
    const char *name;
    int (*start)(void);
    void (*stop)(void);
} cw_hook_family;
void cw_runtime_set_families(const cw_hook_family *table, size_t n);

/* This interpreter's opcode numbers (from dis.opmap; -1 when absent), read
 * by cw_opcodes_init (stack.c). */
typedef struct cw_opcodes {
    int binary_subscr, binary_op, contains, for_iter, precall;
} cw_opcodes;
extern cw_opcodes cw_opcode;
int cw_opcodes_init(void);

/* Containers a name can hold (containers.c): dict, list, set. */
int cw_container_can_watch(PyObject *obj);
int cw_container_is_watched(PyObject *obj);
int cw_container_watch(PyObject *obj, const char *target); /* -1 with an error */
void cw_container_unwatch(PyObject *obj);
/* A name or attribute (target, a str) that held old_value now holds
 * new_value: a watched old container was replaced for every reader of it; a
 * new container is watched under target. */
void cw_container_rebound(PyObject *old_value, PyObject *new_value, PyObject *target);
/* Swap every watched container back (at stop). */
void cw_containers_unwatch_all(void);

/* Forks made in this process's line (an atomic count, bumped in the child
 * by a pthread_atfork handler: a C server such as uWSGI forks its workers
 * without Python's fork hooks). A thread record set under an older count is
 * the parent's. */
extern unsigned cw_fork_gen;
/* In a forked child: forget what the parent knew (once, by whichever thread
 * comes first, GIL held) and drop the calling thread's parent record. */
void cw_fork_catch_up(void);

/* The calling thread's engine record, registering it on first use. NULL
 * (and the checker disabled) without memory. */
cw_thread *cw_current_thread(void);
/* Register the calling thread as a child (trampoline of a started thread);
 * cooperative: it is a green thread running on this OS thread. */
cw_thread *cw_register_child(cw_tid parent, cw_vc *inherited, const char *name,
                             cw_stack_id created_at, bool cooperative);

/* Something inside cachewatch failed: warn once, stop checking, carry on. */
void cw_internal_failure(const char *what);
/* React to an engine status code; returns 0 when it was fine. */
int cw_check_status(int rc, const char *what);

/* Stacks (stack.c). */
int cw_stack_init(void);
void cw_stack_fini(void);
/* Capture the current stack (innermost first), interned; 0 on failure. */
cw_stack_id cw_capture_stack(void);
/* The stack of a frame of any thread (Python frames only). */
cw_stack_id cw_capture_stack_of(PyFrameObject *frame);
/* The stack of running frames read by cw_current_code_frames (Python only). */
cw_stack_id cw_stack_of_code_frames(PyCodeObject *const *codes, const int *lastis, int n);
/* The current innermost Python frame (borrowed) and site; frame NULL when the
 * thread runs no Python code. */
PyFrameObject *cw_current_site(cw_site *site);
/* Where a frame is, at its raw offset lasti ({0, 0} for NULL). */
cw_site cw_frame_site(PyFrameObject *frame, int lasti);
/* Capture or reuse the cached stack of the given frame and site. */
cw_stack_id cw_stack_for(cw_thread *t, PyFrameObject *frame, cw_site site);
/* A stack like `stack` with its innermost Python frame moved to site. */
cw_stack_id cw_stack_with_site(cw_stack_id stack, cw_site site);
/* One-frame stack of a site, for lock roles. */
cw_stack_id cw_stack_of_site(cw_site site);
/* Leave frames of code under these directories out of stacks (a test
 * runner's); replaces the earlier list. */
int cw_stack_omit_under(PyObject *dirs);
/* Is this code object part of cachewatch's own Python layer? */
int cw_code_is_ours(PyCodeObject *code);
/* What a code object is: cachewatch's own (or how the program was started:
 * runpy), the import machinery's (omitted from stacks as ours), the
 * program's, or the threading module's own bookkeeping. Cached. */
enum { CW_CODE_OURS = 1, CW_CODE_PROGRAM = 2, CW_CODE_THREADING = 3, CW_CODE_IMPORT = 4 };
int cw_code_class(PyCodeObject *code);

/* 1 when the evaluation loop was entered from C at this frame, 0 if not,
 * -1 when this CPython does not say (frames_internal.c). */
int cw_frame_is_entry(PyFrameObject *frame);
/* The innermost max running Python frames' code objects (borrowed: alive
 * while they run) and instruction byte offsets, innermost first, without
 * making frame objects where CPython allows (frames_internal.c). */
int cw_current_code_frames(PyCodeObject **codes, int *lastis, int max);
/* The same with each frame's globals (borrowed). */
int cw_current_code_frames_globals(PyCodeObject **codes, int *lastis, PyObject **globals, int max);
/* The same from a running frame outward (its callers). */
int cw_code_frames_from(PyFrameObject *frame, PyCodeObject **codes, int *lastis, int max);
/* Local i of a running frame, a new reference; NULL (no error) if unbound. */
PyObject *cw_frame_local(PyFrameObject *frame, int i);

/* Native frames (unwind.c). */
int cw_unwind_available(void);
/* Native pcs of the caller, innermost first; returns how many. */
int cw_unwind_capture(uintptr_t *pcs, int max);
/* Symbolise a native pc into the depot's frame form. */
void cw_unwind_symbolize(uintptr_t pc, cw_frame *out);
/* Does pc lie in CPython's evaluation loop (where Python frames belong)? */
int cw_unwind_is_eval_frame(uintptr_t pc);
/* Does pc lie in cachewatch's own extension? */
int cw_unwind_is_ours(uintptr_t pc);

/* Call callable(self, *args) with vectorcall arguments (runtime.c). */
PyObject *cw_call_with_self(PyObject *callable, PyObject *self, PyObject *const *args,
                            Py_ssize_t nargs, PyObject *kwnames);

/* Lock-like objects (hooks_lock.c), also used by the semaphore hooks. */
void cw_lock_acquired(PyObject *lock, uintptr_t key, cw_lock_kind kind, bool is_mutex,
                      uint32_t count);
void cw_lock_releasing(uintptr_t key, bool all);

/* Reports (runtime.c): finish new reports (key text), print them. */
void cw_emit_reports(const uint32_t *ids, uint32_t n, PyObject *key);
/* Each thread's sync history (events.c). An event where the program made
 * it, for the running thread t (NULL: nothing); one with no site (made by
 * the machinery, a thread's start or end), each returning an engine status
 * for cw_check_status; a label interned once from
 * named.__qualname__ into *cached (0 until the engine is up); a new race
 * report gets both threads' events. */
int cw_note_event(cw_thread *t, cw_event_kind kind, uintptr_t object, cw_lock_id lock,
                  cw_str_id label);
int cw_note_event_at(cw_thread *t, cw_event_kind kind, uintptr_t object);
#define CW_HISTORY_FAILED "no memory for a thread's history" /* for cw_check_status */
cw_str_id cw_event_label(cw_str_id *cached, PyObject *named);
void cw_report_attach_history(uint32_t id);
/* The same for a key that is a list's index or element (report.h). */
void cw_emit_reports_as(const uint32_t *ids, uint32_t n, PyObject *key, cw_location_kind loc);

/* Record an access through the engine: captures stacks on demand. */
int cw_record_access(cw_thread *t, cw_access *a, PyFrameObject *frame);

/* Synchronisation objects (sync_objects.c): the engine's key for obj (its
 * address, or its anchor's tagged address), and what to do when the engine
 * made a record for that key (see to it that obj's death is noticed). */
uintptr_t cw_sync_key(PyObject *obj);
void cw_sync_key_new(PyObject *obj, uintptr_t key);
/* The tag of a Condition anchored on its lock (_hooks.ANCHORS): its
 * hand-offs go through the lock's own record, so every later acquire of the
 * lock, however spelt, receives its notifies (hooks_sync.c). */
#define CW_TAG_MONITOR 3
void cw_drop_cookie(void *cookie);
int cw_sync_objects_init(PyObject *module);
int cw_dealloc_hooks_install(void);
void cw_dealloc_hooks_uninstall(void);

/* Hook modules. */
int cw_dict_hooks_init(PyObject *module);
int cw_global_hooks_init(PyObject *module);
int cw_list_hooks_init(PyObject *module);
int cw_set_hooks_init(PyObject *module);
int cw_deque_hooks_init(PyObject *module);
int cw_attr_hooks_init(PyObject *module);

/* Objects' attributes (hooks_attr.c). */
/* Why obj's attributes cannot be watched, or NULL. */
const char *cw_object_unwatchable(PyObject *obj);
/* -1 with an error; what (a str, may be NULL): what it is, for reports;
 * only (an iterable of names, may be NULL for all): the attributes watched. */
int cw_object_watch(PyObject *obj, PyObject *target, PyObject *what, PyObject *only);
void cw_objects_unwatch_all(void);
PyObject *cw_py_watch_object(PyObject *self, PyObject *args);
PyObject *cw_py_unwatch_object(PyObject *self, PyObject *obj);
PyObject *cw_py_object_unwatchable(PyObject *self, PyObject *obj);
/* For a class's own attributes (hooks_class.c): watch the class object as
 * an object of attributes; a load through its metaclass; the __setattr__
 * and __delattr__ methods that record stores (2, NULL-terminated); forget. */
int cw_attr_watch_class(PyObject *cls, PyObject *target, PyObject *what, PyObject *only);
void cw_attr_loaded(PyObject *self, PyObject *name, int found);
PyMethodDef *cw_attr_store_methods(void);
void cw_attr_unwatch(PyObject *obj);
/* Classes (hooks_class.c). */
int cw_class_hooks_init(PyObject *module);
void cw_classes_unwatch_all(void);
PyObject *cw_py_watch_class(PyObject *self, PyObject *args);
/* Every instance of a class (module:Class()). */
const char *cw_class_unwatchable(PyObject *cls);
PyObject *cw_py_watch_instances(PyObject *self, PyObject *args);
PyObject *cw_py_class_unwatchable(PyObject *self, PyObject *cls);
int cw_lock_hooks_install(void);
void cw_lock_hooks_uninstall(void);
int cw_sync_hooks_init(PyObject *module);
int cw_thread_hooks_init(PyObject *module);
int cw_logical_init(PyObject *module);
/* Logical threads (logical.c) for asyncio's Handles (task_steps.c). */
cw_thread *cw_logical_running(void);
/* A new logical thread homed here, made by the running one at frame (a
 * frame object, or NULL: here), knowing what inherited (a HandOff, or NULL)
 * or its creator knows; its tid, 0 when not started or without memory. */
unsigned long cw_logical_spawn(const char *name, PyObject *inherited, PyObject *frame);
/* The same, made where the stack created_at says. */
unsigned long cw_logical_spawn_at(const char *name, PyObject *inherited, cw_stack_id created_at);
/* What t knows now, for a later thread to receive (owned; NULL: no memory). */
cw_vc *cw_logical_hand_off(cw_thread *t);
/* Run as tid (0: this OS thread) from now on, receiving given (may be
 * NULL); returns the tid left. */
unsigned long cw_logical_switch_to(unsigned long tid, const cw_vc *given);
/* The same for a clock thread `maker` gave (a number): when the one that
 * runs is the maker itself, it knows that clock already (its clock only
 * grows) and receives nothing: a task's call_soon of its own next step. */
unsigned long cw_logical_switch_to_from(unsigned long tid, const cw_vc *given,
                                        unsigned long maker);
void cw_logical_end(unsigned long tid);
int cw_task_steps_init(PyObject *module);
/* The pool monitor's per-task bookkeeping (pool_tasks.c). */
int cw_pool_tasks_init(PyObject *module);
int cw_around_init(PyObject *module);
int cw_frame_hook_install(void);
void cw_frame_hook_uninstall(void);


/* Module-level functions implemented in hook files. */
PyObject *cw_py_watch_container(PyObject *self, PyObject *args);
PyObject *cw_py_can_watch(PyObject *self, PyObject *obj);
PyObject *cw_py_unwatch_container(PyObject *self, PyObject *arg);
PyObject *cw_py_is_watched(PyObject *self, PyObject *arg);
PyObject *cw_py_publish(PyObject *self, PyObject *arg);
PyObject *cw_py_consume(PyObject *self, PyObject *arg);
PyObject *cw_py_set_type_attr(PyObject *self, PyObject *args);
PyObject *cw_py_on_os_thread_start(PyObject *self, PyObject *callback);
PyObject *cw_py_ignore(PyObject *self, PyObject *obj);
PyObject *cw_py_set_anchor(PyObject *self, PyObject *args);
PyObject *cw_py_sync_key(PyObject *self, PyObject *obj);
PyObject *cw_py_busy_call_begin(PyObject *self, PyObject *noargs);
PyObject *cw_py_lock_acquired(PyObject *self, PyObject *args);
PyObject *cw_py_lock_released(PyObject *self, PyObject *obj);
PyObject *cw_py_hook_await(PyObject *self, PyObject *type);
PyObject *cw_py_unhook_awaits(PyObject *self, PyObject *noargs);
PyObject *cw_py_busy_call_end(PyObject *self, PyObject *noargs);
PyObject *cw_py_watch_module(PyObject *self, PyObject *args);
PyObject *cw_py_unwatch_module(PyObject *self, PyObject *module);
PyObject *cw_py_watch_module_dict(PyObject *self, PyObject *dict);
PyObject *cw_py_was_bound(PyObject *self, PyObject *binding);
PyObject *cw_py_notice_binding(PyObject *self, PyObject *binding);
PyObject *cw_py_unwatch_module_dict(PyObject *self, PyObject *dict);

extern PyTypeObject CwHook_Type;

#endif
