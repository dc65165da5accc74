/* Unit tests for ext/engine/hashtable.c: open addressing with tombstones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hashtable.h"

#define V(x) ((void *)(uintptr_t)(x))

static size_t capacity(const cw_hashtable *ht) { return ht->mask + 1; }

static void test_init_rounds_capacity(void **state)
{
    (void)state;
    cw_hashtable ht;
    assert_int_equal(cw_ht_init(&ht, 0, NULL, NULL, CW_MEM_MISC), 0);
    assert_int_equal(capacity(&ht), 8); /* minimum */
    assert_int_equal(cw_ht_size(&ht), 0);
    cw_ht_fini(&ht);

    assert_int_equal(cw_ht_init(&ht, 100, NULL, NULL, CW_MEM_MISC), 0);
    assert_int_equal(capacity(&ht), 128); /* next power of two */
    assert_null(cw_ht_get(&ht, 5));
    cw_ht_fini(&ht);
    assert_null(ht.slots);
}

static void test_put_get_remove_replace(void **state)
{
    (void)state;
    cw_hashtable ht;
    assert_int_equal(cw_ht_init(&ht, 8, NULL, NULL, CW_MEM_MISC), 0);

    assert_int_equal(cw_ht_put(&ht, 1, V(100)), 0);
    assert_int_equal(cw_ht_put(&ht, 2, V(200)), 0);
    assert_int_equal(cw_ht_put(&ht, 0, V(300)), 0); /* key 0 is a valid key */
    assert_int_equal(cw_ht_size(&ht), 3);
    assert_ptr_equal(cw_ht_get(&ht, 1), V(100));
    assert_ptr_equal(cw_ht_get(&ht, 2), V(200));
    assert_ptr_equal(cw_ht_get(&ht, 0), V(300));
    assert_null(cw_ht_get(&ht, 3));

    /* Replace keeps the size and changes the value. */
    assert_int_equal(cw_ht_put(&ht, 2, V(201)), 0);
    assert_int_equal(cw_ht_size(&ht), 3);
    assert_ptr_equal(cw_ht_get(&ht, 2), V(201));

    /* Remove returns the old value once. */
    assert_ptr_equal(cw_ht_remove(&ht, 2), V(201));
    assert_null(cw_ht_get(&ht, 2));
    assert_null(cw_ht_remove(&ht, 2));
    assert_null(cw_ht_remove(&ht, 12345));
    assert_int_equal(cw_ht_size(&ht), 2);
    assert_ptr_equal(cw_ht_get(&ht, 1), V(100));
    assert_ptr_equal(cw_ht_get(&ht, 0), V(300));

    /* Put again after removal. */
    assert_int_equal(cw_ht_put(&ht, 2, V(202)), 0);
    assert_ptr_equal(cw_ht_get(&ht, 2), V(202));
    assert_int_equal(cw_ht_size(&ht), 3);
    cw_ht_fini(&ht);
}

static void test_growth_many_entries(void **state)
{
    (void)state;
    cw_hashtable ht;
    assert_int_equal(cw_ht_init(&ht, 8, NULL, NULL, CW_MEM_MISC), 0);
    const uintptr_t n = 20000;
    for (uintptr_t k = 1; k <= n; k++) {
        assert_int_equal(cw_ht_put(&ht, k * 7919, V(k)), 0);
        /* the load (live + tombstones) stays under 3/4 */
        assert_true((ht.used + ht.tombstones) * 4 <= capacity(&ht) * 3);
    }
    assert_int_equal(cw_ht_size(&ht), n);
    assert_true(capacity(&ht) >= n);
    for (uintptr_t k = 1; k <= n; k++)
        assert_ptr_equal(cw_ht_get(&ht, k * 7919), V(k));
    assert_null(cw_ht_get(&ht, 7919 * (n + 1)));
    /* Remove every other one; the rest survive. */
    for (uintptr_t k = 1; k <= n; k += 2)
        assert_ptr_equal(cw_ht_remove(&ht, k * 7919), V(k));
    assert_int_equal(cw_ht_size(&ht), n / 2);
    for (uintptr_t k = 1; k <= n; k++) {
        if (k % 2)
            assert_null(cw_ht_get(&ht, k * 7919));
        else
            assert_ptr_equal(cw_ht_get(&ht, k * 7919), V(k));
    }
    cw_ht_fini(&ht);
}

static void test_tombstone_reuse(void **state)
{
    (void)state;
    cw_hashtable ht;
    assert_int_equal(cw_ht_init(&ht, 8, NULL, NULL, CW_MEM_MISC), 0);
    assert_int_equal(cw_ht_put(&ht, 10, V(1)), 0);
    assert_int_equal(cw_ht_put(&ht, 20, V(2)), 0);
    assert_int_equal(cw_ht_put(&ht, 30, V(3)), 0);
    assert_ptr_equal(cw_ht_remove(&ht, 20), V(2));
    assert_int_equal(ht.tombstones, 1);
    assert_int_equal(ht.used, 2);
    /* Re-inserting the same key lands in its old (now tombstoned) slot. */
    assert_int_equal(cw_ht_put(&ht, 20, V(22)), 0);
    assert_int_equal(ht.tombstones, 0);
    assert_int_equal(ht.used, 3);
    assert_ptr_equal(cw_ht_get(&ht, 20), V(22));
    cw_ht_fini(&ht);

    /* Churn: insert/remove many distinct keys with few live at once. The
     * table must recycle tombstones instead of growing without bound. */
    assert_int_equal(cw_ht_init(&ht, 8, NULL, NULL, CW_MEM_MISC), 0);
    for (uintptr_t k = 1; k <= 100000; k++) {
        assert_int_equal(cw_ht_put(&ht, k, V(k)), 0);
        if (k > 3)
            assert_ptr_equal(cw_ht_remove(&ht, k - 3), V(k - 3));
    }
    assert_int_equal(cw_ht_size(&ht), 3);
    assert_true(capacity(&ht) <= 16);
    assert_ptr_equal(cw_ht_get(&ht, 100000), V(100000));
    assert_ptr_equal(cw_ht_get(&ht, 99998), V(99998));
    assert_null(cw_ht_get(&ht, 99997));
    cw_ht_fini(&ht);
}

/* A hash that puts everything in one chain: probing and tombstones inside
 * a chain must still work. */
static uint64_t const_hash(uintptr_t k)
{
    (void)k;
    return 42;
}

static void test_collisions_and_removal_in_chain(void **state)
{
    (void)state;
    cw_hashtable ht;
    assert_int_equal(cw_ht_init(&ht, 8, const_hash, NULL, CW_MEM_MISC), 0);
    for (uintptr_t k = 1; k <= 50; k++)
        assert_int_equal(cw_ht_put(&ht, k, V(k + 1000)), 0);
    /* Remove from the middle of the chain; later members stay reachable. */
    for (uintptr_t k = 10; k <= 30; k++)
        assert_ptr_equal(cw_ht_remove(&ht, k), V(k + 1000));
    for (uintptr_t k = 1; k <= 50; k++) {
        if (k >= 10 && k <= 30)
            assert_null(cw_ht_get(&ht, k));
        else
            assert_ptr_equal(cw_ht_get(&ht, k), V(k + 1000));
    }
    /* Replacing a key past tombstones must not create a duplicate. */
    assert_int_equal(cw_ht_put(&ht, 45, V(4545)), 0);
    assert_int_equal(cw_ht_size(&ht), 29);
    size_t pos = 0, seen45 = 0;
    uintptr_t key;
    void *val;
    while (cw_ht_next(&ht, &pos, &key, &val))
        if (key == 45) {
            seen45++;
            assert_ptr_equal(val, V(4545));
        }
    assert_int_equal(seen45, 1);
    cw_ht_fini(&ht);
}

static void test_iteration_visits_each_live_once(void **state)
{
    (void)state;
    cw_hashtable ht;
    assert_int_equal(cw_ht_init(&ht, 8, NULL, NULL, CW_MEM_MISC), 0);
    enum { N = 1000 };
    static unsigned char seen[N + 1];
    memset(seen, 0, sizeof(seen));
    for (uintptr_t k = 1; k <= N; k++)
        assert_int_equal(cw_ht_put(&ht, k, V(k * 3)), 0);
    for (uintptr_t k = 1; k <= N; k += 3)
        cw_ht_remove(&ht, k);

    size_t pos = 0, count = 0;
    uintptr_t key;
    void *val;
    while (cw_ht_next(&ht, &pos, &key, &val)) {
        assert_true(key >= 1 && key <= N);
        assert_int_not_equal(key % 3, 1); /* removed ones are not visited */
        assert_ptr_equal(val, V(key * 3));
        seen[key]++;
        count++;
    }
    assert_int_equal(count, cw_ht_size(&ht));
    for (uintptr_t k = 1; k <= N; k++)
        assert_int_equal(seen[k], k % 3 == 1 ? 0 : 1);
    /* At the end it keeps saying "no more". */
    assert_false(cw_ht_next(&ht, &pos, &key, &val));

    /* NULL out-pointers are allowed. */
    pos = 0;
    count = 0;
    while (cw_ht_next(&ht, &pos, NULL, NULL))
        count++;
    assert_int_equal(count, cw_ht_size(&ht));
    cw_ht_fini(&ht);

    /* An empty table yields nothing. */
    assert_int_equal(cw_ht_init(&ht, 8, NULL, NULL, CW_MEM_MISC), 0);
    pos = 0;
    assert_false(cw_ht_next(&ht, &pos, &key, &val));
    cw_ht_fini(&ht);
}

/* Keys are pointers to strings, compared by content. */
static int hash_calls;
static uint64_t str_hash(uintptr_t k)
{
    hash_calls++;
    const char *s = (const char *)k;
    return cw_hash_bytes(s, strlen(s), 0);
}

static bool str_eq(uintptr_t a, uintptr_t b)
{
    return strcmp((const char *)a, (const char *)b) == 0;
}

static void test_custom_hash_and_eq(void **state)
{
    (void)state;
    cw_hashtable ht;
    assert_int_equal(cw_ht_init(&ht, 8, str_hash, str_eq, CW_MEM_MISC), 0);
    hash_calls = 0;
    char a1[] = "alpha", b1[] = "beta";
    assert_int_equal(cw_ht_put(&ht, (uintptr_t)a1, V(1)), 0);
    assert_int_equal(cw_ht_put(&ht, (uintptr_t)b1, V(2)), 0);
    assert_true(hash_calls >= 2);

    /* A different buffer with equal content finds the same entry. */
    char a2[] = "alpha", c[] = "gamma";
    assert_ptr_equal(cw_ht_get(&ht, (uintptr_t)a2), V(1));
    assert_null(cw_ht_get(&ht, (uintptr_t)c));
    /* ...and replaces rather than adds. */
    assert_int_equal(cw_ht_put(&ht, (uintptr_t)a2, V(11)), 0);
    assert_int_equal(cw_ht_size(&ht), 2);
    assert_ptr_equal(cw_ht_get(&ht, (uintptr_t)a1), V(11));
    char b2[] = "beta";
    assert_ptr_equal(cw_ht_remove(&ht, (uintptr_t)b2), V(2));
    assert_null(cw_ht_get(&ht, (uintptr_t)b1));

    /* Growth rehashes with the stored hashes, not the default hash. */
    char keys[300][8];
    for (int i = 0; i < 300; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        assert_int_equal(cw_ht_put(&ht, (uintptr_t)keys[i], V(i + 100)), 0);
    }
    for (int i = 0; i < 300; i++) {
        char probe[8];
        snprintf(probe, sizeof(probe), "k%d", i);
        assert_ptr_equal(cw_ht_get(&ht, (uintptr_t)probe), V(i + 100));
    }
    cw_ht_fini(&ht);
}

static void test_hash_functions(void **state)
{
    (void)state;
    assert_int_equal(cw_hash_word(12345), cw_hash_word(12345));
    assert_int_not_equal(cw_hash_word(1), cw_hash_word(2));
    assert_int_equal(cw_hash_word(0), 0); /* the finaliser fixes 0 */
    const char s[] = "hello";
    assert_int_equal(cw_hash_bytes(s, 5, 0), cw_hash_bytes("hello", 5, 0));
    assert_int_not_equal(cw_hash_bytes(s, 5, 0), cw_hash_bytes(s, 5, 1)); /* seed */
    assert_int_not_equal(cw_hash_bytes(s, 5, 0), cw_hash_bytes(s, 4, 0));
    assert_int_not_equal(cw_hash_bytes("ab", 2, 0), cw_hash_bytes("ba", 2, 0));
}

static void test_sample_finds_live_entries_only(void **state)
{
    (void)state;
    cw_hashtable ht;
    assert_int_equal(cw_ht_init(&ht, 64, NULL, NULL, CW_MEM_MISC), 0);
    uintptr_t key;
    void *value;
    assert_false(cw_ht_sample(&ht, 12345, &key, &value));
    static int vals[100];
    for (uintptr_t k = 1; k <= 100; k++)
        assert_int_equal(cw_ht_put(&ht, k, &vals[k - 1]), 0);
    for (uintptr_t k = 1; k <= 99; k++)
        cw_ht_remove(&ht, k);
    /* Whatever word it starts from, it lands on the one live entry. */
    for (uint64_t r = 0; r < 500; r += 7) {
        assert_true(cw_ht_sample(&ht, r * 0x9e3779b97f4a7c15ULL, &key, &value));
        assert_int_equal(key, 100);
        assert_ptr_equal(value, &vals[99]);
    }
    cw_ht_fini(&ht);
}

static void test_table_shrinks_after_removals(void **state)
{
    (void)state;
    cw_hashtable ht;
    assert_int_equal(cw_ht_init(&ht, 8, NULL, NULL, CW_MEM_MISC), 0);
    static int v;
    for (uintptr_t k = 1; k <= 10000; k++)
        assert_int_equal(cw_ht_put(&ht, k, &v), 0);
    size_t big = ht.mask + 1;
    for (uintptr_t k = 1; k <= 10000; k++)
        cw_ht_remove(&ht, k);
    /* Churn through new keys: the rebuild sizes for what is live. */
    for (uintptr_t k = 20001; k <= 30000; k++) {
        assert_int_equal(cw_ht_put(&ht, k, &v), 0);
        cw_ht_remove(&ht, k);
    }
    assert_true(ht.mask + 1 < big);
    assert_int_equal(cw_ht_size(&ht), 0);
    cw_ht_fini(&ht);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rounds_capacity),
        cmocka_unit_test(test_put_get_remove_replace),
        cmocka_unit_test(test_growth_many_entries),
        cmocka_unit_test(test_tombstone_reuse),
        cmocka_unit_test(test_collisions_and_removal_in_chain),
        cmocka_unit_test(test_iteration_visits_each_live_once),
        cmocka_unit_test(test_custom_hash_and_eq),
        cmocka_unit_test(test_hash_functions),
        cmocka_unit_test(test_sample_finds_live_entries_only),
        cmocka_unit_test(test_table_shrinks_after_removals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
