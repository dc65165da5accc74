/* history.h: each thread's last synchronisation events, for reports.
 *
 * A race report says two accesses were unordered; a person reading it wants
 * to see what each thread did around them: the locks it took and let go, the
 * hand-offs it gave and received (queue put/get, event set/wait, start,
 * join). Each thread keeps its last CW_HISTORY such events in a ring, and a
 * report copies both threads' rings (cw_report_set_history), so a timeline
 * can draw each publish and its consume as an arrow and each lock held as a
 * bar: the ordering that would have prevented the race is visibly missing.
 *
 * Every access record notes how many events its thread had by then
 * (cw_thread.nevents), which places it exactly among its own thread's
 * events; a global sequence orders events across threads as they happened.
 *
 * The ring is written only by its thread, as a seqlock: the writer never
 * waits, a reporter's copy retries when it overlapped a write. Correct
 * without the GIL. */
#ifndef CW_HISTORY_H
#define CW_HISTORY_H

#include "cw.h"
#include "thread.h"

typedef struct cw_history cw_history;

#define CW_HISTORY 16

typedef enum cw_event_kind {
    CW_EVENT_ACQUIRE, /* a lock (or value-1 semaphore) taken */
    CW_EVENT_RELEASE, /* and let go */
    CW_EVENT_PUBLISH, /* a hand-off given: put, set, notify, set_result */
    CW_EVENT_CONSUME, /* a hand-off received: get, wait, result, join */
    CW_EVENT_START,   /* a thread started (object: the start's key) */
    CW_EVENT_BEGIN,   /* this thread began (object: its start's key) */
    CW_EVENT_END,     /* this thread ended (object: what a join consumes) */
    CW_EVENT_KIND_COUNT
} cw_event_kind;

typedef struct cw_event {
    uint64_t seq;      /* global order of events */
    uintptr_t object;  /* the sync object: a publish and its consumes share it */
    cw_lock_id lock;   /* ACQUIRE/RELEASE: the lock's incarnation */
    cw_site site;      /* where (the binding keeps its code alive) */
    cw_stack_id stack; /* 0 in the ring; a report's copy: where, resolved */
    uint32_t ordinal;  /* the thread's events before this one */
    cw_clock clock;    /* the thread's own clock just after it */
    cw_str_id label;   /* what it was ("Queue.put"), 0 if nothing to add */
    uint8_t kind;      /* cw_event_kind */
} cw_event;

const char *cw_event_kind_name(cw_event_kind kind);

/* Note an event of the calling thread t (its owner). CW_ERR_NOMEM when its
 * ring could not be made. */
int cw_history_note(cw_thread *t, cw_event_kind kind, uintptr_t object, cw_lock_id lock,
                    cw_str_id label, cw_site site);
/* The sequence number the next event will get. */
uint64_t cw_history_next_seq(void);
/* Copy t's events, oldest first (at most CW_HISTORY); any thread may call
 * it, also after t ended. */
uint32_t cw_history_copy(cw_thread *t, cw_event *out);
/* Where an access known only by the low 16 bits of its thread's event count
 * (low) and its clock falls among that thread's events (oldest first): the
 * count of events before it. Past 2^16 events the clock decides: an event
 * whose clock is later than the access's came after it. */
uint32_t cw_history_place(const cw_event *events, uint32_t n, uint32_t low, cw_clock clock);
/* t ended: its ring stays readable until enough later threads ended. */
void cw_history_retire(cw_thread *t);
/* In a forked child: the rings' locks are fresh (their holders are gone). */
void cw_history_after_fork_child(void);
/* Free every ring (engine teardown, after the threads). */
void cw_history_fini(void);

#endif
