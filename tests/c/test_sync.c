/* Unit tests for ext/engine/sync.c: sync objects, hand-offs and locksets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>

#include "engine.h"
#include "lockset.h"
#include "sync.h"
#include "thread.h"

#include "engine_fixture.h"

static uintptr_t next_addr(void)
{
    static uintptr_t a = 0x7f0000100000;
    return a += 0x100;
}

static cw_thread *reg(const char *name)
{
    static uint64_t ident = 1;
    cw_thread *t = cw_thread_register(0, NULL, ident++, name, 0);
    assert_non_null(t);
    return t;
}

static cw_lock_id acquire(cw_thread *t, uintptr_t lock, cw_lock_kind kind, bool is_mutex)
{
    bool is_new = false;
    cw_lock_id fresh = 0;
    assert_int_equal(cw_sync_lock_acquired(t, lock, kind, is_mutex, 1, &is_new, &fresh), CW_OK);
    (void)fresh;
    cw_held *h = cw_thread_find_held(t, lock);
    return h ? h->id : 0;
}

static void release(cw_thread *t, uintptr_t lock)
{
    assert_int_equal(cw_sync_lock_releasing(t, lock, false), CW_OK);
}

static cw_lockset_id lockset_of(cw_thread *t)
{
    int err = -5;
    cw_lockset_id ls = cw_sync_thread_lockset(t, &err);
    assert_int_equal(err, 0);
    return ls;
}

static bool lockset_has(cw_lockset_id ls, cw_lock_id id)
{
    uint32_t n;
    const cw_lock_id *m = cw_lockset_get(ls, &n);
    for (uint32_t i = 0; i < n; i++)
        if (m[i] == id)
            return true;
    return false;
}

static void test_first_acquire_creates_record(void **state)
{
    (void)state;
    cw_thread *a = reg("a");
    uintptr_t lock = next_addr();
    size_t before = cw_sync_count();
    bool is_new = false;
    cw_lock_id fresh = 0;
    assert_int_equal(cw_sync_lock_acquired(a, lock, CW_LOCK_LOCK, true, 1, &is_new, &fresh), CW_OK);
    assert_true(is_new);
    assert_int_not_equal(fresh, 0); /* the binding is asked to set the role */
    assert_int_equal(cw_sync_count(), before + 1);
    cw_lockinfo li;
    assert_true(cw_lockinfo_get(fresh, &li));
    assert_int_equal(li.addr, lock);
    assert_int_equal(li.kind, CW_LOCK_LOCK);
    release(a, lock);
    /* Second acquire: not new, no role request. */
    assert_int_equal(cw_sync_lock_acquired(a, lock, CW_LOCK_LOCK, true, 1, &is_new, &fresh), CW_OK);
    assert_false(is_new);
    assert_int_equal(fresh, 0);
    release(a, lock);
    assert_int_equal(cw_sync_count(), before + 1);
}

/* A critical section by one thread: a lockset member, no happens-before. */
static void test_same_thread_lock_no_hb_but_lockset(void **state)
{
    (void)state;
    cw_thread *a = reg("a"), *b = reg("b");
    uintptr_t lock = next_addr();
    assert_int_equal(lockset_of(a), 0);
    cw_lock_id id = acquire(a, lock, CW_LOCK_LOCK, true);
    assert_int_not_equal(id, 0);
    cw_lockset_id ls = lockset_of(a);
    assert_int_not_equal(ls, 0);
    assert_true(lockset_has(ls, id));
    cw_clock a_now = cw_thread_now(a);
    release(a, lock);
    assert_int_equal(lockset_of(a), 0);
    assert_int_equal(cw_thread_now(a), a_now); /* no new epoch either */

    cw_lock_id id_b = acquire(b, lock, CW_LOCK_LOCK, true);
    assert_int_equal(id_b, id); /* same incarnation */
    assert_int_equal(cw_vc_get(b->vc, a->tid), 0); /* learned nothing from a */
    cw_lockset_id lsb = lockset_of(b);
    assert_true(lockset_has(lsb, id));
    assert_int_equal(lsb, ls); /* same set, same interned id */
    release(b, lock);
    assert_int_equal(lockset_of(b), 0);
    cw_lockinfo li;
    assert_true(cw_lockinfo_get(id, &li));
    assert_false(li.signal);
}

static void test_rlock_recursion_and_non_mutex(void **state)
{
    (void)state;
    cw_thread *a = reg("a");
    uintptr_t r = next_addr(), sem = next_addr();
    cw_lock_id rid = acquire(a, r, CW_LOCK_RLOCK, true);
    acquire(a, r, CW_LOCK_RLOCK, true);
    assert_int_equal(cw_thread_find_held(a, r)->count, 2);
    release(a, r);
    assert_true(lockset_has(lockset_of(a), rid)); /* still held once */
    release(a, r);
    assert_null(cw_thread_find_held(a, r));
    assert_int_equal(lockset_of(a), 0);

    /* count > 1 (an RLock's _acquire_restore) and release of all levels. */
    bool is_new;
    assert_int_equal(cw_sync_lock_acquired(a, r, CW_LOCK_RLOCK, true, 3, &is_new, NULL), CW_OK);
    assert_int_equal(cw_thread_find_held(a, r)->count, 3);
    assert_int_equal(cw_sync_lock_releasing(a, r, true), CW_OK);
    assert_null(cw_thread_find_held(a, r));

    /* A counting semaphore is held but never in the lockset. */
    acquire(a, sem, CW_LOCK_SEMAPHORE, false);
    assert_non_null(cw_thread_find_held(a, sem));
    assert_int_equal(lockset_of(a), 0);
    release(a, sem);
}

static void test_held_since(void **state)
{
    (void)state;
    cw_thread *a = reg("a");
    uintptr_t outer = next_addr(), inner = next_addr();
    cw_lock_id oid = acquire(a, outer, CW_LOCK_LOCK, true);
    uint64_t serial = a->acquire_serial; /* a check made now */
    cw_lock_id iid = acquire(a, inner, CW_LOCK_LOCK, true);
    int err = -5;
    cw_lockset_id across = cw_sync_held_since(a, serial, &err);
    assert_int_equal(err, 0);
    assert_true(lockset_has(across, oid));
    assert_false(lockset_has(across, iid)); /* taken after the check */
    cw_lockset_id now = lockset_of(a);
    assert_true(lockset_has(now, oid) && lockset_has(now, iid));
    release(a, inner);
    release(a, outer);
}

/* Acquired by A, released by B: a hand-off (a signal). */
static void test_handoff_release_by_other_thread(void **state)
{
    (void)state;
    cw_thread *a = reg("a"), *b = reg("b"), *c = reg("c");
    uintptr_t lock = next_addr();
    cw_lock_id id = acquire(a, lock, CW_LOCK_LOCK, true);
    assert_true(lockset_has(lockset_of(a), id));

    cw_clock b_at = cw_thread_now(b);
    release(b, lock); /* b did not acquire it */
    assert_int_equal(cw_thread_now(b), b_at + 1); /* b starts a new epoch */
    cw_lockinfo li;
    assert_true(cw_lockinfo_get(id, &li));
    assert_true(li.signal);
    /* It is no longer a lockset member, not even for a, who still "holds" it. */
    assert_int_equal(lockset_of(a), 0);

    /* A later acquirer learns b's clock at the release, not after. */
    assert_int_equal(cw_vc_get(c->vc, b->tid), 0);
    acquire(c, lock, CW_LOCK_LOCK, true);
    assert_int_equal(cw_vc_get(c->vc, b->tid), b_at);
    assert_int_equal(lockset_of(c), 0); /* a signal never counts as a lock */
    assert_int_equal(cw_vc_get(c->vc, a->tid), 0); /* a published nothing */
    release(c, lock);
    /* The semaphore-style pattern repeats: b releases for c. */
    acquire(c, lock, CW_LOCK_LOCK, true);
    assert_int_equal(cw_thread_take_epoch(b), CW_OK); /* b stamps an access */
    cw_clock b_at2 = cw_thread_now(b);
    release(b, lock);
    cw_thread *d = reg("d");
    acquire(d, lock, CW_LOCK_LOCK, true);
    assert_int_equal(cw_vc_get(d->vc, b->tid), b_at2);
    release(d, lock);
}

static void test_release_never_acquired_does_nothing(void **state)
{
    (void)state;
    cw_thread *a = reg("a"), *b = reg("b");
    uintptr_t unknown = next_addr();
    size_t before = cw_sync_count();
    cw_clock now = cw_thread_now(a);
    release(a, unknown);
    assert_int_equal(cw_sync_count(), before); /* no record made */
    assert_int_equal(cw_thread_now(a), now);    /* no epoch */
    /* Nothing was published for a later acquirer either. */
    acquire(b, unknown, CW_LOCK_LOCK, true);
    assert_int_equal(cw_vc_get(b->vc, a->tid), 0);
    release(b, unknown);

    /* A Lock declared but never seen acquired: a release is not a hand-off
     * (it was taken before we started watching). */
    uintptr_t declared = next_addr();
    bool is_new = false;
    assert_int_equal(cw_sync_declare(declared, CW_LOCK_LOCK, true, &is_new), CW_OK);
    assert_true(is_new);
    release(a, declared);
    assert_int_equal(cw_thread_now(a), now);
    cw_lock_id id = acquire(b, declared, CW_LOCK_LOCK, true);
    assert_int_equal(cw_vc_get(b->vc, a->tid), 0);
    cw_lockinfo li;
    assert_true(cw_lockinfo_get(id, &li));
    assert_false(li.signal);
    assert_true(lockset_has(lockset_of(b), id));
    release(b, declared);

    /* An RLock released by a non-owner raises in Python: nothing happens. */
    uintptr_t r = next_addr();
    cw_lock_id rid = acquire(a, r, CW_LOCK_RLOCK, true);
    cw_clock bnow = cw_thread_now(b);
    release(b, r);
    assert_int_equal(cw_thread_now(b), bnow);
    assert_true(cw_lockinfo_get(rid, &li));
    assert_false(li.signal);
    assert_true(lockset_has(lockset_of(a), rid));
    release(a, r);
}

/* A value-1 semaphore declared as a mutex is a lockset member while one
 * thread acquires and releases it. */
static void test_declared_semaphore_mutex(void **state)
{
    (void)state;
    cw_thread *a = reg("a"), *b = reg("b");
    uintptr_t sem = next_addr();
    bool is_new = false;
    assert_int_equal(cw_sync_declare(sem, CW_LOCK_SEMAPHORE, true, &is_new), CW_OK);
    assert_true(is_new);
    assert_int_equal(cw_sync_declare(sem, CW_LOCK_SEMAPHORE, true, &is_new), CW_OK);
    assert_false(is_new);
    cw_lock_id id = acquire(a, sem, CW_LOCK_SEMAPHORE, true);
    cw_lockinfo li;
    assert_true(cw_lockinfo_get(id, &li));
    assert_int_equal(li.kind, CW_LOCK_SEMAPHORE);
    assert_true(lockset_has(lockset_of(a), id));
    release(a, sem);
    assert_int_equal(lockset_of(a), 0);
    acquire(b, sem, CW_LOCK_SEMAPHORE, true);
    assert_int_equal(cw_vc_get(b->vc, a->tid), 0);
    release(b, sem);
}

/* Semaphore(0) used as a signal: released by a thread that never acquired
 * it, acquired by another, which learns the releaser's clock. */
static void test_semaphore_signal(void **state)
{
    (void)state;
    cw_thread *a = reg("a"), *b = reg("b");
    uintptr_t sem = next_addr();
    bool is_new = false;
    assert_int_equal(cw_sync_declare(sem, CW_LOCK_SEMAPHORE, false, &is_new), CW_OK);
    cw_clock a_at = cw_thread_now(a);
    release(a, sem);
    acquire(b, sem, CW_LOCK_SEMAPHORE, false);
    assert_int_equal(cw_vc_get(b->vc, a->tid), a_at);
    assert_int_equal(lockset_of(b), 0);
}

/* A counting semaphore held by more threads at once than the record tracks
 * (MAX_HOLDERS in sync.c is 4). Each thread acquires and then releases its
 * own permit: by cw.h's rule an acquire and release by one thread is a
 * critical section, not a hand-off, and after its release the thread no
 * longer holds the semaphore. */
static void test_semaphore_many_holders_release_own(void **state)
{
    (void)state;
    enum { N = 6 };
    cw_thread *t[N];
    for (int i = 0; i < N; i++)
        t[i] = reg("pool");
    uintptr_t sem = next_addr();
    bool is_new = false;
    assert_int_equal(cw_sync_declare(sem, CW_LOCK_SEMAPHORE, false, &is_new), CW_OK);
    for (int i = 0; i < N; i++) {
        acquire(t[i], sem, CW_LOCK_SEMAPHORE, false);
        assert_non_null(cw_thread_find_held(t[i], sem));
    }
    for (int i = N - 1; i >= 0; i--) {
        release(t[i], sem);
        assert_null(cw_thread_find_held(t[i], sem));
    }
    /* Nobody handed anything to a later acquirer. */
    cw_thread *late = reg("late");
    acquire(late, sem, CW_LOCK_SEMAPHORE, false);
    for (int i = 0; i < N; i++)
        assert_int_equal(cw_vc_get(late->vc, t[i]->tid), 0);
    release(late, sem);
}

static void test_publish_consume(void **state)
{
    (void)state;
    cw_thread *a = reg("a"), *b = reg("b"), *c = reg("c");
    uintptr_t q = next_addr();

    /* Consume before any publish: nothing learned, no record needed. */
    assert_int_equal(cw_sync_consume(b, q), CW_OK);
    assert_int_equal(cw_vc_get(b->vc, a->tid), 0);

    cw_clock a_at = cw_thread_now(a);
    bool is_new = false;
    assert_int_equal(cw_sync_publish(a, q, &is_new), CW_OK);
    assert_true(is_new);
    assert_int_equal(cw_thread_now(a), a_at + 1); /* later work is not covered */
    assert_int_equal(cw_sync_consume(b, q), CW_OK);
    assert_int_equal(cw_vc_get(b->vc, a->tid), a_at);

    /* Publishes accumulate: c learns both a and b. */
    cw_clock b_at = cw_thread_now(b);
    assert_int_equal(cw_sync_publish(b, q, &is_new), CW_OK);
    assert_false(is_new);
    assert_int_equal(cw_sync_consume(c, q), CW_OK);
    assert_int_equal(cw_vc_get(c->vc, a->tid), a_at);
    assert_int_equal(cw_vc_get(c->vc, b->tid), b_at);

    /* Publishing a clock the caller owns (a thread's final clock). */
    uintptr_t joinable = next_addr();
    cw_vc *final = cw_vc_ref(a->vc);
    assert_int_equal(cw_sync_publish_clock(joinable, final, &is_new), CW_OK);
    assert_true(is_new);
    cw_clock a_final = cw_vc_get(final, a->tid);
    cw_vc_unref(final);
    cw_thread *d = reg("d");
    assert_int_equal(cw_sync_consume(d, joinable), CW_OK);
    assert_int_equal(cw_vc_get(d->vc, a->tid), a_final);
    /* The record's clock is its own: a's later ticks do not leak into it. */
    assert_int_equal(cw_sync_publish(a, next_addr(), &is_new), CW_OK);
    cw_thread *e = reg("e");
    assert_int_equal(cw_sync_consume(e, joinable), CW_OK);
    assert_int_equal(cw_vc_get(e->vc, a->tid), a_final);
}

static void test_ignore(void **state)
{
    (void)state;
    cw_thread *a = reg("a"), *b = reg("b"), *c = reg("c");
    uintptr_t sentinel = next_addr();
    bool is_new = false;
    assert_int_equal(cw_sync_ignore(sentinel, &is_new), CW_OK);
    assert_true(is_new);
    cw_lock_id fresh = 77;
    assert_int_equal(cw_sync_lock_acquired(a, sentinel, CW_LOCK_LOCK, true, 1, &is_new, &fresh), CW_OK);
    assert_false(is_new);
    assert_int_equal(fresh, 0);
    assert_null(cw_thread_find_held(a, sentinel));
    assert_int_equal(lockset_of(a), 0);
    /* A release by another thread is not a hand-off. */
    cw_clock bnow = cw_thread_now(b);
    release(b, sentinel);
    assert_int_equal(cw_thread_now(b), bnow);
    acquire(c, sentinel, CW_LOCK_LOCK, true);
    assert_int_equal(cw_vc_get(c->vc, b->tid), 0);
    release(a, sentinel);
    assert_int_equal(cw_thread_now(a), 1);
}

static int cookie_a, cookie_b;

static void test_cookies_and_forget(void **state)
{
    (void)state;
    cw_thread *a = reg("a");
    uintptr_t lock = next_addr();
    /* No record: the cookie comes straight back. */
    assert_ptr_equal(cw_sync_set_cookie(lock, &cookie_a), &cookie_a);
    cw_lock_id id = acquire(a, lock, CW_LOCK_LOCK, true);
    assert_true(lockset_has(lockset_of(a), id)); /* it guarded an access */
    release(a, lock);
    size_t before = cw_sync_count();
    assert_null(cw_sync_set_cookie(lock, &cookie_a)); /* attached */
    assert_ptr_equal(cw_sync_set_cookie(lock, &cookie_b), &cookie_b); /* one is enough */
    assert_ptr_equal(cw_sync_forget(lock), &cookie_a);
    assert_int_equal(cw_sync_count(), before - 1);
    assert_null(cw_sync_forget(lock)); /* gone */
    cw_lockinfo li;
    assert_true(cw_lockinfo_get(id, &li));
    assert_int_not_equal(li.death, 0);

    /* The address is reused by a new lock: a new incarnation. */
    bool is_new = false;
    cw_lock_id fresh = 0;
    assert_int_equal(cw_sync_lock_acquired(a, lock, CW_LOCK_LOCK, true, 1, &is_new, &fresh), CW_OK);
    assert_true(is_new);
    assert_int_not_equal(fresh, 0);
    assert_int_not_equal(fresh, id);
    release(a, lock);
    assert_null(cw_sync_forget(lock)); /* no cookie attached this time */
    /* It never guarded anything: nothing of it is kept. */
    assert_false(cw_lockinfo_get(fresh, &li));
    assert_null(cw_sync_forget(next_addr()));
}

static void test_lock_dies_while_held(void **state)
{
    (void)state;
    cw_thread *a = reg("a");
    uintptr_t lock = next_addr();
    cw_lock_id id = acquire(a, lock, CW_LOCK_LOCK, true);
    assert_true(lockset_has(lockset_of(a), id));
    cw_sync_forget(lock);
    /* The thread will never release it through us: it leaves the lockset. */
    assert_int_equal(lockset_of(a), 0);
    assert_null(cw_thread_find_held(a, lock));
}

/* A thread's locksets are remembered by the locks they were made of, and
 * the memory is dropped when a lock dies or turns into a signal; a lock
 * that was already a signal when taken never joins a lockset. */
static void test_remembered_locksets_follow_deaths_and_signals(void **state)
{
    (void)state;
    cw_thread *a = reg("a"), *b = reg("b"), *c = reg("c");
    uintptr_t l1 = next_addr(), l2 = next_addr(), sig = next_addr();
    cw_lock_id id1 = acquire(a, l1, CW_LOCK_LOCK, true);
    cw_lock_id id2 = acquire(a, l2, CW_LOCK_LOCK, true);
    int err = -5;
    cw_lockset_id both = cw_sync_held_since(a, UINT64_MAX, &err);
    assert_int_equal(err, 0);
    assert_true(lockset_has(both, id1) && lockset_has(both, id2));
    assert_int_equal(cw_sync_held_since(a, UINT64_MAX, &err), both);
    assert_int_equal(lockset_of(a), both);

    cw_sync_forget(l2); /* died while held */
    cw_lockset_id after = cw_sync_held_since(a, UINT64_MAX, &err);
    assert_true(lockset_has(after, id1));
    assert_false(lockset_has(after, id2));

    /* c takes sig, b lets it go: a hand-off, sig is a signal from now on */
    acquire(c, sig, CW_LOCK_LOCK, true);
    release(b, sig);
    assert_int_equal(cw_sync_held_since(a, UINT64_MAX, &err), after); /* nothing of a's moved */
    acquire(a, sig, CW_LOCK_LOCK, true);
    cw_lockset_id with_signal = cw_sync_held_since(a, UINT64_MAX, &err);
    assert_int_equal(with_signal, after); /* sig protects nothing */
    assert_int_equal(lockset_of(a), after);
    release(a, l1);
    assert_int_equal(cw_sync_held_since(a, UINT64_MAX, &err), 0);
}

/* Only a death that may leave a lock in some thread's held locks makes the
 * threads re-check theirs: most locks (a Future's, a Condition's waiter
 * after its hand-off) die released, and their deaths must not drop every
 * thread's remembered lockset. */
static void test_only_a_death_that_may_be_held_makes_threads_recheck(void **state)
{
    (void)state;
    cw_thread *a = reg("a"), *b = reg("b"), *c = reg("c");
    uintptr_t mine = next_addr(), passing = next_addr(), dropped = next_addr(),
              sig = next_addr();
    cw_lock_id id = acquire(a, mine, CW_LOCK_LOCK, true);
    cw_lockset_id set = lockset_of(a);
    uint64_t gen = cw_lockinfo_generation();

    acquire(b, passing, CW_LOCK_LOCK, true);
    release(b, passing);
    cw_sync_forget(passing); /* died released */
    assert_int_equal(cw_lockinfo_generation(), gen);

    acquire(c, sig, CW_LOCK_LOCK, true);
    release(b, sig); /* a hand-off: sig is a signal now */
    assert_true(cw_lockinfo_generation() > gen);
    gen = cw_lockinfo_generation();
    acquire(c, sig, CW_LOCK_LOCK, true);
    cw_sync_forget(sig); /* held as a signal, which no lockset lists */
    assert_int_equal(cw_lockinfo_generation(), gen);
    assert_int_equal(lockset_of(c), 0);

    acquire(b, dropped, CW_LOCK_LOCK, true);
    cw_sync_forget(dropped); /* died held: b must drop it */
    assert_true(cw_lockinfo_generation() > gen);
    assert_int_equal(lockset_of(b), 0);
    assert_int_equal(lockset_of(a), set);
    assert_true(lockset_has(set, id));
    release(a, mine);
}

/* Roles through the sync layer: the binding sets the role on first acquire. */
static void test_role_via_sync(void **state)
{
    (void)state;
    cw_thread *a = reg("a"), *b = reg("b");
    cw_site role = {0xfeed, 10};
    uintptr_t l1 = next_addr();
    bool is_new;
    cw_lock_id fresh = 0;
    assert_int_equal(cw_sync_lock_acquired(a, l1, CW_LOCK_LOCK, true, 1, &is_new, &fresh), CW_OK);
    cw_lockinfo_set_role(fresh, role, 0);
    cw_lockset_id s1 = lockset_of(a);
    release(a, l1);
    cw_sync_forget(l1);
    uintptr_t l2 = next_addr();
    assert_int_equal(cw_sync_lock_acquired(b, l2, CW_LOCK_LOCK, true, 1, &is_new, &fresh), CW_OK);
    cw_lockinfo_set_role(fresh, role, 0);
    cw_lockset_id s2 = lockset_of(b);
    assert_int_not_equal(s1, s2);
    assert_false(cw_lockset_disjoint(s1, s2));
    release(b, l2);
}

/* ---- concurrency ----------------------------------------------------------- */

#define NTHREADS 8
#define ITERS 2000

static pthread_mutex_t real_locks[4] = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                                        PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER};
static uintptr_t lock_addrs[4];
static uintptr_t queue_addrs[2];
static uintptr_t sem_addr;
static uintptr_t churn_base;
static int start_flag; /* atomic */

typedef struct worker {
    int index;
    cw_thread *t;
    int bad;
} worker;

static void *hammer(void *p)
{
    worker *w = p;
    while (!__atomic_load_n(&start_flag, __ATOMIC_ACQUIRE))
        ;
    char name[16];
    snprintf(name, sizeof(name), "hammer-%d", w->index);
    w->t = cw_thread_register(0, NULL, 5000 + (uint64_t)w->index, name, 0);
    if (w->t == NULL) {
        w->bad++;
        return NULL;
    }
    cw_thread *t = w->t;
    for (int i = 0; i < ITERS; i++) {
        int k = (i + w->index) % 4;
        bool is_new;
        cw_lock_id fresh = 0;
        int err = 0;
        /* A real critical section, mirrored in the engine. */
        pthread_mutex_lock(&real_locks[k]);
        if (cw_sync_lock_acquired(t, lock_addrs[k], CW_LOCK_LOCK, true, 1, &is_new, &fresh) != CW_OK)
            w->bad++;
        if (fresh)
            cw_lockinfo_set_role(fresh, (cw_site){0x1000 + (uintptr_t)k, 1}, 0);
        cw_lockset_id ls = cw_sync_thread_lockset(t, &err);
        cw_held *h = cw_thread_find_held(t, lock_addrs[k]);
        if (err || ls == 0 || h == NULL || !lockset_has(ls, h->id))
            w->bad++;
        if (cw_sync_lock_releasing(t, lock_addrs[k], false) != CW_OK)
            w->bad++;
        pthread_mutex_unlock(&real_locks[k]);

        /* Hand-offs through queues. */
        uintptr_t q = queue_addrs[i % 2];
        if ((i + w->index) % 2)
            err = cw_sync_publish(t, q, &is_new);
        else
            err = cw_sync_consume(t, q);
        if (err != CW_OK)
            w->bad++;

        /* A semaphore-like object with no real exclusion: acquires and
         * releases by different threads interleave freely. */
        if (cw_sync_lock_acquired(t, sem_addr, CW_LOCK_SEMAPHORE, false, 1, &is_new, NULL) != CW_OK ||
            cw_sync_lock_releasing(t, sem_addr, false) != CW_OK)
            w->bad++;
        if (i % 3 == 0 && cw_sync_lock_releasing(t, sem_addr, false) != CW_OK)
            w->bad++;

        /* Short-lived private locks: created, used, dying. */
        uintptr_t mine = churn_base + (uintptr_t)w->index * 0x100000 + (uintptr_t)(i % 64) * 16;
        if (cw_sync_lock_acquired(t, mine, CW_LOCK_RLOCK, true, 1, &is_new, NULL) != CW_OK)
            w->bad++;
        cw_sync_thread_lockset(t, &err);
        if (cw_sync_lock_releasing(t, mine, false) != CW_OK)
            w->bad++;
        if (i % 8 == 7)
            cw_sync_forget(mine);
        if (i % 50 == 0)
            (void)cw_sync_count();
    }
    return NULL;
}

static void test_concurrent_hammer(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++)
        lock_addrs[i] = next_addr();
    queue_addrs[0] = next_addr();
    queue_addrs[1] = next_addr();
    sem_addr = next_addr();
    churn_base = 0x7e0000000000;
    worker ws[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        ws[i] = (worker){i, NULL, 0};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &ws[i]), 0);
    }
    __atomic_store_n(&start_flag, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < NTHREADS; i++) {
        assert_int_equal(ws[i].bad, 0);
        assert_non_null(ws[i].t);
        /* Every real lock was released by its acquirer: none is held. */
        for (int k = 0; k < 4; k++)
            assert_null(cw_thread_find_held(ws[i].t, lock_addrs[k]));
    }
    for (int k = 0; k < 4; k++) {
        cw_thread *t = ws[0].t;
        cw_lock_id id = acquire(t, lock_addrs[k], CW_LOCK_LOCK, true);
        cw_lockinfo li;
        assert_true(cw_lockinfo_get(id, &li));
        assert_false(li.signal);
        assert_int_equal(li.role.code, 0x1000 + (uintptr_t)k);
        release(t, lock_addrs[k]);
    }
    /* Every queue consumer learned from some publisher. */
    int learned = 0;
    for (int i = 0; i < NTHREADS; i++)
        for (int j = 0; j < NTHREADS; j++)
            if (i != j && cw_vc_get(ws[i].t->vc, ws[j].t->tid) > 0)
                learned++;
    assert_true(learned > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_acquire_creates_record),
        cmocka_unit_test(test_same_thread_lock_no_hb_but_lockset),
        cmocka_unit_test(test_rlock_recursion_and_non_mutex),
        cmocka_unit_test(test_held_since),
        cmocka_unit_test(test_handoff_release_by_other_thread),
        cmocka_unit_test(test_release_never_acquired_does_nothing),
        cmocka_unit_test(test_declared_semaphore_mutex),
        cmocka_unit_test(test_semaphore_signal),
        cmocka_unit_test(test_semaphore_many_holders_release_own),
        cmocka_unit_test(test_publish_consume),
        cmocka_unit_test(test_ignore),
        cmocka_unit_test(test_cookies_and_forget),
        cmocka_unit_test(test_lock_dies_while_held),
        cmocka_unit_test(test_remembered_locksets_follow_deaths_and_signals),
        cmocka_unit_test(test_only_a_death_that_may_be_held_makes_threads_recheck),
        cmocka_unit_test(test_role_via_sync),
        cmocka_unit_test(test_concurrent_hammer),
    };
    return fixture_status(cmocka_run_group_tests(tests, setup, teardown));
}
