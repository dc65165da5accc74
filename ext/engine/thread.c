/* thread.c: thread registry and per-thread state. */
#include "thread.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hashtable.h"
#include "history.h"
#include "idvec.h"
#include "memory.h"

static void clear_slot(cw_thread *t, cw_frame_slot *fs);

/* registry_lock guards threads and slots (appends, a slot's new occupant),
 * the free slots and every name. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static cw_idvec threads = {.mem = CW_MEM_THREADS}; /* number -> cw_thread* (owned) */
static cw_idvec slots = {.mem = CW_MEM_THREADS};   /* slot -> its latest occupant */

/* Slots of logical threads that ended, with their last clock: a newer one
 * may take one over once it knows that clock. */
#define CW_FREE_SLOTS 4096
#define CW_FREE_SLOTS_SCANNED 64
static struct free_slot {
    cw_tid slot;
    cw_clock recorded; /* its records' clocks go no later */
    cw_clock end;      /* its last clock */
} free_slots[CW_FREE_SLOTS];
static uint32_t nfree;

/* A slot the inherited clock may take over (registry_lock held), or 0. */
static cw_tid take_free_slot_unlocked(const cw_vc *inherited, cw_clock *end)
{
    uint32_t low = nfree > CW_FREE_SLOTS_SCANNED ? nfree - CW_FREE_SLOTS_SCANNED : 0;
    for (uint32_t i = nfree; i-- > low;) {
        if (cw_vc_get(inherited, free_slots[i].slot) >= free_slots[i].recorded) {
            cw_tid slot = free_slots[i].slot;
            *end = free_slots[i].end;
            free_slots[i] = free_slots[--nfree];
            return slot;
        }
    }
    return 0;
}

static cw_thread *register_in(cw_tid parent, const cw_vc *inherited, uint64_t ident,
                              const char *name, cw_stack_id created_at, bool reuse)
{
    cw_thread *t = cw_calloc(CW_MEM_THREADS, 1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->held = cw_calloc(CW_MEM_THREADS, CW_MAX_HELD, sizeof(cw_held));
    if (t->held == NULL) {
        cw_free(t);
        return NULL;
    }
    t->parent = parent;
    t->ident = ident;
    t->created_at = created_at;
    t->alive = 1;
    t->cooperative = reuse;
    cw_clock end = 0;
    pthread_mutex_lock(&registry_lock);
    t->number = cw_idvec_push(&threads, t);
    if (t->number != 0) {
        t->tid = reuse ? take_free_slot_unlocked(inherited, &end) : 0;
        if (t->tid != 0) {
            t->earlier = cw_idvec_get(&slots, t->tid);
            cw_idvec_set(&slots, t->tid, t);
        } else {
            t->tid = cw_idvec_push(&slots, t);
        }
    }
    if (name)
        strncpy(t->name, name, CW_NAME_MAX - 1);
    pthread_mutex_unlock(&registry_lock);
    if (t->number == 0 || t->tid == 0)
        goto fail;
    /* What the creator knew, shared until the first write below copies it. */
    t->vc = inherited ? cw_vc_ref((cw_vc *)inherited) : cw_vc_new(t->tid + 1);
    if (t->vc == NULL)
        goto fail;
    /* Start at 1 so that "clock 0" always means "never heard of"; a slot
     * taken over goes on after its last occupant's end. */
    t->start_clock = (end > cw_vc_get(t->vc, t->tid) ? end : cw_vc_get(t->vc, t->tid)) + 1;
    if ((t->vc = cw_vc_set(t->vc, t->tid, t->start_clock)) == NULL)
        goto fail;
    return t;
fail:
    /* A registered number keeps its (dead) record so ids stay dense. */
    if (t->number != 0) {
        t->cooperative = false; /* its slot is not free for another */
        __atomic_store_n(&t->alive, 0, __ATOMIC_RELEASE);
        return NULL;
    }
    cw_free(t->held);
    cw_free(t->lockset_memos);
    cw_free(t);
    return NULL;
}

cw_thread *cw_thread_register(cw_tid parent, const cw_vc *inherited,
                              uint64_t ident, const char *name,
                              cw_stack_id created_at)
{
    return register_in(parent, inherited, ident, name, created_at, false);
}

cw_thread *cw_thread_register_cooperative(cw_tid parent, const cw_vc *inherited,
                                          uint64_t ident, const char *name,
                                          cw_stack_id created_at)
{
    return register_in(parent, inherited, ident, name, created_at, true);
}

cw_tid cw_thread_number_at(cw_tid slot, cw_clock clock)
{
    const cw_thread *t = cw_idvec_get(&slots, slot);
    while (t != NULL && t->start_clock > clock && t->earlier != NULL)
        t = t->earlier;
    return t != NULL ? t->number : slot;
}

static void free_frames(cw_thread *t)
{
    cw_free(t->memos);
    t->memos = NULL;
    cw_free(t->last_checks);
    t->last_checks = NULL;
    if (t->frames == NULL)
        return;
    for (uint32_t i = 0; i < t->nframes; i++)
        clear_slot(t, &t->frames[i]);
    cw_free(t->frames);
    t->frames = NULL;
    t->nframes = 0;
}

/* A logical thread's slot is free once it ended (its last clock known). */
static void free_slot(cw_thread *t)
{
    if (!t->cooperative || t->vc == NULL)
        return;
    pthread_mutex_lock(&registry_lock);
    if (nfree < CW_FREE_SLOTS && cw_idvec_get(&slots, t->tid) == t)
        free_slots[nfree++] = (struct free_slot){t->tid, t->last_recorded, cw_vc_get(t->vc, t->tid)};
    pthread_mutex_unlock(&registry_lock);
}

void cw_thread_exit(cw_thread *t)
{
    cw_history_retire(t);
    free_slot(t);
    free_frames(t);
    t->nrecent = 0;
    t->nheld = 0;
    cw_free(t->held);
    t->held = NULL;
    cw_free(t->lockset_memos);
    t->lockset_memos = NULL;
    cw_vc_unref(t->vc);
    t->vc = NULL;
    __atomic_store_n(&t->alive, 0, __ATOMIC_RELEASE);
}

cw_thread *cw_thread_get(cw_tid number) { return cw_idvec_get(&threads, number); }

cw_thread *cw_thread_by_ident(uint64_t ident)
{
    for (uint32_t tid = cw_idvec_count(&threads); tid > 0; tid--) {
        cw_thread *t = cw_idvec_get(&threads, tid);
        if (t != NULL && t->ident == ident && !t->cooperative &&
            __atomic_load_n(&t->alive, __ATOMIC_ACQUIRE))
            return t;
    }
    return NULL;
}

uint32_t cw_thread_count(void) { return cw_idvec_count(&threads); }

void cw_thread_set_name(cw_thread *t, const char *name)
{
    pthread_mutex_lock(&registry_lock);
    memset(t->name, 0, sizeof(t->name));
    if (name)
        strncpy(t->name, name, CW_NAME_MAX - 1);
    pthread_mutex_unlock(&registry_lock);
}

void cw_thread_name(cw_tid tid, char *buf, size_t size)
{
    if (size == 0)
        return;
    buf[0] = '\0';
    cw_thread *t = cw_thread_get(tid);
    if (t == NULL)
        return;
    pthread_mutex_lock(&registry_lock);
    strncpy(buf, t->name, size - 1);
    buf[size - 1] = '\0';
    pthread_mutex_unlock(&registry_lock);
}

void cw_threads_after_fork_child(void)
{
    pthread_mutex_init(&registry_lock, NULL); /* whoever held it is gone */
    uint32_t n = cw_idvec_count(&threads);
    for (uint32_t tid = 1; tid <= n; tid++) {
        cw_thread *t = cw_idvec_get(&threads, tid);
        if (t != NULL && __atomic_load_n(&t->alive, __ATOMIC_ACQUIRE))
            cw_thread_exit(t);
    }
    nfree = 0; /* the child's threads start on fresh slots */
}

void cw_threads_fini(void)
{
    pthread_mutex_lock(&registry_lock);
    uint32_t n = cw_idvec_count(&threads);
    for (uint32_t tid = 1; tid <= n; tid++) {
        cw_thread *t = cw_idvec_get(&threads, tid);
        if (t == NULL)
            continue;
        free_frames(t);
        cw_free(t->held);
        cw_free(t->lockset_memos);
        cw_vc_unref(t->vc);
    }
    cw_idvec_free_all(&threads);
    cw_idvec_free(&slots, false);
    nfree = 0;
    pthread_mutex_unlock(&registry_lock);
}

int cw_thread_release_into(cw_thread *t, cw_vc **dst)
{
    cw_vc *joined = cw_vc_join(*dst, t->vc);
    if (joined == NULL)
        return CW_ERR_NOMEM;
    *dst = joined;
    t->tick_due = true;
    t->view++; /* memos made before must not answer for the new epoch */
    return CW_OK;
}

cw_vc *cw_thread_fork_snapshot(cw_thread *t)
{
    t->tick_due = true;
    t->view++;
    return cw_vc_ref(t->vc);
}

int cw_thread_take_epoch(cw_thread *t)
{
    if (!t->tick_due)
        return CW_OK;
    cw_vc *ticked = cw_vc_tick(t->vc, t->tid); /* copies while shared */
    if (ticked == NULL)
        return CW_ERR_NOMEM;
    t->vc = ticked;
    t->tick_due = false;
    return CW_OK;
}

int cw_thread_acquire(cw_thread *t, const cw_vc *src)
{
    cw_vc *joined = cw_vc_join(t->vc, src);
    if (joined == NULL)
        return CW_ERR_NOMEM;
    t->vc = joined;
    t->view++;
    return CW_OK;
}

cw_held *cw_thread_find_held(cw_thread *t, uintptr_t addr)
{
    for (uint32_t i = 0; i < t->nheld; i++)
        if (t->held[i].addr == addr)
            return &t->held[i];
    return NULL;
}

int cw_thread_hold(cw_thread *t, uintptr_t addr, cw_lock_id id, bool is_mutex)
{
    cw_held *h = cw_thread_find_held(t, addr);
    if (h != NULL && h->id == id) {
        h->count++;
        return CW_OK;
    }
    t->lockset_dirty = true;
    if (h != NULL) {
        /* Same address, new incarnation: the old entry is stale. */
        *h = (cw_held){addr, id, 1, ++t->acquire_serial, is_mutex};
        return CW_OK;
    }
    if (t->nheld == CW_MAX_HELD) {
        t->held_overflow = true;
        return CW_OK;
    }
    t->held[t->nheld++] = (cw_held){addr, id, 1, ++t->acquire_serial, is_mutex};
    return CW_OK;
}

uint32_t cw_thread_unhold(cw_thread *t, uintptr_t addr, bool all)
{
    for (uint32_t i = 0; i < t->nheld; i++) {
        cw_held *h = &t->held[i];
        if (h->addr != addr)
            continue;
        uint32_t dropped = all ? h->count : 1;
        h->count -= dropped;
        if (h->count == 0) {
            t->held[i] = t->held[--t->nheld];
            t->lockset_dirty = true;
            if (t->nheld == 0)
                t->held_overflow = false; /* every lock is released again */
        }
        return dropped;
    }
    return 0;
}

static cw_frame_slot *slot_of(cw_thread *t, uintptr_t frame)
{
    if (t->frames == NULL)
        return NULL;
    for (uint32_t i = 0; i < t->nframes; i++)
        if (t->frames[i].frame == frame)
            return &t->frames[i];
    return NULL;
}

static void clear_slot(cw_thread *t, cw_frame_slot *fs)
{
    for (uint32_t i = 0; i < fs->nreads; i++)
        cw_vc_unref(fs->reads[i].snap);
    t->nrecent -= fs->nreads;
    t->recent_gen += fs->nreads != 0;
    fs->nreads = 0;
    fs->frame = 0;
    for (uint32_t i = 0; i < CW_STACKS_PER_FRAME; i++)
        fs->stacks[i].stack = 0;
}

/* A free slot, in a table grown to full size when none is left, or else the
 * least recently used one. */
static cw_frame_slot *free_or_oldest_slot(cw_thread *t)
{
    cw_frame_slot *oldest = &t->frames[0];
    for (uint32_t i = 0; i < t->nframes; i++) {
        if (t->frames[i].frame == 0)
            return &t->frames[i];
        if (t->frames[i].stamp < oldest->stamp)
            oldest = &t->frames[i];
    }
    if (t->nframes < CW_FRAME_SLOTS) {
        cw_frame_slot *grown = cw_realloc(CW_MEM_THREADS, t->frames,
                                          CW_FRAME_SLOTS * sizeof(cw_frame_slot));
        if (grown != NULL) {
            uint32_t first_new = t->nframes;
            memset(grown + first_new, 0, (CW_FRAME_SLOTS - first_new) * sizeof(cw_frame_slot));
            t->frames = grown;
            t->nframes = CW_FRAME_SLOTS;
            return &t->frames[first_new];
        }
    }
    return oldest;
}

/* The slot of a frame, taking a free or the least recently used one; NULL
 * without memory (nothing is noted then: a region or a cached stack less). */
static cw_frame_slot *slot_for(cw_thread *t, uintptr_t frame)
{
    if (t->frames == NULL) {
        t->frames = cw_calloc(CW_MEM_THREADS, CW_FIRST_FRAME_SLOTS, sizeof(cw_frame_slot));
        if (t->frames == NULL)
            return NULL;
        t->nframes = CW_FIRST_FRAME_SLOTS;
    }
    cw_frame_slot *fs = slot_of(t, frame);
    if (fs == NULL) {
        fs = free_or_oldest_slot(t);
        clear_slot(t, fs);
        fs->frame = frame;
    }
    fs->stamp = ++t->stamp;
    return fs;
}

static cw_recent_read *find_read(cw_frame_slot *fs, uintptr_t container, int64_t key_hash)
{
    for (uint32_t i = 0; i < fs->nreads; i++)
        if (fs->reads[i].container == container && fs->reads[i].key_hash == key_hash)
            return &fs->reads[i];
    return NULL;
}

void cw_thread_note_read(cw_thread *t, uintptr_t frame, uintptr_t container,
                         int64_t key_hash, cw_site site, cw_op op)
{
    cw_frame_slot *fs = slot_for(t, frame);
    if (fs == NULL)
        return;
    cw_recent_read *r = find_read(fs, container, key_hash); /* a later check replaces */
    if (r == NULL) {
        if (fs->nreads < CW_READS_PER_FRAME) {
            r = &fs->reads[fs->nreads++];
            r->snap = NULL; /* a free slot holds nothing */
            t->nrecent++;
        } else {
            /* Evict the oldest: a write acting on it will not be a region. */
            r = &fs->reads[0];
            for (uint32_t i = 1; i < fs->nreads; i++)
                if (fs->reads[i].stamp < r->stamp)
                    r = &fs->reads[i];
        }
    }
    cw_vc *snap = cw_vc_ref(t->vc);
    cw_vc_unref(r->snap);
    *r = (cw_recent_read){frame, container, key_hash, snap, t->acquire_serial,
                          site, op, ++t->stamp, t->suspends, t->nevents};
    t->recent_gen++;
}

void cw_thread_suspended(cw_thread *t)
{
    t->suspends++;
    /* Memos and stamps hold the pending reads: a check repeated after the
     * suspension must be noted again, with the new count. */
    if (t->nrecent)
        t->recent_gen++;
}

bool cw_thread_peek_read(cw_thread *t, uintptr_t frame, uintptr_t container,
                         int64_t key_hash, cw_recent_read *out)
{
    cw_frame_slot *fs = t->nrecent ? slot_of(t, frame) : NULL;
    cw_recent_read *r = fs ? find_read(fs, container, key_hash) : NULL;
    if (r)
        *out = *r;
    return r != NULL;
}

bool cw_thread_take_read(cw_thread *t, uintptr_t frame, uintptr_t container,
                         int64_t key_hash, cw_recent_read *out)
{
    cw_frame_slot *fs = t->nrecent ? slot_of(t, frame) : NULL;
    cw_recent_read *r = fs ? find_read(fs, container, key_hash) : NULL;
    if (r == NULL)
        return false;
    *out = *r; /* the caller owns out->snap now */
    *r = fs->reads[--fs->nreads];
    t->nrecent--;
    t->recent_gen++;
    return true;
}

void cw_thread_forget_frame(cw_thread *t, uintptr_t frame)
{
    cw_frame_slot *fs = slot_of(t, frame);
    if (fs != NULL)
        clear_slot(t, fs);
}

void cw_thread_forget_container(cw_thread *t, uintptr_t container)
{
    for (uint32_t i = 0; t->frames != NULL && i < t->nframes; i++) {
        cw_frame_slot *fs = &t->frames[i];
        for (uint32_t j = 0; j < fs->nreads;) {
            if (fs->reads[j].container == container) {
                cw_vc_unref(fs->reads[j].snap);
                fs->reads[j] = fs->reads[--fs->nreads];
                t->nrecent--;
                t->recent_gen++;
            } else {
                j++;
            }
        }
    }
}

cw_stack_id cw_thread_cached_stack(cw_thread *t, uintptr_t frame, cw_site site)
{
    cw_frame_slot *fs = slot_of(t, frame);
    if (fs == NULL)
        return 0;
    for (uint32_t i = 0; i < CW_STACKS_PER_FRAME; i++)
        if (fs->stacks[i].stack && cw_site_eq(fs->stacks[i].site, site))
            return fs->stacks[i].stack;
    return 0;
}

void cw_thread_cache_stack(cw_thread *t, uintptr_t frame, cw_site site, cw_stack_id id)
{
    cw_frame_slot *fs = slot_for(t, frame);
    if (fs == NULL)
        return;
    fs->stacks[fs->next_stack] = (cw_stack_cache_entry){site, id};
    fs->next_stack = (fs->next_stack + 1) % CW_STACKS_PER_FRAME;
}
