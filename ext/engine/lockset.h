/* lockset.h: lock incarnations and interned locksets.
 *
 * Every lock-like object gets a cw_lock_id when first seen, with a lockinfo
 * record that outlives it: its role (where it was first acquired), its kind,
 * and when it was born and died in real time. A lockset is the sorted set of
 * mutex ids a thread held at an access, interned to a small id.
 *
 * Two locksets share a lock when they hold the same incarnation, or two
 * incarnations of one role whose lifetimes did not overlap: a registry that
 * drops a lock when unused and makes a new one for the same name (the
 * oslo.concurrency lockutils pattern) serialises its users through both. */
#ifndef CW_LOCKSET_H
#define CW_LOCKSET_H

#include "cw.h"

typedef enum cw_lock_kind {
    CW_LOCK_LOCK,
    CW_LOCK_RLOCK,
    CW_LOCK_SEMAPHORE,
    CW_LOCK_OTHER,
} cw_lock_kind;

typedef struct cw_lockinfo {
    cw_lock_id id;
    uintptr_t addr;
    cw_lock_kind kind;
    cw_site role;          /* first acquisition site */
    cw_stack_id role_stack;/* the same, symbolised, for reports */
    uint64_t birth;        /* cw_next_seq() when first seen */
    uint64_t death;        /* cw_next_seq() at death; 0 while alive */
    bool signal;           /* released by a thread that did not acquire it */
} cw_lockinfo;

/* The lockset of a thread holding more locks than it tracks: it is taken to
 * share a lock with every other lockset, so it never causes a report. */
#define CW_LOCKSET_UNKNOWN ((cw_lockset_id)UINT32_MAX)

int cw_lockset_init(void);
void cw_lockset_fini(void);

cw_lock_id cw_lockinfo_new(uintptr_t addr, cw_lock_kind kind, cw_site role,
                           cw_stack_id role_stack);
/* may_be_held: a thread may still list it among its held locks (it died
 * held, or its holders were not all seen); only then must threads re-check. */
void cw_lockinfo_died(cw_lock_id id, bool may_be_held);
/* Set where a lock was first acquired (once, right after it was made). */
void cw_lockinfo_set_role(cw_lock_id id, cw_site role, cw_stack_id role_stack);
void cw_lockinfo_mark_signal(cw_lock_id id);
/* Copy a lockinfo out; false when unknown. */
bool cw_lockinfo_get(cw_lock_id id, cw_lockinfo *out);
/* Bumped whenever a lock dies possibly held or becomes a signal, so threads
 * re-check the locks they think they hold. */
uint64_t cw_lockinfo_generation(void);

/* Intern a set of ids (any order, duplicates allowed); 0 for the empty set,
 * and 0 without memory (the empty set errs toward reporting, which is why the
 * binding disables the checker when the engine reports no memory). */
cw_lockset_id cw_lockset_intern(const cw_lock_id *ids, uint32_t n, int *err);
/* Members of a lockset; NULL and *n = 0 for the empty set. */
const cw_lock_id *cw_lockset_get(cw_lockset_id id, uint32_t *n);
/* True when no lock (by the rule above) is common to both. */
bool cw_lockset_disjoint(cw_lockset_id a, cw_lockset_id b);

/* Monotonic sequence for "which came first" questions that are about real
 * time, not happens-before (lock lifetimes). */
uint64_t cw_next_seq(void);

#endif
