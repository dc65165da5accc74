/* Unit tests for ext/engine/history.c: each thread's last sync events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>

#include "history.h"
#include "vclock.h"

static uint64_t next_ident = 5000;

static cw_thread *reg(void)
{
    cw_thread *t = cw_thread_register(0, NULL, next_ident++, "t", 0);
    assert_non_null(t);
    return t;
}

static void note(cw_thread *t, cw_event_kind kind, uintptr_t object)
{
    assert_int_equal(cw_history_note(t, kind, object, 0, 0, (cw_site){0, 0}), CW_OK);
}

static void test_events_are_kept_in_order_and_numbered(void **state)
{
    (void)state;
    cw_thread *t = reg();
    cw_event out[CW_HISTORY];
    assert_int_equal(cw_history_copy(t, out), 0); /* none yet: no ring made */
    note(t, CW_EVENT_ACQUIRE, 1);
    note(t, CW_EVENT_PUBLISH, 2);
    note(t, CW_EVENT_RELEASE, 1);
    assert_int_equal(t->nevents, 3);
    assert_int_equal(cw_history_copy(t, out), 3);
    assert_int_equal(out[0].kind, CW_EVENT_ACQUIRE);
    assert_int_equal(out[1].kind, CW_EVENT_PUBLISH);
    assert_int_equal(out[1].object, 2);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(out[i].ordinal, i);
    assert_true(out[0].seq < out[1].seq && out[1].seq < out[2].seq);
    assert_true(cw_history_next_seq() > out[2].seq);
    assert_string_equal(cw_event_kind_name(CW_EVENT_CONSUME), "consume");
    cw_thread_exit(t);
}

static void test_the_ring_keeps_the_last_events(void **state)
{
    (void)state;
    cw_thread *t = reg();
    for (uintptr_t i = 0; i < 3 * CW_HISTORY + 5; i++)
        note(t, CW_EVENT_PUBLISH, i);
    cw_event out[CW_HISTORY];
    assert_int_equal(cw_history_copy(t, out), CW_HISTORY);
    for (uint32_t i = 0; i < CW_HISTORY; i++) {
        assert_int_equal(out[i].ordinal, 2 * CW_HISTORY + 5 + i);
        assert_int_equal(out[i].object, 2 * CW_HISTORY + 5 + i);
    }
    cw_thread_exit(t);
}

static void test_a_ring_outlives_its_thread_then_serves_another(void **state)
{
    (void)state;
    cw_thread *first = reg();
    note(first, CW_EVENT_END, 7);
    cw_thread_exit(first);
    cw_event out[CW_HISTORY];
    assert_int_equal(cw_history_copy(first, out), 1); /* a report may still ask */
    /* Enough threads end after it that its ring goes to another thread: a
     * copy for the first one then gives nothing, never the other's events. */
    for (int i = 0; i < 100; i++) {
        cw_thread *t = reg();
        note(t, CW_EVENT_BEGIN, (uintptr_t)i);
        cw_thread_exit(t);
    }
    cw_thread *later = reg();
    note(later, CW_EVENT_ACQUIRE, 9);
    assert_int_equal(cw_history_copy(first, out), 0);
    assert_int_equal(cw_history_copy(later, out), 1);
    assert_int_equal(out[0].object, 9);
    cw_thread_exit(later);
}

/* An access record keeps the low 16 bits of its thread's event count; a
 * report places it among the events it copied. */
static void test_an_access_is_placed_among_its_threads_events(void **state)
{
    (void)state;
    cw_event ev[4];
    memset(ev, 0, sizeof(ev));
    for (uint32_t i = 0; i < 4; i++) {
        ev[i].ordinal = 70000 + i;
        ev[i].clock = 10 + i; /* a publish ticks the clock */
    }
    /* Between the 2nd and 3rd event: count 70002, low bits of it. */
    assert_int_equal(cw_history_place(ev, 4, 70002 & 0xFFFF, 12), 70002);
    /* After them all. */
    assert_int_equal(cw_history_place(ev, 4, 70004 & 0xFFFF, 13), 70004);
    /* 2^16 events earlier, same low bits: its clock says it came before. */
    assert_int_equal(cw_history_place(ev, 4, (70002 - 65536) & 0xFFFF, 5), 70000);
    /* No events copied: the low bits are all there is. */
    assert_int_equal(cw_history_place(ev, 0, 42, 3), 42);
}

/* One thread notes while others copy its ring: TSan checks the locking. */
#define NOTES 20000
static void *noter(void *arg)
{
    cw_thread *t = arg;
    for (uintptr_t i = 0; i < NOTES; i++)
        if (cw_history_note(t, CW_EVENT_PUBLISH, i, 0, 0, (cw_site){0, 0}) != CW_OK)
            return (void *)1;
    return NULL;
}

static void *copier(void *arg)
{
    cw_thread *t = arg;
    cw_event out[CW_HISTORY];
    for (int i = 0; i < 2000; i++) {
        uint32_t n = cw_history_copy(t, out);
        for (uint32_t k = 1; k < n; k++)
            if (out[k].ordinal != out[k - 1].ordinal + 1 || out[k].object != out[k].ordinal)
                return (void *)1;
    }
    return NULL;
}

static void test_copies_while_the_owner_notes(void **state)
{
    (void)state;
    cw_thread *t = reg();
    pthread_t w, r[2];
    assert_int_equal(pthread_create(&w, NULL, noter, t), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&r[i], NULL, copier, t), 0);
    void *res;
    pthread_join(w, &res);
    assert_null(res);
    for (int i = 0; i < 2; i++) {
        pthread_join(r[i], &res);
        assert_null(res); /* every copy was one consecutive run of events */
    }
    assert_int_equal(t->nevents, NOTES);
    cw_thread_exit(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_are_kept_in_order_and_numbered),
        cmocka_unit_test(test_the_ring_keeps_the_last_events),
        cmocka_unit_test(test_a_ring_outlives_its_thread_then_serves_another),
        cmocka_unit_test(test_an_access_is_placed_among_its_threads_events),
        cmocka_unit_test(test_copies_while_the_owner_notes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cw_threads_fini();
    cw_history_fini();
    return rc;
}
