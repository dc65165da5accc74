/* Unit tests for ext/engine/thread.c: registry and per-thread state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>

#include "thread.h"

static uint64_t next_ident = 1000;

static cw_thread *reg(const char *name)
{
    cw_thread *t = cw_thread_register(0, NULL, next_ident++, name, 0);
    assert_non_null(t);
    return t;
}

static cw_site site(uintptr_t code, int32_t off)
{
    cw_site s = {code, off};
    return s;
}

static void test_register_distinct_tids(void **state)
{
    (void)state;
    uint32_t before = cw_thread_count();
    cw_thread *a = cw_thread_register(0, NULL, 11, "main", 5);
    cw_thread *b = reg("worker");
    cw_thread *c = reg(NULL);
    assert_non_null(a);
    assert_int_not_equal(a->tid, 0);
    assert_int_not_equal(a->tid, b->tid);
    assert_int_not_equal(b->tid, c->tid);
    assert_int_not_equal(a->tid, c->tid);
    assert_int_equal(cw_thread_count(), before + 3);
    assert_ptr_equal(cw_thread_get(a->tid), a);
    assert_ptr_equal(cw_thread_get(b->tid), b);
    assert_null(cw_thread_get(0));
    assert_null(cw_thread_get(c->tid + 1000));
    assert_int_equal(a->ident, 11);
    assert_int_equal(a->created_at, 5);
    assert_int_equal(a->alive, 1);
    /* A fresh thread's own clock starts at 1 ("0" means never heard of). */
    assert_int_equal(cw_thread_now(a), 1);
    assert_int_equal(cw_vc_get(a->vc, b->tid), 0);

    char buf[CW_NAME_MAX];
    cw_thread_name(a->tid, buf, sizeof(buf));
    assert_string_equal(buf, "main");
    cw_thread_name(c->tid, buf, sizeof(buf));
    assert_string_equal(buf, "");
    cw_thread_set_name(b, "renamed");
    cw_thread_name(b->tid, buf, sizeof(buf));
    assert_string_equal(buf, "renamed");
    /* Truncated to the buffer, always terminated. */
    char small[4];
    cw_thread_name(b->tid, small, sizeof(small));
    assert_string_equal(small, "ren");
    /* Overlong names are cut to CW_NAME_MAX - 1. */
    char longname[200];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    cw_thread_set_name(c, longname);
    cw_thread_name(c->tid, buf, sizeof(buf));
    assert_int_equal(strlen(buf), CW_NAME_MAX - 1);
    cw_thread_name(9999999, buf, sizeof(buf));
    assert_string_equal(buf, "");

    cw_thread_exit(b);
    assert_int_equal(b->alive, 0);
    assert_ptr_equal(cw_thread_get(b->tid), b); /* the record outlives it */
}

static void test_child_inherits_snapshot(void **state)
{
    (void)state;
    cw_thread *parent = reg("parent");
    cw_thread *other = reg("other");
    /* The parent learned something from `other` before forking. */
    assert_int_equal(cw_thread_acquire(parent, other->vc), CW_OK);
    cw_clock pnow = cw_thread_now(parent);

    cw_vc *snap = cw_thread_fork_snapshot(parent);
    assert_non_null(snap);
    assert_int_equal(cw_vc_get(snap, parent->tid), pnow);
    /* The parent moved to a new epoch: its later work is not inherited. */
    assert_int_equal(cw_thread_now(parent), pnow + 1);
    /* Taken as its next access is stamped: the snapshot stays as it was. */
    assert_int_equal(cw_thread_take_epoch(parent), CW_OK);
    assert_ptr_not_equal(snap, parent->vc);
    assert_int_equal(cw_vc_get(parent->vc, parent->tid), pnow + 1);

    cw_thread *child = cw_thread_register(parent->tid, snap, next_ident++, "child", 0);
    assert_non_null(child);
    assert_int_equal(child->parent, parent->tid);
    assert_int_equal(cw_vc_get(child->vc, parent->tid), pnow);
    assert_int_equal(cw_vc_get(child->vc, other->tid), cw_thread_now(other));
    assert_int_equal(cw_thread_now(child), 1);
    assert_true(cw_vc_leq(snap, child->vc));
    assert_false(cw_vc_leq(parent->vc, child->vc));
    /* The snapshot is immutable: the child's clock is its own. */
    assert_int_equal(cw_vc_get(snap, child->tid), 0);
    cw_vc_unref(snap);
}

static void test_release_and_acquire(void **state)
{
    (void)state;
    cw_thread *a = reg("a"), *b = reg("b");
    cw_vc *obj = NULL; /* a sync object's clock */
    cw_clock at = cw_thread_now(a);
    assert_int_equal(cw_thread_release_into(a, &obj), CW_OK);
    assert_non_null(obj);
    assert_int_equal(cw_vc_get(obj, a->tid), at);
    assert_int_equal(cw_thread_now(a), at + 1); /* new epoch */
    assert_int_equal(cw_vc_get(b->vc, a->tid), 0);
    assert_int_equal(cw_thread_acquire(b, obj), CW_OK);
    assert_int_equal(cw_vc_get(b->vc, a->tid), at);
    /* The object's clock does not follow the thread's later epochs. */
    assert_int_equal(cw_thread_take_epoch(a), CW_OK);
    assert_int_equal(cw_vc_get(obj, a->tid), at);
    assert_ptr_not_equal(obj, a->vc);
    assert_int_equal(cw_thread_release_into(b, &obj), CW_OK);
    assert_int_equal(cw_vc_get(obj, a->tid), at);
    assert_int_equal(cw_vc_get(obj, b->tid), 1);
    cw_vc_unref(obj);
}

/* A release or snapshot starts a new epoch lazily: hand-offs with no access
 * between them share one clock and copy none; the first stamp after them
 * takes the new epoch on a private copy, which none of them sees. */
static void test_hand_offs_without_accesses_share_one_clock(void **state)
{
    (void)state;
    cw_thread *a = reg("a"), *b = reg("b");
    cw_clock at = cw_thread_now(a);
    cw_vc *first = cw_thread_fork_snapshot(a);
    cw_vc *obj = NULL;
    assert_int_equal(cw_thread_release_into(a, &obj), CW_OK);
    cw_vc *second = cw_thread_fork_snapshot(a);
    assert_ptr_equal(first, second);
    assert_ptr_equal(first, a->vc);
    assert_ptr_equal(obj, a->vc);
    assert_int_equal(cw_thread_now(a), at + 1); /* what its next access is stamped */

    assert_int_equal(cw_thread_take_epoch(a), CW_OK);
    assert_int_equal(cw_thread_now(a), at + 1);
    assert_int_equal(cw_vc_get(a->vc, a->tid), at + 1);
    assert_ptr_not_equal(a->vc, first);
    assert_int_equal(cw_vc_get(first, a->tid), at);
    assert_int_equal(cw_vc_get(obj, a->tid), at);
    /* Taken once: a second stamp in the same epoch changes nothing. */
    cw_vc *mine = a->vc;
    assert_int_equal(cw_thread_take_epoch(a), CW_OK);
    assert_ptr_equal(a->vc, mine);
    assert_int_equal(cw_thread_now(a), at + 1);

    /* A receiver of any of them covers a's stamps before, not the new one. */
    assert_int_equal(cw_thread_acquire(b, second), CW_OK);
    assert_true(cw_vc_get(b->vc, a->tid) >= at);
    assert_true(cw_vc_get(b->vc, a->tid) < cw_thread_now(a));
    /* A snapshot after the stamp publishes it. */
    cw_vc *third = cw_thread_fork_snapshot(a);
    assert_int_equal(cw_vc_get(third, a->tid), at + 1);
    cw_vc_unref(first);
    cw_vc_unref(second);
    cw_vc_unref(third);
    cw_vc_unref(obj);
}

static void test_hold_unhold_counts(void **state)
{
    (void)state;
    cw_thread *t = reg("holder");
    assert_int_equal(t->nheld, 0);
    assert_int_equal(cw_thread_hold(t, 0x100, 7, true), CW_OK);
    assert_int_equal(t->nheld, 1);
    assert_true(t->lockset_dirty);
    cw_held *h = cw_thread_find_held(t, 0x100);
    assert_non_null(h);
    assert_int_equal(h->id, 7);
    assert_int_equal(h->count, 1);
    assert_true(h->is_mutex);
    uint64_t serial = h->serial;

    /* Recursion: same incarnation counts up without a new serial. */
    t->lockset_dirty = false;
    assert_int_equal(cw_thread_hold(t, 0x100, 7, true), CW_OK);
    assert_int_equal(cw_thread_hold(t, 0x100, 7, true), CW_OK);
    h = cw_thread_find_held(t, 0x100);
    assert_int_equal(h->count, 3);
    assert_int_equal(h->serial, serial);
    assert_false(t->lockset_dirty);
    assert_int_equal(t->nheld, 1);

    assert_int_equal(cw_thread_hold(t, 0x200, 8, false), CW_OK);
    assert_int_equal(t->nheld, 2);
    assert_true(cw_thread_find_held(t, 0x200)->serial > serial);
    assert_false(cw_thread_find_held(t, 0x200)->is_mutex);

    assert_int_equal(cw_thread_unhold(t, 0x100, false), 1);
    assert_int_equal(cw_thread_find_held(t, 0x100)->count, 2);
    assert_int_equal(cw_thread_unhold(t, 0x100, true), 2); /* all levels */
    assert_null(cw_thread_find_held(t, 0x100));
    assert_int_equal(t->nheld, 1);
    assert_int_equal(cw_thread_unhold(t, 0x100, false), 0); /* not held */
    assert_int_equal(cw_thread_unhold(t, 0x999, true), 0);
    assert_non_null(cw_thread_find_held(t, 0x200));

    /* A new incarnation at the same address replaces the stale entry. */
    assert_int_equal(cw_thread_hold(t, 0x200, 9, true), CW_OK);
    assert_int_equal(t->nheld, 1);
    h = cw_thread_find_held(t, 0x200);
    assert_int_equal(h->id, 9);
    assert_int_equal(h->count, 1);
    assert_true(h->is_mutex);
    assert_int_equal(cw_thread_unhold(t, 0x200, false), 1);
    assert_int_equal(t->nheld, 0);

    /* More locks than slots: marked partial, nothing overwritten. */
    for (uintptr_t i = 0; i < CW_MAX_HELD + 3; i++)
        assert_int_equal(cw_thread_hold(t, 0x1000 + i, 100 + i, true), CW_OK);
    assert_int_equal(t->nheld, CW_MAX_HELD);
    assert_true(t->held_overflow);
    assert_non_null(cw_thread_find_held(t, 0x1000));
    assert_null(cw_thread_find_held(t, 0x1000 + CW_MAX_HELD));
}

static void test_recent_reads(void **state)
{
    (void)state;
    cw_thread *t = reg("reader");
    cw_recent_read out;

    cw_thread_note_read(t, 0xf1, 0xc1, 42, site(0xa, 2), CW_OP_GET);
    assert_int_equal(t->nrecent, 1);
    assert_false(cw_thread_take_read(t, 0xf2, 0xc1, 42, &out)); /* other frame */
    assert_false(cw_thread_take_read(t, 0xf1, 0xc2, 42, &out)); /* other container */
    assert_false(cw_thread_take_read(t, 0xf1, 0xc1, 43, &out)); /* other key */
    /* peek leaves it in place (and the snapshot borrowed). */
    assert_true(cw_thread_peek_read(t, 0xf1, 0xc1, 42, &out));
    assert_int_equal(out.site.code, 0xa);
    assert_int_equal(t->nrecent, 1);
    assert_false(cw_thread_peek_read(t, 0xf1, 0xc1, 43, &out));
    assert_true(cw_thread_take_read(t, 0xf1, 0xc1, 42, &out));
    assert_int_equal(out.frame, 0xf1);
    assert_int_equal(out.container, 0xc1);
    assert_int_equal(out.key_hash, 42);
    assert_int_equal(out.site.code, 0xa);
    assert_int_equal(out.site.offset, 2);
    assert_int_equal(out.op, CW_OP_GET);
    assert_non_null(out.snap);
    assert_int_equal(cw_vc_get(out.snap, t->tid), cw_thread_now(t));
    cw_vc_unref(out.snap);
    assert_int_equal(t->nrecent, 0);
    assert_false(cw_thread_take_read(t, 0xf1, 0xc1, 42, &out)); /* taken once */
    assert_false(cw_thread_peek_read(t, 0xf1, 0xc1, 42, &out));

    /* The snapshot is the clock at the read, not at the take, and the
     * acquire serial is the one at the read. */
    cw_thread_note_read(t, 0xf1, 0xc1, 42, site(0xa, 2), CW_OP_GET);
    cw_clock at = cw_thread_now(t);
    uint64_t serial = t->acquire_serial;
    cw_vc *sink = NULL;
    assert_int_equal(cw_thread_release_into(t, &sink), CW_OK); /* ticks the thread */
    cw_thread_hold(t, 0x500, 5, true);                        /* bumps the serial */
    assert_true(cw_thread_take_read(t, 0xf1, 0xc1, 42, &out));
    assert_int_equal(cw_vc_get(out.snap, t->tid), at);
    assert_int_equal(out.serial, serial);
    assert_true(cw_thread_now(t) > at);
    cw_vc_unref(out.snap);
    cw_vc_unref(sink);
    cw_thread_unhold(t, 0x500, true);

    /* A later check of the same key in the same call replaces the earlier. */
    cw_thread_note_read(t, 0xf1, 0xc1, 42, site(0xa, 2), CW_OP_GET);
    cw_thread_note_read(t, 0xf1, 0xc1, 42, site(0xa, 8), CW_OP_CONTAINS);
    assert_int_equal(t->nrecent, 1);
    assert_true(cw_thread_take_read(t, 0xf1, 0xc1, 42, &out));
    assert_int_equal(out.site.offset, 8);
    assert_int_equal(out.op, CW_OP_CONTAINS);
    cw_vc_unref(out.snap);

    /* forget_frame drops only that frame's reads. */
    cw_thread_note_read(t, 0xf1, 0xc1, 1, site(0xa, 2), CW_OP_GET);
    cw_thread_note_read(t, 0xf2, 0xc1, 1, site(0xa, 2), CW_OP_GET);
    cw_thread_note_read(t, 0xf1, 0xc1, 2, site(0xa, 2), CW_OP_GET);
    assert_int_equal(t->nrecent, 3);
    cw_thread_forget_frame(t, 0xf1);
    assert_int_equal(t->nrecent, 1);
    assert_false(cw_thread_take_read(t, 0xf1, 0xc1, 1, &out));
    assert_false(cw_thread_take_read(t, 0xf1, 0xc1, 2, &out));
    assert_true(cw_thread_take_read(t, 0xf2, 0xc1, 1, &out));
    cw_vc_unref(out.snap);
    cw_thread_forget_frame(t, 0xf9); /* unknown frame: harmless */

    /* forget_container drops only that container's reads, in every frame. */
    cw_thread_note_read(t, 0xf1, 0xc1, 1, site(0xa, 2), CW_OP_GET);
    cw_thread_note_read(t, 0xf1, 0xc2, 1, site(0xa, 2), CW_OP_GET);
    cw_thread_note_read(t, 0xf2, 0xc1, 3, site(0xa, 2), CW_OP_GET);
    cw_thread_forget_container(t, 0xc1);
    assert_int_equal(t->nrecent, 1);
    assert_false(cw_thread_peek_read(t, 0xf2, 0xc1, 3, &out));
    assert_true(cw_thread_take_read(t, 0xf1, 0xc2, 1, &out));
    cw_vc_unref(out.snap);
    assert_int_equal(t->nrecent, 0);
    cw_thread_forget_frame(t, 0xf1);
    cw_thread_forget_frame(t, 0xf2);
}

static void test_recent_reads_eviction(void **state)
{
    (void)state;
    cw_thread *t = reg("evict");
    cw_recent_read out;

    /* Within one call: at most CW_READS_PER_FRAME pending, oldest evicted. */
    for (int64_t k = 0; k < CW_READS_PER_FRAME + 3; k++)
        cw_thread_note_read(t, 0xf0, 0xc0, k, site(0xb, (int32_t)k), CW_OP_GET);
    assert_int_equal(t->nrecent, CW_READS_PER_FRAME);
    for (int64_t k = 0; k < 3; k++)
        assert_false(cw_thread_peek_read(t, 0xf0, 0xc0, k, &out));
    for (int64_t k = 3; k < CW_READS_PER_FRAME + 3; k++) {
        assert_true(cw_thread_take_read(t, 0xf0, 0xc0, k, &out));
        assert_int_equal(out.site.offset, (int32_t)k);
        cw_vc_unref(out.snap);
    }
    assert_int_equal(t->nrecent, 0);
    cw_thread_forget_frame(t, 0xf0);

    /* Across calls: at most CW_FRAME_SLOTS calls, the least recently used
     * one (with its reads) is dropped for a new call. The table starts
     * small (a task's thread makes a few calls) and grows before anything
     * is dropped. */
    assert_int_equal(t->nframes, CW_FIRST_FRAME_SLOTS);
    for (uintptr_t f = 1; f <= CW_FRAME_SLOTS; f++)
        cw_thread_note_read(t, 0x1000 + f, 0xc0, 1, site(0xb, 1), CW_OP_GET);
    assert_int_equal(t->nframes, CW_FRAME_SLOTS);
    assert_int_equal(t->nrecent, CW_FRAME_SLOTS);
    /* Touch call 1 so call 2 is the least recently used. */
    cw_thread_note_read(t, 0x1001, 0xc0, 2, site(0xb, 1), CW_OP_GET);
    assert_int_equal(t->nrecent, CW_FRAME_SLOTS + 1);
    cw_thread_note_read(t, 0x2000, 0xc0, 1, site(0xb, 1), CW_OP_GET);
    assert_int_equal(t->nrecent, CW_FRAME_SLOTS + 1); /* +1 new, -1 evicted */
    assert_false(cw_thread_peek_read(t, 0x1002, 0xc0, 1, &out));
    assert_true(cw_thread_peek_read(t, 0x1001, 0xc0, 1, &out));
    assert_true(cw_thread_peek_read(t, 0x1001, 0xc0, 2, &out));
    assert_true(cw_thread_peek_read(t, 0x2000, 0xc0, 1, &out));
    for (uintptr_t f = 3; f <= CW_FRAME_SLOTS; f++)
        assert_true(cw_thread_peek_read(t, 0x1000 + f, 0xc0, 1, &out));

    /* exit drops every noted read. */
    cw_thread_exit(t);
    assert_int_equal(t->nrecent, 0);
    assert_false(cw_thread_peek_read(t, 0x2000, 0xc0, 1, &out));
}

static void test_stack_cache(void **state)
{
    (void)state;
    cw_thread *t = reg("cache");
    assert_int_equal(cw_thread_cached_stack(t, 0xf1, site(0xa, 2)), 0);
    cw_thread_cache_stack(t, 0xf1, site(0xa, 2), 55);
    cw_thread_cache_stack(t, 0xf1, site(0xa, 4), 56);
    cw_thread_cache_stack(t, 0xf2, site(0xa, 2), 57);
    assert_int_equal(cw_thread_cached_stack(t, 0xf1, site(0xa, 2)), 55);
    assert_int_equal(cw_thread_cached_stack(t, 0xf1, site(0xa, 4)), 56);
    assert_int_equal(cw_thread_cached_stack(t, 0xf2, site(0xa, 2)), 57);
    assert_int_equal(cw_thread_cached_stack(t, 0xf2, site(0xa, 4)), 0);
    assert_int_equal(cw_thread_cached_stack(t, 0xf1, site(0xb, 2)), 0);
    assert_int_equal(cw_thread_cached_stack(t, 0xf3, site(0xa, 2)), 0);

    /* A dead frame's entries go away (its address may be reused). */
    cw_thread_forget_frame(t, 0xf1);
    assert_int_equal(cw_thread_cached_stack(t, 0xf1, site(0xa, 2)), 0);
    assert_int_equal(cw_thread_cached_stack(t, 0xf1, site(0xa, 4)), 0);
    assert_int_equal(cw_thread_cached_stack(t, 0xf2, site(0xa, 2)), 57);

    /* Stacks and pending reads share the call's slot. */
    cw_thread_note_read(t, 0xf2, 0xc0, 1, site(0xa, 2), CW_OP_GET);
    cw_thread_forget_frame(t, 0xf2);
    assert_int_equal(cw_thread_cached_stack(t, 0xf2, site(0xa, 2)), 0);
    assert_int_equal(t->nrecent, 0);

    /* Each call keeps its last CW_STACKS_PER_FRAME sites. */
    for (uint32_t i = 0; i < CW_STACKS_PER_FRAME; i++)
        cw_thread_cache_stack(t, 0xf3, site(0xc, (int32_t)i), 100 + i);
    for (uint32_t i = 0; i < CW_STACKS_PER_FRAME; i++)
        assert_int_equal(cw_thread_cached_stack(t, 0xf3, site(0xc, (int32_t)i)), 100 + i);
    cw_thread_cache_stack(t, 0xf3, site(0xc, 99), 999);
    assert_int_equal(cw_thread_cached_stack(t, 0xf3, site(0xc, 99)), 999);
    assert_int_equal(cw_thread_cached_stack(t, 0xf3, site(0xc, 0)), 0); /* the oldest went */
    assert_int_equal(cw_thread_cached_stack(t, 0xf3, site(0xc, 1)), 101);

    /* Frame 0 ("no frame") never hits a cached stack of a freed call. */
    assert_int_equal(cw_thread_cached_stack(t, 0, site(0xa, 2)), 0);
    assert_int_equal(cw_thread_cached_stack(t, 0, site(0, 0)), 0);
    cw_thread_forget_frame(t, 0xf3);
}

/* ---- concurrency ----------------------------------------------------------- */

#define NTHREADS 8

static cw_thread *registered[NTHREADS][50];

static void *registrar(void *p)
{
    int me = (int)(intptr_t)p;
    for (int i = 0; i < 50; i++) {
        char name[32];
        snprintf(name, sizeof(name), "w%d-%d", me, i);
        cw_thread *t = cw_thread_register(0, NULL, (uint64_t)me * 1000 + (uint64_t)i, name, 0);
        registered[me][i] = t;
        if (t == NULL)
            continue;
        cw_thread_note_read(t, 0xf, 0xc, i, site(1, 1), CW_OP_GET);
        cw_thread_hold(t, 0x10, 1, true);
        cw_thread_set_name(t, name);
        /* Names of other threads are read under the registry lock. */
        char buf[CW_NAME_MAX];
        cw_thread_name(t->tid > 1 ? t->tid - 1 : 1, buf, sizeof(buf));
        cw_thread_exit(t);
    }
    return NULL;
}

/* Logical threads take over the slots of ended ones their creator already
 * knows the end of: clocks stay as long as the threads alive at once. Each
 * keeps its own number, and a slot's records say whose they were. */
static void test_logical_threads_reuse_known_slots(void **state)
{
    (void)state;
    cw_thread *loop = reg("loop");
    cw_vc *snap = cw_thread_fork_snapshot(loop);
    cw_thread *a = cw_thread_register_cooperative(loop->number, snap, 7, "Task-1", 0);
    cw_vc_unref(snap);
    assert_non_null(a);
    assert_true(a->cooperative);
    a->last_recorded = cw_thread_now(a); /* as an access it made would */
    cw_clock a_end = cw_thread_now(a);
    /* a's end reaches the loop (it awaited the task), then a ends. */
    cw_vc *given = NULL;
    assert_int_equal(cw_thread_release_into(a, &given), CW_OK);
    a_end = cw_vc_get(given, a->tid);
    assert_int_equal(cw_thread_acquire(loop, given), CW_OK);
    cw_vc_unref(given);
    cw_thread_exit(a);

    /* Made by a thread that does not know what a recorded: a fresh slot. */
    cw_thread *stranger = reg("stranger");
    snap = cw_thread_fork_snapshot(stranger);
    cw_thread *c = cw_thread_register_cooperative(stranger->number, snap, 8, "Task-x", 0);
    cw_vc_unref(snap);
    assert_int_not_equal(c->tid, a->tid);

    /* Made by the loop, which knows it: a's slot, its own number, its clock
     * going on after a's end. */
    snap = cw_thread_fork_snapshot(loop);
    cw_thread *b = cw_thread_register_cooperative(loop->number, snap, 7, "Task-2", 0);
    cw_vc_unref(snap);
    assert_int_equal(b->tid, a->tid);
    assert_int_not_equal(b->number, a->number);
    assert_ptr_equal(cw_thread_get(a->number), a);
    assert_ptr_equal(cw_thread_get(b->number), b);
    assert_true(cw_thread_now(b) > a_end);
    assert_int_equal(cw_thread_number_at(b->tid, a_end), a->number);
    assert_int_equal(cw_thread_number_at(b->tid, cw_thread_now(b)), b->number);
    char name[64];
    cw_thread_name(a->number, name, sizeof(name));
    assert_string_equal(name, "Task-1");
    /* An OS thread's slot is never taken over. */
    cw_thread *os = reg("os");
    cw_thread_exit(os);
    snap = cw_thread_fork_snapshot(loop);
    cw_thread *d = cw_thread_register_cooperative(loop->number, snap, 7, "Task-3", 0);
    cw_vc_unref(snap);
    assert_int_not_equal(d->tid, os->tid);
    cw_thread_exit(b);
    cw_thread_exit(c);
    cw_thread_exit(d);
}

static void test_concurrent_registration(void **state)
{
    (void)state;
    uint32_t before = cw_thread_count();
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, registrar, (void *)(intptr_t)i), 0);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(cw_thread_count(), before + NTHREADS * 50);
    /* Every number is distinct and resolves to its record with its name. */
    static unsigned char seen[NTHREADS * 50 + 64];
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < NTHREADS; i++)
        for (int j = 0; j < 50; j++) {
            cw_thread *t = registered[i][j];
            assert_non_null(t);
            assert_true(t->number > before && t->number <= before + NTHREADS * 50);
            assert_int_equal(seen[t->number - before], 0);
            seen[t->number - before] = 1;
            assert_ptr_equal(cw_thread_get(t->number), t);
            char want[32], got[CW_NAME_MAX];
            snprintf(want, sizeof(want), "w%d-%d", i, j);
            cw_thread_name(t->number, got, sizeof(got));
            assert_string_equal(got, want);
            assert_int_equal(t->alive, 0);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_distinct_tids),
        cmocka_unit_test(test_child_inherits_snapshot),
        cmocka_unit_test(test_release_and_acquire),
        cmocka_unit_test(test_hand_offs_without_accesses_share_one_clock),
        cmocka_unit_test(test_hold_unhold_counts),
        cmocka_unit_test(test_recent_reads),
        cmocka_unit_test(test_recent_reads_eviction),
        cmocka_unit_test(test_stack_cache),
        cmocka_unit_test(test_logical_threads_reuse_known_slots),
        cmocka_unit_test(test_concurrent_registration),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cw_threads_fini();
    return rc;
}
