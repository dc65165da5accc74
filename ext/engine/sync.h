/* sync.h: synchronisation objects and the edges they create.
 *
 * Every lock, semaphore, queue, event, condition, future or thread the hooks
 * see gets a record keyed by its address, created on first use and dropped
 * when the object dies (the binding's death notice, an opaque cookie).
 *
 * Lock-like objects (Lock, RLock, Semaphore): an acquire and release by the
 * same thread is a critical section and, for mutexes, a lockset member; a
 * release by a thread that did not acquire it is a hand-off, a
 * happens-before edge to every later acquirer, and the lock is a signal from
 * then on (never a lockset member). Other objects publish and consume. */
#ifndef CW_SYNC_H
#define CW_SYNC_H

#include "cw.h"
#include "lockset.h"
#include "thread.h"

int cw_sync_init(void);
/* Drops every record; drop_cookie (may be NULL) receives each cookie. */
void cw_sync_fini(void (*drop_cookie)(void *cookie));

/* A lock-like object was acquired (count levels, 1 but for RLock restore).
 * *is_new tells the binding to attach a death notice. */
int cw_sync_lock_acquired(cw_thread *t, uintptr_t addr, cw_lock_kind kind,
                          bool is_mutex, uint32_t count, bool *is_new,
                          cw_lock_id *id);
/* Declare a lock-like object before its first acquire (a semaphore whose
 * initial value says whether it is a mutex). */
int cw_sync_declare(uintptr_t addr, cw_lock_kind kind, bool is_mutex, bool *is_new);
/* About to release (all levels when all is true). Call before the real
 * release so a hand-off is published before anyone can acquire. */
int cw_sync_lock_releasing(cw_thread *t, uintptr_t addr, bool all);

/* Hand-off objects: publish before the hand-off, consume after it. */
int cw_sync_publish(cw_thread *t, uintptr_t addr, bool *is_new);
int cw_sync_consume(cw_thread *t, uintptr_t addr);
/* Publish a clock snapshot the caller owns (a thread's final clock). */
int cw_sync_publish_clock(uintptr_t addr, const cw_vc *vc, bool *is_new);

/* Never treat this object as a lock (a thread's own lifetime sentinel). */
int cw_sync_ignore(uintptr_t addr, bool *is_new);

/* Attach the death notice; returns cookie back when the record is gone. */
void *cw_sync_set_cookie(uintptr_t addr, void *cookie);
/* The object died; returns its cookie (or NULL) for the binding to drop. */
void *cw_sync_forget(uintptr_t addr);
size_t cw_sync_count(void);
/* The same without taking any lock (may lag; 0 means none for sure only
 * when no record is being made meanwhile). */
size_t cw_sync_count_hint(void);

/* The current thread's lockset (cached until its held locks change). */
cw_lockset_id cw_sync_thread_lockset(cw_thread *t, int *err);
/* Mutexes held now that were taken at or before serial: held across. */
cw_lockset_id cw_sync_held_since(cw_thread *t, uint64_t serial, int *err);

#endif
