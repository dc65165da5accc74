/* Unit tests for ext/engine/shadow.c: the race checks.
 *
 * The engine is initialised once (cw_engine_init with default flags); every
 * test uses its own containers, code locations and threads, so state left by
 * one test cannot hide or cause a report in another. Accesses are driven the
 * way the binding drives them (runtime.c: cw_record_access): a stack is
 * always passed, and when the engine asks for the stack of the checked read
 * (need_check_stack) it is built and the call repeated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <pthread.h>

#include "depot.h"
#include "engine.h"
#include "lockset.h"
#include "memory.h"
#include "report.h"
#include "report_print.h"
#include "shadow.h"
#include "sync.h"
#include "thread.h"

#include "engine_fixture.h"

/* ---- fixtures ---------------------------------------------------------------- */

static uintptr_t next_container_addr(void)
{
    static uintptr_t a = 0x7f1000000000;
    return a += 0x1000;
}

static uintptr_t next_sync_addr(void)
{
    static uintptr_t a = 0x7f2000000000;
    return a += 0x100;
}

static uintptr_t next_frame(void)
{
    static uintptr_t f = 0x7f3000000000;
    return f += 0x200;
}

/* A "function": a code object; sites are offsets in it. */
static uintptr_t next_code(void)
{
    static uintptr_t c = 0x7f4000000000;
    return c += 0x10000;
}

static cw_site at(uintptr_t code, int32_t offset)
{
    cw_site s = {code, offset};
    return s;
}

static uintptr_t watch(const char *target)
{
    uintptr_t c = next_container_addr();
    assert_int_equal(cw_shadow_watch(c, target), CW_OK);
    return c;
}

/* Watch n locations named prefix0, prefix1, ... */
static void watch_numbered(const char *prefix, uintptr_t *out, int n)
{
    char target[32];
    for (int i = 0; i < n; i++) {
        snprintf(target, sizeof(target), "%s%d", prefix, i);
        out[i] = watch(target);
    }
}

static cw_thread *reg(const char *name)
{
    static uint64_t ident = 100;
    cw_thread *t = cw_thread_register(0, NULL, __atomic_add_fetch(&ident, 1, __ATOMIC_RELAXED),
                                      name, 0);
    assert_non_null(t);
    return t;
}

/* The stack of an access at `s`: innermost frame at the site, one caller. */
static cw_stack_id stack_at(cw_site s)
{
    cw_frame f[2] = {{s.code, s.offset, 100 + s.offset, cw_str_intern("cache.py"),
                      cw_str_intern("lookup")},
                     {0x7f5000000000, 4, 9, cw_str_intern("main.py"), cw_str_intern("<module>")}};
    return cw_depot_put(f, 2);
}

/* What the binding builds for need_check_stack: the access's stack with its
 * innermost frame moved to the check site. */
static cw_stack_id stack_with_site(cw_stack_id id, cw_site s)
{
    uint32_t n;
    const cw_frame *g = cw_depot_get(id, &n);
    cw_frame f[8];
    if (n == 0 || n > 8)
        return 0;
    memcpy(f, g, n * sizeof(cw_frame));
    f[0].pc = s.code;
    f[0].offset = s.offset;
    f[0].line = 100 + s.offset;
    return cw_depot_put(f, n);
}

/* Drive one access to completion; no cmocka calls (used by workers too). */
static int shadow_call_raw(cw_thread *t, cw_access *a)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        int rc = cw_shadow_access(t, a);
        if (rc != CW_NEED_STACK)
            return rc;
        if (a->stack == 0)
            a->stack = stack_at(a->site);
        else if (a->need_check_stack)
            a->check_stack = stack_with_site(a->stack, a->check_site);
        else
            return -100; /* asked for a stack it already had */
    }
    return -101;
}

/* Reports returned to the main thread's accesses, in order. */
static uint32_t got[4096];
static uint32_t ngot;

static void collect(const uint32_t *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n && ngot < 4096; i++)
        got[ngot++] = ids[i];
}

static void shadow_call(cw_thread *t, cw_access *a)
{
    int rc = shadow_call_raw(t, a);
    assert_int_equal(rc, CW_OK);
    collect(a->reports, a->nreports);
}

static cw_access make_access(uintptr_t c, int64_t key, cw_op op, uintptr_t frame, cw_site s)
{
    cw_access a;
    memset(&a, 0, sizeof(a));
    a.container = c;
    a.key_hash = key;
    a.op = op;
    a.frame = frame;
    a.site = s;
    a.stack = stack_at(s);
    return a;
}

/* d.get(k) / k in d, whose result a later write in the call may act on. */
static void check_read(cw_thread *t, uintptr_t c, int64_t key, uintptr_t frame, cw_site s)
{
    cw_access a = make_access(c, key, CW_OP_GET, frame, s);
    a.check = true;
    shadow_call(t, &a);
}

/* A read whose result nothing acts on (not recorded by the engine). */
static void plain_read(cw_thread *t, uintptr_t c, int64_t key, uintptr_t frame, cw_site s)
{
    cw_access a = make_access(c, key, CW_OP_GETITEM, frame, s);
    shadow_call(t, &a);
}

/* d[k] = v: structural when it inserts the key. */
static void write_key(cw_thread *t, uintptr_t c, int64_t key, uintptr_t frame, cw_site s,
                      bool structural)
{
    cw_access a = make_access(c, key, CW_OP_SETITEM, frame, s);
    a.write = true;
    a.structural = structural;
    shadow_call(t, &a);
}

/* if k not in d: d[k] = v  -- one call (frame), check at cs, write at ws. */
static void region(cw_thread *t, uintptr_t c, int64_t key, cw_site cs, cw_site ws)
{
    uintptr_t frame = next_frame();
    check_read(t, c, key, frame, cs);
    write_key(t, c, key, frame, ws, false);
    cw_thread_forget_frame(t, frame); /* the call returned */
}

static cw_lock_id lock(cw_thread *t, uintptr_t addr)
{
    bool is_new;
    assert_int_equal(cw_sync_lock_acquired(t, addr, CW_LOCK_LOCK, true, 1, &is_new, NULL), CW_OK);
    cw_held *h = cw_thread_find_held(t, addr);
    return h ? h->id : 0;
}

static void unlock(cw_thread *t, uintptr_t addr)
{
    assert_int_equal(cw_sync_lock_releasing(t, addr, false), CW_OK);
}

/* Happens-before through a hand-off object (a queue put/get). */
static void handoff(cw_thread *from, cw_thread *to)
{
    uintptr_t q = next_sync_addr();
    bool is_new;
    assert_int_equal(cw_sync_publish(from, q, &is_new), CW_OK);
    assert_int_equal(cw_sync_consume(to, q), CW_OK);
}

/* A reports window: everything returned since mark(). */
typedef struct window {
    uint32_t first_got;
    uint32_t store_count;
} window;

static window mark(void)
{
    window w = {ngot, cw_report_count()};
    return w;
}

static uint32_t new_reports(window w) { return ngot - w.first_got; }

static uint32_t new_of_kind(window w, cw_report_kind kind)
{
    uint32_t n = 0;
    for (uint32_t i = w.first_got; i < ngot; i++) {
        cw_report r;
        assert_true(cw_report_get(got[i], &r));
        if (r.kind == kind)
            n++;
    }
    return n;
}

static void assert_no_report(window w)
{
    if (new_reports(w) != 0 || cw_report_count() != w.store_count) {
        cw_report r;
        char buf[8192] = "";
        if (ngot > w.first_got && cw_report_get(got[w.first_got], &r))
            cw_report_format(&r, 0, buf, sizeof(buf));
        fail_msg("expected no report, got %u (store %u -> %u):\n%s", new_reports(w),
                 w.store_count, cw_report_count(), buf);
    }
}

/* The first new report, which must be of `kind`, between `cur` and `prev`. */
static cw_report first_report(window w, cw_report_kind kind)
{
    cw_report r;
    memset(&r, 0, sizeof(r));
    if (new_reports(w) == 0)
        fail_msg("expected a %s report, got none", cw_report_kind_name(kind));
    assert_true(cw_report_get(got[w.first_got], &r));
    if (r.kind != kind)
        fail_msg("expected a %s report, got %s", cw_report_kind_name(kind), cw_report_kind_name(r.kind));
    return r;
}

/* ---- watching -------------------------------------------------------------- */

static void test_watch_unwatch(void **state)
{
    (void)state;
    size_t before = cw_shadow_watched_count();
    uintptr_t c = watch("mod.WATCHED");
    assert_true(cw_shadow_is_watched(c));
    assert_int_equal(cw_shadow_watched_count(), before + 1);
    assert_false(cw_shadow_has_cell(c, 5));
    cw_thread *a = reg("a");
    cw_site s = at(next_code(), 2);
    write_key(a, c, 5, next_frame(), s, true);
    assert_true(cw_shadow_has_cell(c, 5));
    assert_false(cw_shadow_has_cell(c, 6));
    /* Re-watching renames and keeps history. */
    assert_int_equal(cw_shadow_watch(c, "mod.RENAMED"), CW_OK);
    assert_int_equal(cw_shadow_watched_count(), before + 1);
    assert_true(cw_shadow_has_cell(c, 5));
    cw_shadow_unwatch(c);
    assert_false(cw_shadow_is_watched(c));
    assert_false(cw_shadow_has_cell(c, 5));
    assert_int_equal(cw_shadow_watched_count(), before);

    /* Accesses to an unwatched container record nothing and report nothing. */
    window w = mark();
    cw_thread *b = reg("b");
    write_key(a, c, 5, next_frame(), s, true);
    write_key(b, c, 5, next_frame(), s, true);
    assert_no_report(w);
    assert_false(cw_shadow_has_cell(c, 5));
    cw_shadow_unwatch(c); /* twice is harmless */
}

static void test_renamed_target_in_reports(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.OLDNAME");
    assert_int_equal(cw_shadow_watch(c, "mod.NEWNAME"), CW_OK);
    cw_thread *a = reg("a"), *b = reg("b");
    cw_site s = at(next_code(), 4);
    window w = mark();
    write_key(a, c, 1, next_frame(), s, false);
    write_key(b, c, 1, next_frame(), s, false);
    cw_report r = first_report(w, CW_REPORT_WRITE_WRITE);
    assert_string_equal(cw_str_get(r.target), "mod.NEWNAME");
    assert_int_equal(r.container, c);
}

/* ---- the stack protocol ---------------------------------------------------- */

static void test_need_stack_protocol(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.PROTOCOL");
    cw_thread *a = reg("a");
    uintptr_t code = next_code();
    uintptr_t frame = next_frame();

    /* A first check read must store a record: it asks for the stack. */
    cw_access r = make_access(c, 7, CW_OP_GET, frame, at(code, 2));
    r.check = true;
    r.stack = 0;
    assert_int_equal(cw_shadow_access(a, &r), CW_NEED_STACK);
    assert_false(r.need_check_stack);
    /* Nothing was recorded: asking again gives the same answer. */
    assert_int_equal(cw_shadow_access(a, &r), CW_NEED_STACK);
    assert_int_equal(a->nrecent, 0); /* the read was not noted either */
    r.stack = stack_at(r.site);
    assert_int_equal(cw_shadow_access(a, &r), CW_OK);
    assert_int_equal(a->nrecent, 1);

    /* The write in the same call acts on it: it wants the check's stack. */
    cw_access w = make_access(c, 7, CW_OP_SETITEM, frame, at(code, 10));
    w.write = true;
    assert_int_equal(cw_shadow_access(a, &w), CW_NEED_STACK);
    assert_true(w.need_check_stack);
    assert_true(cw_site_eq(w.check_site, at(code, 2)));
    assert_int_equal(a->nrecent, 1); /* not consumed yet */
    w.check_stack = stack_with_site(w.stack, w.check_site);
    assert_int_equal(cw_shadow_access(a, &w), CW_OK);
    assert_false(w.need_check_stack);
    assert_int_equal(a->nrecent, 0); /* the region consumed the read */

    /* Repeating a read in the same epoch stores nothing: no stack needed. */
    cw_access again = make_access(c, 8, CW_OP_GET, next_frame(), at(code, 20));
    again.check = true;
    shadow_call(a, &again);
    again.stack = 0;
    again.frame = next_frame();
    assert_int_equal(cw_shadow_access(a, &again), CW_OK);
    cw_thread_forget_frame(a, again.frame);
    cw_thread_forget_frame(a, frame);
}

/* shadow.h: CW_NEED_STACK means "nothing was changed: capture the stack and
 * call again", and cw_shadow_has_cell asks whether a key has any history.
 * A call answered with CW_NEED_STACK (the binding may then fail to capture
 * and give up, runtime.c: "record nothing this time") must leave no trace. */
static void test_need_stack_leaves_no_trace(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.NO_TRACE");
    cw_thread *a = reg("a");
    size_t locations = cw_shadow_location_count();
    cw_access w = make_access(c, 99, CW_OP_SETITEM, next_frame(), at(next_code(), 2));
    w.write = true;
    w.stack = 0;
    assert_int_equal(cw_shadow_access(a, &w), CW_NEED_STACK);
    assert_int_equal(cw_shadow_location_count(), locations);
    assert_false(cw_shadow_has_cell(c, 99));
}

/* ---- (a)-(c) check-then-act --------------------------------------------------- */

/* (a) Both threads run `if k not in d: d[k] = v` unordered, no lock. */
static void test_check_then_act_unordered(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.CTA");
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    cw_site check = at(code, 10), act = at(code, 20);

    window w = mark();
    region(a, c, 42, check, act);
    assert_no_report(w); /* alone, nothing to say */
    region(b, c, 42, check, act);
    assert_true(new_reports(w) > 0);
    assert_int_equal(new_of_kind(w, CW_REPORT_CHECK_THEN_ACT), new_reports(w));

    cw_report r = first_report(w, CW_REPORT_CHECK_THEN_ACT);
    assert_int_equal(r.cur.tid, b->tid);
    assert_int_equal(r.prev.tid, a->tid);
    assert_true(r.has_key);
    assert_int_equal(r.container, c);
    assert_string_equal(cw_str_get(r.target), "mod.CTA");
    assert_string_equal(r.cur.thread_name, "B");
    assert_string_equal(r.prev.thread_name, "A");
    /* The other side is A's region: a write that acted on a check. */
    assert_true(r.prev.write);
    assert_int_equal(r.prev.op, CW_OP_SETITEM);
    assert_int_equal(r.prev.stack, stack_at(act));
    assert_int_equal(r.prev.check_stack, stack_at(check));
    assert_int_equal(r.prev.check_op, CW_OP_GET);

    /* B's check found the race; B's write acting on that check is the same
     * bug (reports are named by the checked site), counted as a second hit. */
    assert_int_equal(new_reports(w), 1);
    assert_int_equal(cw_report_count(), w.store_count + 1);
    assert_int_equal(r.cur.stack, stack_at(check));
    assert_false(r.cur.write);
    assert_true(cw_report_get(got[w.first_got], &r));
    assert_int_equal(r.hits, 2);

    /* And it prints. */
    char buf[8192];
    cw_report_format(&r, 1, buf, sizeof(buf));
    assert_non_null(strstr(buf, "check-then-act race on mod.CTA"));
    assert_non_null(strstr(buf, "Check (get) by thread"));      /* B's check */
    assert_non_null(strstr(buf, "Previous Write (setitem) by thread")); /* A's region */
    assert_non_null(strstr(buf, "acting on the check (get)"));
}

/* (b) B was started by A after A's region: ordered, no report. */
static void test_check_then_act_ordered_by_fork(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.CTA_FORK");
    cw_thread *a = reg("A");
    uintptr_t code = next_code();
    cw_site check = at(code, 10), act = at(code, 20);

    window w = mark();
    region(a, c, 1, check, act);
    cw_vc *snap = cw_thread_fork_snapshot(a);
    assert_non_null(snap);
    cw_thread *b = cw_thread_register(a->tid, snap, 9001, "B", 0);
    cw_vc_unref(snap);
    assert_non_null(b);
    region(b, c, 1, check, act);
    write_key(b, c, 1, next_frame(), at(code, 30), false);
    assert_no_report(w);

    /* A's work after the fork is not ordered with B's: that races. */
    region(a, c, 1, check, act);
    assert_true(new_of_kind(w, CW_REPORT_CHECK_THEN_ACT) > 0);
}

/* (b') The same with a queue hand-off instead of a thread start. */
static void test_check_then_act_ordered_by_handoff(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.CTA_QUEUE");
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    cw_site check = at(code, 10), act = at(code, 20);
    window w = mark();
    region(a, c, 3, check, act);
    handoff(a, b);
    region(b, c, 3, check, act);
    handoff(b, a);
    region(a, c, 3, check, act);
    assert_no_report(w);
}

/* (c) Both regions under one lock: no report. */
static void test_check_then_act_common_lock(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.CTA_LOCKED");
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    cw_site check = at(code, 10), act = at(code, 20);
    uintptr_t l = next_sync_addr();

    window w = mark();
    assert_int_not_equal(lock(a, l), 0);
    region(a, c, 5, check, act);
    unlock(a, l);
    lock(b, l);
    region(b, c, 5, check, act);
    unlock(b, l);
    /* B learned nothing from A through the lock... */
    assert_int_equal(cw_vc_get(b->vc, a->tid), 0);
    /* ...yet nothing is reported: the lock serialised both regions. */
    assert_no_report(w);

    /* Control: the same regions, B without the lock, race. */
    uintptr_t c2 = watch("mod.CTA_HALF_LOCKED");
    lock(a, l);
    region(a, c2, 5, check, act);
    unlock(a, l);
    region(b, c2, 5, check, act);
    assert_true(new_of_kind(w, CW_REPORT_CHECK_THEN_ACT) > 0);

    /* Different locks do not serialise. */
    uintptr_t c3 = watch("mod.CTA_TWO_LOCKS");
    uintptr_t l2 = next_sync_addr();
    window w3 = mark();
    lock(a, l);
    region(a, c3, 5, check, act);
    unlock(a, l);
    lock(b, l2);
    region(b, c3, 5, check, act);
    unlock(b, l2);
    assert_true(new_of_kind(w3, CW_REPORT_CHECK_THEN_ACT) > 0);
}

/* A lock taken only after the check does not protect the region; neither does
 * one released between the check and the write. */
static void test_lock_must_span_region(void **state)
{
    (void)state;
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    cw_site check = at(code, 10), act = at(code, 20);
    uintptr_t l = next_sync_addr();

    uintptr_t c = watch("mod.LOCK_AFTER_CHECK");
    window w = mark();
    for (int i = 0; i < 2; i++) {
        cw_thread *t = i ? b : a;
        uintptr_t frame = next_frame();
        check_read(t, c, 9, frame, check);
        lock(t, l);
        write_key(t, c, 9, frame, act, false);
        unlock(t, l);
        cw_thread_forget_frame(t, frame);
    }
    assert_true(new_of_kind(w, CW_REPORT_CHECK_THEN_ACT) > 0);

    uintptr_t c2 = watch("mod.LOCK_BEFORE_WRITE");
    cw_site check2 = at(code, 30), act2 = at(code, 40);
    window w2 = mark();
    for (int i = 0; i < 2; i++) {
        cw_thread *t = i ? b : a;
        uintptr_t frame = next_frame();
        lock(t, l);
        check_read(t, c2, 9, frame, check2);
        unlock(t, l);
        write_key(t, c2, 9, frame, act2, false);
        cw_thread_forget_frame(t, frame);
    }
    assert_true(new_of_kind(w2, CW_REPORT_CHECK_THEN_ACT) > 0);
}

/* A loop whose passes each take a lock: `with l: L.append(x); if len(L) > n:
 * ...`. The check of one pass is further on in the code than the next pass's
 * write, so that write does not act on it: no region, no report. A check
 * before the write in the code, with the lock released and taken again
 * between them, still makes a region and a report. */
static void test_check_later_in_code_is_not_acted_on(void **state)
{
    (void)state;
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    uintptr_t l = next_sync_addr();
    for (int swapped = 0; swapped < 2; swapped++) {
        cw_site write_site = at(code, swapped ? 60 : 20), check_site = at(code, swapped ? 20 : 60);
        uintptr_t c = watch(swapped ? "mod.CHECK_FIRST" : "mod.TRIM_LOOP");
        window w = mark();
        uintptr_t frames[2] = {next_frame(), next_frame()};
        for (int pass = 0; pass < 3; pass++) {
            for (int i = 0; i < 2; i++) {
                cw_thread *t = i ? b : a;
                lock(t, l);
                if (swapped) { /* check, release, take again, write */
                    check_read(t, c, 0, frames[i], check_site);
                    unlock(t, l);
                    lock(t, l);
                }
                write_key(t, c, 0, frames[i], write_site, false);
                if (!swapped)
                    check_read(t, c, 0, frames[i], check_site);
                unlock(t, l);
            }
        }
        cw_thread_forget_frame(a, frames[0]);
        cw_thread_forget_frame(b, frames[1]);
        if (swapped)
            assert_true(new_of_kind(w, CW_REPORT_CHECK_THEN_ACT) > 0);
        else
            assert_no_report(w);
    }
}

/* The oslo.concurrency pattern: a registry drops a lock when unused and makes
 * a new one for the same name; both incarnations serialise their users. */
static void test_lock_role_incarnations_serialise(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.CTA_ROLE");
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    cw_site check = at(code, 10), act = at(code, 20);
    cw_site role = at(next_code(), 4);

    window w = mark();
    uintptr_t l1 = next_sync_addr();
    bool is_new;
    cw_lock_id fresh = 0;
    assert_int_equal(cw_sync_lock_acquired(a, l1, CW_LOCK_LOCK, true, 1, &is_new, &fresh), CW_OK);
    assert_int_not_equal(fresh, 0);
    cw_lockinfo_set_role(fresh, role, stack_at(role));
    region(a, c, 11, check, act);
    unlock(a, l1);
    cw_sync_forget(l1); /* the registry dropped it */

    uintptr_t l2 = next_sync_addr();
    assert_int_equal(cw_sync_lock_acquired(b, l2, CW_LOCK_LOCK, true, 1, &is_new, &fresh), CW_OK);
    cw_lockinfo_set_role(fresh, role, stack_at(role));
    region(b, c, 11, check, act);
    unlock(b, l2);
    assert_no_report(w);
}

/* ---- (d)-(f) write-write, single operations, other keys ----------------------- */

/* (d) Two plain writes, unordered, no common lock. */
static void test_write_write(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.WW");
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    window w = mark();
    write_key(a, c, 77, next_frame(), at(code, 2), false);
    assert_no_report(w);
    write_key(b, c, 77, next_frame(), at(code, 6), false);
    cw_report r = first_report(w, CW_REPORT_WRITE_WRITE);
    assert_int_equal(new_reports(w), 1);
    assert_int_equal(r.cur.tid, b->tid);
    assert_int_equal(r.prev.tid, a->tid);
    assert_true(r.cur.write && r.prev.write);
    assert_int_equal(r.cur.stack, stack_at(at(code, 6)));
    assert_int_equal(r.prev.stack, stack_at(at(code, 2)));
    assert_int_equal(r.cur.check_stack, 0);
    assert_true(r.has_key);
}

/* del d[k]: removes the key. */
static void delete_key(cw_thread *t, uintptr_t c, int64_t key, uintptr_t frame, cw_site s)
{
    cw_access a = make_access(c, key, CW_OP_DELITEM, frame, s);
    a.write = true;
    a.structural = true;
    shadow_call(t, &a);
}

/* A removed key's history stays for the shard's last 4096 removals: a
 * re-insertion by another thread soon after still races with the removal;
 * older removed keys are forgotten (memory follows the live keys), a key
 * written again is live and never forgotten. */
static void test_removed_keys_are_forgotten_after_a_while(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.SESSIONS");
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    window w = mark();
    write_key(a, c, 1, next_frame(), at(code, 2), true);
    delete_key(a, c, 1, next_frame(), at(code, 4));
    write_key(a, c, 2, next_frame(), at(code, 2), true);
    delete_key(a, c, 2, next_frame(), at(code, 4));
    write_key(a, c, 2, next_frame(), at(code, 2), true); /* back: live */
    assert_no_report(w);
    write_key(b, c, 1, next_frame(), at(code, 8), true);  /* soon after: a race */
    assert_int_equal(new_of_kind(w, CW_REPORT_WRITE_WRITE), 1);
    delete_key(b, c, 1, next_frame(), at(code, 10));
    size_t before = cw_shadow_location_count(); /* every container's, not just c's */
    for (int64_t k = 100; k < 100 + 4096; k++) {
        write_key(a, c, k, next_frame(), at(code, 2), true);
        delete_key(a, c, k, next_frame(), at(code, 4));
    }
    assert_false(cw_shadow_has_cell(c, 1));    /* removed 4096 removals ago */
    assert_true(cw_shadow_has_cell(c, 2));     /* live */
    assert_true(cw_shadow_has_cell(c, 100 + 4095)); /* removed just now */
    /* 4096 keys noted, key 1 forgotten, nothing else kept */
    assert_int_equal(cw_shadow_location_count(), before + 4096 - 1);
}

/* c.update(words) from two threads: Counter's C loop reads and writes each
 * key at one site (one instruction, no Python code between): an atomic
 * read-modify-write, commuting with another like it; a plain store of the
 * key still conflicts with it. */
static void test_read_and_write_by_one_instruction_commute(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.COUNTER");
    cw_thread *a = reg("A"), *b = reg("B"), *z = reg("Z");
    uintptr_t code = next_code();
    cw_site site = at(code, 10);
    window w = mark();
    for (int i = 0; i < 2; i++) {
        cw_thread *t = i ? b : a;
        uintptr_t frame = next_frame();
        check_read(t, c, 5, frame, site);
        write_key(t, c, 5, frame, site, false);
        cw_thread_forget_frame(t, frame);
    }
    assert_no_report(w);
    write_key(z, c, 5, next_frame(), at(code, 40), false);
    assert_int_equal(new_of_kind(w, CW_REPORT_WRITE_WRITE), 1);
}

/* One check-then-act race seen from either side, and from a thread's check
 * or its region, is one finding: the region is named by its check's site,
 * known even when its check's stack was never captured. */
static void test_region_named_by_its_check_site(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.REGION");
    cw_thread *a = reg("A"), *b = reg("B"), *d = reg("D");
    uintptr_t code = next_code();
    window w = mark();
    region(a, c, 9, at(code, 4), at(code, 20));
    region(b, c, 9, at(code, 4), at(code, 20));
    region(d, c, 9, at(code, 4), at(code, 20));
    region(a, c, 11, at(code, 4), at(code, 20));
    region(b, c, 11, at(code, 4), at(code, 20));
    assert_int_equal(new_of_kind(w, CW_REPORT_CHECK_THEN_ACT), 1);
    cw_report r = first_report(w, CW_REPORT_CHECK_THEN_ACT);
    assert_true(r.hits >= 1);
    assert_true(cw_site_eq(r.cur.check_site, at(code, 4)) || cw_site_eq(r.prev.check_site, at(code, 4)));
}

static void test_write_write_ordered_or_locked(void **state)
{
    (void)state;
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    window w = mark();

    uintptr_t c1 = watch("mod.WW_ORDERED");
    write_key(a, c1, 1, next_frame(), at(code, 2), false);
    handoff(a, b);
    write_key(b, c1, 1, next_frame(), at(code, 6), false);

    uintptr_t c2 = watch("mod.WW_LOCKED");
    uintptr_t l = next_sync_addr();
    lock(a, l);
    write_key(a, c2, 1, next_frame(), at(code, 2), false);
    unlock(a, l);
    lock(b, l);
    write_key(b, c2, 1, next_frame(), at(code, 6), false);
    unlock(b, l);

    /* The same thread writing twice is never a race. */
    uintptr_t c3 = watch("mod.WW_SAME");
    write_key(a, c3, 1, next_frame(), at(code, 2), false);
    write_key(a, c3, 1, next_frame(), at(code, 6), false);
    assert_no_report(w);
}

/* (e) Single operations, at most one of which writes, never race. */
static void test_single_read_vs_single_write(void **state)
{
    (void)state;
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    window w = mark();

    /* A check-eligible read nobody acted on, then B's write. */
    uintptr_t c1 = watch("mod.RW1");
    check_read(a, c1, 1, next_frame(), at(code, 2));
    write_key(b, c1, 1, next_frame(), at(code, 6), false);
    /* B's write, then A's read. */
    uintptr_t c2 = watch("mod.RW2");
    write_key(b, c2, 1, next_frame(), at(code, 6), false);
    check_read(a, c2, 1, next_frame(), at(code, 10));
    /* Plain reads against writes. */
    uintptr_t c3 = watch("mod.RW3");
    plain_read(a, c3, 1, next_frame(), at(code, 14));
    write_key(b, c3, 1, next_frame(), at(code, 6), true);
    plain_read(a, c3, 1, next_frame(), at(code, 14));
    /* Reads against reads. */
    uintptr_t c4 = watch("mod.RW4");
    check_read(a, c4, 1, next_frame(), at(code, 2));
    check_read(b, c4, 1, next_frame(), at(code, 2));
    plain_read(b, c4, 1, next_frame(), at(code, 14));
    assert_no_report(w);
    /* Plain reads leave no history at all. */
    uintptr_t c5 = watch("mod.RW5");
    plain_read(a, c5, 1, next_frame(), at(code, 14));
    assert_false(cw_shadow_has_cell(c5, 1));
}

/* (f) Other keys are other locations. */
static void test_different_keys(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.KEYS");
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    cw_site check = at(code, 10), act = at(code, 20);
    window w = mark();
    region(a, c, 100, check, act);
    region(b, c, 200, check, act);
    check_read(b, c, 300, next_frame(), check);
    write_key(a, c, 400, next_frame(), at(code, 30), false);
    write_key(b, c, 500, next_frame(), at(code, 30), false);
    assert_no_report(w);
    /* Other containers too, same key. */
    uintptr_t c2 = watch("mod.KEYS2");
    region(b, c2, 100, check, act);
    write_key(b, c2, 400, next_frame(), at(code, 30), false);
    assert_no_report(w);
}

/* A region against a plain write by another thread, in both orders. */
static void test_region_vs_plain_write(void **state)
{
    (void)state;
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    cw_site check = at(code, 10), act = at(code, 20), other = at(code, 40);

    /* B's write fell between A's check and A's write. */
    uintptr_t c1 = watch("mod.REGION_WRITE1");
    window w = mark();
    uintptr_t frame = next_frame();
    check_read(a, c1, 1, frame, check);
    write_key(b, c1, 1, next_frame(), other, false);
    write_key(a, c1, 1, frame, act, false);
    cw_thread_forget_frame(a, frame);
    cw_report r = first_report(w, CW_REPORT_CHECK_THEN_ACT);
    assert_int_equal(r.cur.tid, a->tid);
    assert_int_equal(r.prev.tid, b->tid);
    assert_int_equal(r.cur.check_stack, stack_at(check));

    /* A's region first, B's unordered write after it. */
    uintptr_t c2 = watch("mod.REGION_WRITE2");
    window w2 = mark();
    region(a, c2, 1, check, act);
    write_key(b, c2, 1, next_frame(), other, false);
    r = first_report(w2, CW_REPORT_CHECK_THEN_ACT);
    assert_int_equal(r.cur.tid, b->tid);
    assert_int_equal(r.prev.tid, a->tid);

    /* A write B made known to A before A's check is ordered: none. */
    uintptr_t c3 = watch("mod.REGION_WRITE3");
    window w3 = mark();
    write_key(b, c3, 1, next_frame(), other, false);
    handoff(b, a);
    region(a, c3, 1, check, act);
    assert_no_report(w3);
}

/* ---- (g) iteration ---------------------------------------------------------- */

static void iter_end(cw_thread *t, cw_iteration *it)
{
    uint32_t ids[CW_MAX_NEW_REPORTS];
    uint32_t n = 99;
    assert_int_equal(cw_shadow_iter_end(t, it, ids, &n), CW_OK);
    assert_true(n <= CW_MAX_NEW_REPORTS);
    collect(ids, n);
    assert_false(it->open);
    assert_null(it->start);
}

static void test_iteration_race(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.ITER");
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    window w = mark();
    cw_iteration it;
    assert_int_equal(cw_shadow_iter_begin(a, c, stack_at(at(code, 2)), &it), CW_OK);
    assert_true(it.open);
    assert_int_equal(it.container, c);
    assert_int_equal(it.tid, a->tid);
    write_key(b, c, 13, next_frame(), at(code, 8), true); /* an insertion */
    iter_end(a, &it);
    assert_true(new_reports(w) > 0);
    assert_int_equal(new_of_kind(w, CW_REPORT_ITERATION), new_reports(w));
    cw_report r = first_report(w, CW_REPORT_ITERATION);
    assert_false(r.has_key);
    bool iter_side = (r.cur.op == CW_OP_ITER && r.cur.tid == a->tid && r.prev.tid == b->tid) ||
                     (r.prev.op == CW_OP_ITER && r.prev.tid == a->tid && r.cur.tid == b->tid);
    assert_true(iter_side);
    char buf[8192];
    cw_report_format(&r, 1, buf, sizeof(buf));
    assert_non_null(strstr(buf, "Location: the set of keys of mod.ITER"));

    /* An unordered insertion before the loop is found when the loop ends. */
    uintptr_t c2 = watch("mod.ITER_BEFORE");
    window w2 = mark();
    write_key(b, c2, 13, next_frame(), at(code, 8), true);
    assert_int_equal(cw_shadow_iter_begin(a, c2, stack_at(at(code, 2)), &it), CW_OK);
    iter_end(a, &it);
    assert_true(new_of_kind(w2, CW_REPORT_ITERATION) > 0);

    /* A deletion (structural, op pop) races too. */
    uintptr_t c3 = watch("mod.ITER_POP");
    window w3 = mark();
    assert_int_equal(cw_shadow_iter_begin(a, c3, stack_at(at(code, 2)), &it), CW_OK);
    cw_access pop = make_access(c3, 4, CW_OP_POP, next_frame(), at(code, 12));
    pop.write = true;
    pop.structural = true;
    shadow_call(b, &pop);
    iter_end(a, &it);
    assert_true(new_of_kind(w3, CW_REPORT_ITERATION) > 0);
}

static void test_iteration_ordered_or_harmless(void **state)
{
    (void)state;
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    cw_iteration it;
    window w = mark();

    /* B's insertion is ordered after A's loop ended. */
    uintptr_t c1 = watch("mod.ITER_AFTER");
    assert_int_equal(cw_shadow_iter_begin(a, c1, stack_at(at(code, 2)), &it), CW_OK);
    iter_end(a, &it);
    handoff(a, b);
    write_key(b, c1, 1, next_frame(), at(code, 8), true);

    /* B's insertion was known to A before its loop began. */
    uintptr_t c2 = watch("mod.ITER_KNOWN");
    write_key(b, c2, 1, next_frame(), at(code, 8), true);
    handoff(b, a);
    assert_int_equal(cw_shadow_iter_begin(a, c2, stack_at(at(code, 2)), &it), CW_OK);
    iter_end(a, &it);

    /* Replacing a value (not structural) during a loop is fine. */
    uintptr_t c3 = watch("mod.ITER_REPLACE");
    assert_int_equal(cw_shadow_iter_begin(a, c3, stack_at(at(code, 2)), &it), CW_OK);
    write_key(b, c3, 1, next_frame(), at(code, 8), false);
    iter_end(a, &it);

    /* The looping thread's own insertions are not a race. */
    uintptr_t c4 = watch("mod.ITER_OWN");
    assert_int_equal(cw_shadow_iter_begin(a, c4, stack_at(at(code, 2)), &it), CW_OK);
    write_key(a, c4, 1, next_frame(), at(code, 8), true);
    iter_end(a, &it);

    /* Loop and insertion under one lock. */
    uintptr_t c5 = watch("mod.ITER_LOCKED");
    uintptr_t l = next_sync_addr();
    lock(a, l);
    assert_int_equal(cw_shadow_iter_begin(a, c5, stack_at(at(code, 2)), &it), CW_OK);
    iter_end(a, &it);
    unlock(a, l);
    lock(b, l);
    write_key(b, c5, 1, next_frame(), at(code, 8), true);
    unlock(b, l);

    /* Two loops never race each other. */
    uintptr_t c6 = watch("mod.ITER_TWO");
    cw_iteration it2;
    assert_int_equal(cw_shadow_iter_begin(a, c6, stack_at(at(code, 2)), &it), CW_OK);
    assert_int_equal(cw_shadow_iter_begin(b, c6, stack_at(at(code, 2)), &it2), CW_OK);
    iter_end(b, &it2);
    iter_end(a, &it);

    /* Ending twice, or a loop over an unwatched container, is harmless. */
    iter_end(a, &it);
    assert_int_equal(cw_shadow_iter_begin(a, next_container_addr(), 0, &it), CW_OK);
    assert_false(it.open);
    iter_end(a, &it);
    assert_no_report(w);
}

/* ---- (h) prediction -------------------------------------------------------- */

static void test_predicted_check_at_check_site(void **state)
{
    (void)state;
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    cw_site check = at(code, 10), act = at(code, 20);

    /* A completed a region; B only checked at the same site (it would have
     * acted on what it saw, had the key been missing). */
    uintptr_t c = watch("mod.PREDICT");
    window w = mark();
    region(a, c, 8, check, act);
    check_read(b, c, 8, next_frame(), check);
    cw_report r = first_report(w, CW_REPORT_CHECK_THEN_ACT);
    assert_int_equal(r.cur.tid, b->tid);
    assert_false(r.cur.write);
    assert_int_equal(r.cur.stack, stack_at(check));
    assert_int_equal(r.prev.tid, a->tid);
    assert_true(r.prev.write);

    /* The other order: B's check first, then A's region finds it (A's own
     * check site is now known). */
    uintptr_t c1 = watch("mod.PREDICT_LATE");
    window w1 = mark();
    check_read(b, c1, 8, next_frame(), check);
    region(a, c1, 8, check, act);
    assert_true(new_of_kind(w1, CW_REPORT_CHECK_THEN_ACT) > 0);

    /* B reading at a site that never was a check site: no report. */
    cw_site elsewhere = at(next_code(), 6);
    uintptr_t c2 = watch("mod.PREDICT_NOT");
    window w2 = mark();
    region(a, c2, 8, check, act);
    check_read(b, c2, 8, next_frame(), elsewhere);
    check_read(b, c2, 8, next_frame(), at(code, 20)); /* the write site is not a check site */
    assert_no_report(w2);

    /* B's check ordered after A's region: no report. */
    uintptr_t c3 = watch("mod.PREDICT_ORDERED");
    window w3 = mark();
    region(a, c3, 8, check, act);
    handoff(a, b);
    check_read(b, c3, 8, next_frame(), check);
    assert_no_report(w3);
}

/* ---- (i) double-checked locking -------------------------------------------- */

static void test_double_checked_locking(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.DCL");
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    cw_site outer = at(code, 10), inner = at(code, 30), act = at(code, 40);
    uintptr_t l = next_sync_addr();
    window w = mark();

    /* A: if k not in d:  with lock:  if k not in d:  d[k] = v */
    uintptr_t fa = next_frame();
    check_read(a, c, 21, fa, outer);
    lock(a, l);
    check_read(a, c, 21, fa, inner);
    write_key(a, c, 21, fa, act, false);
    unlock(a, l);
    cw_thread_forget_frame(a, fa);

    /* B: the unlocked check finds the key and goes no further. */
    uintptr_t fb = next_frame();
    check_read(b, c, 21, fb, outer);
    cw_thread_forget_frame(b, fb);
    assert_no_report(w);

    /* B (again): the key is missing, so it takes the lock and checks again,
     * finds it there and does not write. */
    fb = next_frame();
    check_read(b, c, 21, fb, outer);
    lock(b, l);
    check_read(b, c, 21, fb, inner);
    unlock(b, l);
    cw_thread_forget_frame(b, fb);
    assert_no_report(w);

    /* B does the whole pattern too. */
    fb = next_frame();
    check_read(b, c, 21, fb, outer);
    lock(b, l);
    check_read(b, c, 21, fb, inner);
    write_key(b, c, 21, fb, act, false);
    unlock(b, l);
    cw_thread_forget_frame(b, fb);
    assert_no_report(w);

    /* Control: without the lock the inner check races A's region. */
    fb = next_frame();
    check_read(b, c, 21, fb, inner);
    cw_thread_forget_frame(b, fb);
    assert_true(new_of_kind(w, CW_REPORT_CHECK_THEN_ACT) > 0);
}

/* ---- (j) de-duplication ----------------------------------------------------- */

static void test_dedup_same_race_twice(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.DEDUP");
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    cw_site sa = at(code, 2), sb = at(code, 6);
    window w = mark();
    write_key(a, c, 3, next_frame(), sa, false);
    write_key(b, c, 3, next_frame(), sb, false);
    cw_report r = first_report(w, CW_REPORT_WRITE_WRITE);
    assert_int_equal(new_reports(w), 1);
    assert_int_equal(r.hits, 1);
    uint32_t id = got[w.first_got];

    /* The same two lines race again (seen from A's side this time). */
    write_key(a, c, 3, next_frame(), sa, false);
    assert_int_equal(new_reports(w), 1); /* no new id returned */
    assert_int_equal(cw_report_count(), w.store_count + 1);
    assert_true(cw_report_get(id, &r));
    assert_int_equal(r.hits, 2);

    /* The same lines on another key of the container: still the same race. */
    write_key(a, c, 4, next_frame(), sa, false);
    write_key(b, c, 4, next_frame(), sb, false);
    assert_int_equal(cw_report_count(), w.store_count + 1);
    assert_true(cw_report_get(id, &r));
    assert_int_equal(r.hits, 3);

    /* A third thread whose write is at A's line races B: the same two lines,
     * the same report. */
    uintptr_t c2 = watch("mod.DEDUP"); /* same target, another container */
    write_key(b, c2, 9, next_frame(), sb, false);
    cw_thread *d = reg("D");
    write_key(d, c2, 9, next_frame(), sa, false);
    assert_int_equal(cw_report_count(), w.store_count + 1);
    assert_true(cw_report_get(id, &r));
    assert_int_equal(r.hits, 4);
}

/* At most one new report per other thread, per access. */
static void test_one_report_per_other_thread(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.MANY");
    uintptr_t code = next_code();
    cw_thread *ts[5];
    window w = mark();
    for (int i = 0; i < 5; i++) {
        ts[i] = reg("T");
        write_key(ts[i], c, 1, next_frame(), at(code, 2 + 2 * i), false);
    }
    /* Writer i found one race with each of the i writers before it. */
    assert_int_equal(new_reports(w), 0 + 1 + 2 + 3 + 4);
    cw_thread *last = reg("last");
    window w2 = mark();
    write_key(last, c, 1, next_frame(), at(code, 40), false);
    assert_int_equal(new_reports(w2), 5);
    for (uint32_t i = w2.first_got; i < ngot; i++) {
        cw_report r;
        assert_true(cw_report_get(got[i], &r));
        assert_int_equal(r.cur.tid, last->tid);
        for (uint32_t j = w2.first_got; j < i; j++) {
            cw_report q;
            assert_true(cw_report_get(got[j], &q));
            assert_int_not_equal(q.prev.tid, r.prev.tid);
        }
    }
}

/* History is bounded: a location keeps at most history_size records, yet the
 * newest other-thread record still finds the race. */
static void test_history_bounded(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.HISTORY");
    uintptr_t code = next_code();
    cw_thread *a = reg("A");
    /* Many of A's own epochs (each hand-off starts one) at many sites. */
    for (int i = 0; i < 40; i++) {
        uintptr_t q = next_sync_addr();
        bool is_new;
        write_key(a, c, 1, next_frame(), at(code, 2 * i), false);
        check_read(a, c, 1, next_frame(), at(code, 200 + 2 * i));
        cw_sync_publish(a, q, &is_new);
    }
    cw_thread *b = reg("B");
    window w = mark();
    write_key(b, c, 1, next_frame(), at(code, 500), false);
    assert_int_equal(new_of_kind(w, CW_REPORT_WRITE_WRITE), 1);
    cw_report r = first_report(w, CW_REPORT_WRITE_WRITE);
    assert_int_equal(r.prev.stack, stack_at(at(code, 78))); /* A's latest write */
}

/* Shadow memory is bounded: past the limit, new keys make room by forgetting
 * old ones, yet a race on the key being written is still found. */
static void test_memory_bound_evicts_old_locations(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.BOUNDED");
    uintptr_t code = next_code();
    cw_thread *a = reg("A"), *b = reg("B");
    size_t limit = cw_mem_bytes(CW_MEM_SHADOW) + (64 << 10);
    assert_int_equal(cw_shadow_init(12, limit), CW_OK);
    size_t before = cw_shadow_location_count();
    for (int64_t key = 1; key <= 5000; key++)
        write_key(a, c, key, next_frame(), at(code, 2), false);
    size_t kept = cw_shadow_location_count() - before;
    assert_true(kept < 5000);
    assert_true(kept > 100);
    assert_true(cw_mem_bytes(CW_MEM_SHADOW) <= limit + 4096);
    window w = mark();
    write_key(a, c, 99999, next_frame(), at(code, 4), false);
    write_key(b, c, 99999, next_frame(), at(code, 6), false);
    assert_int_equal(new_of_kind(w, CW_REPORT_WRITE_WRITE), 1);
    /* Histories do not grow past the limit either: more records on one key
     * replace older ones. */
    for (int i = 0; i < 16; i++)
        write_key(reg("C"), c, 99999, next_frame(), at(code, 8), false);
    assert_true(cw_mem_bytes(CW_MEM_SHADOW) <= limit + 4096);
    assert_int_equal(cw_shadow_init(12, 0), CW_OK);
    cw_shadow_unwatch(c);
}

/* A repeated read is answered from the thread's memo until something that
 * could change its answer happens: a region stored, a hand-off received, a
 * lock taken. Each of those makes the next read go to the shadow state. */
static void test_read_memo_expires_on_change(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.MEMO");
    uintptr_t code = next_code();
    cw_site s = at(code, 2);
    cw_thread *a = reg("A"), *b = reg("B");
    check_read(a, c, 1, next_frame(), s);
    uint64_t hits = cw_shadow_memo_hits();
    check_read(a, c, 1, next_frame(), s);
    check_read(a, c, 1, next_frame(), s);
    assert_int_equal(cw_shadow_memo_hits(), hits + 2);
    /* Another key, another site: their own entries. */
    check_read(a, c, 2, next_frame(), s);
    check_read(a, c, 1, next_frame(), at(code, 4));
    assert_int_equal(cw_shadow_memo_hits(), hits + 2);

    /* B's region on the key: the next read looks, and finds the race. */
    hits = cw_shadow_memo_hits();
    window w = mark();
    region(b, c, 1, s, at(code, 6));
    check_read(a, c, 1, next_frame(), s);
    assert_int_equal(cw_shadow_memo_hits(), hits);
    assert_true(new_of_kind(w, CW_REPORT_CHECK_THEN_ACT) >= 1);

    /* A hand-off received changes A's view. */
    check_read(a, c, 1, next_frame(), s);
    hits = cw_shadow_memo_hits();
    bool is_new;
    uintptr_t q = next_sync_addr();
    cw_sync_publish(b, q, &is_new);
    cw_sync_consume(a, q);
    check_read(a, c, 1, next_frame(), s);
    assert_int_equal(cw_shadow_memo_hits(), hits);

    /* A lock taken changes A's lockset. */
    check_read(a, c, 1, next_frame(), s);
    hits = cw_shadow_memo_hits();
    uintptr_t l = next_sync_addr();
    lock(a, l);
    check_read(a, c, 1, next_frame(), s);
    assert_int_equal(cw_shadow_memo_hits(), hits);
    unlock(a, l);
    cw_shadow_unwatch(c);
}

/* A thread's memo starts small (a short-lived task's few accesses) and grows
 * once the thread is busy: afterwards 200 keys read over and over are
 * answered from it, where 16 entries would keep evicting one another. */
static void test_memo_grows_for_a_busy_thread(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.MEMO_GROWS");
    cw_site s = at(next_code(), 2);
    cw_thread *a = reg("A");
    check_read(a, c, 1, next_frame(), s);
    assert_int_equal(a->memo_mask + 1, CW_FIRST_MEMOS);
    for (int round = 0; round < 2; round++)
        for (int64_t k = 0; k < 200; k++)
            check_read(a, c, k, next_frame(), s);
    assert_int_equal(a->memo_mask + 1, CW_ACCESS_MEMOS);
    uint64_t hits = cw_shadow_memo_hits();
    for (int64_t k = 0; k < 200; k++)
        check_read(a, c, k, next_frame(), s);
    /* Direct-mapped, 256 entries answer about half of 200 keys swept in
     * turn (99 here); 16 would answer at most 16, and a sweep evicts them. */
    assert_true(cw_shadow_memo_hits() - hits >= 3 * CW_FIRST_MEMOS);
    cw_shadow_unwatch(c);
}

/* A repeated write by the same call at the same site is answered from the
 * memo while nothing is stored in its shard; another thread's write is
 * stored, so the next write looks and finds the conflict. A read pending in
 * the call (the write acts on it) is never answered from the memo. */
static void test_write_memo_expires_on_other_threads_records(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.WMEMO");
    uintptr_t code = next_code();
    cw_site s = at(code, 2);
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t frame = next_frame();
    write_key(a, c, 1, frame, s, false);
    uint64_t hits = cw_shadow_memo_hits();
    write_key(a, c, 1, frame, s, false);
    write_key(a, c, 1, frame, s, false);
    assert_int_equal(cw_shadow_memo_hits(), hits + 2);

    window w = mark();
    write_key(b, c, 1, next_frame(), at(code, 8), false);
    assert_int_equal(new_of_kind(w, CW_REPORT_WRITE_WRITE), 1);
    hits = cw_shadow_memo_hits();
    write_key(a, c, 1, frame, s, false);
    assert_int_equal(cw_shadow_memo_hits(), hits);

    /* A check of the key in the same call: the next write is a region. */
    write_key(a, c, 1, frame, s, false);
    check_read(a, c, 1, frame, at(code, 0));
    hits = cw_shadow_memo_hits();
    write_key(a, c, 1, frame, s, false);
    assert_int_equal(cw_shadow_memo_hits(), hits);
    cw_thread_forget_frame(a, frame);
    cw_shadow_unwatch(c);
}

/* The same check by the same instruction again is answered before its site
 * is worked out, until anything a memo depends on changes. */
static void test_check_repeats_by_instruction(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.REPEAT");
    uintptr_t code = next_code();
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t frame = next_frame();
    cw_access r = make_access(c, 1, CW_OP_GET, frame, at(code, 2));
    r.check = true;
    r.lasti = 2;
    uint32_t marks;
    assert_false(cw_shadow_check_repeats(a, c, 1, frame, 2, &marks));
    shadow_call(a, &r);
    assert_true(cw_shadow_check_repeats(a, c, 1, frame, 2, &marks));
    assert_false(cw_shadow_check_repeats(a, c, 1, frame, 4, &marks));     /* another instruction */
    assert_false(cw_shadow_check_repeats(a, c, 2, frame, 2, &marks));     /* another key */
    assert_false(cw_shadow_check_repeats(a, c, 1, next_frame(), 2, &marks)); /* another call */
    assert_false(cw_shadow_check_repeats(b, c, 1, frame, 2, &marks));     /* another thread */
    uintptr_t l = next_sync_addr();
    lock(a, l);
    assert_false(cw_shadow_check_repeats(a, c, 1, frame, 2, &marks));     /* a lock taken */
    unlock(a, l);
    /* B's region on the key: A's next check must look (and finds it). */
    region(b, c, 1, at(code, 2), at(code, 6));
    assert_false(cw_shadow_check_repeats(a, c, 1, frame, 2, &marks));
    cw_thread_forget_frame(a, frame);
    cw_shadow_unwatch(c);
}

/* A stable access's stamp holds for its repeats until anything its answer
 * depends on changes: the thread's locks, its pending reads, its view (a
 * hand-off), the epoch, and for a write any record stored in its shard. */
static void test_repeat_stamps(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.obj.attr");
    uintptr_t code = next_code();
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t frame = next_frame();
    cw_repeat_stamp st;
    /* A write, twice by the same call: the second is stable. */
    cw_access w = make_access(c, 0, CW_OP_STORE, frame, at(code, 4));
    w.write = true;
    shadow_call(a, &w);
    shadow_call(a, &w);
    assert_true(w.stable);
    cw_shadow_stamp(a, &w, &st);
    assert_true(cw_shadow_stamp_holds(a, &st));
    uintptr_t l = next_sync_addr();
    lock(a, l);
    assert_false(cw_shadow_stamp_holds(a, &st)); /* a lock taken */
    unlock(a, l);
    shadow_call(a, &w);
    cw_shadow_stamp(a, &w, &st);
    assert_true(cw_shadow_stamp_holds(a, &st));
    /* A read pending (the next write may act on it), even one its memo
     * answers with nothing stored: only the pending reads changed. */
    uintptr_t call = next_frame();
    check_read(a, c, 0, call, at(code, 10));
    cw_thread_forget_frame(a, call);
    shadow_call(a, &w);
    cw_shadow_stamp(a, &w, &st);
    assert_true(cw_shadow_stamp_holds(a, &st));
    call = next_frame();
    check_read(a, c, 0, call, at(code, 10));
    assert_false(cw_shadow_stamp_holds(a, &st));
    cw_thread_forget_frame(a, call);
    shadow_call(a, &w);
    cw_shadow_stamp(a, &w, &st);
    assert_true(cw_shadow_stamp_holds(a, &st));
    write_key(b, c, 0, next_frame(), at(code, 8), false); /* B stores: a record in the shard */
    assert_false(cw_shadow_stamp_holds(a, &st));
    /* A read (a check) noted in its call, then repeated: stable. */
    cw_access r = make_access(c, 0, CW_OP_GET, frame, at(code, 2));
    r.check = true;
    r.lasti = 2;
    shadow_call(a, &r);
    shadow_call(a, &r);
    assert_true(r.stable);
    cw_shadow_stamp(a, &r, &st);
    assert_true(cw_shadow_stamp_holds(a, &st));
    write_key(b, c, 0, next_frame(), at(code, 8), false); /* a read's answer: B's writes do not change it */
    handoff(b, a);
    assert_false(cw_shadow_stamp_holds(a, &st)); /* A's view changed */
    cw_thread_forget_frame(a, frame);
    cw_shadow_unwatch(c);
}

/* ---- commuting writes (list.append) -------------------------------------- */

static void append(cw_thread *t, uintptr_t c, uintptr_t frame, cw_site s)
{
    cw_access a = make_access(c, 5, CW_OP_APPEND, frame, s);
    a.write = true;
    a.structural = true;
    a.commutes = true;
    shadow_call(t, &a);
}

static void test_commuting_writes(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.LIST");
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    window w = mark();
    /* Appends from two threads never conflict on their own. */
    append(a, c, next_frame(), at(code, 2));
    append(b, c, next_frame(), at(code, 4));
    assert_no_report(w);
    /* A non-commuting write (clear) against them does. */
    write_key(b, c, 5, next_frame(), at(code, 6), true);
    assert_int_equal(new_of_kind(w, CW_REPORT_WRITE_WRITE), 1);
    /* A check of the contents followed by an append is still a region. */
    uintptr_t c2 = watch("mod.LIST2");
    window w2 = mark();
    cw_site chk = at(code, 10), act = at(code, 12);
    for (int i = 0; i < 2; i++) {
        cw_thread *t = i ? b : a;
        uintptr_t frame = next_frame();
        cw_access r = make_access(c2, 5, CW_OP_CONTAINS, frame, chk);
        r.check = true;
        shadow_call(t, &r);
        append(t, c2, frame, act);
        cw_thread_forget_frame(t, frame);
    }
    assert_int_equal(new_of_kind(w2, CW_REPORT_CHECK_THEN_ACT), 1);
}

/* ---- a list's indices written by ranges -------------------------------------- */

/* l[i] read as a check, or stored to: an index access. */
static void index_access(cw_thread *t, uintptr_t c, int64_t i, uintptr_t frame, cw_site s,
                         bool write)
{
    cw_access a = make_access(c, i, write ? CW_OP_SETITEM : CW_OP_GETITEM, frame, s);
    a.index = true;
    a.write = write;
    a.check = !write;
    shadow_call(t, &a);
}

/* del l[lo] (shifting the rest), l[lo:hi] = ...: a write of [lo, hi). */
static void range_write(cw_thread *t, uintptr_t c, int64_t lo, int64_t hi, cw_site s)
{
    cw_access a = make_access(c, CW_RANGE_KEY, CW_OP_DELITEM, next_frame(), s);
    a.write = true;
    a.commutes = true;
    a.ranged = true;
    a.range_lo = lo;
    a.range_hi = hi;
    shadow_call(t, &a);
}

static void test_ranged_writes(void **state)
{
    (void)state;
    uintptr_t code = next_code();
    cw_thread *a = reg("A"), *b = reg("B");

    /* An index store, then a range over it: write-write naming the index. */
    uintptr_t c = watch("mod.SLOTS");
    window w = mark();
    index_access(a, c, 3, next_frame(), at(code, 2), true);
    range_write(b, c, 0, 5, at(code, 4));
    cw_report r = first_report(w, CW_REPORT_WRITE_WRITE);
    assert_int_equal(r.key_hash, 3);
    assert_int_equal(new_reports(w), 1);

    /* The other order: the range first, the store it covers after. */
    c = watch("mod.SLOTS2");
    w = mark();
    range_write(b, c, 2, 6, at(code, 4));
    index_access(a, c, 7, next_frame(), at(code, 2), true); /* outside: nothing */
    index_access(a, c, 1, next_frame(), at(code, 2), true);
    assert_no_report(w);
    index_access(a, c, 5, next_frame(), at(code, 2), true);
    r = first_report(w, CW_REPORT_WRITE_WRITE);
    assert_int_equal(r.key_hash, 5);

    /* A read-modify-write of an index and a range over it, either order:
     * a check-then-act. */
    for (int order = 0; order < 2; order++) {
        c = watch(order ? "mod.COUNTS2" : "mod.COUNTS");
        w = mark();
        uintptr_t frame = next_frame();
        if (order)
            range_write(b, c, 0, 10, at(code, 20));
        index_access(a, c, 4, frame, at(code, 10), false);
        index_access(a, c, 4, frame, at(code, 12), true);
        cw_thread_forget_frame(a, frame);
        if (!order)
            range_write(b, c, 0, 10, at(code, 20));
        r = first_report(w, CW_REPORT_CHECK_THEN_ACT);
        assert_int_equal(r.key_hash, 4);
    }

    /* Ranges commute with each other (pops from a queue), and a range
     * ordered with the store or sharing its lock is fine. */
    c = watch("mod.QUEUE");
    w = mark();
    range_write(a, c, 0, 10, at(code, 30));
    range_write(b, c, 0, 9, at(code, 30));
    assert_no_report(w);
    c = watch("mod.LOCKED");
    w = mark();
    uintptr_t m = next_sync_addr();
    lock(a, m);
    index_access(a, c, 2, next_frame(), at(code, 32), true);
    unlock(a, m);
    lock(b, m);
    range_write(b, c, 0, 8, at(code, 34));
    unlock(b, m);
    handoff(b, a);
    index_access(a, c, 2, next_frame(), at(code, 36), true);
    assert_no_report(w);
}

static void test_marks(void **state)
{
    (void)state;
    uintptr_t c = watch("mod.MARKED");
    cw_thread *a = reg("A");
    assert_int_equal(cw_shadow_marks(c), 0);
    cw_access acc = make_access(c, 9, CW_OP_CONTAINS, next_frame(), at(next_code(), 2));
    acc.check = true;
    acc.mark = 4;
    shadow_call(a, &acc);
    assert_int_equal(acc.marks, 4);
    cw_shadow_mark(c, 1);
    assert_int_equal(cw_shadow_marks(c), 5);
    assert_int_equal(cw_shadow_marks(next_container_addr()), 0); /* not watched */
    /* Keys with a history in a range: the index keys, not the others. */
    int64_t keys[4];
    index_access(a, c, 2, next_frame(), at(next_code(), 2), true);
    assert_int_equal(cw_shadow_keys_in(c, 0, 5, keys, 4), 1);
    assert_int_equal(keys[0], 2);
    assert_int_equal(cw_shadow_keys_in(c, 0, 100, keys, 0), 2);
}

/* ---- a rebound name's old container ----------------------------------------- */

static void replaced(cw_thread *t, uintptr_t c, cw_site s)
{
    uint32_t ids[CW_MAX_NEW_REPORTS], n = 0;
    assert_int_equal(cw_shadow_replaced(t, c, CW_OP_STORE, stack_at(s), ids, &n), CW_OK);
    for (uint32_t i = 0; i < n; i++)
        got[ngot++] = ids[i];
}

static void test_lost_update_on_rebinding(void **state)
{
    (void)state;
    cw_thread *resetter = reg("reset"), *worker = reg("worker");
    uintptr_t code = next_code();
    uintptr_t l = next_sync_addr();

    /* An insert under the worker's own lock, then the rebinding: reported. */
    uintptr_t c = watch("mod.CACHE");
    window w = mark();
    lock(worker, l);
    write_key(worker, c, 1, next_frame(), at(code, 2), true);
    unlock(worker, l);
    replaced(resetter, c, at(code, 8));
    cw_report r = first_report(w, CW_REPORT_LOST_UPDATE);
    assert_int_equal(r.cur.tid, resetter->tid);
    assert_int_equal(r.prev.tid, worker->tid);
    assert_int_equal(r.location, CW_LOC_STRUCTURE);

    /* The rebinding first, then an insert into the old container. */
    uintptr_t c2 = watch("mod.CACHE2");
    window w2 = mark();
    replaced(resetter, c2, at(code, 8));
    assert_no_report(w2);
    write_key(worker, c2, 1, next_frame(), at(code, 4), true);
    r = first_report(w2, CW_REPORT_LOST_UPDATE);
    assert_int_equal(r.cur.tid, worker->tid);
    assert_int_equal(r.location, CW_LOC_KEY);

    /* Ordered (the worker handed off before the reset): nothing. */
    uintptr_t c3 = watch("mod.CACHE3");
    window w3 = mark();
    write_key(worker, c3, 1, next_frame(), at(code, 2), true);
    handoff(worker, resetter);
    replaced(resetter, c3, at(code, 8));
    assert_no_report(w3);

    /* Under a common lock: nothing. */
    uintptr_t c4 = watch("mod.CACHE4");
    window w4 = mark();
    lock(worker, l);
    write_key(worker, c4, 1, next_frame(), at(code, 2), true);
    unlock(worker, l);
    lock(resetter, l);
    replaced(resetter, c4, at(code, 8));
    unlock(resetter, l);
    assert_no_report(w4);
}

/* ---- bindings ----------------------------------------------------------------- */

static void test_binding_reports_say_binding(void **state)
{
    (void)state;
    uintptr_t c = next_container_addr();
    assert_int_equal(cw_shadow_watch_binding(c, "mod.CELLS"), CW_OK);
    cw_thread *a = reg("A"), *b = reg("B");
    uintptr_t code = next_code();
    window w = mark();
    region(a, c, 0, at(code, 2), at(code, 4));
    region(b, c, 0, at(code, 2), at(code, 4));
    cw_report r = first_report(w, CW_REPORT_CHECK_THEN_ACT);
    assert_int_equal(r.location, CW_LOC_BINDING);
    assert_false(r.has_key);
    char buf[4096];
    cw_report_format(&r, 1, buf, sizeof(buf));
    if (strstr(buf, "Location: the module-level name mod.CELLS") == NULL)
        fail_msg("no binding line in:\n%s", buf);
}

/* ---- concurrency ----------------------------------------------------------- */

#define NWORKERS 8
#define WORK_ITERS 1500
#define NSHARED 3
#define NKEYS 16

static uintptr_t shared_c[NSHARED];  /* accessed with and without locks */
static uintptr_t locked_c;           /* accessed only under locked_l */
static uintptr_t flappy_c;           /* watched and unwatched while in use */
static uintptr_t locked_l;
static pthread_mutex_t locked_mu = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t queues[2];
static uintptr_t worker_code;
static int go; /* atomic */

typedef struct worker {
    int index;
    cw_thread *t;
    int errors;
    uint32_t reports;
    uint64_t rng;
} worker;

static uint32_t rnd(worker *w)
{
    w->rng = w->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(w->rng >> 33);
}

static void w_access(worker *w, cw_access *a)
{
    int rc = shadow_call_raw(w->t, a);
    if (rc != CW_OK)
        w->errors++;
    w->reports += a->nreports;
    for (uint32_t i = 0; i < a->nreports; i++) {
        cw_report r;
        if (!cw_report_get(a->reports[i], &r)) {
            w->errors++;
            continue;
        }
        char key[32], buf[4096];
        snprintf(key, sizeof(key), "%lld", (long long)a->key_hash);
        cw_report_set_key(a->reports[i], key);
        cw_report_format(&r, 1, buf, sizeof(buf));
        if (strstr(buf, "WARNING: cachewatch:") == NULL)
            w->errors++;
    }
}

/* The worker's engine thread, named prefix-N; false (an error counted) without. */
static bool w_register(worker *w, const char *prefix, uint64_t ident_base)
{
    char name[16];
    snprintf(name, sizeof(name), "%s-%d", prefix, w->index);
    w->t = cw_thread_register(0, NULL, ident_base + (uint64_t)w->index, name, 0);
    w->errors += w->t == NULL;
    return w->t != NULL;
}

static cw_access w_make(uintptr_t c, int64_t key, cw_op op, uintptr_t frame, int32_t off)
{
    cw_access a;
    memset(&a, 0, sizeof(a));
    a.container = c;
    a.key_hash = key;
    a.op = op;
    a.frame = frame;
    a.site = at(worker_code, off);
    a.stack = stack_at(a.site);
    return a;
}

static void w_region(worker *w, uintptr_t c, int64_t key, uintptr_t frame)
{
    cw_access r = w_make(c, key, CW_OP_GET, frame, 10);
    r.check = true;
    w_access(w, &r);
    cw_access wr = w_make(c, key, CW_OP_SETITEM, frame, 20);
    wr.write = true;
    wr.structural = (rnd(w) % 2) != 0;
    w_access(w, &wr);
}

static void w_iterate(worker *w, uintptr_t c, uintptr_t frame)
{
    cw_iteration it;
    if (cw_shadow_iter_begin(w->t, c, stack_at(at(worker_code, 50)), &it) != CW_OK)
        w->errors++;
    for (int k = 0; k < 3; k++) {
        cw_access r = w_make(c, (int64_t)(rnd(w) % NKEYS), CW_OP_GETITEM, frame, 52);
        w_access(w, &r);
    }
    uint32_t ids[CW_MAX_NEW_REPORTS], n = 0;
    if (cw_shadow_iter_end(w->t, &it, ids, &n) != CW_OK || n > CW_MAX_NEW_REPORTS)
        w->errors++;
    w->reports += n;
}

static void w_locked_op(worker *w, uintptr_t c, uintptr_t frame)
{
    bool is_new;
    pthread_mutex_lock(&locked_mu);
    if (cw_sync_lock_acquired(w->t, locked_l, CW_LOCK_LOCK, true, 1, &is_new, NULL) != CW_OK)
        w->errors++;
    switch (rnd(w) % 3) {
    case 0:
        w_region(w, c, (int64_t)(rnd(w) % NKEYS), frame);
        break;
    case 1: {
        cw_access wr = w_make(c, (int64_t)(rnd(w) % NKEYS), CW_OP_SETITEM, frame, 30);
        wr.write = true;
        wr.structural = true;
        w_access(w, &wr);
        break;
    }
    default:
        w_iterate(w, c, frame);
        break;
    }
    if (cw_sync_lock_releasing(w->t, locked_l, false) != CW_OK)
        w->errors++;
    pthread_mutex_unlock(&locked_mu);
}

static void *shadow_worker(void *p)
{
    worker *w = p;
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
        ;
    if (!w_register(w, "worker", 7000))
        return NULL;
    for (int i = 0; i < WORK_ITERS; i++) {
        uintptr_t frame = ((uintptr_t)(w->index + 1) << 40) | ((uintptr_t)i << 4);
        uintptr_t c = shared_c[rnd(w) % NSHARED];
        int64_t key = (int64_t)(rnd(w) % NKEYS);
        switch (rnd(w) % 9) {
        case 0:
        case 1:
            w_region(w, c, key, frame);
            break;
        case 2: {
            cw_access wr = w_make(c, key, CW_OP_SETITEM, frame, 30);
            wr.write = true;
            w_access(w, &wr);
            break;
        }
        case 3: {
            cw_access r = w_make(c, key, CW_OP_CONTAINS, frame, 40);
            r.check = true;
            w_access(w, &r);
            break;
        }
        case 4:
            w_iterate(w, c, frame);
            break;
        case 5:
            w_locked_op(w, locked_c, frame);
            break;
        case 6: {
            bool is_new;
            if (rnd(w) % 2)
                cw_sync_publish(w->t, queues[rnd(w) % 2], &is_new);
            else
                cw_sync_consume(w->t, queues[rnd(w) % 2]);
            break;
        }
        case 7:
            if (w->index == 0 && (i / 9) % 2) {
                cw_shadow_unwatch(flappy_c);
                cw_thread_forget_container(w->t, flappy_c);
                if (cw_shadow_watch(flappy_c, "hammer.FLAPPY") != CW_OK)
                    w->errors++;
            } else {
                w_region(w, flappy_c, key, frame);
            }
            break;
        default:
            (void)cw_shadow_has_cell(c, key);
            (void)cw_shadow_location_count();
            (void)cw_shadow_watched_count();
            break;
        }
        cw_thread_forget_frame(w->t, frame);
    }
    return NULL;
}

static void test_concurrent_hammer(void **state)
{
    (void)state;
    watch_numbered("hammer.SHARED", shared_c, NSHARED);
    locked_c = watch("hammer.LOCKED");
    flappy_c = watch("hammer.FLAPPY");
    locked_l = next_sync_addr();
    queues[0] = next_sync_addr();
    queues[1] = next_sync_addr();
    worker_code = next_code();
    uint32_t before = cw_report_count();

    worker ws[NWORKERS];
    pthread_t th[NWORKERS];
    for (int i = 0; i < NWORKERS; i++) {
        ws[i] = (worker){.index = i, .rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1)};
        assert_int_equal(pthread_create(&th[i], NULL, shadow_worker, &ws[i]), 0);
    }
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    uint32_t total = 0;
    for (int i = 0; i < NWORKERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(ws[i].errors, 0);
        assert_non_null(ws[i].t);
        total += ws[i].reports;
    }
    /* Unlocked regions of many threads on few keys: races were found. */
    assert_true(total > 0);
    assert_true(cw_report_count() > before);
    /* Every report is well formed; none is about the container that was
     * only ever touched under its lock. */
    cw_str_id locked_target = cw_str_intern("hammer.LOCKED");
    bool saw_cta = false, saw_iter = false;
    for (uint32_t id = before + 1; id <= cw_report_count(); id++) {
        cw_report r;
        assert_true(cw_report_get(id, &r));
        assert_int_equal(r.id, id);
        assert_int_not_equal(r.target, locked_target);
        assert_int_not_equal(r.cur.tid, r.prev.tid);
        assert_true(r.hits >= 1);
        saw_cta |= r.kind == CW_REPORT_CHECK_THEN_ACT;
        saw_iter |= r.kind == CW_REPORT_ITERATION;
    }
    assert_true(saw_cta);
    assert_true(saw_iter);
    assert_true(cw_shadow_is_watched(flappy_c));
}

/* ---- the engine's share of a free-threaded watched operation -------------- */

/* Four threads doing check-then-write regions, each its own call: on one
 * location (every access takes the same shard lock and history) or on four
 * (one each). The cost per access is printed for the notes, never asserted
 * (wall time); what is asserted is that the run is sound: no error, races on
 * the shared location, none where each thread is alone. Under ThreadSanitizer
 * (the tsan build) it also proves the engine's own locking. */
#define STRESS_THREADS 4
#define STRESS_REGIONS 10000
static uintptr_t stress_c[STRESS_THREADS];
static int stress_go;   /* atomic */
static int stress_spread;

static void *stress_worker(void *p)
{
    worker *w = p;
    if (!w_register(w, "stress", 9000))
        return NULL;
    while (!__atomic_load_n(&stress_go, __ATOMIC_ACQUIRE))
        ;
    uintptr_t c = stress_c[w->index % stress_spread];
    for (int i = 0; i < STRESS_REGIONS; i++) {
        uintptr_t frame = ((uintptr_t)(w->index + 1) << 40) | ((uintptr_t)i << 4);
        w_region(w, c, i % 4, frame);
        cw_thread_forget_frame(w->t, frame); /* the call returned */
    }
    cw_thread_exit(w->t);
    return NULL;
}

static double stress_ns_per_access(int spread, uint32_t *reports)
{
    stress_spread = spread;
    __atomic_store_n(&stress_go, 0, __ATOMIC_RELEASE);
    worker ws[STRESS_THREADS];
    pthread_t th[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        ws[i] = (worker){.index = i, .rng = 0x2545f4914f6cdd1dULL * (uint64_t)(i + 1)};
        assert_int_equal(pthread_create(&th[i], NULL, stress_worker, &ws[i]), 0);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    __atomic_store_n(&stress_go, 1, __ATOMIC_RELEASE);
    *reports = 0;
    for (int i = 0; i < STRESS_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(ws[i].errors, 0);
        *reports += ws[i].reports;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    return ns / (STRESS_THREADS * STRESS_REGIONS * 2.0);
}

/* Logical threads (greenlets, asyncio tasks) of one OS thread interleave only
 * where they suspend: a check and a write with no suspension between them are
 * one atomic step (no report, and the same step in another logical thread
 * commutes with it); a suspension between them makes a check-then-act, found
 * whether or not the other logical thread actually ran in the gap. */
static cw_thread *reg_cooperative(const char *name)
{
    cw_thread *t = reg(name);
    t->cooperative = true;
    return t;
}

static void test_cooperative_threads_interleave_where_they_suspend(void **state)
{
    (void)state;
    uintptr_t code = next_code();
    cw_site check = at(code, 10), act = at(code, 20);

    /* No suspension: if k not in C: C[k] = v, then C[k] = C[k] + 1, by two
     * tasks, unordered: nothing to report. */
    uintptr_t c = watch("mod.COOP_ATOMIC");
    cw_thread *a = reg_cooperative("Task-1"), *b = reg_cooperative("Task-2");
    window w = mark();
    region(a, c, 1, check, act);
    region(b, c, 1, check, act);
    region(a, c, 1, check, act);
    assert_no_report(w);

    /* A suspension between check and act: a check-then-act, though b's
     * region ran after a's and not inside its gap. */
    uintptr_t d = watch("mod.COOP_SUSPENDED");
    window w2 = mark();
    uintptr_t frame = next_frame();
    check_read(a, d, 7, frame, check);
    cw_thread_suspended(a); /* await */
    write_key(a, d, 7, frame, act, true);
    cw_thread_forget_frame(a, frame);
    assert_no_report(w2); /* alone */
    region(b, d, 7, check, act);
    assert_int_equal(new_of_kind(w2, CW_REPORT_CHECK_THEN_ACT), 1);

    /* A check repeated after the suspension (double-checked) is the one the
     * write acts on: atomic again, even at the same instruction (the memo
     * of the first check must not keep its count). */
    uintptr_t e = watch("mod.COOP_RECHECKED");
    cw_thread *x = reg_cooperative("Task-3"), *y = reg_cooperative("Task-4");
    window w3 = mark();
    for (int round = 0; round < 2; round++) {
        cw_thread *t = round ? y : x;
        frame = next_frame();
        check_read(t, e, 9, frame, check);
        cw_thread_suspended(t);
        check_read(t, e, 9, frame, check);
        write_key(t, e, 9, frame, act, round == 0);
        cw_thread_forget_frame(t, frame);
    }
    assert_no_report(w3);

    /* OS threads keep their rules: the same unsuspended region by two OS
     * threads is a check-then-act. */
    uintptr_t f = watch("mod.COOP_OS");
    cw_thread *p = reg("os-1"), *q = reg("os-2");
    window w4 = mark();
    region(p, f, 1, check, act);
    region(q, f, 1, check, act);
    assert_int_equal(new_of_kind(w4, CW_REPORT_CHECK_THEN_ACT), 1);
    /* And a cooperative thread's atomic step does not order or hide an OS
     * thread's region: its write lands in that region's gap. */
    uintptr_t g = watch("mod.COOP_MIXED");
    window w5 = mark();
    region(p, g, 1, check, act);
    region(a, g, 1, check, act);
    assert_int_equal(new_of_kind(w5, CW_REPORT_CHECK_THEN_ACT), 1);
}

static void test_stress_cost_per_access(void **state)
{
    (void)state;
    watch_numbered("stress.LOC", stress_c, STRESS_THREADS);
    uint32_t shared_reports, own_reports;
    double shared = stress_ns_per_access(1, &shared_reports);
    double own = stress_ns_per_access(STRESS_THREADS, &own_reports);
    fprintf(stderr, "engine cost per access, %d threads: %.0f ns on one location, "
            "%.0f ns on %d (one each)\n", STRESS_THREADS, shared, own, STRESS_THREADS);
    assert_true(shared_reports > 0); /* unordered, unlocked regions on one key set */
    assert_int_equal(own_reports, 0); /* each thread alone on its location */
    for (int i = 0; i < STRESS_THREADS; i++)
        cw_shadow_unwatch(stress_c[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_unwatch),
        cmocka_unit_test(test_renamed_target_in_reports),
        cmocka_unit_test(test_need_stack_protocol),
        cmocka_unit_test(test_need_stack_leaves_no_trace),
        cmocka_unit_test(test_check_then_act_unordered),
        cmocka_unit_test(test_cooperative_threads_interleave_where_they_suspend),
        cmocka_unit_test(test_check_then_act_ordered_by_fork),
        cmocka_unit_test(test_check_then_act_ordered_by_handoff),
        cmocka_unit_test(test_check_then_act_common_lock),
        cmocka_unit_test(test_lock_must_span_region),
        cmocka_unit_test(test_check_later_in_code_is_not_acted_on),
        cmocka_unit_test(test_lock_role_incarnations_serialise),
        cmocka_unit_test(test_write_write),
        cmocka_unit_test(test_removed_keys_are_forgotten_after_a_while),
        cmocka_unit_test(test_read_and_write_by_one_instruction_commute),
        cmocka_unit_test(test_region_named_by_its_check_site),
        cmocka_unit_test(test_write_write_ordered_or_locked),
        cmocka_unit_test(test_single_read_vs_single_write),
        cmocka_unit_test(test_different_keys),
        cmocka_unit_test(test_region_vs_plain_write),
        cmocka_unit_test(test_iteration_race),
        cmocka_unit_test(test_iteration_ordered_or_harmless),
        cmocka_unit_test(test_predicted_check_at_check_site),
        cmocka_unit_test(test_double_checked_locking),
        cmocka_unit_test(test_dedup_same_race_twice),
        cmocka_unit_test(test_one_report_per_other_thread),
        cmocka_unit_test(test_history_bounded),
        cmocka_unit_test(test_memory_bound_evicts_old_locations),
        cmocka_unit_test(test_read_memo_expires_on_change),
        cmocka_unit_test(test_memo_grows_for_a_busy_thread),
        cmocka_unit_test(test_write_memo_expires_on_other_threads_records),
        cmocka_unit_test(test_check_repeats_by_instruction),
        cmocka_unit_test(test_repeat_stamps),
        cmocka_unit_test(test_commuting_writes),
        cmocka_unit_test(test_ranged_writes),
        cmocka_unit_test(test_marks),
        cmocka_unit_test(test_lost_update_on_rebinding),
        cmocka_unit_test(test_binding_reports_say_binding),
        cmocka_unit_test(test_concurrent_hammer),
        cmocka_unit_test(test_stress_cost_per_access),
    };
    return fixture_status(cmocka_run_group_tests(tests, setup, teardown));
}

