/* Unit tests for ext/engine/depot.c: stack and string interning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>

#include "depot.h"

static int setup(void **state)
{
    (void)state;
    return cw_depot_init() == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cw_depot_fini();
    return 0;
}

static cw_frame mkframe(uintptr_t pc, int32_t off, int32_t line, const char *file,
                        const char *fn)
{
    cw_frame f = {pc, off, line, cw_str_intern(file), cw_str_intern(fn)};
    return f;
}

static void test_find_before_put(void **state)
{
    (void)state;
    cw_frame fr[2] = {mkframe(0x1000, 4, 10, "a.py", "f"), mkframe(0x2000, 8, 20, "a.py", "g")};
    assert_int_equal(cw_depot_find(fr, 2), 0);
    cw_stack_id id = cw_depot_put(fr, 2);
    assert_int_not_equal(id, 0);
    assert_int_equal(cw_depot_find(fr, 2), id);
}

static void test_put_twice_same_id(void **state)
{
    (void)state;
    cw_frame fr[3] = {mkframe(0x1100, 2, 1, "b.py", "f"), mkframe(0x1200, 4, 2, "b.py", "g"),
                      mkframe(0x1300, 6, 3, "b.py", "h")};
    uint32_t before = cw_depot_count();
    cw_stack_id a = cw_depot_put(fr, 3);
    cw_stack_id b = cw_depot_put(fr, 3);
    assert_int_not_equal(a, 0);
    assert_int_equal(a, b);
    assert_int_equal(cw_depot_count(), before + 1);

    /* Keys are (pc, offset) only: symbolisation differences do not split. */
    cw_frame copy[3];
    memcpy(copy, fr, sizeof(fr));
    copy[0].line = 999;
    copy[1].function = cw_str_intern("other");
    assert_int_equal(cw_depot_find(copy, 3), a);
    assert_int_equal(cw_depot_put(copy, 3), a);
    uint32_t n;
    const cw_frame *got = cw_depot_get(a, &n);
    assert_int_equal(got[0].line, 1); /* the first symbolisation is kept */
}

static void test_different_keys_different_ids(void **state)
{
    (void)state;
    cw_frame base[2] = {mkframe(0x3000, 10, 1, "c.py", "f"), mkframe(0x4000, 20, 2, "c.py", "g")};
    cw_stack_id id0 = cw_depot_put(base, 2);

    cw_frame v1[2];
    memcpy(v1, base, sizeof(base));
    v1[0].offset = 12; /* same code, other instruction */
    cw_frame v2[2];
    memcpy(v2, base, sizeof(base));
    v2[1].pc = 0x4001; /* other caller */
    cw_frame v3[2] = {base[1], base[0]}; /* order matters */

    cw_stack_id id1 = cw_depot_put(v1, 2);
    cw_stack_id id2 = cw_depot_put(v2, 2);
    cw_stack_id id3 = cw_depot_put(v3, 2);
    cw_stack_id id4 = cw_depot_put(base, 1); /* prefix */
    cw_stack_id ids[] = {id0, id1, id2, id3, id4};
    for (int i = 0; i < 5; i++) {
        assert_int_not_equal(ids[i], 0);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(ids[i], ids[j]);
    }
}

static void test_frames_read_back(void **state)
{
    (void)state;
    cw_frame fr[3] = {mkframe(0x5000, 14, 42, "app/cache.py", "get_user"),
                      mkframe(0x6000, 30, 7, "app/main.py", "handle"),
                      {0x7fff1234, CW_FRAME_NATIVE, 0x40, cw_str_intern("libfoo.so"),
                       cw_str_intern("foo_call")}};
    cw_stack_id id = cw_depot_put(fr, 3);
    /* The caller's buffer can change afterwards: the depot copied it. */
    fr[0].line = -1;
    fr[0].pc = 0;
    uint32_t n = 0;
    const cw_frame *got = cw_depot_get(id, &n);
    assert_int_equal(n, 3);
    assert_non_null(got);
    assert_int_equal(got[0].pc, 0x5000);
    assert_int_equal(got[0].offset, 14);
    assert_int_equal(got[0].line, 42);
    assert_string_equal(cw_str_get(got[0].file), "app/cache.py");
    assert_string_equal(cw_str_get(got[0].function), "get_user");
    assert_int_equal(got[1].line, 7);
    assert_string_equal(cw_str_get(got[1].function), "handle");
    assert_int_equal(got[2].offset, CW_FRAME_NATIVE);
    assert_int_equal(got[2].pc, 0x7fff1234);
    assert_string_equal(cw_str_get(got[2].file), "libfoo.so");

    /* Id 0 and unknown ids resolve to nothing. */
    n = 77;
    assert_null(cw_depot_get(0, &n));
    assert_int_equal(n, 0);
    n = 77;
    assert_null(cw_depot_get(cw_depot_count() + 1000, &n));
    assert_int_equal(n, 0);
}

static void test_empty_stack(void **state)
{
    (void)state;
    cw_stack_id id = cw_depot_put(NULL, 0);
    assert_int_not_equal(id, 0);
    assert_int_equal(cw_depot_put(NULL, 0), id);
    assert_int_equal(cw_depot_find(NULL, 0), id);
    uint32_t n = 5;
    cw_depot_get(id, &n);
    assert_int_equal(n, 0);
}

static void test_many_stacks(void **state)
{
    (void)state;
    /* Past the hashtable's initial size and past one idvec chunk (4096). */
    enum { N = 6000 };
    static cw_stack_id ids[N];
    for (int i = 0; i < N; i++) {
        cw_frame f = {0x100000 + (uintptr_t)i * 16, i % 7, i, 0, 0};
        ids[i] = cw_depot_put(&f, 1);
        assert_int_not_equal(ids[i], 0);
    }
    for (int i = 0; i < N; i++) {
        cw_frame f = {0x100000 + (uintptr_t)i * 16, i % 7, 0, 0, 0};
        assert_int_equal(cw_depot_find(&f, 1), ids[i]);
        uint32_t n;
        const cw_frame *g = cw_depot_get(ids[i], &n);
        assert_int_equal(n, 1);
        assert_int_equal(g[0].line, i);
    }
}

static void test_string_interning(void **state)
{
    (void)state;
    assert_int_equal(cw_str_intern(""), 0);
    assert_int_equal(cw_str_intern(NULL), 0);
    assert_string_equal(cw_str_get(0), "");
    assert_string_equal(cw_str_get(4000000), ""); /* unknown */

    char buf[32];
    strcpy(buf, "module.CACHE");
    cw_str_id a = cw_str_intern(buf);
    assert_int_not_equal(a, 0);
    /* Equal content, other buffer: same id. */
    assert_int_equal(cw_str_intern("module.CACHE"), a);
    /* The depot keeps its own copy. */
    strcpy(buf, "module.OTHER");
    assert_string_equal(cw_str_get(a), "module.CACHE");
    cw_str_id b = cw_str_intern(buf);
    assert_int_not_equal(b, a);
    assert_string_equal(cw_str_get(b), "module.OTHER");
    assert_int_not_equal(cw_str_intern("module.CACHE "), a);
    for (int i = 0; i < 500; i++) {
        char s[32];
        snprintf(s, sizeof(s), "str-%d", i);
        cw_str_id id = cw_str_intern(s);
        assert_int_not_equal(id, 0);
        assert_string_equal(cw_str_get(id), s);
        assert_int_equal(cw_str_intern(s), id);
    }
}

/* ---- concurrency --------------------------------------------------------- */

#define NTHREADS 6

static cw_stack_id shared_ids[NTHREADS][200];

static void *putter(void *p)
{
    int me = (int)(intptr_t)p;
    for (int i = 0; i < 200; i++) {
        /* Every thread puts the same 200 stacks, in a different order. */
        int k = (i * 7 + me * 13) % 200;
        cw_frame f[2] = {{0x900000 + (uintptr_t)k, k, k, 0, 0}, {0xa00000, 1, 1, 0, 0}};
        char name[32];
        snprintf(name, sizeof(name), "fn-%d", k);
        f[0].function = cw_str_intern(name);
        shared_ids[me][k] = cw_depot_put(f, 2);
        uint32_t n;
        const cw_frame *g = cw_depot_get(shared_ids[me][k], &n);
        if (n != 2 || g[0].line != k)
            shared_ids[me][k] = 0; /* flag a bad read */
    }
    return NULL;
}

static void test_concurrent_put(void **state)
{
    (void)state;
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, putter, (void *)(intptr_t)i), 0);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int k = 0; k < 200; k++) {
        assert_int_not_equal(shared_ids[0][k], 0);
        for (int i = 1; i < NTHREADS; i++)
            assert_int_equal(shared_ids[i][k], shared_ids[0][k]);
        char name[32];
        snprintf(name, sizeof(name), "fn-%d", k);
        uint32_t n;
        const cw_frame *g = cw_depot_get(shared_ids[0][k], &n);
        assert_string_equal(cw_str_get(g[0].function), name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_before_put),
        cmocka_unit_test(test_put_twice_same_id),
        cmocka_unit_test(test_different_keys_different_ids),
        cmocka_unit_test(test_frames_read_back),
        cmocka_unit_test(test_empty_stack),
        cmocka_unit_test(test_many_stacks),
        cmocka_unit_test(test_string_interning),
        cmocka_unit_test(test_concurrent_put),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
