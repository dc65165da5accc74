/* sync.c: synchronisation objects. */
#include "sync.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hashtable.h"
#include "memory.h"

#define SHARDS 64
#define MAX_HOLDERS 4

typedef struct cw_sync {
    uintptr_t addr;
    cw_lock_id id;          /* 0 for objects that are not lock-like */
    cw_lock_kind kind;
    bool is_mutex;
    bool holders_unknown;   /* first seen at a release, or too many holders */
    bool has_role;          /* the binding was asked for the first acquire site */
    bool ignored;           /* not a lock for our purposes */
    bool signal;            /* handed off once: a signal, never a lockset member */
    uint32_t nholders;
    cw_tid holders[MAX_HOLDERS];
    uint32_t counts[MAX_HOLDERS];
    cw_vc *vc;              /* Owned: hand-off clock; NULL until published */
    void *cookie;           /* Owned by the binding: the death notice */
} cw_sync;

/* Each shard's lock guards its table and every record in it. */
static struct shard {
    pthread_mutex_t lock;
    cw_hashtable table; /* addr -> cw_sync* */
} shards[SHARDS];
static int initialised; /* atomic */
static size_t live_records; /* atomic: a hint for dealloc hooks */

static struct shard *shard_of(uintptr_t addr)
{
    return &shards[cw_hash_word(addr) % SHARDS];
}

int cw_sync_init(void)
{
    if (__atomic_load_n(&initialised, __ATOMIC_ACQUIRE))
        return 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&shards[i].lock, NULL);
        if (cw_ht_init(&shards[i].table, 64, NULL, NULL, CW_MEM_SYNC) < 0)
            return -1;
    }
    __atomic_store_n(&initialised, 1, __ATOMIC_RELEASE);
    return 0;
}

void cw_sync_fini(void (*drop_cookie)(void *cookie))
{
    if (!__atomic_load_n(&initialised, __ATOMIC_ACQUIRE))
        return;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&shards[i].lock);
        size_t pos = 0;
        void *v;
        while (cw_ht_next(&shards[i].table, &pos, NULL, &v)) {
            cw_sync *s = v;
            if (s->cookie && drop_cookie)
                drop_cookie(s->cookie);
            cw_vc_unref(s->vc);
            cw_free(s);
        }
        cw_ht_fini(&shards[i].table);
        pthread_mutex_unlock(&shards[i].lock);
        pthread_mutex_destroy(&shards[i].lock);
    }
    __atomic_store_n(&live_records, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&initialised, 0, __ATOMIC_RELEASE);
}

static cw_sync *get_or_create_unlocked(struct shard *sh, uintptr_t addr, bool *is_new)
{
    cw_sync *s = cw_ht_get(&sh->table, addr);
    *is_new = false;
    if (s != NULL)
        return s;
    s = cw_calloc(CW_MEM_SYNC, 1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->addr = addr;
    if (cw_ht_put(&sh->table, addr, s) < 0) {
        cw_free(s);
        return NULL;
    }
    __atomic_add_fetch(&live_records, 1, __ATOMIC_RELAXED);
    *is_new = true;
    return s;
}

static int holder_index(const cw_sync *s, cw_tid tid)
{
    for (uint32_t i = 0; i < s->nholders; i++)
        if (s->holders[i] == tid)
            return (int)i;
    return -1;
}

/* Give a record its lock incarnation; caller holds the shard lock. */
static void make_lock_unlocked(cw_sync *s, cw_lock_kind kind, bool is_mutex)
{
    if (s->id != 0)
        return;
    s->id = cw_lockinfo_new(s->addr, kind, (cw_site){0, 0}, 0);
    s->kind = kind;
    s->is_mutex = is_mutex;
}

int cw_sync_declare(uintptr_t addr, cw_lock_kind kind, bool is_mutex, bool *is_new)
{
    struct shard *sh = shard_of(addr);
    pthread_mutex_lock(&sh->lock);
    cw_sync *s = get_or_create_unlocked(sh, addr, is_new);
    if (s != NULL)
        make_lock_unlocked(s, kind, is_mutex);
    pthread_mutex_unlock(&sh->lock);
    return s ? CW_OK : CW_ERR_NOMEM;
}

int cw_sync_ignore(uintptr_t addr, bool *is_new)
{
    struct shard *sh = shard_of(addr);
    pthread_mutex_lock(&sh->lock);
    cw_sync *s = get_or_create_unlocked(sh, addr, is_new);
    if (s != NULL)
        s->ignored = true;
    pthread_mutex_unlock(&sh->lock);
    return s ? CW_OK : CW_ERR_NOMEM;
}

int cw_sync_lock_acquired(cw_thread *t, uintptr_t addr, cw_lock_kind kind,
                          bool is_mutex, uint32_t count, bool *is_new,
                          cw_lock_id *out_id)
{
    struct shard *sh = shard_of(addr);
    int rc = CW_OK;
    cw_lock_id id = 0;
    bool mutex = false;
    bool fresh = false;
    pthread_mutex_lock(&sh->lock);
    cw_sync *s = get_or_create_unlocked(sh, addr, is_new);
    if (s == NULL) {
        rc = CW_ERR_NOMEM;
        goto out;
    }
    if (s->ignored)
        goto out;
    make_lock_unlocked(s, kind, is_mutex);
    if (!s->has_role) {
        s->has_role = true;
        fresh = true;
    }
    int i = holder_index(s, t->tid);
    if (i >= 0) {
        s->counts[i] += count;
    } else if (s->nholders < MAX_HOLDERS) {
        s->holders[s->nholders] = t->tid;
        s->counts[s->nholders++] = count;
    } else {
        s->holders_unknown = true;
    }
    if (s->vc != NULL)
        rc = cw_thread_acquire(t, s->vc);
    id = s->id;
    mutex = s->is_mutex;
    if (s->signal)
        t->prune_pending = true; /* held only until the next prune */
out:
    pthread_mutex_unlock(&sh->lock);
    if (rc == CW_OK && id != 0) {
        for (uint32_t k = 0; k < count; k++)
            cw_thread_hold(t, addr, id, mutex);
    }
    if (out_id)
        *out_id = fresh ? id : 0; /* non-zero: the binding sets its role */
    return rc;
}

int cw_sync_lock_releasing(cw_thread *t, uintptr_t addr, bool all)
{
    struct shard *sh = shard_of(addr);
    int rc = CW_OK;
    cw_lock_id signal_id = 0;
    pthread_mutex_lock(&sh->lock);
    cw_sync *s = cw_ht_get(&sh->table, addr);
    if (s == NULL || s->id == 0 || s->ignored)
        goto out; /* acquired before we watched (history unknown), or ignored */
    int i = holder_index(s, t->tid);
    if (i >= 0) {
        uint32_t drop = all ? s->counts[i] : 1;
        s->counts[i] -= drop;
        if (s->counts[i] == 0) {
            s->nholders--;
            s->holders[i] = s->holders[s->nholders];
            s->counts[i] = s->counts[s->nholders];
        }
        pthread_mutex_unlock(&sh->lock);
        cw_thread_unhold(t, addr, all);
        return CW_OK;
    }
    /* A holder beyond the slots of the record still knows it holds it: its
     * own release ends its critical section, no hand-off. */
    const cw_held *h = cw_thread_find_held(t, addr);
    if (h != NULL && h->id == s->id) {
        pthread_mutex_unlock(&sh->lock);
        cw_thread_unhold(t, addr, all);
        return CW_OK;
    }
    /* An RLock released by a non-owner raises; nothing is handed off. */
    if (s->kind == CW_LOCK_RLOCK)
        goto out;
    bool known_holders = !s->holders_unknown && s->nholders > 0;
    /* A lock released by a thread that did not acquire it is a hand-off; a
     * semaphore's release always is (it adds a permit another thread takes,
     * as in Semaphore(0) used as a signal). A lock whose holders we never
     * saw was taken before we started: nothing to say. */
    if (!known_holders && s->kind != CW_LOCK_SEMAPHORE)
        goto out;
    rc = cw_thread_release_into(t, &s->vc);
    if (known_holders) {
        /* The acquirer's hold ends here (the oldest holder, for semaphores);
         * from now on the object is a signal, not a lock. */
        if (--s->counts[0] == 0) {
            s->nholders--;
            s->holders[0] = s->holders[s->nholders];
            s->counts[0] = s->counts[s->nholders];
        }
        signal_id = s->id;
        s->signal = true;
    }
out:
    pthread_mutex_unlock(&sh->lock);
    if (signal_id)
        cw_lockinfo_mark_signal(signal_id);
    return rc;
}

int cw_sync_publish(cw_thread *t, uintptr_t addr, bool *is_new)
{
    struct shard *sh = shard_of(addr);
    pthread_mutex_lock(&sh->lock);
    cw_sync *s = get_or_create_unlocked(sh, addr, is_new);
    int rc = s ? cw_thread_release_into(t, &s->vc) : CW_ERR_NOMEM;
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

int cw_sync_publish_clock(uintptr_t addr, const cw_vc *vc, bool *is_new)
{
    struct shard *sh = shard_of(addr);
    int rc = CW_OK;
    pthread_mutex_lock(&sh->lock);
    cw_sync *s = get_or_create_unlocked(sh, addr, is_new);
    if (s == NULL) {
        rc = CW_ERR_NOMEM;
    } else {
        cw_vc *joined = cw_vc_join(s->vc, vc);
        if (joined == NULL)
            rc = CW_ERR_NOMEM;
        else
            s->vc = joined;
    }
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

int cw_sync_consume(cw_thread *t, uintptr_t addr)
{
    struct shard *sh = shard_of(addr);
    int rc = CW_OK;
    pthread_mutex_lock(&sh->lock);
    cw_sync *s = cw_ht_get(&sh->table, addr);
    if (s != NULL && s->vc != NULL)
        rc = cw_thread_acquire(t, s->vc);
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

void *cw_sync_set_cookie(uintptr_t addr, void *cookie)
{
    struct shard *sh = shard_of(addr);
    pthread_mutex_lock(&sh->lock);
    cw_sync *s = cw_ht_get(&sh->table, addr);
    void *back = cookie;
    if (s != NULL && s->cookie == NULL) {
        s->cookie = cookie;
        back = NULL;
    }
    pthread_mutex_unlock(&sh->lock);
    return back;
}

void *cw_sync_forget(uintptr_t addr)
{
    struct shard *sh = shard_of(addr);
    pthread_mutex_lock(&sh->lock);
    cw_sync *s = cw_ht_remove(&sh->table, addr);
    pthread_mutex_unlock(&sh->lock);
    if (s == NULL)
        return NULL;
    __atomic_sub_fetch(&live_records, 1, __ATOMIC_RELAXED);
    /* A signal is in no lockset (its holds end at the holder's next prune). */
    if (s->id)
        cw_lockinfo_died(s->id, (s->nholders > 0 || s->holders_unknown) && !s->signal);
    void *cookie = s->cookie;
    cw_vc_unref(s->vc);
    cw_free(s);
    return cookie;
}

size_t cw_sync_count_hint(void) { return __atomic_load_n(&live_records, __ATOMIC_RELAXED); }

size_t cw_sync_count(void)
{
    size_t n = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&shards[i].lock);
        n += cw_ht_size(&shards[i].table);
        pthread_mutex_unlock(&shards[i].lock);
    }
    return n;
}

/* Drop held entries for locks that died or became signals: the thread will
 * never release them through us. Only needed when one did since the last
 * prune (each bumps the generation) or a lock already a signal was taken. */
static void prune_held(cw_thread *t)
{
    uint64_t gen = cw_lockinfo_generation();
    if (gen == t->pruned_gen && !t->prune_pending)
        return;
    for (uint32_t i = 0; i < t->nheld;) {
        cw_lockinfo li;
        if (!cw_lockinfo_get(t->held[i].id, &li) || li.death != 0 || li.signal) {
            t->held[i] = t->held[--t->nheld];
            continue;
        }
        i++;
    }
    t->pruned_gen = gen;
    t->prune_pending = false;
}

/* cw_lockset_intern, answered from the thread's memo when it interned the
 * same locks in the same generation (see cw_lockset_memo). */
static cw_lockset_id interned(cw_thread *t, const cw_lock_id *ids, uint32_t n, int *err)
{
    uint64_t gen = cw_lockinfo_generation(); /* before: a death meanwhile misses */
    cw_lockset_memo *m = t->lockset_memos;
    for (uint32_t i = 0; m != NULL && i < CW_LOCKSET_MEMOS; i++)
        if (m[i].n == n && m[i].gen == gen && memcmp(m[i].ids, ids, n * sizeof(*ids)) == 0)
            return m[i].set;
    int failed = 0;
    cw_lockset_id set = cw_lockset_intern(ids, n, &failed);
    if (err)
        *err = failed;
    if (failed)
        return set;
    if (m == NULL)
        m = t->lockset_memos = cw_calloc(CW_MEM_THREADS, CW_LOCKSET_MEMOS, sizeof(*m));
    if (m != NULL) {
        cw_lockset_memo *slot = &m[t->lockset_memo_next++ % CW_LOCKSET_MEMOS];
        slot->gen = gen;
        slot->n = n;
        slot->set = set;
        memcpy(slot->ids, ids, n * sizeof(*ids));
    }
    return set;
}

static cw_lockset_id lockset_where(cw_thread *t, uint64_t serial, int *err)
{
    if (t->held_overflow)
        return CW_LOCKSET_UNKNOWN;
    cw_lock_id ids[CW_MAX_HELD];
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->nheld; i++)
        if (t->held[i].is_mutex && t->held[i].serial <= serial)
            ids[n++] = t->held[i].id;
    if (n == 0)
        return 0;
    return interned(t, ids, n, err);
}

cw_lockset_id cw_sync_thread_lockset(cw_thread *t, int *err)
{
    if (err)
        *err = 0;
    if (t->nheld == 0 && !t->lockset_dirty)
        return 0;
    uint64_t gen = cw_lockinfo_generation();
    if (!t->lockset_dirty && t->lockset_gen == gen)
        return t->lockset;
    t->lockset_gen = gen;
    prune_held(t);
    t->lockset = lockset_where(t, UINT64_MAX, err);
    t->lockset_dirty = false;
    return t->lockset;
}

cw_lockset_id cw_sync_held_since(cw_thread *t, uint64_t serial, int *err)
{
    if (err)
        *err = 0;
    prune_held(t);
    return lockset_where(t, serial, err);
}
