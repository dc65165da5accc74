/* Unit tests for ext/engine/report.c (storage, de-duplication) and
 * ext/engine/report_print.c (text rendering). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>

#include "depot.h"
#include "lockset.h"
#include "report.h"
#include "report_print.h"
#include "suppress.h"
#include "thread.h"

static int setup(void **state)
{
    (void)state;
    if (cw_depot_init() < 0 || cw_lockset_init() < 0 || cw_report_init(1000, true) < 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cw_report_fini();
    cw_threads_fini();
    cw_lockset_fini();
    cw_depot_fini();
    return 0;
}

/* Each test starts with an empty store and its own limits. */
static void fresh_store(uint32_t max, bool dedup)
{
    cw_report_clear();
    assert_int_equal(cw_report_init(max, dedup), 0);
    assert_int_equal(cw_report_count(), 0);
    assert_int_equal(cw_report_dropped(), 0);
}

static uintptr_t next_pc(void)
{
    static uintptr_t pc = 0x400000;
    return pc += 0x10;
}

/* A one- or two-frame stack with a unique innermost code location. */
static cw_stack_id stack_at(const char *file, int line, const char *fn)
{
    cw_frame f[2] = {{next_pc(), 6, line, cw_str_intern(file), cw_str_intern(fn)},
                     {0x399990, 2, 1, cw_str_intern("main.py"), cw_str_intern("<module>")}};
    cw_stack_id id = cw_depot_put(f, 2);
    assert_int_not_equal(id, 0);
    return id;
}

/* Same innermost frame as `of`, different callers. */
static cw_stack_id stack_like(cw_stack_id of, uintptr_t caller_pc)
{
    uint32_t n;
    const cw_frame *g = cw_depot_get(of, &n);
    cw_frame f[2] = {g[0], {caller_pc, 4, 99, cw_str_intern("other.py"), cw_str_intern("caller")}};
    cw_stack_id id = cw_depot_put(f, 2);
    assert_int_not_equal(id, of);
    return id;
}

static cw_report make_report(cw_report_kind kind, const char *target, cw_stack_id cur,
                             cw_stack_id prev)
{
    cw_report r;
    memset(&r, 0, sizeof(r));
    r.kind = kind;
    r.target = cw_str_intern(target);
    r.container = 0x1234;
    r.has_key = true;
    r.cur.tid = 1;
    r.cur.op = CW_OP_SETITEM;
    r.cur.write = true;
    r.cur.stack = cur;
    r.prev.tid = 2;
    r.prev.op = CW_OP_SETITEM;
    r.prev.write = true;
    r.prev.stack = prev;
    return r;
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(cw_report_kind_name(CW_REPORT_CHECK_THEN_ACT), "check-then-act");
    assert_string_equal(cw_report_kind_name(CW_REPORT_WRITE_WRITE), "write-write");
    assert_string_equal(cw_report_kind_name(CW_REPORT_ITERATION), "iteration");
    assert_string_equal(cw_report_kind_name((cw_report_kind)42), "?");
    assert_string_equal(cw_op_name(CW_OP_SETDEFAULT), "setdefault");
    assert_string_equal(cw_op_name(CW_OP_ITER), "iterate");
    assert_string_equal(cw_op_name(CW_OP_COUNT), "?");
}

static void test_add_and_get(void **state)
{
    (void)state;
    fresh_store(100, true);
    cw_stack_id s1 = stack_at("a.py", 10, "f"), s2 = stack_at("a.py", 20, "g");
    cw_report r = make_report(CW_REPORT_WRITE_WRITE, "mod.CACHE", s1, s2);
    r.cur.locks = 0;
    strcpy(r.cur.thread_name, "worker-1");
    r.key_repr = (char *)"ignored"; /* the store never takes the caller's text */
    uint32_t id = cw_report_add(&r);
    assert_int_equal(id, 1);
    assert_int_equal(cw_report_count(), 1);

    cw_report got;
    assert_true(cw_report_get(id, &got));
    assert_int_equal(got.id, id);
    assert_int_equal(got.kind, CW_REPORT_WRITE_WRITE);
    assert_string_equal(cw_str_get(got.target), "mod.CACHE");
    assert_int_equal(got.container, 0x1234);
    assert_true(got.has_key);
    assert_null(got.key_repr);
    assert_int_equal(got.hits, 1);
    assert_int_equal(got.cur.stack, s1);
    assert_int_equal(got.prev.stack, s2);
    assert_int_equal(got.cur.tid, 1);
    assert_int_equal(got.prev.tid, 2);
    assert_string_equal(got.cur.thread_name, "worker-1");

    assert_false(cw_report_get(0, &got));
    assert_false(cw_report_get(2, &got));

    cw_report r2 = make_report(CW_REPORT_WRITE_WRITE, "mod.CACHE", stack_at("a.py", 30, "h"), s2);
    assert_int_equal(cw_report_add(&r2), 2);
    assert_int_equal(cw_report_count(), 2);
}

static void test_dedup(void **state)
{
    (void)state;
    fresh_store(100, true);
    cw_stack_id s1 = stack_at("d.py", 1, "f"), s2 = stack_at("d.py", 2, "g");
    cw_report r = make_report(CW_REPORT_CHECK_THEN_ACT, "mod.D", s1, s2);
    uint32_t id = cw_report_add(&r);
    assert_int_not_equal(id, 0);

    /* The same race again: no new report, one more hit. */
    assert_int_equal(cw_report_add(&r), 0);
    /* Seen from the other side (sides swapped): the same race. */
    cw_report sw = make_report(CW_REPORT_CHECK_THEN_ACT, "mod.D", s2, s1);
    sw.cur.tid = 2;
    sw.prev.tid = 1;
    assert_int_equal(cw_report_add(&sw), 0);
    /* Other callers, same lines of code: the same race. */
    cw_report callers = make_report(CW_REPORT_CHECK_THEN_ACT, "mod.D", stack_like(s1, 0x777000),
                                    stack_like(s2, 0x777010));
    assert_int_equal(cw_report_add(&callers), 0);
    cw_report got;
    assert_true(cw_report_get(id, &got));
    assert_int_equal(got.hits, 4);
    assert_int_equal(cw_report_count(), 1);

    /* Another category, target, or line is another report. */
    cw_report k2 = make_report(CW_REPORT_WRITE_WRITE, "mod.D", s1, s2);
    cw_report t2 = make_report(CW_REPORT_CHECK_THEN_ACT, "mod.E", s1, s2);
    cw_report l2 = make_report(CW_REPORT_CHECK_THEN_ACT, "mod.D", s1, stack_at("d.py", 3, "g"));
    assert_int_not_equal(cw_report_add(&k2), 0);
    assert_int_not_equal(cw_report_add(&t2), 0);
    assert_int_not_equal(cw_report_add(&l2), 0);
    /* A side that acted on a check is named by its check: the write that
     * acted on a check at s1 is the same bug as the check at s1 itself... */
    cw_stack_id w1 = stack_at("d.py", 5, "f");
    cw_report c1 = make_report(CW_REPORT_CHECK_THEN_ACT, "mod.D", w1, s2);
    c1.cur.check_stack = s1;
    assert_int_equal(cw_report_add(&c1), 0);
    assert_true(cw_report_get(id, &got));
    assert_int_equal(got.hits, 5);
    /* ...while acting on a check elsewhere is another report. */
    cw_report c2 = make_report(CW_REPORT_CHECK_THEN_ACT, "mod.D", s1, s2);
    c2.cur.check_stack = stack_at("d.py", 4, "f");
    assert_int_not_equal(cw_report_add(&c2), 0);
    assert_int_equal(cw_report_count(), 5);
    assert_int_equal(cw_report_dropped(), 0);

    /* With dedup off every add is kept. */
    fresh_store(100, false);
    uint32_t a = cw_report_add(&r), b = cw_report_add(&r);
    assert_int_not_equal(a, 0);
    assert_int_not_equal(b, 0);
    assert_int_not_equal(a, b);
    assert_int_equal(cw_report_count(), 2);
}

static void test_set_key(void **state)
{
    (void)state;
    fresh_store(100, true);
    cw_report r = make_report(CW_REPORT_WRITE_WRITE, "mod.K", stack_at("k.py", 1, "f"),
                              stack_at("k.py", 2, "g"));
    uint32_t id = cw_report_add(&r);
    char key[] = "'user:42'";
    cw_report_set_key(id, key);
    key[1] = 'X'; /* the store has its own copy */
    cw_report got;
    assert_true(cw_report_get(id, &got));
    assert_string_equal(got.key_repr, "'user:42'");
    /* Set once: a second call does not replace it. */
    cw_report_set_key(id, "'other'");
    assert_true(cw_report_get(id, &got));
    assert_string_equal(got.key_repr, "'user:42'");
    /* Unknown ids and NULL are ignored. */
    cw_report_set_key(999, "x");
    uint32_t id2 = cw_report_add(&(cw_report){.kind = CW_REPORT_ITERATION,
                                              .target = cw_str_intern("mod.K2")});
    cw_report_set_key(id2, NULL);
    assert_true(cw_report_get(id2, &got));
    assert_null(got.key_repr);
}

static void test_max_and_dropped(void **state)
{
    (void)state;
    fresh_store(3, true);
    cw_stack_id base = stack_at("m.py", 1, "base");
    uint32_t ids[5];
    for (int i = 0; i < 5; i++) {
        cw_report r = make_report(CW_REPORT_WRITE_WRITE, "mod.M", base, stack_at("m.py", 10 + i, "f"));
        ids[i] = cw_report_add(&r);
    }
    assert_int_not_equal(ids[0], 0);
    assert_int_not_equal(ids[1], 0);
    assert_int_not_equal(ids[2], 0);
    assert_int_equal(ids[3], 0);
    assert_int_equal(ids[4], 0);
    assert_int_equal(cw_report_count(), 3);
    assert_int_equal(cw_report_dropped(), 2);
    /* A repeat of a kept report still counts as a hit, not as dropped. */
    cw_report again;
    assert_true(cw_report_get(ids[1], &again));
    assert_int_equal(cw_report_add(&again), 0);
    assert_true(cw_report_get(ids[1], &again));
    assert_int_equal(again.hits, 2);
    assert_int_equal(cw_report_dropped(), 2);

    /* clear forgets everything, including the dedup memory. */
    cw_report_clear();
    assert_int_equal(cw_report_count(), 0);
    assert_int_equal(cw_report_dropped(), 0);
    assert_int_equal(cw_report_add(&again), 1); /* new again, id 1 */
}

/* ---- printing -------------------------------------------------------------- */

static void assert_contains(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL)
        fail_msg("expected to find \"%s\" in:\n%s", needle, text);
}

/* Suppressed reports are kept, marked, on a budget of their own: a
 * suppression matching many places never crowds out a report to show. */
static void test_suppressed_kept_apart(void **state)
{
    (void)state;
    fresh_store(2, true);
    char err[256];
    cw_suppress_clear();
    assert_int_equal(cw_suppress_add("race", "mod.HIDDEN", "known", err, sizeof(err)), 0);
    cw_stack_id base = stack_at("m.py", 1, "base");
    uint32_t hidden[3], shown[2];
    for (int i = 0; i < 3; i++) {
        cw_report r = make_report(CW_REPORT_WRITE_WRITE, "mod.HIDDEN", base,
                                  stack_at("m.py", 20 + i, "f"));
        hidden[i] = cw_report_add(&r);
    }
    for (int i = 0; i < 2; i++) {
        cw_report r = make_report(CW_REPORT_WRITE_WRITE, "mod.SHOWN", base,
                                  stack_at("m.py", 30 + i, "g"));
        shown[i] = cw_report_add(&r);
    }
    cw_report got;
    for (int i = 0; i < 2; i++) {
        assert_true(cw_report_get(hidden[i], &got));
        assert_int_equal(got.suppressed, 1); /* the first suppression */
        assert_true(cw_report_get(shown[i], &got));
        assert_int_equal(got.suppressed, 0);
    }
    assert_int_equal(hidden[2], 0);             /* past the suppressed budget */
    assert_int_equal(cw_report_dropped(), 0);   /* which loses nothing shown */
    assert_int_equal(cw_report_count(), 4);
    cw_suppress_clear();
}

static void test_format_full(void **state)
{
    (void)state;
    fresh_store(100, true);
    cw_thread *main_t = cw_thread_register(0, NULL, 1, "MainThread", 0);
    cw_stack_id created = stack_at("server.py", 88, "start_workers");
    cw_thread *w = cw_thread_register(main_t->tid, NULL, 2, "worker-3", created);
    assert_non_null(main_t);
    assert_non_null(w);

    cw_frame cur_frames[2] = {{next_pc(), 10, 42, cw_str_intern("app/cache.py"), cw_str_intern("get_user")},
                              {next_pc(), 4, 7, cw_str_intern("app/views.py"), cw_str_intern("handle")}};
    cw_frame prev_frames[1] = {{next_pc(), 12, 57, cw_str_intern("app/cache.py"), cw_str_intern("put_user")}};
    cw_frame check_frame[1] = {{cur_frames[0].pc, 2, 40, cw_str_intern("app/cache.py"), cw_str_intern("get_user")}};
    cw_frame role_frame[1] = {{next_pc(), 2, 15, cw_str_intern("app/locks.py"), cw_str_intern("make_lock")}};
    cw_stack_id cur = cw_depot_put(cur_frames, 2);
    cw_stack_id prev = cw_depot_put(prev_frames, 1);
    cw_stack_id check = cw_depot_put(check_frame, 1);
    cw_stack_id role = cw_depot_put(role_frame, 1);
    cw_lock_id lock = cw_lockinfo_new(0xabc0, CW_LOCK_RLOCK, (cw_site){role_frame[0].pc, 2}, role);
    cw_lockset_id held = cw_lockset_intern(&lock, 1, NULL);

    cw_report r;
    memset(&r, 0, sizeof(r));
    r.kind = CW_REPORT_CHECK_THEN_ACT;
    r.target = cw_str_intern("app.cache.USERS");
    r.has_key = true;
    r.cur = (cw_report_access){.tid = w->tid, .op = CW_OP_SETITEM, .write = true, .stack = cur,
                               .check_stack = check, .check_op = CW_OP_GET,
                               .thread_name = "worker-3"};
    r.prev = (cw_report_access){.tid = main_t->tid, .op = CW_OP_SETITEM, .write = true,
                                .locks = held, .stack = prev, .thread_name = "MainThread"};
    uint32_t id = cw_report_add(&r);
    assert_int_not_equal(id, 0);
    cw_report_set_key(id, "'alice'");
    cw_report got;
    assert_true(cw_report_get(id, &got));

    char buf[8192];
    size_t len = cw_report_format(&got, 4321, buf, sizeof(buf));
    assert_int_equal(len, strlen(buf));
    assert_contains(buf, "WARNING: cachewatch:");
    assert_contains(buf, "check-then-act");
    assert_contains(buf, "app.cache.USERS");
    assert_contains(buf, "pid=4321");
    assert_contains(buf, "Key: 'alice'");
    assert_contains(buf, "SUMMARY:");
    assert_contains(buf, "SUMMARY: cachewatch: check-then-act race on app.cache.USERS app/cache.py:42 in get_user");
    assert_contains(buf, "app/cache.py:42");
    assert_contains(buf, "app/views.py:7");
    assert_contains(buf, "app/cache.py:57");
    assert_contains(buf, "get_user");
    assert_contains(buf, "put_user");
    assert_contains(buf, "Write (setitem) by thread T");
    assert_contains(buf, "Previous Write (setitem)");
    assert_contains(buf, "'worker-3'");
    assert_contains(buf, "'MainThread'");
    assert_contains(buf, "acting on the check (get)");
    assert_contains(buf, "app/cache.py:40");
    assert_contains(buf, "Locks held: none");
    assert_contains(buf, "RLock, first acquired in make_lock app/locks.py:15");
    assert_contains(buf, "created by T");
    assert_contains(buf, "server.py:88");
    assert_contains(buf, "not started under cachewatch"); /* the main thread */
    /* Banner lines open and close the report. */
    assert_int_equal(strncmp(buf, "==================\n", 19), 0);
    assert_true(len > 20 && strcmp(buf + len - 19, "==================\n") == 0);
    /* The current access comes before the previous one. */
    assert_true(strstr(buf, "app/cache.py:42") < strstr(buf, "app/cache.py:57"));

    /* cw_report_print writes the same text. */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(cw_report_print(id, fds[1], 4321), 0);
    close(fds[1]);
    char *printed = calloc(1, sizeof(buf) + 1);
    size_t got_len = 0;
    ssize_t k;
    while ((k = read(fds[0], printed + got_len, sizeof(buf) - got_len)) > 0)
        got_len += (size_t)k;
    close(fds[0]);
    assert_int_equal(got_len, len);
    assert_string_equal(printed, buf);
    free(printed);
    assert_int_equal(cw_report_print(9999, 1, 1), -1);
}

static void test_format_structure_and_native(void **state)
{
    (void)state;
    fresh_store(100, true);
    cw_frame nat[2] = {{0x7f00dead, CW_FRAME_NATIVE, 0x1c, cw_str_intern("_json.so"), cw_str_intern("encode")},
                       {next_pc(), 8, 31, cw_str_intern("loop.py"), 0}};
    cw_stack_id s = cw_depot_put(nat, 2);
    cw_report r;
    memset(&r, 0, sizeof(r));
    r.kind = CW_REPORT_ITERATION;
    r.target = cw_str_intern("loop.ITEMS");
    r.has_key = false;
    r.location = CW_LOC_STRUCTURE;
    r.cur = (cw_report_access){.tid = 77777, .op = CW_OP_ITER, .stack = s};
    r.prev = (cw_report_access){.tid = 77778, .op = CW_OP_POP, .write = true, .stack = 0};
    char buf[4096];
    cw_report_format(&r, 1, buf, sizeof(buf));
    assert_contains(buf, "WARNING: cachewatch: iteration race on loop.ITEMS");
    assert_contains(buf, "Location: the set of keys of loop.ITEMS");
    assert_contains(buf, "Iteration (iterate) by thread T77777");
    assert_contains(buf, "Previous Write (pop)");
    assert_contains(buf, "encode (_json.so+0x1c) [native]");
    assert_contains(buf, "<module> loop.py:31");
    assert_contains(buf, "<no stack>");
    assert_contains(buf, "SUMMARY:");
    assert_null(strstr(buf, "Key: "));

    /* A key whose text was never filled in. */
    r.has_key = true;
    r.location = CW_LOC_KEY;
    cw_report_format(&r, 1, buf, sizeof(buf));
    assert_contains(buf, "Key: <unknown>");
}

static void test_format_truncation(void **state)
{
    (void)state;
    cw_report r = make_report(CW_REPORT_WRITE_WRITE, "mod.TRUNC", stack_at("t.py", 1, "f"),
                              stack_at("t.py", 2, "g"));
    char full[4096];
    size_t n = cw_report_format(&r, 1, full, sizeof(full));
    assert_true(n > 100);
    for (size_t size = 1; size < 100; size += 7) {
        char small[128];
        memset(small, 'Z', sizeof(small));
        size_t m = cw_report_format(&r, 1, small, size);
        assert_true(m < size);
        assert_int_equal(small[m], '\0');
        assert_int_equal(strlen(small), m);
        assert_int_equal(strncmp(small, full, m), 0); /* a prefix of the full text */
        assert_int_equal(small[size], 'Z');           /* nothing past the buffer */
    }
    char none[1] = {'Q'};
    assert_int_equal(cw_report_format(&r, 1, none, 0), 0);
    assert_int_equal(none[0], 'Q');
}

/* ---- concurrency ----------------------------------------------------------- */

#define NTHREADS 6

static cw_stack_id shared_stacks[8];

static void *adder(void *p)
{
    intptr_t me = (intptr_t)p, bad = 0;
    for (int i = 0; i < 300; i++) {
        cw_report r = make_report(CW_REPORT_WRITE_WRITE, "mod.CONC", shared_stacks[i % 8],
                                  shared_stacks[(i + 1 + me) % 8]);
        uint32_t id = cw_report_add(&r);
        if (id) {
            char key[32];
            snprintf(key, sizeof(key), "k%d", i);
            cw_report_set_key(id, key);
        }
        uint32_t n = cw_report_count();
        if (n > 0) {
            cw_report got;
            if (!cw_report_get(n, &got) || got.id != n)
                bad++;
            char buf[2048];
            cw_report_format(&got, 1, buf, sizeof(buf));
            if (strstr(buf, "mod.CONC") == NULL)
                bad++;
        }
    }
    return (void *)bad;
}

static void test_concurrent_add(void **state)
{
    (void)state;
    fresh_store(1000, true);
    for (int i = 0; i < 8; i++)
        shared_stacks[i] = stack_at("conc.py", 100 + i, "f");
    pthread_t th[NTHREADS];
    for (intptr_t i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, adder, (void *)i), 0);
    for (int i = 0; i < NTHREADS; i++) {
        void *bad;
        assert_int_equal(pthread_join(th[i], &bad), 0);
        assert_int_equal((intptr_t)bad, 0);
    }
    /* Unordered pairs of 8 distinct lines (a line racing itself included):
     * at most 36 distinct reports; the hits add up to every add. */
    uint32_t n = cw_report_count();
    assert_true(n > 0 && n <= 36);
    uint32_t hits = 0;
    for (uint32_t id = 1; id <= n; id++) {
        cw_report got;
        assert_true(cw_report_get(id, &got));
        hits += got.hits;
    }
    assert_int_equal(hits, NTHREADS * 300);
    assert_int_equal(cw_report_dropped(), 0);
}


/* ---- findings that are not races --------------------------------------------- */

static void test_format_pool_finding(void **state)
{
    (void)state;
    fresh_store(100, true);
    cw_frame f[1] = {{next_pc(), 4, 42, cw_str_intern("app.py"), cw_str_intern("create_executor")}};
    cw_stack_id made = cw_depot_put(f, 1);
    cw_report r;
    memset(&r, 0, sizeof(r));
    r.kind = CW_REPORT_UNBOUNDED_POOL;
    r.target = cw_str_intern("futurist.ThreadPoolExecutor");
    r.detail = cw_str_intern("a pool with no bound on its backlog had 2000 tasks waiting");
    r.facts[r.nfacts++] = (cw_report_fact){cw_str_intern("pending"), 2000};
    r.facts[r.nfacts++] = (cw_report_fact){cw_str_intern("workers"), 10};
    r.sections[r.nsections++] = (cw_report_section){cw_str_intern("Made"), 0, made};
    r.dedup_key = 77;
    assert_false(cw_report_kind_is_race(r.kind));
    char buf[4096];
    cw_report_format(&r, 9, buf, sizeof(buf));
    assert_contains(buf, "WARNING: cachewatch: unbounded-pool: futurist.ThreadPoolExecutor (pid=9)");
    assert_contains(buf, "had 2000 tasks waiting");
    assert_contains(buf, "pending=2000 workers=10");
    assert_contains(buf, "  Made:\n    #0 create_executor app.py:42");
    assert_contains(buf, "SUMMARY: cachewatch: unbounded-pool futurist.ThreadPoolExecutor app.py:42");
    assert_null(strstr(buf, "Previous"));

    /* The caller's dedup key decides repeats, not the stacks. */
    uint32_t first = cw_report_add(&r);
    assert_int_not_equal(first, 0);
    assert_int_equal(cw_report_add(&r), 0);
    r.dedup_key = 78;
    assert_int_not_equal(cw_report_add(&r), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_add_and_get),
        cmocka_unit_test(test_dedup),
        cmocka_unit_test(test_set_key),
        cmocka_unit_test(test_max_and_dropped),
        cmocka_unit_test(test_suppressed_kept_apart),
        cmocka_unit_test(test_format_full),
        cmocka_unit_test(test_format_structure_and_native),
        cmocka_unit_test(test_format_truncation),
        cmocka_unit_test(test_format_pool_finding),
        cmocka_unit_test(test_concurrent_add),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
