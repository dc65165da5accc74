/* Unit tests for ext/engine/memory.c: counted allocations and injected failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "memory.h"

#define HEADER 16

static void test_counts_follow_live_blocks(void **state)
{
    (void)state;
    size_t base = cw_mem_bytes(CW_MEM_SHADOW);
    char *a = cw_malloc(CW_MEM_SHADOW, 100);
    char *b = cw_calloc(CW_MEM_SHADOW, 10, 8);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(cw_mem_bytes(CW_MEM_SHADOW), base + 100 + 80 + 2 * HEADER);
    for (int i = 0; i < 80; i++)
        assert_int_equal(b[i], 0);
    a = cw_realloc(CW_MEM_SHADOW, a, 1000);
    assert_non_null(a);
    assert_int_equal(cw_mem_bytes(CW_MEM_SHADOW), base + 1000 + 80 + 2 * HEADER);
    assert_true(cw_mem_peak(CW_MEM_SHADOW) >= base + 1080 + 2 * HEADER);
    cw_free(a);
    cw_free(b);
    cw_free(NULL);
    assert_int_equal(cw_mem_bytes(CW_MEM_SHADOW), base);
}

static void test_kinds_are_separate(void **state)
{
    (void)state;
    size_t stacks = cw_mem_bytes(CW_MEM_STACKS), locks = cw_mem_bytes(CW_MEM_LOCKS);
    char *s = cw_strdup(CW_MEM_STACKS, "frame");
    assert_string_equal(s, "frame");
    assert_int_equal(cw_mem_bytes(CW_MEM_STACKS), stacks + 6 + HEADER);
    assert_int_equal(cw_mem_bytes(CW_MEM_LOCKS), locks);
    /* A block keeps its kind through realloc, whatever the caller says. */
    s = cw_realloc(CW_MEM_LOCKS, s, 50);
    assert_int_equal(cw_mem_bytes(CW_MEM_STACKS), stacks + 50 + HEADER);
    assert_int_equal(cw_mem_bytes(CW_MEM_LOCKS), locks);
    cw_free(s);
    assert_int_equal(cw_mem_bytes(CW_MEM_STACKS), stacks);
    assert_string_equal(cw_mem_kind_name(CW_MEM_SHADOW), "shadow");
    assert_string_equal(cw_mem_kind_name(CW_MEM_MISC), "misc");
}

static void test_injected_failure_is_sticky_until_reset(void **state)
{
    (void)state;
    cw_mem_fail_after(3);
    void *a = cw_malloc(CW_MEM_MISC, 8);
    void *b = cw_malloc(CW_MEM_MISC, 8);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(cw_malloc(CW_MEM_MISC, 8));
    assert_null(cw_calloc(CW_MEM_MISC, 1, 8));
    assert_null(cw_realloc(CW_MEM_MISC, a, 64)); /* a is still valid */
    assert_null(cw_strdup(CW_MEM_MISC, "x"));
    cw_mem_fail_after(0);
    void *c = cw_malloc(CW_MEM_MISC, 8);
    assert_non_null(c);
    cw_free(a);
    cw_free(b);
    cw_free(c);
}

static void test_overflowing_sizes_fail(void **state)
{
    (void)state;
    assert_null(cw_malloc(CW_MEM_MISC, SIZE_MAX - 4));
    assert_null(cw_calloc(CW_MEM_MISC, SIZE_MAX / 2, 4));
}

static void test_foreign_block_is_leaked_not_freed(void **state)
{
    (void)state;
    uint64_t before = cw_mem_bad_frees();
    size_t live = cw_mem_bytes(CW_MEM_MISC);
    _Alignas(16) char foreign[64] = {0}; /* no header of ours in front */
    cw_free(foreign + HEADER);
    assert_int_equal(cw_mem_bad_frees(), before + 1);
    assert_int_equal(cw_mem_bytes(CW_MEM_MISC), live);
}

static void *churn(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        void *p = cw_malloc(CW_MEM_CLOCKS, (size_t)(i % 64) + 1);
        p = cw_realloc(CW_MEM_CLOCKS, p, (size_t)(i % 128) + 1);
        cw_free(p);
    }
    return NULL;
}

static void test_concurrent_counting_balances(void **state)
{
    (void)state;
    size_t base = cw_mem_bytes(CW_MEM_CLOCKS);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, churn, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(cw_mem_bytes(CW_MEM_CLOCKS), base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_follow_live_blocks),
        cmocka_unit_test(test_kinds_are_separate),
        cmocka_unit_test(test_injected_failure_is_sticky_until_reset),
        cmocka_unit_test(test_overflowing_sizes_fail),
        cmocka_unit_test(test_foreign_block_is_leaked_not_freed),
        cmocka_unit_test(test_concurrent_counting_balances),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
