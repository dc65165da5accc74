/* Unit tests for ext/engine/lockset.c: lock incarnations and interned locksets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>

#include "lockset.h"
#include "memory.h"

static int setup(void **state)
{
    (void)state;
    return cw_lockset_init() == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cw_lockset_fini();
    return 0;
}

static uintptr_t next_addr(void)
{
    static uintptr_t a = 0x10000;
    return a += 0x40;
}

static cw_site site(uintptr_t code, int32_t off)
{
    cw_site s = {code, off};
    return s;
}

static cw_lockset_id set1(cw_lock_id a)
{
    int err = -5;
    cw_lockset_id s = cw_lockset_intern(&a, 1, &err);
    assert_int_equal(err, 0);
    assert_int_not_equal(s, 0);
    return s;
}

/* A lock that guarded some access: a lockset holds it, so its record
 * outlives it (the role rule needs its lifetime). */
static cw_lock_id new_lock(cw_site role)
{
    cw_lock_id id = cw_lockinfo_new(next_addr(), CW_LOCK_LOCK, role, 0);
    assert_int_not_equal(id, 0);
    set1(id);
    return id;
}

static void test_lockinfo_records(void **state)
{
    (void)state;
    uintptr_t addr = next_addr();
    cw_lock_id id = cw_lockinfo_new(addr, CW_LOCK_RLOCK, site(0xabc, 4), 17);
    assert_int_not_equal(id, 0);
    cw_lockinfo li;
    assert_true(cw_lockinfo_get(id, &li));
    assert_int_equal(li.id, id);
    assert_int_equal(li.addr, addr);
    assert_int_equal(li.kind, CW_LOCK_RLOCK);
    assert_int_equal(li.role.code, 0xabc);
    assert_int_equal(li.role.offset, 4);
    assert_int_equal(li.role_stack, 17);
    assert_int_not_equal(li.birth, 0);
    assert_int_equal(li.death, 0);
    assert_false(li.signal);

    cw_lock_id id2 = cw_lockinfo_new(next_addr(), CW_LOCK_LOCK, site(0, 0), 0);
    assert_int_not_equal(id2, id);
    cw_lockinfo li2;
    assert_true(cw_lockinfo_get(id2, &li2));
    assert_true(li2.birth > li.birth);

    cw_lockinfo_set_role(id2, site(0xdef, 8), 23);
    assert_true(cw_lockinfo_get(id2, &li2));
    assert_int_equal(li2.role.code, 0xdef);
    assert_int_equal(li2.role_stack, 23);

    uint64_t gen = cw_lockinfo_generation();
    cw_lockinfo_mark_signal(id2);
    assert_true(cw_lockinfo_generation() > gen);
    assert_true(cw_lockinfo_get(id2, &li2));
    assert_true(li2.signal);

    gen = cw_lockinfo_generation();
    set1(id); /* held at some access: its record outlives it */
    cw_lockinfo_died(id, true);
    assert_true(cw_lockinfo_generation() > gen);
    assert_true(cw_lockinfo_get(id, &li));
    assert_true(li.death > li.birth);
    uint64_t death = li.death;
    cw_lockinfo_died(id, true); /* a second death keeps the first */
    assert_true(cw_lockinfo_get(id, &li));
    assert_int_equal(li.death, death);

    assert_false(cw_lockinfo_get(0, &li));
    assert_false(cw_lockinfo_get(id2 + 100000, &li));
    assert_false(cw_lockinfo_get((cw_lock_id)1 << 40, &li));
}

/* A lock no lockset ever held is forgotten when it dies, and a set made of
 * it afterwards is empty: it protects nothing any more. */
static void test_unguarded_lock_forgotten_at_death(void **state)
{
    (void)state;
    cw_lock_id ids[1000];
    size_t after_round[3];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1000; i++)
            ids[i] = cw_lockinfo_new(next_addr(), CW_LOCK_RLOCK, site(0xfeed, 2), 0);
        for (int i = 0; i < 1000; i++)
            cw_lockinfo_died(ids[i], true);
        after_round[round] = cw_mem_bytes(CW_MEM_LOCKS);
    }
    cw_lockinfo li;
    assert_false(cw_lockinfo_get(ids[0], &li));
    assert_int_equal(cw_lockset_intern(ids, 1, NULL), 0);
    /* Flat: churning locks costs nothing once they are gone. */
    assert_true(after_round[2] <= after_round[1]);
    assert_true(after_round[1] <= after_round[0]);
}

static void test_intern_order_and_dedup(void **state)
{
    (void)state;
    cw_lock_id a = new_lock(site(0, 0)), b = new_lock(site(0, 0)), c = new_lock(site(0, 0));
    int err = -5;
    cw_lock_id abc[] = {a, b, c}, cba[] = {c, b, a}, dup[] = {b, a, c, a, b, c, c};
    cw_lockset_id s1 = cw_lockset_intern(abc, 3, &err);
    assert_int_equal(err, 0);
    assert_int_not_equal(s1, 0);
    assert_int_equal(cw_lockset_intern(cba, 3, &err), s1);
    assert_int_equal(cw_lockset_intern(dup, 7, &err), s1);
    assert_int_equal(cw_lockset_intern(dup, 7, NULL), s1); /* err may be NULL */

    uint32_t n = 0;
    const cw_lock_id *m = cw_lockset_get(s1, &n);
    assert_int_equal(n, 3);
    assert_true(m[0] < m[1] && m[1] < m[2]); /* sorted, unique */
    assert_int_equal(m[0], a < b ? (a < c ? a : c) : (b < c ? b : c));

    cw_lock_id ab[] = {a, b};
    cw_lockset_id s2 = cw_lockset_intern(ab, 2, &err);
    assert_int_not_equal(s2, s1);
    cw_lockset_id s3 = set1(a);
    assert_int_not_equal(s3, s2);
    assert_int_equal(set1(a), s3);
}

static void test_empty_set_is_zero(void **state)
{
    (void)state;
    int err = -5;
    assert_int_equal(cw_lockset_intern(NULL, 0, &err), 0);
    assert_int_equal(err, 0);
    cw_lock_id zeros[] = {0, 0, 0};
    assert_int_equal(cw_lockset_intern(zeros, 3, &err), 0); /* 0 means "no lock" */
    assert_int_equal(err, 0);
    uint32_t n = 9;
    assert_null(cw_lockset_get(0, &n));
    assert_int_equal(n, 0);
    /* The empty set shares nothing, not even with itself. */
    cw_lockset_id s = set1(new_lock(site(0, 0)));
    assert_true(cw_lockset_disjoint(0, 0));
    assert_true(cw_lockset_disjoint(0, s));
    assert_true(cw_lockset_disjoint(s, 0));
}

static void test_disjointness(void **state)
{
    (void)state;
    cw_lock_id a = new_lock(site(0, 0)), b = new_lock(site(0, 0)), c = new_lock(site(0, 0));
    cw_lock_id ab[] = {a, b}, bc[] = {b, c};
    cw_lockset_id sa = set1(a), sb = set1(b), sc = set1(c);
    cw_lockset_id sab = cw_lockset_intern(ab, 2, NULL);
    cw_lockset_id sbc = cw_lockset_intern(bc, 2, NULL);
    assert_false(cw_lockset_disjoint(sa, sa));
    assert_true(cw_lockset_disjoint(sa, sb));
    assert_true(cw_lockset_disjoint(sa, sc));
    assert_false(cw_lockset_disjoint(sab, sbc)); /* share b */
    assert_false(cw_lockset_disjoint(sbc, sab));
    assert_false(cw_lockset_disjoint(sa, sab));
    assert_true(cw_lockset_disjoint(sa, sbc));
    assert_true(cw_lockset_disjoint(sc, sab));
}

/* The role rule: one role, incarnations whose lifetimes did not overlap
 * (a lock registry that drops and re-creates a lock for one name). */
static void test_role_sequential_incarnations_share(void **state)
{
    (void)state;
    cw_site role = site(0x5150, 12);
    cw_lock_id first = new_lock(role);
    cw_lockinfo_died(first, true);
    cw_lock_id second = new_lock(role); /* created after the first died */
    cw_lockset_id s1 = set1(first), s2 = set1(second);
    assert_int_not_equal(s1, s2);
    assert_false(cw_lockset_disjoint(s1, s2));
    assert_false(cw_lockset_disjoint(s2, s1));

    /* In a larger set too. */
    cw_lock_id other = new_lock(site(0x9999, 1));
    cw_lock_id pair[] = {other, second};
    cw_lockset_id s3 = cw_lockset_intern(pair, 2, NULL);
    assert_false(cw_lockset_disjoint(s1, s3));

    /* A third incarnation after the second died shares with both. */
    cw_lockinfo_died(second, true);
    cw_lock_id third = new_lock(role);
    assert_false(cw_lockset_disjoint(set1(third), s1));
    assert_false(cw_lockset_disjoint(set1(third), s2));
}

static void test_role_overlapping_lifetimes_disjoint(void **state)
{
    (void)state;
    cw_site role = site(0x6160, 4);
    /* Both alive at once: two different locks. */
    cw_lock_id a = new_lock(role);
    cw_lock_id b = new_lock(role);
    assert_true(cw_lockset_disjoint(set1(a), set1(b)));
    /* Still overlapping after one of them dies (it died after b was born). */
    cw_lockinfo_died(a, true);
    assert_true(cw_lockset_disjoint(set1(a), set1(b)));
    cw_lockinfo_died(b, true);
    assert_true(cw_lockset_disjoint(set1(a), set1(b)));
}

static void test_role_different_roles_disjoint(void **state)
{
    (void)state;
    cw_lock_id a = new_lock(site(0x7170, 4));
    cw_lockinfo_died(a, true);
    cw_lock_id b = new_lock(site(0x7170, 6)); /* other offset, other role */
    assert_true(cw_lockset_disjoint(set1(a), set1(b)));

    cw_lock_id c = new_lock(site(0x7171, 4)); /* other code */
    assert_true(cw_lockset_disjoint(set1(a), set1(c)));

    /* No role known: never merged. */
    cw_lock_id d = new_lock(site(0, 0));
    cw_lockinfo_died(d, true);
    cw_lock_id e = new_lock(site(0, 0));
    assert_true(cw_lockset_disjoint(set1(d), set1(e)));

    /* Same role but another kind: not the same lock either. */
    cw_site role = site(0x7272, 2);
    cw_lock_id f = new_lock(role);
    cw_lockinfo_died(f, true);
    cw_lock_id g = cw_lockinfo_new(next_addr(), CW_LOCK_SEMAPHORE, role, 0);
    assert_true(cw_lockset_disjoint(set1(f), set1(g)));
}

static void test_role_set_later(void **state)
{
    (void)state;
    /* The binding sets the role right after the lock was made. */
    cw_lock_id a = new_lock(site(0, 0));
    cw_lockinfo_set_role(a, site(0x8180, 2), 0);
    cw_lockinfo_died(a, true);
    cw_lock_id b = new_lock(site(0, 0));
    assert_true(cw_lockset_disjoint(set1(a), set1(b)));
    cw_lockinfo_set_role(b, site(0x8180, 2), 0);
    assert_false(cw_lockset_disjoint(set1(a), set1(b)));
}

/* ---- concurrency --------------------------------------------------------- */

#define NTHREADS 6

static cw_lock_id common[4];

static void *worker(void *p)
{
    intptr_t bad = 0;
    (void)p;
    for (int i = 0; i < 300; i++) {
        cw_lock_id mine = cw_lockinfo_new(0x900000 + (uintptr_t)i, CW_LOCK_LOCK,
                                          site(0xaaaa, i % 3), 0);
        cw_lock_id ids[3] = {common[i % 4], mine, common[(i + 1) % 4]};
        cw_lockset_id s = cw_lockset_intern(ids, 3, NULL);
        cw_lock_id one = common[i % 4];
        cw_lockset_id c = cw_lockset_intern(&one, 1, NULL);
        if (s == 0 || c == 0 || cw_lockset_disjoint(s, c))
            bad++;
        uint32_t n;
        cw_lockset_get(s, &n);
        if (n != 3)
            bad++;
        if (i % 5 == 0)
            cw_lockinfo_died(mine, true);
        if (i % 7 == 0)
            cw_lockinfo_mark_signal(mine);
        cw_lockinfo li;
        if (!cw_lockinfo_get(mine, &li) || li.id != mine)
            bad++;
    }
    return (void *)bad;
}

static void test_concurrent_interning(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++)
        common[i] = new_lock(site(0, 0));
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, NULL), 0);
    for (int i = 0; i < NTHREADS; i++) {
        void *bad;
        assert_int_equal(pthread_join(th[i], &bad), 0);
        assert_int_equal((intptr_t)bad, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lockinfo_records),
        cmocka_unit_test(test_unguarded_lock_forgotten_at_death),
        cmocka_unit_test(test_intern_order_and_dedup),
        cmocka_unit_test(test_empty_set_is_zero),
        cmocka_unit_test(test_disjointness),
        cmocka_unit_test(test_role_sequential_incarnations_share),
        cmocka_unit_test(test_role_overlapping_lifetimes_disjoint),
        cmocka_unit_test(test_role_different_roles_disjoint),
        cmocka_unit_test(test_role_set_later),
        cmocka_unit_test(test_concurrent_interning),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
