/* logical.c: logical threads (greenlets, asyncio tasks) on top of OS threads.
 *
 * Each logical thread is an engine thread of its own (clock, locks, pending
 * reads, name and creation stack) marked cooperative: it runs on one OS
 * thread, its home, and interleaves with the others there only where it is
 * switched out. The Python layer (cachewatch/_logical.py) says when one is
 * made, switched in and ends; this file moves the OS thread's "running now"
 * record (cw_tls_state.thread) and the binding's busy count with it.
 *
 * A record is named by its tid, a plain int the Python layer keeps next to
 * the greenlet or task: nothing here outlives what it names, and a tid that
 * is dead, not cooperative or homed on another OS thread is never switched
 * in (the OS thread's own record runs instead).
 *
 * Hand-offs between logical threads that no hooked object carries (a
 * callback scheduled by one task and run for another, a greenlet switched
 * into by its spawner) travel as HandOff objects: a snapshot of the giver's
 * clock, received by whichever thread runs on it.
 *
 * Without the GIL: each record is owned by its home OS thread, so a switch
 * touches only that thread's state; registration is the engine's. */
#include "binding.h"

typedef struct {
    PyObject_HEAD
    cw_vc *clock; /* Owned */
} HandOff;

static void handoff_dealloc(HandOff *h)
{
    cw_vc_unref(h->clock);
    Py_TYPE(h)->tp_free((PyObject *)h);
}

static PyTypeObject HandOff_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cachewatch._cachewatch.HandOff",
    .tp_basicsize = sizeof(HandOff),
    .tp_dealloc = (destructor)handoff_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "What the thread that made it knew then: received by a later one.",
};

/* The record running now, registering this OS thread on first use. */
cw_thread *cw_logical_running(void)
{
    if (!cw_engine_ready)
        return NULL;
    cw_thread *t = cw_current_thread();
    if (t != NULL && cw_tls_state.os_thread == NULL && !t->cooperative)
        cw_tls_state.os_thread = t;
    return t;
}

static int alive(const cw_thread *t)
{
    return t != NULL && __atomic_load_n(&t->alive, __ATOMIC_ACQUIRE);
}

/* What t knows now, as a clock a later thread receives (t moves to a new
 * epoch, and its history notes the publish); NULL without memory. */
cw_vc *cw_logical_hand_off(cw_thread *t)
{
    cw_vc *clock = cw_thread_fork_snapshot(t);
    if (clock == NULL) {
        cw_internal_failure("no memory for a hand-off");
        return NULL;
    }
    cw_check_status(cw_note_event_at(t, CW_EVENT_PUBLISH, (uintptr_t)clock), CW_HISTORY_FAILED);
    return clock;
}

/* A HandOff of t's clock; NULL without memory. */
static HandOff *snapshot_of(cw_thread *t)
{
    cw_vc *clock = cw_logical_hand_off(t);
    if (clock == NULL)
        return NULL;
    HandOff *h = PyObject_New(HandOff, &HandOff_Type);
    if (h == NULL) {
        cw_vc_unref(clock);
        return NULL;
    }
    h->clock = clock;
    return h;
}

/* hand_off() -> HandOff, or None when not started. */
static PyObject *py_hand_off(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    cw_thread *t = cw_logical_running();
    if (t == NULL)
        Py_RETURN_NONE;
    return (PyObject *)snapshot_of(t);
}

static void receive_clock(cw_thread *t, const cw_vc *clock)
{
    if (t != NULL && clock != NULL &&
        cw_check_status(cw_thread_acquire(t, clock), "no memory receiving") == 0)
        cw_check_status(cw_note_event_at(t, CW_EVENT_CONSUME, (uintptr_t)clock),
                        CW_HISTORY_FAILED);
}

static const cw_vc *clock_of(PyObject *h)
{
    return h != NULL && Py_IS_TYPE(h, &HandOff_Type) ? ((HandOff *)h)->clock : NULL;
}

static void receive_into(cw_thread *t, PyObject *h)
{
    receive_clock(t, clock_of(h));
}

/* receive(hand_off): the running thread learns what its giver knew. */
static PyObject *py_receive(PyObject *self, PyObject *h)
{
    (void)self;
    receive_into(cw_logical_running(), h);
    Py_RETURN_NONE;
}

/* logical_spawn(name, inherited=None, frame=None) -> tid: a new logical
 * thread homed on this OS thread, created by the running thread at frame (the
 * program's line, past the event loop's own; None: here), knowing what
 * `inherited` knew (a HandOff), or what the creator knows now. */
unsigned long cw_logical_spawn(const char *name, PyObject *inherited, PyObject *frame)
{
    if (cw_logical_running() == NULL)
        return 0;
    cw_tls_state.busy++;
    cw_stack_id created_at = frame != NULL && PyFrame_Check(frame)
                                 ? cw_capture_stack_of((PyFrameObject *)frame)
                                 : cw_capture_stack();
    cw_tls_state.busy--;
    return cw_logical_spawn_at(name, inherited, created_at);
}

unsigned long cw_logical_spawn_at(const char *name, PyObject *inherited, cw_stack_id created_at)
{
    cw_thread *creator = cw_logical_running();
    if (creator == NULL)
        return 0;
    cw_vc *clock = NULL;
    if (inherited != NULL && Py_IS_TYPE(inherited, &HandOff_Type))
        clock = cw_vc_ref(((HandOff *)inherited)->clock);
    else if ((clock = cw_thread_fork_snapshot(creator)) == NULL) {
        cw_internal_failure("no memory for a logical thread");
        return 0;
    }
    cw_thread *t = cw_thread_register_cooperative(creator->number, clock,
                                                  PyThread_get_thread_ident(), name, created_at);
    cw_vc_unref(clock);
    if (t == NULL) {
        cw_internal_failure("no memory for a logical thread");
        return 0;
    }
    cw_check_status(cw_note_event_at(creator, CW_EVENT_START, (uintptr_t)t), CW_HISTORY_FAILED);
    cw_check_status(cw_note_event_at(t, CW_EVENT_BEGIN, (uintptr_t)t), CW_HISTORY_FAILED);
    return t->number;
}

static PyObject *py_logical_spawn(PyObject *self, PyObject *args)
{
    (void)self;
    const char *name;
    PyObject *inherited = Py_None, *frame = Py_None;
    if (!PyArg_ParseTuple(args, "s|OO:logical_spawn", &name, &inherited, &frame))
        return NULL;
    return PyLong_FromUnsignedLong(cw_logical_spawn(name, inherited, frame));
}

/* The record to switch to for tid: itself when it may run here. */
static cw_thread *switch_target(unsigned long tid)
{
    cw_thread *t = tid ? cw_thread_get((cw_tid)tid) : NULL;
    if (alive(t) && t->cooperative && t->ident == PyThread_get_thread_ident())
        return t;
    return cw_tls_state.os_thread;
}

unsigned long cw_logical_switch_to(unsigned long tid, const cw_vc *given)
{
    return cw_logical_switch_to_from(tid, given, 0);
}

unsigned long cw_logical_switch_to_from(unsigned long tid, const cw_vc *given,
                                        unsigned long maker)
{
    cw_thread *prev = cw_logical_running();
    if (prev == NULL)
        return 0;
    cw_thread *next = switch_target(tid);
    if (next == NULL)
        next = prev;
    if (next != prev) {
        cw_thread_suspended(prev);
        prev->saved_busy = cw_tls_state.busy;
        cw_tls_state.thread = next;
        cw_tls_state.busy = next->saved_busy;
    }
    if (maker == 0 || next->number != maker)
        receive_clock(next, given);
    return prev->number;
}

/* logical_switch(tid, carry=None) -> the tid left: tid (0: this OS thread's
 * own record) runs from now on; the one left is switched out (a suspension).
 * carry: a HandOff the new one receives, or True for what the one left knows
 * (a greenlet switched into by another, not by its hub). */
static PyObject *py_logical_switch(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned long tid;
    PyObject *carry = Py_None;
    if (!PyArg_ParseTuple(args, "k|O:logical_switch", &tid, &carry))
        return NULL;
    if (carry != Py_True)
        return PyLong_FromUnsignedLong(cw_logical_switch_to(tid, clock_of(carry)));
    cw_thread *prev = cw_logical_running(), *next = switch_target(tid);
    cw_vc *given = prev != NULL && next != NULL && next != prev && cw_shadow_any_watched()
                       ? cw_logical_hand_off(prev)
                       : NULL;
    unsigned long left = cw_logical_switch_to(tid, given);
    cw_vc_unref(given);
    return PyLong_FromUnsignedLong(left);
}

/* logical_end(tid): the logical thread is done (its task finished, its
 * greenlet died). Records of OS threads and of other OS threads' logical
 * threads are left alone; the running one first switches to its OS thread. */
void cw_logical_end(unsigned long tid)
{
    cw_thread *t = tid && cw_engine_ready ? cw_thread_get((cw_tid)tid) : NULL;
    if (!alive(t) || !t->cooperative || t->ident != PyThread_get_thread_ident())
        return;
    if (cw_tls_state.thread == t) {
        cw_tls_state.thread = cw_tls_state.os_thread;
        cw_tls_state.busy = cw_tls_state.os_thread ? cw_tls_state.os_thread->saved_busy : 0;
    }
    cw_thread_exit(t);
}

static PyObject *py_logical_end(PyObject *self, PyObject *arg)
{
    (void)self;
    unsigned long tid = PyLong_AsUnsignedLong(arg);
    if (tid == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    cw_logical_end(tid);
    Py_RETURN_NONE;
}

/* logical_running() -> the tid running now (0 when not started). */
static PyObject *py_logical_running(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    cw_thread *t = cw_logical_running();
    return PyLong_FromUnsignedLong(t ? t->number : 0);
}

/* logical_created(tid) -> (creation stack id, creator tid, name), or None. */
static PyObject *py_logical_created(PyObject *self, PyObject *arg)
{
    (void)self;
    unsigned long tid = PyLong_AsUnsignedLong(arg);
    if (tid == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    cw_thread *t = tid && cw_engine_ready ? cw_thread_get((cw_tid)tid) : NULL;
    if (t == NULL)
        Py_RETURN_NONE;
    char name[CW_NAME_MAX];
    cw_thread_name(t->number, name, sizeof(name));
    return Py_BuildValue("(IIs)", t->created_at, t->parent, name);
}

/* os_thread() -> the OS thread's ident (eventlet makes _thread.get_ident
 * name the greenlet). */
static PyObject *py_os_thread(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyLong_FromUnsignedLong(PyThread_get_thread_ident());
}

static PyMethodDef logical_methods[] = {
    {"os_thread", py_os_thread, METH_NOARGS, "The OS thread's ident, whatever greenlet runs."},
    {"hand_off", py_hand_off, METH_NOARGS,
     "A HandOff: what the running thread knows now (None when not started)."},
    {"receive", py_receive, METH_O, "The running thread receives a HandOff."},
    {"logical_spawn", py_logical_spawn, METH_VARARGS,
     "logical_spawn(name, inherited=None, frame=None) -> tid of a new logical thread."},
    {"logical_switch", py_logical_switch, METH_VARARGS,
     "logical_switch(tid, carry=None) -> tid left: run as tid (0: the OS thread) from now on."},
    {"logical_end", py_logical_end, METH_O, "The logical thread tid is done."},
    {"logical_running", py_logical_running, METH_NOARGS, "The tid running now."},
    {"logical_created", py_logical_created, METH_O,
     "logical_created(tid) -> (creation stack id, creator tid, name), or None."},
    {NULL, NULL, 0, NULL},
};

int cw_logical_init(PyObject *module)
{
    if (PyType_Ready(&HandOff_Type) < 0)
        return -1;
    return PyModule_AddFunctions(module, logical_methods);
}
