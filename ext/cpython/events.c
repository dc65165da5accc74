/* events.c: the binding's side of each thread's sync history (history.h):
 * noting an event where the program made it, copying both threads' events
 * into a race report, and giving them to Python.
 *
 * Without the GIL: an event's site pins its code object through the stack
 * module's code_refs (its own lock there); the rest is engine calls. */
#include "binding.h"

#include "history.h"
#include "report.h"

/* The innermost frame of the program: cachewatch's own wrappers (a pool
 * monitor's, a task hook's) are how the event was seen, not where. Its code
 * is kept alive (cw_code_class) so the site still names it in a report.
 * *internal: the threading module's own bookkeeping made it (the lock of
 * its list of threads, a thread's started Event), or the import system's. */
static cw_site program_site(int *internal)
{
    PyCodeObject *codes[8];
    int lastis[8];
    *internal = 0;
    /* Mostly the innermost frame is the program's, the same as last time. */
    for (int max = 1; max <= 8; max += 7) {
        int n = cw_current_code_frames(codes, lastis, max);
        for (int i = 0; i < n; i++) {
            int cls;
            if ((uintptr_t)codes[i] == cw_tls_state.event_code) {
                cls = cw_tls_state.event_class;
            } else {
                cls = cw_code_class(codes[i]);
                cw_tls_state.event_code = (uintptr_t)codes[i];
                cw_tls_state.event_class = cls;
            }
            if (cls != CW_CODE_OURS) {
                *internal = cls == CW_CODE_THREADING || cls == CW_CODE_IMPORT;
                return (cw_site){(uintptr_t)codes[i], lastis[i]};
            }
        }
        if (n < max)
            break;
    }
    return (cw_site){0, 0};
}

/* With nothing watched no race can be reported, so no history is kept:
 * locks and hand-offs of a program that watches nothing pay nothing here. */
int cw_note_event(cw_thread *t, cw_event_kind kind, uintptr_t object, cw_lock_id lock,
                  cw_str_id label)
{
    if (t == NULL || !cw_shadow_any_watched())
        return CW_OK;
    int internal;
    cw_site site = program_site(&internal);
    /* threading's own locks and events would crowd the program's out of a
     * short history; a thread's start is kept (its arrow). */
    if (internal && kind != CW_EVENT_START)
        return CW_OK;
    return cw_history_note(t, kind, object, lock, label, site);
}

int cw_note_event_at(cw_thread *t, cw_event_kind kind, uintptr_t object)
{
    if (t == NULL || !cw_shadow_any_watched())
        return CW_OK;
    return cw_history_note(t, kind, object, 0, 0, (cw_site){0, 0});
}

cw_str_id cw_event_label(cw_str_id *cached, PyObject *named)
{
    if (*cached != 0 || !cw_engine_ready)
        return *cached;
    PyObject *name = PyObject_GetAttrString(named, "__qualname__");
    const char *s = name && PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (s != NULL)
        *cached = cw_str_intern(s);
    Py_XDECREF(name);
    PyErr_Clear();
    return *cached;
}

/* One side's thread's events, their sites made stacks while their code is
 * certainly alive. */
static void attach_side(uint32_t id, int which, cw_tid tid)
{
    cw_event events[CW_HISTORY];
    uint64_t until = cw_history_next_seq();
    uint32_t n = cw_history_copy(tid ? cw_thread_get(tid) : NULL, events);
    for (uint32_t i = 0; i < n; i++)
        events[i].stack = cw_stack_of_site(events[i].site);
    cw_report_set_history(id, which, events, n, until);
}

void cw_report_attach_history(uint32_t id)
{
    cw_report r;
    if (!cw_report_get(id, &r) || !cw_report_kind_is_race(r.kind) || r.cur.history ||
        r.prev.history)
        return;
    attach_side(id, 0, r.cur.tid);
    attach_side(id, 1, r.prev.tid);
}
