/* shadow.c: shadow state and race checks. */
#include "shadow.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "depot.h"
#include "hashtable.h"
#include "lockset.h"
#include "memory.h"
#include "report.h"
#include "sync.h"

#define SHARDS 64

typedef enum rec_kind {
    REC_READ,         /* a check-eligible read */
    REC_WRITE,        /* a write not preceded by a check in its call */
    REC_REGION,       /* a check and the write that acted on it */
    REC_STRUCT_WRITE, /* an insertion or deletion (structure location) */
    REC_ITER,         /* a Python-level loop (structure location) */
    REC_REPLACE,      /* the name holding the container was rebound (structure) */
} rec_kind;

typedef struct rec {
    uint8_t kind;
    uint8_t op;
    uint8_t check_op;
    bool open;             /* REC_ITER still running */
    bool commutes;         /* REC_WRITE: commutes with other commuting writes */
    uint16_t events;       /* its thread's sync events before it, low bits
                              (history.h; fits where padding was) */
    cw_tid tid;
    cw_clock clock;        /* the access; REGION: its write; ITER: its start */
    cw_clock end_clock;    /* REC_ITER once closed */
    cw_lockset_id locks;   /* held at the access; REGION/ITER: held across */
    cw_stack_id stack;
    cw_stack_id check_stack;
    union {
        cw_site site;      /* READ: where; REGION: where the check was */
        struct {
            int64_t lo, hi;
        } range;           /* a ranged WRITE (on the range location) */
    };
    uint64_t seq;
} rec;

/* A location's history. Most keys are touched by one thread at one place, so
 * a cell starts with room for one record and grows (doubling, up to the
 * history size) only when it needs more. */
typedef struct cell {
    uint32_t nrecs;
    uint16_t cap;       /* at most CW_HISTORY_MAX */
    bool deleted;       /* the key's last write removed it: a tombstone */
    uint64_t next_seq;
    uint64_t last_use;  /* shard tick of the last record stored: eviction age */
    rec *recs;          /* &first until it grows */
    rec first;
} cell;

typedef struct container {
    uintptr_t addr;
    cw_str_id target;
    cw_str_id what; /* what the object is, for reports (0: nothing worth saying) */
    uint8_t binding; /* a module-level name (1) or an attribute (2), not a container */
    bool replaced;  /* its structure history holds REC_REPLACE records */
    uint32_t marks; /* the binding's (cw_shadow_mark) */
    cw_hashtable cells;  /* key hash -> cell* */
    cell structure;
    cw_site *check_sites;
    uint32_t ncheck, capcheck;
} container;

/* Keys removed from their containers, oldest first. What a removed key's
 * history can still race with is a re-insertion soon after, so a shard keeps
 * the last TOMBSTONES of them and forgets older ones: memory follows the
 * live keys, not every key there ever was (a forgotten key can only hide a
 * race, never invent one). */
#define TOMBSTONES 4096
typedef struct tombstone {
    uintptr_t container;
    int64_t key;
} tombstone;

/* Each shard's lock guards its table, the containers in it and all their
 * cells, and its tombstones. Lock order: shard lock, then
 * lockset/report/depot locks. */
static struct shard {
    pthread_mutex_t lock;
    cw_hashtable table; /* container address -> container* */
    uint64_t tick;      /* counts stored records: cells' age */
    uint64_t rng;       /* picks eviction candidates */
    tombstone *tombs;   /* TOMBSTONES of them, made on the first removal */
    uint32_t ntombs;    /* removals noted; tombs[ntombs % TOMBSTONES] is next */
} shards[SHARDS];
static uint32_t history_size = 12;
static size_t watched_now; /* atomic: containers watched (a cheap "any?") */
static size_t memory_limit; /* bytes of shadow state; 0: no bound */

/* Bumped by every change that could change what a single-key read finds:
 * a region stored, a check site added, a record or location forgotten, a
 * container watched or unwatched. A thread's access memos are good while the
 * epoch, its view and its lockset stand still (atomic). */
uint64_t cw_shadow_epoch; /* shadow.h reads it for stamps */

static uint64_t memo_hits; /* atomic */

static void bump_epoch(void) { __atomic_add_fetch(&cw_shadow_epoch, 1, __ATOMIC_RELEASE); }

uint64_t cw_shadow_memo_hits(void) { return __atomic_load_n(&memo_hits, __ATOMIC_RELAXED); }
static int initialised; /* atomic */

static struct shard *shard_of(uintptr_t addr)
{
    return &shards[cw_hash_word(addr) % SHARDS];
}

int cw_shadow_init(uint32_t history, size_t max_bytes)
{
    memory_limit = max_bytes;
    if (history < 2)
        history = 2;
    if (history > CW_HISTORY_MAX)
        history = CW_HISTORY_MAX;
    history_size = history;
    if (__atomic_load_n(&initialised, __ATOMIC_ACQUIRE))
        return 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&shards[i].lock, NULL);
        if (cw_ht_init(&shards[i].table, 16, NULL, NULL, CW_MEM_SHADOW) < 0)
            return -1;
        shards[i].rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
    }
    __atomic_store_n(&initialised, 1, __ATOMIC_RELEASE);
    return 0;
}

static void cell_init(cell *k)
{
    k->recs = &k->first;
    k->cap = 1;
}

static void cell_free(cell *k)
{
    if (k->recs != &k->first)
        cw_free(k->recs);
    cw_free(k);
}

static void free_container(container *c)
{
    size_t pos = 0;
    void *v;
    while (cw_ht_next(&c->cells, &pos, NULL, &v))
        cell_free(v);
    if (c->structure.recs != &c->structure.first)
        cw_free(c->structure.recs);
    cw_ht_fini(&c->cells);
    cw_free(c->check_sites);
    cw_free(c);
}

void cw_shadow_fini(void)
{
    if (!__atomic_load_n(&initialised, __ATOMIC_ACQUIRE))
        return;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&shards[i].lock);
        size_t pos = 0;
        void *v;
        while (cw_ht_next(&shards[i].table, &pos, NULL, &v))
            free_container(v);
        cw_ht_fini(&shards[i].table);
        cw_free(shards[i].tombs);
        shards[i].tombs = NULL;
        shards[i].ntombs = 0;
        pthread_mutex_unlock(&shards[i].lock);
        pthread_mutex_destroy(&shards[i].lock);
    }
    __atomic_store_n(&watched_now, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&initialised, 0, __ATOMIC_RELEASE);
}

static int watch_as(uintptr_t addr, const char *target, uint8_t binding);

int cw_shadow_watch(uintptr_t addr, const char *target)
{
    return watch_as(addr, target, 0);
}

int cw_shadow_watch_binding(uintptr_t addr, const char *target)
{
    return watch_as(addr, target, 1);
}

int cw_shadow_watch_attribute(uintptr_t addr, const char *target)
{
    return watch_as(addr, target, 2);
}

static int watch_as(uintptr_t addr, const char *target, uint8_t binding)
{
    cw_str_id name = cw_str_intern(target);
    struct shard *sh = shard_of(addr);
    int rc = CW_OK;
    pthread_mutex_lock(&sh->lock);
    container *c = cw_ht_get(&sh->table, addr);
    if (c != NULL) {
        c->target = name; /* re-watching renames */
        c->binding = binding;
        goto out;
    }
    c = cw_calloc(CW_MEM_SHADOW, 1, sizeof(*c));
    if (c == NULL || cw_ht_init(&c->cells, 16, NULL, NULL, CW_MEM_SHADOW) < 0) {
        cw_free(c);
        rc = CW_ERR_NOMEM;
        goto out;
    }
    c->addr = addr;
    c->target = name;
    c->binding = binding;
    cell_init(&c->structure);
    bump_epoch();
    if (cw_ht_put(&sh->table, addr, c) < 0) {
        free_container(c);
        rc = CW_ERR_NOMEM;
    } else {
        __atomic_add_fetch(&watched_now, 1, __ATOMIC_RELAXED);
    }
out:
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

void cw_shadow_describe(uintptr_t addr, const char *what)
{
    cw_str_id id = what ? cw_str_intern(what) : 0;
    struct shard *sh = shard_of(addr);
    pthread_mutex_lock(&sh->lock);
    container *c = cw_ht_get(&sh->table, addr);
    if (c != NULL)
        c->what = id;
    pthread_mutex_unlock(&sh->lock);
}

void cw_shadow_unwatch(uintptr_t addr)
{
    struct shard *sh = shard_of(addr);
    pthread_mutex_lock(&sh->lock);
    container *c = cw_ht_remove(&sh->table, addr);
    tombstone *tombs = NULL;
    if (cw_ht_size(&sh->table) == 0) { /* nothing left to have removed keys */
        tombs = sh->tombs;
        sh->tombs = NULL;
        sh->ntombs = 0;
    }
    pthread_mutex_unlock(&sh->lock);
    cw_free(tombs);
    if (c) {
        __atomic_sub_fetch(&watched_now, 1, __ATOMIC_RELAXED);
        bump_epoch();
        free_container(c);
    }
}

bool cw_shadow_is_watched(uintptr_t addr)
{
    struct shard *sh = shard_of(addr);
    pthread_mutex_lock(&sh->lock);
    bool yes = cw_ht_get(&sh->table, addr) != NULL;
    pthread_mutex_unlock(&sh->lock);
    return yes;
}

void cw_shadow_forget_history(void)
{
    bump_epoch();
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&shards[i].lock, NULL); /* re-made: the fork may have cut it held */
        size_t pos = 0;
        void *v;
        while (cw_ht_next(&shards[i].table, &pos, NULL, &v)) {
            container *c = v;
            size_t cpos = 0;
            uintptr_t key;
            void *cv;
            while (cw_ht_next(&c->cells, &cpos, &key, &cv)) {
                cw_ht_remove(&c->cells, key);
                cell_free(cv);
            }
            c->structure.nrecs = 0;
            c->replaced = false;
            c->ncheck = 0;
        }
    }
}

bool cw_shadow_has_cell(uintptr_t addr, int64_t key_hash)
{
    struct shard *sh = shard_of(addr);
    pthread_mutex_lock(&sh->lock);
    container *c = cw_ht_get(&sh->table, addr);
    bool yes = c != NULL && cw_ht_get(&c->cells, (uintptr_t)key_hash) != NULL;
    pthread_mutex_unlock(&sh->lock);
    return yes;
}

size_t cw_shadow_keys_in(uintptr_t addr, int64_t lo, int64_t hi, int64_t *out, size_t max)
{
    struct shard *sh = shard_of(addr);
    size_t n = 0;
    pthread_mutex_lock(&sh->lock);
    container *c = cw_ht_get(&sh->table, addr);
    if (c != NULL) {
        size_t pos = 0;
        uintptr_t key;
        while (cw_ht_next(&c->cells, &pos, &key, NULL)) {
            int64_t k = (int64_t)key;
            if (k < lo || k >= hi)
                continue;
            if (n < max)
                out[n] = k;
            n++;
        }
    }
    pthread_mutex_unlock(&sh->lock);
    return n;
}

void cw_shadow_mark(uintptr_t addr, uint32_t bits)
{
    struct shard *sh = shard_of(addr);
    pthread_mutex_lock(&sh->lock);
    container *c = cw_ht_get(&sh->table, addr);
    if (c != NULL)
        c->marks |= bits;
    pthread_mutex_unlock(&sh->lock);
}

uint32_t cw_shadow_marks(uintptr_t addr)
{
    struct shard *sh = shard_of(addr);
    pthread_mutex_lock(&sh->lock);
    container *c = cw_ht_get(&sh->table, addr);
    uint32_t bits = c != NULL ? c->marks : 0;
    pthread_mutex_unlock(&sh->lock);
    return bits;
}

bool cw_shadow_any_watched(void)
{
    return __atomic_load_n(&watched_now, __ATOMIC_RELAXED) != 0;
}

size_t cw_shadow_watched_count(void)
{
    size_t n = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&shards[i].lock);
        n += cw_ht_size(&shards[i].table);
        pthread_mutex_unlock(&shards[i].lock);
    }
    return n;
}

size_t cw_shadow_location_count(void)
{
    size_t n = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&shards[i].lock);
        size_t pos = 0;
        void *v;
        while (cw_ht_next(&shards[i].table, &pos, NULL, &v))
            n += cw_ht_size(&((container *)v)->cells) + 1;
        pthread_mutex_unlock(&shards[i].lock);
    }
    return n;
}

static bool over_budget(void)
{
    return memory_limit != 0 && cw_mem_bytes(CW_MEM_SHADOW) > memory_limit;
}

/* Forget the least recently used of a few cells picked at random (sampled
 * LRU): a forgotten key can only hide a race, never invent one. */
static void evict_one_unlocked(struct shard *sh, container *c, int64_t keep)
{
    cell *victim = NULL;
    uintptr_t victim_key = 0;
    for (int tries = 0; tries < 5; tries++) {
        uint64_t x = sh->rng; /* xorshift64 */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sh->rng = x;
        uintptr_t key;
        void *v;
        if (!cw_ht_sample(&c->cells, x, &key, &v))
            return;
        cell *k = v;
        if ((int64_t)key != keep && (victim == NULL || k->last_use < victim->last_use)) {
            victim = k;
            victim_key = key;
        }
    }
    if (victim != NULL) {
        cw_ht_remove(&c->cells, victim_key);
        cell_free(victim);
        bump_epoch();
    }
}

/* Forget a removed key's history if it is still removed. */
static void forget_tombstone_unlocked(struct shard *sh, tombstone ts)
{
    container *c = cw_ht_get(&sh->table, ts.container);
    cell *k = c ? cw_ht_get(&c->cells, (uintptr_t)ts.key) : NULL;
    if (k == NULL || !k->deleted)
        return; /* forgotten already, or the key is back */
    cw_ht_remove(&c->cells, (uintptr_t)ts.key);
    cell_free(k);
    /* No epoch bump: a memo for this key can only skip storing a record
     * the key no longer has, which may hide a race but never invents one. */
}

/* The key's last write removed it: note its cell as a tombstone, and forget
 * the oldest one past TOMBSTONES. */
static void note_removed_unlocked(struct shard *sh, container *c, int64_t key, cell *k)
{
    k->deleted = true;
    if (sh->tombs == NULL &&
        (sh->tombs = cw_calloc(CW_MEM_SHADOW, TOMBSTONES, sizeof(tombstone))) == NULL)
        return; /* kept: only memory is lost */
    tombstone *slot = &sh->tombs[sh->ntombs % TOMBSTONES];
    if (sh->ntombs >= TOMBSTONES)
        forget_tombstone_unlocked(sh, *slot);
    *slot = (tombstone){c->addr, key};
    sh->ntombs++;
}

static bool removes_key(cw_op op)
{
    return op == CW_OP_DELITEM || op == CW_OP_POP || op == CW_OP_POPITEM ||
           op == CW_OP_REMOVE || op == CW_OP_DISCARD;
}

static cell *cell_of_unlocked(struct shard *sh, container *c, int64_t key_hash)
{
    cell *k = cw_ht_get(&c->cells, (uintptr_t)key_hash);
    if (k != NULL)
        return k;
    if (over_budget())
        evict_one_unlocked(sh, c, key_hash);
    k = cw_calloc(CW_MEM_SHADOW, 1, sizeof(*k));
    if (k == NULL)
        return NULL;
    cell_init(k);
    if (cw_ht_put(&c->cells, (uintptr_t)key_hash, k) < 0) {
        cw_free(k);
        return NULL;
    }
    return k;
}

static bool is_check_site_unlocked(const container *c, cw_site site)
{
    for (uint32_t i = 0; i < c->ncheck; i++)
        if (cw_site_eq(c->check_sites[i], site))
            return true;
    return false;
}

static int add_check_site_unlocked(container *c, cw_site site)
{
    if (cw_site_is_null(site) || is_check_site_unlocked(c, site))
        return CW_OK;
    if (c->ncheck == c->capcheck) {
        uint32_t cap = c->capcheck ? c->capcheck * 2 : 8;
        cw_site *s = cw_realloc(CW_MEM_SHADOW, c->check_sites, cap * sizeof(cw_site));
        if (s == NULL)
            return CW_ERR_NOMEM;
        c->check_sites = s;
        c->capcheck = cap;
    }
    c->check_sites[c->ncheck++] = site;
    bump_epoch();
    return CW_OK;
}

/* x happened before the point where a thread's clock was vc. */
static bool hb(cw_tid tid, cw_clock clock, const cw_vc *vc)
{
    return clock <= cw_vc_get(vc, tid);
}

/* Find a record this access would only repeat: same thread, kind, site,
 * locks and epoch. */
static rec *find_own_unlocked(cell *k, rec_kind kind, cw_tid tid, cw_site site,
                              cw_lockset_id locks)
{
    for (uint32_t i = 0; i < k->nrecs; i++) {
        rec *r = &k->recs[i];
        if (r->kind == kind && r->tid == tid && r->locks == locks &&
            cw_site_eq(r->site, site) && !r->open)
            return r;
    }
    return NULL;
}

/* Room for one more record, up to the history size; not over the budget. */
static void grow_unlocked(cell *k)
{
    if (k->cap >= history_size || over_budget())
        return;
    uint32_t cap = k->cap * 2 < history_size ? k->cap * 2 : history_size;
    rec *recs = cw_malloc(CW_MEM_SHADOW, cap * sizeof(rec));
    if (recs == NULL)
        return; /* keep the records it has: an older one makes room */
    memcpy(recs, k->recs, k->nrecs * sizeof(rec));
    if (k->recs != &k->first)
        cw_free(k->recs);
    k->recs = recs;
    k->cap = cap;
}

/* Slot for a new record, evicting the oldest closed one when full. */
static rec *new_rec_unlocked(cell *k)
{
    if (k->nrecs == k->cap)
        grow_unlocked(k);
    if (k->nrecs < k->cap)
        return &k->recs[k->nrecs++];
    rec *victim = NULL;
    for (uint32_t i = 0; i < k->nrecs; i++) {
        rec *r = &k->recs[i];
        if (r->open)
            continue;
        if (victim == NULL || r->seq < victim->seq)
            victim = r;
    }
    victim = victim ? victim : &k->recs[0];
    if (victim->kind == REC_READ)
        bump_epoch(); /* some thread's read may need storing again */
    return victim;
}

static void store_rec_unlocked(struct shard *sh, cell *k, const rec *tmpl, rec *existing)
{
    rec *r = existing ? existing : new_rec_unlocked(k);
    *r = *tmpl;
    r->seq = ++k->next_seq;
    /* Read without the lock by write memos. */
    __atomic_store_n(&sh->tick, sh->tick + 1, __ATOMIC_RELEASE);
    k->last_use = sh->tick;
    if (tmpl->kind == REC_REGION)
        bump_epoch();
}

/* A report under construction: filled under the shard lock, added after. */
typedef struct candidate {
    cw_report_kind kind;
    cw_location_kind loc;
    int64_t key;
    cw_report_access cur, prev;
} candidate;

typedef struct batch {
    candidate c[CW_MAX_NEW_REPORTS];
    uint32_t n;
    int64_t key; /* the location reports added now are about */
    cw_tid tids[CW_MAX_NEW_REPORTS]; /* one report per other thread */
} batch;

static bool batch_has_tid(const batch *b, cw_tid tid)
{
    for (uint32_t i = 0; i < b->n; i++)
        if (b->tids[i] == tid)
            return true;
    return false;
}

static void batch_add(batch *b, cw_report_kind kind, cw_location_kind loc, cw_tid other,
                      const cw_report_access *cur, const cw_report_access *prev)
{
    if (b->n == CW_MAX_NEW_REPORTS || batch_has_tid(b, other))
        return;
    b->tids[b->n] = other;
    b->c[b->n++] = (candidate){kind, loc, b->key, *cur, *prev};
}

/* The calling thread's access now, as a report shows it. */
static cw_report_access side_of_thread(const cw_thread *t, cw_op op, bool write,
                                       cw_lockset_id L, cw_stack_id stack)
{
    return (cw_report_access){.tid = t->number, .op = op, .write = write, .locks = L,
                              .stack = stack, .events = t->nevents, .clock = cw_thread_now(t)};
}

static cw_report_access side_of_rec(const rec *r)
{
    cw_report_access s = {0};
    s.tid = cw_thread_number_at(r->tid, r->clock);
    s.op = (cw_op)r->op;
    s.write = r->kind == REC_WRITE || r->kind == REC_REGION || r->kind == REC_STRUCT_WRITE ||
              r->kind == REC_REPLACE;
    s.locks = r->locks;
    s.stack = r->stack;
    s.events = r->events;
    s.events_low = true;
    s.clock = r->clock;
    if (r->kind == REC_REGION) {
        s.check_stack = r->check_stack;
        s.check_site = r->site;
        s.check_op = (cw_op)r->check_op;
    }
    return s;
}

static void publish_batch(const batch *b, const container *c, uint32_t *out, uint32_t *nout)
{
    for (uint32_t i = 0; i < b->n; i++) {
        const candidate *cd = &b->c[i];
        cw_report r = {0};
        r.kind = cd->kind;
        r.target = c->target;
        r.detail = c->what;
        r.container = c->addr;
        r.location = c->binding == 2 ? CW_LOC_ATTRIBUTE : c->binding ? CW_LOC_BINDING : cd->loc;
        r.has_key = r.location == CW_LOC_KEY;
        r.key_hash = cd->key;
        r.cur = cd->cur;
        r.prev = cd->prev;
        cw_thread_name(r.cur.tid, r.cur.thread_name, sizeof(r.cur.thread_name));
        cw_thread_name(r.prev.tid, r.prev.thread_name, sizeof(r.prev.thread_name));
        uint32_t id = cw_report_add(&r);
        if (id != 0 && *nout < CW_MAX_NEW_REPORTS)
            out[(*nout)++] = id;
    }
}

/* A key report against record r (its side made only when reported: most
 * records checked are not). */
static void add_rec(batch *b, cw_report_kind kind, const rec *r, const cw_report_access *cur)
{
    cw_report_access prev = side_of_rec(r);
    batch_add(b, kind, CW_LOC_KEY, r->tid, cur, &prev);
}

/* Structure checks for an insertion or deletion by t. */
static void check_structure_unlocked(container *c, cw_thread *t, const cw_access *a,
                                     cw_lockset_id L, batch *b)
{
    cell *s = &c->structure;
    for (uint32_t i = 0; i < s->nrecs; i++) {
        const rec *r = &s->recs[i];
        if (r->tid == t->tid || r->kind != REC_ITER)
            continue;
        bool unordered = r->open || !hb(r->tid, r->end_clock, t->vc);
        if (unordered && cw_lockset_disjoint(r->locks, L)) {
            cw_report_access cur = side_of_thread(t, a->op, true, L, a->stack);
            cw_report_access prev = side_of_rec(r);
            batch_add(b, CW_REPORT_ITERATION, CW_LOC_STRUCTURE, r->tid, &cur, &prev);
        }
    }
}

/* A write into a container whose name another thread rebound, unordered
 * with the rebinding and with no common lock: the write went into a
 * container nobody reads again (or was dropped by the reset). */
static void check_replaced_unlocked(container *c, cw_thread *t, const cw_report_access *cur,
                                    cw_lockset_id L, batch *b)
{
    cell *s = &c->structure;
    for (uint32_t i = 0; i < s->nrecs; i++) {
        const rec *r = &s->recs[i];
        if (r->tid == t->tid || r->kind != REC_REPLACE)
            continue;
        if (!hb(r->tid, r->clock, t->vc) && cw_lockset_disjoint(r->locks, L)) {
            cw_report_access prev = side_of_rec(r);
            batch_add(b, CW_REPORT_LOST_UPDATE, CW_LOC_KEY, r->tid, cur, &prev);
        }
    }
}

/* A write of index a->key_hash against the ranged writes of other threads
 * that cover it (a deletion before it shifted it, a slice store wrote it).
 * Ranged writes are commuting writes: a region acting on a check they may
 * have raced is a check-then-act, a plain index write a write-write. */
static void check_ranges_covering_unlocked(container *c, cw_thread *t, const cw_access *a,
                                           bool region, const cw_vc *snap, cw_lockset_id H,
                                           cw_lockset_id L, const cw_report_access *cur, batch *b)
{
    const cell *rk = cw_ht_get(&c->cells, (uintptr_t)CW_RANGE_KEY);
    for (uint32_t i = 0; rk != NULL && i < rk->nrecs; i++) {
        const rec *r = &rk->recs[i];
        if (r->tid == t->tid || r->kind != REC_WRITE || a->key_hash < r->range.lo ||
            a->key_hash >= r->range.hi)
            continue;
        if (region) {
            if (!hb(r->tid, r->clock, snap) && cw_lockset_disjoint(r->locks, H))
                add_rec(b, CW_REPORT_CHECK_THEN_ACT, r, cur);
        } else if (!a->commutes && !hb(r->tid, r->clock, t->vc) && cw_lockset_disjoint(r->locks, L)) {
            add_rec(b, CW_REPORT_WRITE_WRITE, r, cur);
        }
    }
}

/* A ranged write against the index locations it covers that have a
 * history: other threads' regions there (it may have fallen between their
 * check and write) and their index writes. Reports name the index. */
static void check_range_write_unlocked(container *c, cw_thread *t, const cw_access *a,
                                       cw_lockset_id L, const cw_report_access *cur, batch *b)
{
    size_t pos = 0;
    uintptr_t key;
    void *v;
    while (cw_ht_next(&c->cells, &pos, &key, &v)) {
        int64_t at = (int64_t)key;
        if (at < a->range_lo || at >= a->range_hi || at == CW_RANGE_KEY)
            continue;
        const cell *k = v;
        b->key = at;
        for (uint32_t i = 0; i < k->nrecs; i++) {
            const rec *r = &k->recs[i];
            if (r->tid == t->tid || hb(r->tid, r->clock, t->vc) || !cw_lockset_disjoint(r->locks, L))
                continue;
            if (r->kind == REC_REGION)
                add_rec(b, CW_REPORT_CHECK_THEN_ACT, r, cur);
            else if (r->kind == REC_WRITE && !r->commutes)
                add_rec(b, CW_REPORT_WRITE_WRITE, r, cur);
        }
    }
    b->key = a->key_hash;
}

/* This thread's ranged write over the same range and locks, to refresh. */
static rec *find_own_range_unlocked(cell *k, cw_tid tid, int64_t lo, int64_t hi, cw_lockset_id locks)
{
    for (uint32_t i = 0; i < k->nrecs; i++) {
        rec *r = &k->recs[i];
        if (r->kind == REC_WRITE && r->tid == tid && r->locks == locks && r->range.lo == lo &&
            r->range.hi == hi)
            return r;
    }
    return NULL;
}

/* A thread's table of n memo-like entries of size each: made small, made
 * full size once the thread has used it CW_MEMOS_GROW_AFTER times (its
 * entries are only caches: the small table's are dropped). False without
 * memory. */
static bool memo_table(void **table, uint32_t *mask, uint32_t *uses, uint32_t full, size_t size)
{
    if (*table != NULL && (*mask + 1 == full || ++*uses < CW_MEMOS_GROW_AFTER))
        return true;
    uint32_t n = *table == NULL && full > CW_FIRST_MEMOS ? CW_FIRST_MEMOS : full;
    void *fresh = cw_calloc(CW_MEM_THREADS, n, size);
    if (fresh == NULL)
        return *table != NULL;
    cw_free(*table);
    *table = fresh;
    *mask = n - 1;
    *uses = 0;
    return true;
}

/* The memo slot of a single-key access; NULL without memory. */
static cw_access_memo *memo_of(cw_thread *t, const cw_access *a)
{
    if (!memo_table((void **)&t->memos, &t->memo_mask, &t->memo_uses, CW_ACCESS_MEMOS,
                    sizeof(cw_access_memo)))
        return NULL;
    uint64_t h = cw_hash_word(a->container ^ ((uint64_t)a->key_hash * 0x9e3779b97f4a7c15ULL) ^
                              a->site.code ^ (uint64_t)(uint32_t)a->site.offset ^ a->write);
    return &t->memos[h & t->memo_mask];
}

static bool memo_holds(const cw_access_memo *m, const cw_thread *t, const cw_access *a,
                       cw_lockset_id L, uint64_t ep)
{
    return m->container == a->container && m->key_hash == a->key_hash &&
           cw_site_eq(m->site, a->site) && m->write == a->write && m->view == t->view &&
           m->epoch == ep && m->locks == L;
}

/* A write acts on a check made before it in the code. A check further on
 * was made in an earlier pass of a loop and guards what follows it, not this
 * write (`with lock: L.append(x); if len(L) > n: del L[:k]` in a loop). */
static bool check_precedes(cw_site check, cw_site write)
{
    return check.code != write.code || check.offset < write.offset;
}

/* One access between its steps: what it is, what the key's history says
 * about it, and what it will store. Filled field by field (zeroing the
 * batch's arrays costs more than the checks). */
typedef struct step {
    cw_thread *t;
    cw_access *a;
    cw_lockset_id L;      /* locks held now */
    bool region;          /* a write acting on a read earlier in the call */
    bool atomic;          /* ... in the same step of a logical thread */
    cw_recent_read rr;    /* that read */
    cw_lockset_id H;      /* locks held since that read, across the region */
    struct shard *sh;
    container *c;
    cell *k;              /* the key's history; empty_cell until it must exist */
    cw_clock now;
    cw_report_access cur; /* this access as a report shows it */
    batch b;
    rec mine;             /* the record to store ... */
    rec *existing;        /* ... over this one of ours, if it only repeats it */
    bool store;
    rec *existing_struct; /* the same for the structure location */
    bool store_struct;
    uint64_t tick;        /* the shard's tick when done */
} step;

static const cell empty_cell;

/* A check answered with nothing to do: what cw_shadow_check_repeats needs
 * to answer it again (view, epoch and locks as a memo holds them). */
static cw_last_check *last_check_of(const cw_thread *t, uintptr_t container, int64_t key_hash)
{
    uint64_t h = cw_hash_word(container ^ ((uint64_t)key_hash * 0x9e3779b97f4a7c15ULL));
    return &t->last_checks[h & t->last_check_mask];
}

static void remember_check(cw_thread *t, const cw_access *a, cw_lockset_id L, uint64_t ep)
{
    if (a->frame == 0 || a->lasti < 0)
        return;
    if (!memo_table((void **)&t->last_checks, &t->last_check_mask, &t->last_check_uses,
                    CW_LAST_CHECKS, sizeof(cw_last_check)))
        return;
    *last_check_of(t, a->container, a->key_hash) = (cw_last_check){
        a->container, a->key_hash, a->frame, a->lasti, t->view, ep, t->recent_gen, L, a->marks};
}

bool cw_shadow_check_repeats(cw_thread *t, uintptr_t container, int64_t key_hash,
                             uintptr_t frame, int lasti, uint32_t *marks)
{
    if (t->last_checks == NULL)
        return false;
    const cw_last_check *c = last_check_of(t, container, key_hash);
    if (c->frame != frame || c->lasti != lasti || c->container != container ||
        c->key_hash != key_hash || c->view != t->view || c->recent_gen != t->recent_gen ||
        frame == 0 || c->epoch != __atomic_load_n(&cw_shadow_epoch, __ATOMIC_ACQUIRE))
        return false;
    int err = 0;
    if (cw_sync_thread_lockset(t, &err) != c->locks || err)
        return false;
    __atomic_add_fetch(&memo_hits, 1, __ATOMIC_RELAXED);
    *marks = c->marks;
    return true;
}

/* Step 1, without the lock: an access this thread made before, with nothing
 * changed since that could change what it finds, is answered by its memo.
 * A read needs only its pending check noted again (not even that in the
 * same call with the same pending reads); a write needs the same call, the
 * same pending reads (it acts on none) and nothing stored in its shard
 * since (no other thread's record to conflict with). */
static bool answered_by_memo(cw_thread *t, cw_access *a, cw_lockset_id L, cw_access_memo **memo,
                             uint64_t *ep)
{
    *memo = NULL;
    if (a->check == a->write || a->structural || a->ranged)
        return false;
    *ep = __atomic_load_n(&cw_shadow_epoch, __ATOMIC_ACQUIRE);
    cw_access_memo *m = *memo = memo_of(t, a);
    if (m == NULL || !memo_holds(m, t, a, L, *ep))
        return false;
    bool same_reads = m->frame == a->frame && m->recent_gen == t->recent_gen;
    if (a->write && (!same_reads || m->tick != __atomic_load_n(&shard_of(a->container)->tick,
                                                                __ATOMIC_ACQUIRE)))
        return false;
    __atomic_add_fetch(&memo_hits, 1, __ATOMIC_RELAXED);
    a->marks = m->marks;
    a->stable = !(a->check && a->frame && !same_reads);
    a->tick = m->tick;
    if (!a->stable) {
        cw_thread_note_read(t, a->frame, a->container, a->key_hash, a->site, a->op);
        m->frame = a->frame;
        m->recent_gen = t->recent_gen;
    }
    else if (a->check)
        remember_check(t, a, L, *ep); /* stable: its pending read stays as it is */
    return true;
}

/* Step 2, without the lock: a write in the same call as an earlier read of
 * the key acts on it (a region), with the locks held since. */
static int find_region(step *s)
{
    cw_access *a = s->a;
    cw_thread *t = s->t;
    int err = 0;
    memset(&s->rr, 0, sizeof(s->rr));
    s->region = s->atomic = false;
    s->H = 0;
    if (a->write && a->frame && t->nrecent) {
        bool read = cw_thread_peek_read(t, a->frame, a->container, a->key_hash, &s->rr);
        /* Read and written by one instruction (Counter.update's C loop, a
         * subclass's method in C): an atomic read-modify-write, which
         * commutes with others like it. */
        if (read && cw_site_eq(s->rr.site, a->site))
            a->commutes = true;
        s->region = read && check_precedes(s->rr.site, a->site);
        /* A logical thread that did not suspend between its check and this
         * write did both in one step no other logical thread of its OS
         * thread can cut: an atomic read-modify-write, as above. */
        if (s->region && t->cooperative && s->rr.suspends == t->suspends) {
            s->region = false;
            s->atomic = true;
            a->commutes = true;
        }
        if (s->region && t->nheld)
            s->H = cw_sync_held_since(t, s->rr.serial, &err);
    }
    return err;
}

/* Step 3a: a check against other threads' regions at a check site, and the
 * read record it leaves. */
static void check_read_unlocked(step *s)
{
    cw_access *a = s->a;
    cw_thread *t = s->t;
    if (is_check_site_unlocked(s->c, a->site)) {
        for (uint32_t i = 0; i < s->k->nrecs; i++) {
            const rec *r = &s->k->recs[i];
            if (r->tid == t->tid || r->kind != REC_REGION)
                continue;
            if (!hb(r->tid, r->clock, t->vc) && cw_lockset_disjoint(r->locks, s->L)) {
                cw_report_access prev = side_of_rec(r);
                batch_add(&s->b, CW_REPORT_CHECK_THEN_ACT, CW_LOC_KEY, r->tid, &s->cur, &prev);
            }
        }
    }
    s->existing = find_own_unlocked(s->k, REC_READ, t->tid, a->site, s->L);
    s->mine = (rec){.kind = REC_READ, .op = a->op, .events = (uint16_t)t->nevents,
                    .tid = t->tid, .clock = s->now,
                    .locks = s->L, .stack = a->stack, .site = a->site};
}

/* Step 3b: a write against the key's history. Passes in order of how
 * telling a report is, one report per other thread: its check-then-act
 * regions, then its checks and writes against our region, then plain
 * conflicting writes. */
static void check_write_against_history_unlocked(step *s)
{
    const cw_access *a = s->a;
    const cw_thread *t = s->t;
    for (int pass = 0; pass < 3; pass++) {
        for (uint32_t i = 0; i < s->k->nrecs; i++) {
            const rec *r = &s->k->recs[i];
            if (r->tid == t->tid)
                continue;
            switch ((rec_kind)r->kind) {
            case REC_REGION:
                /* Our write may have fallen between its check and its write. */
                if (pass == 0 && !hb(r->tid, r->clock, t->vc) && cw_lockset_disjoint(r->locks, s->L))
                    add_rec(&s->b, CW_REPORT_CHECK_THEN_ACT, r, &s->cur);
                break;
            case REC_READ:
                /* Another thread checked the key concurrently: it would act
                 * on what it saw as we did. */
                if (pass == 1 && s->region && is_check_site_unlocked(s->c, r->site) &&
                    !hb(r->tid, r->clock, s->rr.snap) && cw_lockset_disjoint(r->locks, s->H))
                    add_rec(&s->b, CW_REPORT_CHECK_THEN_ACT, r, &s->cur);
                break;
            case REC_WRITE:
                if (s->region) {
                    if (pass == 1 && !hb(r->tid, r->clock, s->rr.snap) &&
                        cw_lockset_disjoint(r->locks, s->H))
                        add_rec(&s->b, CW_REPORT_CHECK_THEN_ACT, r, &s->cur);
                } else if (pass == 2 && !(r->commutes && a->commutes) &&
                           !hb(r->tid, r->clock, t->vc) && cw_lockset_disjoint(r->locks, s->L)) {
                    add_rec(&s->b, CW_REPORT_WRITE_WRITE, r, &s->cur);
                }
                break;
            case REC_STRUCT_WRITE:
            case REC_ITER:
            case REC_REPLACE:
                break;
            }
        }
    }
}

/* The record a write leaves: a region, a ranged write or a plain write. */
static void plan_write_record(step *s)
{
    const cw_access *a = s->a;
    cw_tid tid = s->t->tid;
    uint16_t events = (uint16_t)s->t->nevents;
    if (s->region) {
        s->existing = find_own_unlocked(s->k, REC_REGION, tid, s->rr.site, s->H);
        s->mine = (rec){.kind = REC_REGION, .op = a->op, .check_op = s->rr.op, .tid = tid,
                        .events = events, .clock = s->now, .locks = s->H, .stack = a->stack,
                        .check_stack = a->check_stack, .site = s->rr.site};
    } else if (a->ranged) {
        s->existing = find_own_range_unlocked(s->k, tid, a->range_lo, a->range_hi, s->L);
        s->mine = (rec){.kind = REC_WRITE, .op = a->op, .commutes = true, .tid = tid,
                        .events = events, .clock = s->now, .locks = s->L, .stack = a->stack};
        s->mine.range.lo = a->range_lo;
        s->mine.range.hi = a->range_hi;
    } else {
        s->existing = find_own_unlocked(s->k, REC_WRITE, tid, (cw_site){0, 0}, s->L);
        if (s->existing != NULL && s->existing->commutes != a->commutes)
            s->existing = NULL; /* keep a non-commuting write apart */
        s->mine = (rec){.kind = REC_WRITE, .op = a->op, .commutes = a->commutes, .tid = tid,
                        .events = events,
                        .clock = s->now, .locks = s->L, .stack = a->stack};
    }
}

/* Step 3b: a write, checked against the key and the ranges that cover it or
 * it covers. */
static int check_write_unlocked(step *s)
{
    cw_access *a = s->a;
    if (s->region && add_check_site_unlocked(s->c, s->rr.site) < 0)
        return CW_ERR_NOMEM;
    if (s->region || s->atomic) { /* named by its check, as the same bug */
        s->cur.check_stack = a->check_stack;
        s->cur.check_site = s->rr.site;
        s->cur.check_op = s->rr.op;
        s->cur.check_events = s->rr.events;
        s->cur.has_check_events = true;
    }
    check_write_against_history_unlocked(s);
    if (a->index)
        check_ranges_covering_unlocked(s->c, s->t, a, s->region, s->rr.snap, s->H, s->L, &s->cur,
                                       &s->b);
    if (a->ranged)
        check_range_write_unlocked(s->c, s->t, a, s->L, &s->cur, &s->b);
    plan_write_record(s);
    return CW_OK;
}

/* Step 3c: an insertion or deletion against loops over the container. */
static void check_structural_unlocked(step *s)
{
    check_structure_unlocked(s->c, s->t, s->a, s->L, &s->b);
    s->existing_struct = find_own_unlocked(&s->c->structure, REC_STRUCT_WRITE, s->t->tid,
                                           (cw_site){0, 0}, s->L);
    s->store_struct = s->existing_struct == NULL || s->existing_struct->clock != s->now;
}

/* Step 4: store the records and reports, or ask for the stacks they need
 * (CW_NEED_STACK, having changed nothing). */
static int commit_unlocked(step *s)
{
    cw_access *a = s->a;
    bool need = s->b.n > 0 || s->store || s->store_struct;
    if (need && a->stack == 0)
        return CW_NEED_STACK;
    bool named_by_check = s->region || (s->atomic && s->b.n > 0);
    if (need && named_by_check && a->check_stack == 0) {
        a->need_check_stack = true;
        a->check_site = s->rr.site;
        return CW_NEED_STACK;
    }
    /* Stacks were zero while checking; fill them in. */
    for (uint32_t i = 0; i < s->b.n; i++) {
        s->b.c[i].cur.stack = a->stack;
        if (named_by_check)
            s->b.c[i].cur.check_stack = a->check_stack;
    }
    s->mine.stack = a->stack;
    if (s->region)
        s->mine.check_stack = a->check_stack;
    if (s->store) {
        if (s->k == &empty_cell && (s->k = cell_of_unlocked(s->sh, s->c, a->key_hash)) == NULL)
            return CW_ERR_NOMEM;
        store_rec_unlocked(s->sh, s->k, &s->mine, s->existing);
    }
    if (a->write && s->k != NULL && s->k != &empty_cell && !a->ranged) {
        bool removed = a->structural && removes_key(a->op);
        if (removed && !s->k->deleted)
            note_removed_unlocked(s->sh, s->c, a->key_hash, s->k);
        else if (!removed)
            s->k->deleted = false; /* written again: live */
    }
    if (s->store_struct) {
        rec sw = {.kind = REC_STRUCT_WRITE, .op = a->op, .events = (uint16_t)s->t->nevents,
                  .tid = s->t->tid, .clock = s->now,
                  .locks = s->L, .stack = a->stack};
        store_rec_unlocked(s->sh, &s->c->structure, &sw, s->existing_struct);
    }
    publish_batch(&s->b, s->c, a->reports, &a->nreports);
    return CW_OK;
}

/* Steps 3 and 4 under the container's shard lock. */
static int check_and_commit(step *s)
{
    cw_access *a = s->a;
    s->sh = shard_of(a->container);
    pthread_mutex_lock(&s->sh->lock);
    int rc = CW_OK;
    s->c = cw_ht_get(&s->sh->table, a->container);
    if (s->c == NULL)
        goto out; /* unwatched meanwhile */
    if ((s->c->marks | a->mark) != s->c->marks) {
        s->c->marks |= a->mark;
        bump_epoch(); /* memos hold the marks */
    }
    a->marks = s->c->marks;
    /* Check against the key's history without creating it: asking for a
     * stack must leave no trace. An empty history stands in meanwhile. */
    s->k = NULL;
    if (a->check || a->write) {
        s->k = cw_ht_get(&s->c->cells, (uintptr_t)a->key_hash);
        if (s->k == NULL)
            s->k = (cell *)&empty_cell; /* read only until commit_unlocked */
    }
    s->b.n = 0;
    s->b.key = a->key_hash;
    s->now = cw_thread_now(s->t);
    s->existing = s->existing_struct = NULL;
    s->store = s->store_struct = false;
    s->cur = side_of_thread(s->t, a->op, a->write, s->L, a->stack);
    if (a->check) {
        check_read_unlocked(s);
    } else if (a->write && (rc = check_write_unlocked(s)) != CW_OK) {
        goto out;
    }
    if (a->check || a->write)
        s->store = s->existing == NULL || s->existing->clock != s->now;
    if (a->write && s->c->replaced)
        check_replaced_unlocked(s->c, s->t, &s->cur, s->L, &s->b);
    if (a->structural)
        check_structural_unlocked(s);
    rc = commit_unlocked(s);
    s->tick = s->sh->tick;
out:
    pthread_mutex_unlock(&s->sh->lock);
    return rc;
}

/* Steps 2 to 5, apart from the memo's fast path so that it stays small. */
static int access_history(cw_thread *t, cw_access *a, cw_lockset_id L,
                          cw_access_memo *memo, uint64_t ep)
{
    step s;
    s.t = t;
    s.a = a;
    s.L = L;
    int err = cw_thread_take_epoch(t);
    if (err != 0)
        return err;
    t->last_recorded = cw_thread_now(t);
    err = find_region(&s);
    if (err != 0)
        return err;
    s.c = NULL;
    int rc = check_and_commit(&s);
    if (rc != CW_OK || s.c == NULL)
        return rc;
    /* Step 5, after the lock: remember what this thread read and acted on. */
    if (a->check && a->frame)
        cw_thread_note_read(t, a->frame, a->container, a->key_hash, a->site, a->op);
    if (s.region || s.atomic) {
        cw_recent_read taken;
        if (cw_thread_take_read(t, a->frame, a->container, a->key_hash, &taken))
            cw_vc_unref(taken.snap);
    }
    if (memo != NULL && s.b.n == 0 && !s.region && !s.atomic) {
        *memo = (cw_access_memo){a->container, a->key_hash, a->site, a->write, t->view, ep,
                                 L, a->marks, a->frame, t->recent_gen, s.tick};
        a->stable = true;
        a->tick = s.tick;
        if (a->check)
            remember_check(t, a, L, ep);
    }
    return CW_OK;
}

void cw_shadow_stamp(cw_thread *t, const cw_access *a, cw_repeat_stamp *out)
{
    int err = 0;
    cw_lockset_id L = cw_sync_thread_lockset(t, &err);
    *out = (cw_repeat_stamp){t->view, __atomic_load_n(&cw_shadow_epoch, __ATOMIC_ACQUIRE), t->recent_gen,
                             a->tick, a->write ? &shard_of(a->container)->tick : NULL,
                             err ? CW_LOCKSET_UNKNOWN : L, a->write};
}

int cw_shadow_access(cw_thread *t, cw_access *a)
{
    int err = 0;
    a->nreports = 0;
    a->need_check_stack = false;
    a->stable = false;
    cw_lockset_id L = cw_sync_thread_lockset(t, &err);
    if (err)
        return err;
    cw_access_memo *memo;
    uint64_t ep = 0;
    if (answered_by_memo(t, a, L, &memo, &ep))
        return CW_OK;
    return access_history(t, a, L, memo, ep);
}

int cw_shadow_iter_begin(cw_thread *t, uintptr_t addr, cw_stack_id stack,
                         cw_iteration *it)
{
    int err = t != NULL ? cw_thread_take_epoch(t) : CW_OK;
    if (t != NULL)
        t->last_recorded = cw_thread_now(t);
    memset(it, 0, sizeof(*it));
    if (err)
        return err;
    cw_lockset_id L = cw_sync_thread_lockset(t, &err);
    if (err)
        return err;
    struct shard *sh = shard_of(addr);
    pthread_mutex_lock(&sh->lock);
    container *c = cw_ht_get(&sh->table, addr);
    if (c != NULL) {
        cell *s = &c->structure;
        rec r = {.kind = REC_ITER, .op = CW_OP_ITER, .open = true,
                 .events = (uint16_t)t->nevents, .tid = t->tid,
                 .clock = cw_thread_now(t), .locks = L, .stack = stack};
        store_rec_unlocked(sh, s, &r, NULL);
        it->seq = s->next_seq;
        it->container = addr;
        it->tid = t->tid;
        it->start = cw_vc_ref(t->vc);
        it->serial = t->acquire_serial;
        it->open = true;
    }
    pthread_mutex_unlock(&sh->lock);
    return CW_OK;
}

int cw_shadow_iter_end(cw_thread *t, cw_iteration *it, uint32_t *reports,
                       uint32_t *nreports)
{
    int err = t != NULL ? cw_thread_take_epoch(t) : CW_OK;
    if (t != NULL)
        t->last_recorded = cw_thread_now(t);
    *nreports = 0;
    if (!it->open)
        return err;
    it->open = false;
    if (err)
        goto out;
    cw_lockset_id H = 0;
    bool same_thread = t != NULL && t->tid == it->tid;
    if (same_thread && t->nheld && (H = cw_sync_held_since(t, it->serial, &err), err))
        goto out;
    struct shard *sh = shard_of(it->container);
    pthread_mutex_lock(&sh->lock);
    container *c = cw_ht_get(&sh->table, it->container);
    if (c != NULL) {
        cell *s = &c->structure;
        rec *mine = NULL;
        for (uint32_t i = 0; i < s->nrecs; i++)
            if (s->recs[i].kind == REC_ITER && s->recs[i].open && s->recs[i].seq == it->seq &&
                s->recs[i].tid == it->tid)
                mine = &s->recs[i];
        batch b;
        b.n = 0;
        b.key = 0;
        if (mine != NULL) {
            mine->open = false;
            mine->end_clock = same_thread ? cw_thread_now(t) : mine->clock;
            mine->locks = same_thread ? H : 0;
            for (uint32_t i = 0; i < s->nrecs; i++) {
                const rec *r = &s->recs[i];
                if (r->tid == it->tid || r->kind != REC_STRUCT_WRITE)
                    continue;
                if (!hb(r->tid, r->clock, it->start) && cw_lockset_disjoint(r->locks, mine->locks)) {
                    cw_report_access cur = side_of_rec(mine);
                    cw_report_access prev = side_of_rec(r);
                    batch_add(&b, CW_REPORT_ITERATION, CW_LOC_STRUCTURE, r->tid, &cur, &prev);
                }
            }
        }
        publish_batch(&b, c, reports, nreports);
    }
    pthread_mutex_unlock(&sh->lock);
out:
    cw_vc_unref(it->start);
    it->start = NULL;
    return err;
}

int cw_shadow_replaced(cw_thread *t, uintptr_t addr, cw_op op, cw_stack_id stack,
                       uint32_t *reports, uint32_t *nreports)
{
    int err = t != NULL ? cw_thread_take_epoch(t) : CW_OK;
    if (t != NULL)
        t->last_recorded = cw_thread_now(t);
    *nreports = 0;
    if (err)
        return err;
    cw_lockset_id L = cw_sync_thread_lockset(t, &err);
    if (err)
        return err;
    struct shard *sh = shard_of(addr);
    pthread_mutex_lock(&sh->lock);
    container *c = cw_ht_get(&sh->table, addr);
    if (c == NULL) {
        pthread_mutex_unlock(&sh->lock);
        return CW_OK;
    }
    batch b;
    b.n = 0;
    b.key = 0;
    cw_report_access cur = side_of_thread(t, op, true, L, stack);
    /* Writes already made into it by other threads, unordered with the
     * rebinding and sharing no lock with it. */
    size_t pos = 0;
    void *v;
    while (cw_ht_next(&c->cells, &pos, NULL, &v)) {
        const cell *k = v;
        for (uint32_t i = 0; i < k->nrecs; i++) {
            const rec *r = &k->recs[i];
            if (r->tid == t->tid || (r->kind != REC_WRITE && r->kind != REC_REGION))
                continue;
            if (!hb(r->tid, r->clock, t->vc) && cw_lockset_disjoint(r->locks, L)) {
                cw_report_access prev = side_of_rec(r);
                batch_add(&b, CW_REPORT_LOST_UPDATE, CW_LOC_STRUCTURE, r->tid, &cur, &prev);
            }
        }
    }
    rec mine = {.kind = REC_REPLACE, .op = op, .events = (uint16_t)t->nevents, .tid = t->tid,
                .clock = cw_thread_now(t),
                .locks = L, .stack = stack};
    store_rec_unlocked(sh, &c->structure, &mine, NULL);
    c->replaced = true;
    publish_batch(&b, c, reports, nreports);
    pthread_mutex_unlock(&sh->lock);
    return CW_OK;
}
