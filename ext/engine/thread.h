/* thread.h: the thread registry and per-thread state.
 *
 * A cw_thread is owned by its thread: only that thread touches the fields
 * under "Owned by the thread". Identity fields are written once at
 * registration (the name also under registry_lock) and read by anyone. Records
 * outlive their threads so reports can name them. */
#ifndef CW_THREAD_H
#define CW_THREAD_H

#include "cw.h"
#include "vclock.h"

#define CW_MAX_HELD 16
#define CW_FRAME_SLOTS 8      /* calls with pending reads or cached stacks */
#define CW_FIRST_FRAME_SLOTS 2 /* a thread starts with this many (an asyncio
                                  task rarely needs more); grows when all are in use */
#define CW_READS_PER_FRAME 8
#define CW_STACKS_PER_FRAME 4
#define CW_NAME_MAX 64

/* A lock (or value-1 semaphore) this thread holds. */
typedef struct cw_held {
    uintptr_t addr;   /* the sync object */
    cw_lock_id id;    /* its incarnation */
    uint32_t count;   /* recursion depth (RLock) */
    uint64_t serial;  /* thread's acquire serial when first taken */
    bool is_mutex;    /* counts for locksets */
} cw_held;

/* A single-key read that a later write in the same call may have acted on. */
typedef struct cw_recent_read {
    uintptr_t frame;     /* the call: a frame object, never reused while live */
    uintptr_t container;
    int64_t key_hash;
    cw_vc *snap;         /* Owned: this thread's clock at the read */
    uint64_t serial;     /* acquire serial at the read */
    cw_site site;
    cw_op op;
    uint64_t stamp;      /* age, for eviction */
    uint64_t suspends;   /* the thread's suspensions before the read (cooperative) */
    uint32_t events;     /* the thread's sync events before the read (history.h) */
} cw_recent_read;

typedef struct cw_stack_cache_entry {
    cw_site site;
    cw_stack_id stack;
} cw_stack_cache_entry;

/* What a thread noted for one call (frame): its pending checks and the
 * stacks captured in it. While a call runs its callers are fixed, so a stack
 * captured at a site of the call stays right until the call ends. */
typedef struct cw_frame_slot {
    uintptr_t frame;    /* 0: free */
    uint64_t stamp;     /* last use, for eviction */
    uint32_t nreads;
    cw_recent_read reads[CW_READS_PER_FRAME];
    cw_stack_cache_entry stacks[CW_STACKS_PER_FRAME];
    uint32_t next_stack;
} cw_frame_slot;

/* A single-key read or write the engine found nothing to do for (no report,
 * its record already there): the same access again, with nothing changed
 * that could change that answer, is skipped (see shadow.c). */
typedef struct cw_access_memo {
    uintptr_t container;
    int64_t key_hash;
    cw_site site;
    bool write;
    uint64_t view;          /* the thread's view when it was answered */
    uint64_t epoch;         /* the shadow epoch then */
    cw_lockset_id locks;
    uint32_t marks;         /* the container's marks then (a change bumps the epoch) */
    uintptr_t frame;        /* the call, and the thread's pending reads then: */
    uint64_t recent_gen;    /* a read need not be noted again, a write is no region */
    uint64_t tick;          /* a write: its shard's tick after it (nothing stored since) */
} cw_access_memo;

#define CW_ACCESS_MEMOS 256 /* a power of two; 22 KiB per thread that reads */
/* A thread's first tables are this small (an asyncio task or a greenlet may
 * make a handful of accesses in its life: zeroing 22 KiB for it cost more
 * than its checks); they grow to full size after CW_MEMOS_GROW_AFTER uses. */
#define CW_FIRST_MEMOS 16
#define CW_MEMOS_GROW_AFTER 64

/* A check this thread made that the engine answered with nothing to do, by
 * the instruction that made it (frame and raw offset): the same check again
 * is answered before its site is even worked out. The last ones, by key. */
typedef struct cw_last_check {
    uintptr_t container;
    int64_t key_hash;
    uintptr_t frame;        /* 0: none */
    int lasti;
    uint64_t view, epoch, recent_gen;
    cw_lockset_id locks;
    uint32_t marks;
} cw_last_check;

#define CW_LAST_CHECKS 64   /* a power of two: a loop over a dict's keys fits */

/* What a stable answer depended on besides the access itself: the thread's
 * view, locks and pending reads, the shadow epoch and, for a write, that
 * nothing was stored in its shard since. A binding keeps one per hot access
 * (the same instruction on the same location) and skips the access while it
 * holds: the repeat of a loop costs a comparison. */
typedef struct cw_repeat_stamp {
    uint64_t view, epoch, recent_gen, tick;
    const uint64_t *tick_at; /* a write's shard's tick (shards never move) */
    cw_lockset_id locks;
    bool write;
} cw_repeat_stamp;

/* The binding's last stable access of one kind by this thread (see
 * cw_shadow_stamp): what it was, in the binding's words (an object and an
 * attribute name, the call, its instruction, the binding's own generation),
 * the location it named and its stamp. */
typedef struct cw_binding_repeat {
    uintptr_t object, name, frame, generation;
    int lasti;
    bool anywhere; /* a write made with no read pending in the thread: the
                      same write from any instruction is answered the same
                      (as FastTrack skips a write in the same epoch) */
    uintptr_t location;
    cw_repeat_stamp stamp;
} cw_binding_repeat;

/* A lockset this thread interned, by the held locks it was made of (in
 * their order in held): the same locks give the same set again while no
 * lock died or became a signal since (cw_lockinfo_generation), so a loop
 * taking one lock interns its set once, not at every access. */
typedef struct cw_lockset_memo {
    uint64_t gen;
    uint32_t n;           /* 0: empty slot */
    cw_lockset_id set;
    cw_lock_id ids[CW_MAX_HELD];
} cw_lockset_memo;

#define CW_LOCKSET_MEMOS 2 /* all held, and held since a pending read */

typedef struct cw_thread {
    /* Identity. A thread is its number (T<number> in reports, never reused;
     * cw_thread_get's key); tid is its slot in vector clocks and access
     * records, which a logical thread may take over from one that ended
     * (see cw_thread_register_cooperative): records name a slot and a
     * clock, and cw_thread_number_at says whose they were. */
    cw_tid tid;
    cw_tid number;
    cw_clock start_clock;   /* its first clock in the slot */
    struct cw_thread *earlier; /* the slot's occupant before it, or NULL */
    cw_tid parent;          /* the creator's number */
    uint64_t ident;
    cw_stack_id created_at;
    char name[CW_NAME_MAX]; /* guarded by registry_lock */
    int alive;              /* atomic */
    bool cooperative;       /* a logical thread (greenlet, asyncio task): it
                               interleaves with the others of its OS thread
                               only where it suspends; ident is that OS thread's */

    /* Owned by the thread. */
    cw_vc *vc;
    bool tick_due;           /* a release or snapshot published vc as it is:
                                its own entry goes up before its next stamp */
    cw_held *held;           /* CW_MAX_HELD of them; freed at exit */
    uint32_t nheld;
    bool held_overflow;     /* more locks than slots: locksets are partial */
    uint64_t acquire_serial;
    cw_lockset_id lockset;  /* cache of the current lockset */
    bool lockset_dirty;
    uint64_t lockset_gen;   /* cw_lockinfo_generation() it was computed at */
    uint64_t pruned_gen;    /* generation held was last pruned at (sync.c) */
    bool prune_pending;     /* a lock already a signal was taken since */
    uint32_t lockset_memo_next;
    cw_lockset_memo *lockset_memos; /* CW_LOCKSET_MEMOS, made on first use, freed at exit */
    cw_frame_slot *frames;   /* nframes of them, made on first use, freed at exit */
    uint32_t nframes;        /* CW_FIRST_FRAME_SLOTS, then CW_FRAME_SLOTS */
    uint32_t nrecent;        /* pending reads over all slots */
    int saved_busy;          /* the binding's busy count while switched out
                                (here: it fills what would be padding) */
    uint64_t stamp;
    uint64_t recent_gen;     /* bumped whenever the pending reads change */
    uint64_t view;           /* bumped whenever vc changes */
    cw_access_memo *memos;   /* memo_mask + 1 of them, made on first use, freed at exit */
    cw_last_check *last_checks; /* last_check_mask + 1, made on first use, freed at exit */
    uint32_t memo_mask, last_check_mask;
    uint32_t memo_uses, last_check_uses; /* while the tables are small */
    cw_binding_repeat repeats[2]; /* the binding's: a read's, a write's */
    cw_clock last_recorded;  /* its clock when it last may have stored an
                                access record (a slot's records go no later) */
    uint32_t nevents;        /* sync events noted so far (history.h); access
                                records keep it to place themselves among them */
    uint64_t suspends;       /* times a cooperative thread was switched out */
    struct cw_history *history; /* its last events: made by the thread at its
                                   first (atomic pointer), read by reporters */
} cw_thread;

/* Register a thread. inherited (Borrowed, may be NULL) is the creator's
 * clock at start; the new thread knows everything it knew. Returns NULL
 * without memory. */
cw_thread *cw_thread_register(cw_tid parent, const cw_vc *inherited,
                              uint64_t ident, const char *name,
                              cw_stack_id created_at);
/* The thread is gone: drop its heavy state (clock, held locks, frame
 * slots), keep its identity for reports. */
void cw_thread_exit(cw_thread *t);
/* A logical thread (cooperative, homed on the calling OS thread): as
 * cw_thread_register, but it takes the slot of a logical thread that ended
 * when what it inherits already knows that one's end (a task gathered by its
 * creator before the next batch), so clocks stay as long as the threads
 * alive at once, not all there ever were. */
cw_thread *cw_thread_register_cooperative(cw_tid parent, const cw_vc *inherited,
                                          uint64_t ident, const char *name,
                                          cw_stack_id created_at);
/* The thread by number. */
cw_thread *cw_thread_get(cw_tid number);
/* The number of the thread that had this slot at this clock. */
cw_tid cw_thread_number_at(cw_tid slot, cw_clock clock);
/* The newest live registered OS thread (not a cooperative one) with this
 * OS/Python ident, or NULL. */
cw_thread *cw_thread_by_ident(uint64_t ident);
uint32_t cw_thread_count(void);
void cw_thread_set_name(cw_thread *t, const char *name);
/* Copy the name (by number) under registry_lock. */
void cw_thread_name(cw_tid number, char *buf, size_t size);
void cw_threads_fini(void);
/* In a forked child: every registered thread is gone (the caller registers
 * itself again); their per-thread state is dropped. */
void cw_threads_after_fork_child(void);

/* The thread's epoch: what its next access will be stamped with (its clock
 * entry, one more while a tick is due). */
static inline cw_clock cw_thread_now(const cw_thread *t)
{
    return cw_vc_get(t->vc, t->tid) + t->tick_due;
}

/* Release side of a hand-off: join this thread's clock into *dst (a clock
 * owned by a sync object, under its guard) and start a new epoch so later
 * accesses are not covered by it. The new epoch is taken lazily: the clock
 * published stays the thread's own (shared, not copied) until it stamps an
 * access, so hand-offs with no access between them (a task's steps, locks
 * around unwatched code) copy no clock. */
int cw_thread_release_into(cw_thread *t, cw_vc **dst);
/* A snapshot of the clock for a child thread or a Handle; also starts a new
 * epoch, lazily as above. */
cw_vc *cw_thread_fork_snapshot(cw_thread *t);
/* Before stamping an access: take the epoch a release or snapshot began
 * (CW_OK, or CW_ERR_NOMEM copying a shared clock). */
int cw_thread_take_epoch(cw_thread *t);
/* Acquire side: learn everything src knew. */
int cw_thread_acquire(cw_thread *t, const cw_vc *src);

/* Held locks. */
int cw_thread_hold(cw_thread *t, uintptr_t addr, cw_lock_id id, bool is_mutex);
/* Drop one level (all levels when all is true); returns the levels dropped,
 * 0 when the thread did not hold it. */
uint32_t cw_thread_unhold(cw_thread *t, uintptr_t addr, bool all);
cw_held *cw_thread_find_held(cw_thread *t, uintptr_t addr);

/* A cooperative thread was switched out: a read before this and a write
 * after it in one call are no longer one atomic step. */
void cw_thread_suspended(cw_thread *t);

/* Recent reads for check-then-act regions. */
void cw_thread_note_read(cw_thread *t, uintptr_t frame, uintptr_t container,
                         int64_t key_hash, cw_site site, cw_op op);
/* The read a write in this call would act on (out->snap is borrowed). */
bool cw_thread_peek_read(cw_thread *t, uintptr_t frame, uintptr_t container,
                         int64_t key_hash, cw_recent_read *out);
/* Find the read a write in this call acted on; the caller owns out->snap. */
bool cw_thread_take_read(cw_thread *t, uintptr_t frame, uintptr_t container,
                         int64_t key_hash, cw_recent_read *out);
/* A frame died: forget what was noted for it (reads, cached stacks). */
void cw_thread_forget_frame(cw_thread *t, uintptr_t frame);
/* Drop every noted read of a container (it was unwatched). */
void cw_thread_forget_container(cw_thread *t, uintptr_t container);

/* Per-frame stack cache: while a frame runs its callers are fixed. */
cw_stack_id cw_thread_cached_stack(cw_thread *t, uintptr_t frame, cw_site site);
void cw_thread_cache_stack(cw_thread *t, uintptr_t frame, cw_site site, cw_stack_id id);

#endif
