/* shadow.h: shadow state of watched containers and the race checks.
 *
 * A location is a container plus a key (by hash), plus one "structure"
 * location per container standing for its set of keys. Each location keeps
 * a short history of access records; a new access is checked against the
 * records of other threads:
 *
 * - check-then-act: a single-key read followed by a write of that key in the
 *   same call (a "region", with the locks held across it) races another
 *   thread's write of the key, or its region, or its read at a check site (a
 *   code location where some thread once read the key and then wrote it),
 *   when the two are unordered and share no lock;
 * - write-write: two unordered writes with no common lock;
 * - iteration: a Python-level loop over the container (from first step to
 *   exhaustion) races an insertion or deletion by another thread.
 *
 * A list's indices are keys too (key_hash = the index), and one change can
 * write many of them: `del l[0]` shifts every later index, `l[2:5] = x`
 * stores to three. Such a change is one ranged write: a record on the
 * container's range location (CW_RANGE_KEY) covering [lo, hi), checked
 * against the index locations in the range that have a history, and checked
 * by every later index access it covers. Ranged writes commute with each
 * other (two threads' pop(0) on a queue are fine), not with index writes.
 *
 * Single operations against each other, where at most one writes, are never
 * a race: each is atomic in CPython.
 *
 * Guard: each container and its locations belong to one shard lock. */
#ifndef CW_SHADOW_H
#define CW_SHADOW_H

#include "cw.h"
#include "lockset.h"
#include "thread.h"
#include "vclock.h"

#define CW_HISTORY_MAX 16
#define CW_MAX_NEW_REPORTS 8

/* The key of a container's range location (ranged writes of its indices). */
#define CW_RANGE_KEY ((int64_t)0x72616e6765737421LL)

/* max_bytes bounds the shadow state (0: no bound): past it, new locations
 * make room by forgetting the least recently used ones of their container,
 * and histories stop growing. */
int cw_shadow_init(uint32_t history_size, size_t max_bytes);
void cw_shadow_fini(void);

/* Start watching a container under a target name ("module.NAME"). */
int cw_shadow_watch(uintptr_t container, const char *target);
/* Watch a module-level name: one location (key 0) whose reads and writes
 * are the name's loads and stores. Reports say "binding". */
int cw_shadow_watch_binding(uintptr_t addr, const char *target);
/* The same for one attribute of an object (its own location, reported as
 * the attribute target). */
int cw_shadow_watch_attribute(uintptr_t addr, const char *target);
/* Say what a watched object is ("a collections.OrderedDict", "an attribute
 * of a mod.Pool created at f.py:12"): its reports show it. */
void cw_shadow_describe(uintptr_t addr, const char *what);
/* Forget every access record (keep what is watched): after a fork. */
void cw_shadow_forget_history(void);
/* Stop watching (also when the container dies); forgets its history. */
void cw_shadow_unwatch(uintptr_t container);
bool cw_shadow_is_watched(uintptr_t container);
/* Has this key any history (so a write to it could race)? */
bool cw_shadow_has_cell(uintptr_t container, int64_t key_hash);
/* Keys in [lo, hi) that have a history (a list's indices that a write there
 * could race): writes up to max of them to out and returns how many there
 * are (more than max: call again with room for all). */
size_t cw_shadow_keys_in(uintptr_t container, int64_t lo, int64_t hi, int64_t *out, size_t max);
/* Bits the binding keeps on a watched container for itself (which kinds of
 * location it has used, say); 0 for a container not watched. */
void cw_shadow_mark(uintptr_t container, uint32_t bits);
uint32_t cw_shadow_marks(uintptr_t container);
/* Is anything watched at all? (An atomic read, for the hot paths: with
 * nothing watched no race can be reported.) */
bool cw_shadow_any_watched(void);
size_t cw_shadow_watched_count(void);
size_t cw_shadow_location_count(void);
/* Single-key reads answered from a thread's memo (no shadow lookup). */
uint64_t cw_shadow_memo_hits(void);

typedef struct cw_access {
    /* In */
    uintptr_t container;
    int64_t key_hash;
    cw_op op;
    bool write;       /* changed the key's binding (insert, replace, delete) */
    bool structural;  /* changed the set of keys */
    bool check;       /* a single-key read a later write in this call may act on */
    bool commutes;    /* a write that commutes with other such writes (list.append,
                         list.pop): two of them never conflict on their own */
    uintptr_t frame;  /* the call; 0 when unknown (no Python frame) */
    int lasti;        /* the instruction's raw offset in it (-1: unknown) */
    cw_site site;     /* where in the call */
    cw_stack_id stack;/* 0 until captured: see CW_NEED_STACK */
    cw_stack_id check_stack; /* the checked read's stack, when asked for */
    uint32_t mark;    /* bits to add to the container's marks (cw_shadow_mark) */
    bool index;       /* key_hash is an index: ranged writes covering it count */
    bool ranged;      /* a write of the indices [range_lo, range_hi); key_hash
                         must be CW_RANGE_KEY, write and commutes set */
    int64_t range_lo, range_hi;
    /* Out */
    uint32_t marks;   /* the container's marks, once it was looked up */
    bool need_check_stack; /* with CW_NEED_STACK: also build check_stack, the
                              stack with its innermost frame at check_site */
    cw_site check_site;
    uint32_t reports[CW_MAX_NEW_REPORTS];
    uint32_t nreports;
    bool stable;      /* answered with nothing to do and nothing new to note:
                         the same access again is answered the same while
                         cw_shadow_stamp_holds (see below) */
    uint64_t tick;    /* a stable write: its shard's tick after it */
} cw_access;

/* Stamp a stable access (a->stable) just made by t. */
void cw_shadow_stamp(cw_thread *t, const cw_access *a, cw_repeat_stamp *out);
extern uint64_t cw_shadow_epoch; /* atomic */
static inline bool cw_shadow_stamp_holds(const cw_thread *t, const cw_repeat_stamp *s)
{
    /* The locks: what cw_sync_thread_lockset would answer, without
     * recomputing it (a changed set is dirty, or a lock's kind changed). */
    cw_lockset_id L = t->lockset_dirty ? CW_LOCKSET_UNKNOWN
                      : t->nheld == 0  ? 0
                      : t->lockset_gen == cw_lockinfo_generation() ? t->lockset
                                                                   : CW_LOCKSET_UNKNOWN;
    return s->view == t->view && s->recent_gen == t->recent_gen && s->locks == L &&
           L != CW_LOCKSET_UNKNOWN &&
           s->epoch == __atomic_load_n(&cw_shadow_epoch, __ATOMIC_ACQUIRE) &&
           (!s->write || s->tick == __atomic_load_n(s->tick_at, __ATOMIC_ACQUIRE));
}

/* The check the thread made last at this very instruction (frame, lasti)
 * again, with nothing changed that could change its answer: nothing to do
 * (*marks: the container's marks). False: record it. */
bool cw_shadow_check_repeats(cw_thread *t, uintptr_t container, int64_t key_hash,
                             uintptr_t frame, int lasti, uint32_t *marks);

/* Record an access and check it. Returns CW_OK, CW_NEED_STACK when it must
 * store a record or a report and a->stack is 0 (nothing was changed: capture
 * the stack and call again), or CW_ERR_NOMEM. */
int cw_shadow_access(cw_thread *t, cw_access *a);

/* A Python-level loop over a container. The binding keeps the token in its
 * iterator and ends it at exhaustion or when the iterator dies. */
typedef struct cw_iteration {
    uintptr_t container;
    cw_tid tid;
    cw_vc *start;      /* Owned: the thread's clock at the first step */
    uint64_t serial;   /* its acquire serial then */
    uint64_t seq;      /* the open record */
    bool open;
} cw_iteration;

int cw_shadow_iter_begin(cw_thread *t, uintptr_t container, cw_stack_id stack,
                         cw_iteration *it);
/* stack: where the loop ended (may be 0). New reports are returned like
 * cw_shadow_access's. */
int cw_shadow_iter_end(cw_thread *t, cw_iteration *it, uint32_t *reports,
                       uint32_t *nreports);

/* The name holding this container was rebound by t (its contents are
 * replaced as far as readers of the name go): writes into it by other
 * threads, before or after, unordered with this and sharing no lock, are
 * lost updates. Reports are returned like cw_shadow_access's. */
int cw_shadow_replaced(cw_thread *t, uintptr_t container, cw_op op, cw_stack_id stack,
                       uint32_t *reports, uint32_t *nreports);

#endif
