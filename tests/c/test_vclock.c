/* Unit tests for ext/engine/vclock.c: reference-counted, copy-on-write clocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>

#include "vclock.h"

static uint32_t refs_of(const cw_vc *vc) { return __atomic_load_n(&vc->refs, __ATOMIC_ACQUIRE); }

static void test_new_and_get(void **state)
{
    (void)state;
    cw_vc *vc = cw_vc_new(5);
    assert_non_null(vc);
    assert_int_equal(vc->len, 5);
    assert_int_equal(refs_of(vc), 1);
    for (cw_tid t = 0; t < 10; t++)
        assert_int_equal(cw_vc_get(vc, t), 0); /* beyond len reads as 0 */
    assert_int_equal(cw_vc_get(NULL, 3), 0);
    cw_vc_unref(vc);
    cw_vc_unref(NULL); /* harmless */
    assert_null(cw_vc_ref(NULL));
}

static void test_tick_and_set_in_place_when_sole(void **state)
{
    (void)state;
    cw_vc *vc = cw_vc_new(4);
    cw_vc *p = vc;
    vc = cw_vc_tick(vc, 1);
    assert_ptr_equal(vc, p); /* sole owner: changed in place */
    vc = cw_vc_tick(vc, 1);
    vc = cw_vc_set(vc, 3, 9);
    assert_ptr_equal(vc, p);
    assert_int_equal(cw_vc_get(vc, 1), 2);
    assert_int_equal(cw_vc_get(vc, 3), 9);
    assert_int_equal(cw_vc_get(vc, 2), 0);
    cw_vc_unref(vc);
}

static void test_copy_on_write_snapshot(void **state)
{
    (void)state;
    cw_vc *own = cw_vc_new(4);
    own = cw_vc_set(own, 1, 5);
    own = cw_vc_set(own, 2, 3);

    cw_vc *snap = cw_vc_ref(own);
    assert_ptr_equal(snap, own);
    assert_int_equal(refs_of(own), 2);

    /* The owner ticks: it gets a private copy; the snapshot is untouched. */
    cw_vc *before = own;
    own = cw_vc_tick(own, 1);
    assert_non_null(own);
    assert_ptr_not_equal(own, before);
    assert_int_equal(cw_vc_get(own, 1), 6);
    assert_int_equal(cw_vc_get(own, 2), 3);
    assert_int_equal(cw_vc_get(snap, 1), 5);
    assert_int_equal(refs_of(snap), 1); /* the owner dropped its share */

    /* Snapshot again, then join something new into the owner. */
    cw_vc *snap2 = cw_vc_ref(own);
    cw_vc *other = cw_vc_new(8);
    other = cw_vc_set(other, 6, 4);
    other = cw_vc_set(other, 2, 10);
    before = own;
    own = cw_vc_join(own, other);
    assert_ptr_not_equal(own, before);
    assert_int_equal(cw_vc_get(own, 6), 4);
    assert_int_equal(cw_vc_get(own, 2), 10);
    assert_int_equal(cw_vc_get(own, 1), 6);
    assert_int_equal(cw_vc_get(snap2, 6), 0);
    assert_int_equal(cw_vc_get(snap2, 2), 3);
    assert_int_equal(cw_vc_get(snap2, 1), 6);

    /* set to the value already there keeps sharing (no copy). */
    cw_vc *snap3 = cw_vc_ref(own);
    before = own;
    own = cw_vc_set(own, 2, 10);
    assert_ptr_equal(own, before);
    assert_int_equal(refs_of(own), 2);

    cw_vc_unref(snap3);
    cw_vc_unref(snap2);
    cw_vc_unref(snap);
    cw_vc_unref(other);
    cw_vc_unref(own);
}

static void test_join(void **state)
{
    (void)state;
    cw_vc *a = cw_vc_new(4), *b = cw_vc_new(6);
    a = cw_vc_set(a, 1, 5);
    a = cw_vc_set(a, 2, 1);
    b = cw_vc_set(b, 1, 3);
    b = cw_vc_set(b, 2, 7);
    b = cw_vc_set(b, 5, 2);
    a = cw_vc_join(a, b);
    assert_non_null(a);
    assert_true(a->len >= 6); /* grew to hold b's entries */
    assert_int_equal(cw_vc_get(a, 1), 5);
    assert_int_equal(cw_vc_get(a, 2), 7);
    assert_int_equal(cw_vc_get(a, 5), 2);
    assert_int_equal(cw_vc_get(a, 3), 0);
    /* src untouched */
    assert_int_equal(cw_vc_get(b, 1), 3);

    /* Joining NULL or itself is a no-op. */
    cw_vc *p = a;
    assert_ptr_equal(cw_vc_join(a, NULL), p);
    assert_ptr_equal(cw_vc_join(a, a), p);

    /* Joining something already known keeps a shared clock shared. */
    cw_vc *snap = cw_vc_ref(a);
    a = cw_vc_join(a, b);
    assert_ptr_equal(a, p);
    assert_int_equal(refs_of(a), 2);
    cw_vc_unref(snap);

    /* Joining into NULL shares src (one more reference); the first write
     * to the result copies it and leaves src as it was. */
    cw_vc *c = cw_vc_join(NULL, b);
    assert_ptr_equal(c, b);
    assert_int_equal(refs_of(b), 2);
    cw_clock b5 = cw_vc_get(b, 5);
    c = cw_vc_tick(c, 5);
    assert_ptr_not_equal(c, b);
    assert_int_equal(refs_of(b), 1);
    assert_int_equal(refs_of(c), 1);
    assert_int_equal(cw_vc_get(b, 5), b5);
    assert_int_equal(cw_vc_get(c, 5), b5 + 1);
    assert_true(cw_vc_leq(b, c) && !cw_vc_leq(c, b));

    cw_vc_unref(a);
    cw_vc_unref(b);
    cw_vc_unref(c);
}

/* Random pairs of clocks of random lengths: a join is the pointwise max,
 * and a src that knows nothing new leaves dst as it was (the same clock). */
static void test_join_is_the_pointwise_max(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ULL; /* xorshift: the same pairs each run */
    for (int round = 0; round < 2000; round++) {
        cw_vc *d = NULL, *src = NULL;
        cw_clock want[64] = {0};
        uint32_t nd, ns;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        nd = (uint32_t)(x % 40);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ns = (uint32_t)(x % 40);
        for (uint32_t t = 0; t < nd; t++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            want[t] = x % 4;
            d = cw_vc_set(d, t, want[t]);
        }
        bool news = false;
        for (uint32_t t = 0; t < ns; t++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            cw_clock v = round % 3 == 0 ? (t < nd ? want[t] : 0) : x % 4; /* a third: nothing new */
            src = cw_vc_set(src, t, v);
            if (v > want[t]) {
                want[t] = v;
                news = true;
            }
        }
        if (d == NULL)
            d = cw_vc_new(1);
        cw_vc *before = d;
        cw_vc *j = cw_vc_join(d, src);
        assert_non_null(j);
        if (!news)
            assert_ptr_equal(j, before);
        for (uint32_t t = 0; t < 64; t++)
            assert_int_equal(cw_vc_get(j, t), want[t]);
        cw_vc_unref(j);
        cw_vc_unref(src);
    }
}

static void test_leq(void **state)
{
    (void)state;
    cw_vc *a = cw_vc_new(3), *b = cw_vc_new(10);
    assert_true(cw_vc_leq(NULL, a));
    assert_true(cw_vc_leq(a, b) && cw_vc_leq(b, a)); /* all zero */
    a = cw_vc_set(a, 1, 2);
    assert_false(cw_vc_leq(a, b));
    assert_true(cw_vc_leq(b, a)); /* b's extra entries are zero */
    b = cw_vc_set(b, 1, 2);
    assert_true(cw_vc_leq(a, b));
    b = cw_vc_set(b, 9, 1);
    assert_true(cw_vc_leq(a, b));
    assert_false(cw_vc_leq(b, a)); /* a does not know tid 9 */
    a = cw_vc_set(a, 2, 1);
    assert_false(cw_vc_leq(a, b)); /* concurrent */
    assert_false(cw_vc_leq(b, a));
    assert_false(cw_vc_leq(a, NULL));
    cw_vc_unref(a);
    cw_vc_unref(b);
}

static void test_growth_to_large_tids(void **state)
{
    (void)state;
    cw_vc *vc = cw_vc_new(2);
    vc = cw_vc_set(vc, 1, 11);
    vc = cw_vc_set(vc, 100000, 7);
    assert_non_null(vc);
    assert_true(vc->len > 100000);
    assert_int_equal(cw_vc_get(vc, 100000), 7);
    assert_int_equal(cw_vc_get(vc, 1), 11);
    assert_int_equal(cw_vc_get(vc, 99999), 0);
    /* Growing one tid at a time stays correct. */
    for (cw_tid t = 1; t < 3000; t++)
        vc = cw_vc_tick(vc, 100000 + t);
    for (cw_tid t = 1; t < 3000; t++)
        assert_int_equal(cw_vc_get(vc, 100000 + t), 1);
    assert_int_equal(cw_vc_get(vc, 100000), 7);

    /* Growth of a shared clock leaves the snapshot at its old length. */
    cw_vc *snap = cw_vc_ref(vc);
    uint32_t old_len = snap->len;
    vc = cw_vc_tick(vc, old_len + 50);
    assert_int_equal(snap->len, old_len);
    assert_int_equal(cw_vc_get(snap, old_len + 50), 0);
    assert_int_equal(cw_vc_get(vc, old_len + 50), 1);
    cw_vc_unref(snap);
    cw_vc_unref(vc);
}

/* Joining a long clock whose tail is zero must not grow the destination:
 * clocks exchanged back and forth would otherwise keep growing each other. */
static void test_join_does_not_grow_for_zero_tail(void **state)
{
    (void)state;
    cw_vc *a = cw_vc_new(16);
    a = cw_vc_set(a, 1, 1);
    uint32_t len = a->len;
    cw_vc *b = cw_vc_new(5000);
    b = cw_vc_set(b, 2, 3);
    a = cw_vc_join(a, b);
    assert_int_equal(a->len, len);
    assert_int_equal(cw_vc_get(a, 2), 3);
    assert_true(cw_vc_leq(b, a));
    /* Back and forth: neither grows past what it needs. */
    for (int i = 0; i < 100; i++) {
        a = cw_vc_tick(a, 1);
        b = cw_vc_join(b, a);
        b = cw_vc_tick(b, 2);
        a = cw_vc_join(a, b);
    }
    assert_int_equal(a->len, len);
    assert_int_equal(cw_vc_get(a, 1), 101);
    assert_int_equal(cw_vc_get(a, 2), 103);
    cw_vc_unref(a);
    cw_vc_unref(b);
}

/* ---- concurrency ----------------------------------------------------------- */

#define NWORKERS 8
#define ROUNDS 200

typedef struct worker_arg {
    cw_vc *snap;        /* owned: dropped by the worker */
    cw_clock expect1;   /* snapshot's c[1] */
    int bad;            /* written by the worker, read after join */
} worker_arg;

static void *reader(void *p)
{
    worker_arg *w = p;
    for (int i = 0; i < 50; i++) {
        /* Extra references taken and dropped concurrently with others. */
        cw_vc *r = cw_vc_ref(w->snap);
        if (cw_vc_get(r, 1) != w->expect1 || cw_vc_get(r, 2) != 77)
            w->bad++;
        /* A private copy to mutate: never touches the shared snapshot. */
        cw_vc *mine = cw_vc_join(NULL, r);
        mine = cw_vc_tick(mine, 3);
        if (mine == NULL || cw_vc_get(mine, 3) != cw_vc_get(r, 3) + 1)
            w->bad++;
        cw_vc_unref(mine);
        cw_vc_unref(r);
    }
    cw_vc_unref(w->snap);
    return NULL;
}

/* Snapshots shared by many threads while the owner keeps ticking: the owner
 * copies on write, the workers' last unref frees the snapshot. */
static void test_concurrent_snapshots(void **state)
{
    (void)state;
    cw_vc *own = cw_vc_new(4);
    own = cw_vc_set(own, 2, 77);
    for (int round = 0; round < ROUNDS / 10; round++) {
        pthread_t th[NWORKERS];
        worker_arg args[NWORKERS];
        for (int i = 0; i < NWORKERS; i++) {
            own = cw_vc_tick(own, 1);
            args[i] = (worker_arg){cw_vc_ref(own), cw_vc_get(own, 1), 0};
            assert_int_equal(pthread_create(&th[i], NULL, reader, &args[i]), 0);
        }
        /* Tick while the workers read their snapshots. */
        for (int k = 0; k < 100; k++) {
            own = cw_vc_tick(own, 1);
            assert_non_null(own);
        }
        for (int i = 0; i < NWORKERS; i++) {
            assert_int_equal(pthread_join(th[i], NULL), 0);
            assert_int_equal(args[i].bad, 0);
        }
    }
    assert_int_equal(refs_of(own), 1);
    cw_vc_unref(own);
}

typedef struct drop_arg {
    cw_vc *shared;
    int start; /* atomic */
    int bad;
} drop_arg;

static void *dropper(void *p)
{
    drop_arg *d = p;
    while (!__atomic_load_n(&d->start, __ATOMIC_ACQUIRE))
        sched_yield();
    cw_vc *vc = d->shared;
    cw_clock sum = 0;
    for (uint32_t i = 0; i < vc->len; i++)
        sum += vc->c[i];
    if (sum != 10)
        __atomic_add_fetch(&d->bad, 1, __ATOMIC_RELAXED);
    cw_vc_unref(vc); /* the reads above must happen before the owner's write */
    return NULL;
}

/* The owner waits (only through the reference count, not pthread_join) until
 * it holds the sole reference and then mutates in place. Under TSan this
 * checks that dropping a reference orders the dropper's reads before the
 * owner's in-place write. */
static void test_concurrent_unref_then_in_place(void **state)
{
    (void)state;
    for (int round = 0; round < ROUNDS; round++) {
        cw_vc *own = cw_vc_new(6);
        own = cw_vc_set(own, 1, 4);
        own = cw_vc_set(own, 5, 6);
        drop_arg d = {own, 0, 0};
        pthread_t th[NWORKERS];
        for (int i = 0; i < NWORKERS; i++) {
            cw_vc_ref(own);
            assert_int_equal(pthread_create(&th[i], NULL, dropper, &d), 0);
        }
        __atomic_store_n(&d.start, 1, __ATOMIC_RELEASE);
        while (refs_of(own) != 1)
            sched_yield();
        cw_vc *p = own;
        own = cw_vc_tick(own, 1);
        assert_ptr_equal(own, p); /* sole again: in place */
        assert_int_equal(cw_vc_get(own, 1), 5);
        for (int i = 0; i < NWORKERS; i++)
            assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(d.bad, 0);
        cw_vc_unref(own);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_get),
        cmocka_unit_test(test_tick_and_set_in_place_when_sole),
        cmocka_unit_test(test_copy_on_write_snapshot),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_join_is_the_pointwise_max),
        cmocka_unit_test(test_leq),
        cmocka_unit_test(test_growth_to_large_tids),
        cmocka_unit_test(test_join_does_not_grow_for_zero_tail),
        cmocka_unit_test(test_concurrent_snapshots),
        cmocka_unit_test(test_concurrent_unref_then_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
