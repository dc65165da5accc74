/* lockset.c: lock incarnations and interned locksets. */
#include "lockset.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hashtable.h"
#include "idvec.h"
#include "memory.h"

static uint64_t seq; /* atomic */

uint64_t cw_next_seq(void) { return __atomic_add_fetch(&seq, 1, __ATOMIC_ACQ_REL); }

typedef struct lockset_entry {
    uint64_t hash;
    uint32_t n;
    cw_lock_id ids[];
} lockset_entry;

typedef struct lockset_key {
    uint64_t hash;
    uint32_t n;
    const cw_lock_id *ids;
} lockset_key;

/* A lock's record lives while the lock does, and after its death only when
 * some lockset holds it ("pinned"): most locks (a Future's condition, a
 * per-object lock) never guard a watched access and cost nothing once gone.
 *
 * lockset_lock guards infos, every record, sets and set_ids appends. Readers
 * of set members go through the idvec lock-free; readers of lockinfo copy it
 * under the lock. */
typedef struct lockinfo_rec {
    cw_lockinfo info;
    bool pinned;
} lockinfo_rec;

static pthread_mutex_t lockset_lock = PTHREAD_MUTEX_INITIALIZER;
static cw_hashtable infos;   /* lock id -> lockinfo_rec* */
static cw_lock_id last_lock_id;
static cw_hashtable sets;/* tagged key -> (uintptr_t)lockset id */
static cw_idvec set_ids = {.mem = CW_MEM_LOCKS}; /* lockset id -> lockset_entry* */
static bool initialised;
static uint64_t generation; /* atomic */

uint64_t cw_lockinfo_generation(void)
{
    return __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
}

static const cw_lock_id *key_ids(uintptr_t k, uint32_t *n, uint64_t *h)
{
    if (k & 1) {
        const lockset_key *lk = (const lockset_key *)(k & ~(uintptr_t)1);
        *n = lk->n;
        *h = lk->hash;
        return lk->ids;
    }
    const lockset_entry *e = (const lockset_entry *)k;
    *n = e->n;
    *h = e->hash;
    return e->ids;
}

static uint64_t set_hash_cb(uintptr_t k)
{
    uint32_t n;
    uint64_t h;
    key_ids(k, &n, &h);
    return h;
}

static bool set_eq_cb(uintptr_t a, uintptr_t b)
{
    uint32_t na, nb;
    uint64_t ha, hb;
    const cw_lock_id *ia = key_ids(a, &na, &ha);
    const cw_lock_id *ib = key_ids(b, &nb, &hb);
    return na == nb && ha == hb && memcmp(ia, ib, na * sizeof(cw_lock_id)) == 0;
}

int cw_lockset_init(void)
{
    int rc = 0;
    pthread_mutex_lock(&lockset_lock);
    if (!initialised) {
        if (cw_ht_init(&sets, 256, set_hash_cb, set_eq_cb, CW_MEM_LOCKS) < 0 ||
            cw_ht_init(&infos, 256, NULL, NULL, CW_MEM_LOCKS) < 0)
            rc = -1;
        else
            initialised = true;
    }
    pthread_mutex_unlock(&lockset_lock);
    return rc;
}

void cw_lockset_fini(void)
{
    pthread_mutex_lock(&lockset_lock);
    if (initialised) {
        cw_ht_fini(&sets);
        cw_idvec_free_all(&set_ids);
        size_t pos = 0;
        void *v;
        while (cw_ht_next(&infos, &pos, NULL, &v))
            cw_free(v);
        cw_ht_fini(&infos);
        initialised = false;
    }
    pthread_mutex_unlock(&lockset_lock);
}

cw_lock_id cw_lockinfo_new(uintptr_t addr, cw_lock_kind kind, cw_site role,
                           cw_stack_id role_stack)
{
    lockinfo_rec *r = cw_calloc(CW_MEM_LOCKS, 1, sizeof(*r));
    if (r == NULL)
        return 0;
    cw_lockinfo *li = &r->info;
    li->addr = addr;
    li->kind = kind;
    li->role = role;
    li->role_stack = role_stack;
    li->birth = cw_next_seq();
    pthread_mutex_lock(&lockset_lock);
    li->id = ++last_lock_id;
    cw_lock_id id = li->id;
    if (!initialised || cw_ht_put(&infos, (uintptr_t)id, r) < 0)
        id = 0;
    pthread_mutex_unlock(&lockset_lock);
    if (id == 0)
        cw_free(r);
    return id;
}

static cw_lockinfo *info_unlocked(cw_lock_id id)
{
    lockinfo_rec *r = initialised ? cw_ht_get(&infos, (uintptr_t)id) : NULL;
    return r ? &r->info : NULL;
}

void cw_lockinfo_died(cw_lock_id id, bool may_be_held)
{
    pthread_mutex_lock(&lockset_lock);
    lockinfo_rec *r = initialised ? cw_ht_get(&infos, (uintptr_t)id) : NULL;
    if (r != NULL && !r->pinned) {
        cw_ht_remove(&infos, (uintptr_t)id);
        cw_free(r);
    } else if (r != NULL && r->info.death == 0) {
        r->info.death = cw_next_seq();
    }
    pthread_mutex_unlock(&lockset_lock);
    /* No thread lists a lock nobody held in its held locks (nor in a memo
     * of them): their locksets stay as they are. */
    if (may_be_held)
        __atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
}

void cw_lockinfo_set_role(cw_lock_id id, cw_site role, cw_stack_id role_stack)
{
    pthread_mutex_lock(&lockset_lock);
    cw_lockinfo *li = info_unlocked(id);
    if (li) {
        li->role = role;
        li->role_stack = role_stack;
    }
    pthread_mutex_unlock(&lockset_lock);
}

void cw_lockinfo_mark_signal(cw_lock_id id)
{
    pthread_mutex_lock(&lockset_lock);
    cw_lockinfo *li = info_unlocked(id);
    if (li)
        li->signal = true;
    pthread_mutex_unlock(&lockset_lock);
    __atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
}

bool cw_lockinfo_get(cw_lock_id id, cw_lockinfo *out)
{
    pthread_mutex_lock(&lockset_lock);
    cw_lockinfo *li = info_unlocked(id);
    if (li)
        *out = *li;
    pthread_mutex_unlock(&lockset_lock);
    return li != NULL;
}

static int cmp_ids(const void *a, const void *b)
{
    cw_lock_id x = *(const cw_lock_id *)a, y = *(const cw_lock_id *)b;
    return x < y ? -1 : x > y;
}

cw_lockset_id cw_lockset_intern(const cw_lock_id *ids, uint32_t n, int *err)
{
    if (err)
        *err = 0;
    if (n == 0)
        return 0;
    cw_lock_id sorted[64];
    if (n > 64)
        n = 64;
    memcpy(sorted, ids, n * sizeof(cw_lock_id));
    qsort(sorted, n, sizeof(cw_lock_id), cmp_ids);
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (sorted[i] != 0 && (m == 0 || sorted[m - 1] != sorted[i]))
            sorted[m++] = sorted[i];
    if (m == 0)
        return 0;
    cw_lockset_id id = 0;
    pthread_mutex_lock(&lockset_lock);
    if (!initialised)
        goto fail;
    /* A lock that died meanwhile protects nothing any more. */
    uint32_t live = 0;
    for (uint32_t i = 0; i < m; i++)
        if (cw_ht_get(&infos, (uintptr_t)sorted[i]) != NULL)
            sorted[live++] = sorted[i];
    m = live;
    if (m == 0)
        goto done;
    lockset_key key = {cw_hash_bytes(sorted, m * sizeof(cw_lock_id), 7), m, sorted};
    id = (cw_lockset_id)(uintptr_t)cw_ht_get(&sets, (uintptr_t)&key | 1);
    if (id != 0)
        goto done;
    lockset_entry *e = cw_malloc(CW_MEM_LOCKS, sizeof(*e) + m * sizeof(cw_lock_id));
    if (e == NULL)
        goto fail;
    e->hash = key.hash;
    e->n = m;
    memcpy(e->ids, sorted, m * sizeof(cw_lock_id));
    for (uint32_t i = 0; i < m; i++)
        ((lockinfo_rec *)cw_ht_get(&infos, (uintptr_t)sorted[i]))->pinned = true;
    id = cw_idvec_push(&set_ids, e);
    if (id == 0) {
        cw_free(e);
        goto fail;
    }
    if (cw_ht_put(&sets, (uintptr_t)e, (void *)(uintptr_t)id) < 0)
        goto fail; /* e stays reachable by id; only dedup is lost */
done:
    pthread_mutex_unlock(&lockset_lock);
    return id;
fail:
    pthread_mutex_unlock(&lockset_lock);
    if (err)
        *err = CW_ERR_NOMEM;
    return id;
}

const cw_lock_id *cw_lockset_get(cw_lockset_id id, uint32_t *n)
{
    const lockset_entry *e = cw_idvec_get(&set_ids, id);
    *n = e ? e->n : 0;
    return e ? e->ids : NULL;
}

/* Same lock, or one role whose incarnations never lived at the same time. */
static bool same_lock_unlocked(cw_lock_id a, cw_lock_id b)
{
    if (a == b)
        return true;
    const cw_lockinfo *x = info_unlocked(a), *y = info_unlocked(b);
    if (x == NULL || y == NULL || x->kind != y->kind || cw_site_is_null(x->role) ||
        !cw_site_eq(x->role, y->role))
        return false;
    return (x->death != 0 && x->death < y->birth) ||
           (y->death != 0 && y->death < x->birth);
}

bool cw_lockset_disjoint(cw_lockset_id a, cw_lockset_id b)
{
    if (a == CW_LOCKSET_UNKNOWN || b == CW_LOCKSET_UNKNOWN)
        return false;
    if (a == 0 || b == 0)
        return true;
    if (a == b)
        return false;
    uint32_t na, nb;
    const cw_lock_id *ia = cw_lockset_get(a, &na);
    const cw_lock_id *ib = cw_lockset_get(b, &nb);
    bool disjoint = true;
    pthread_mutex_lock(&lockset_lock);
    for (uint32_t i = 0; i < na && disjoint; i++)
        for (uint32_t j = 0; j < nb && disjoint; j++)
            if (same_lock_unlocked(ia[i], ib[j]))
                disjoint = false;
    pthread_mutex_unlock(&lockset_lock);
    return disjoint;
}
