/* history.c: each thread's ring of its last synchronisation events. */
#include "history.h"

#include <pthread.h>
#include <string.h>

#include "memory.h"

/* A ring: a seqlock, so its owner (the only writer) never waits and a
 * reporter copies it consistently or tries again. Every field is read and
 * written with atomics (a copy may overlap a write; it is then retried).
 * A thread's ring outlives it for a while (CW_HISTORY_RETIRED threads),
 * then goes back to the pool for a newer thread, so rings are never freed
 * while the engine runs (a reporter may hold one): a reporter checks
 * `owner` to know it still has the thread it asked for. */
#define WORDS (sizeof(cw_event) / sizeof(uint64_t))
_Static_assert(sizeof(cw_event) % sizeof(uint64_t) == 0, "an event is whole words");

struct cw_history {
    uint32_t version;  /* odd while the owner writes */
    cw_tid owner;      /* thread number; 0 while in the pool */
    uint32_t count;    /* events noted; ring[count % CW_HISTORY] is next */
    uint64_t ring[CW_HISTORY][WORDS];
    struct cw_history *next_free;  /* pool_lock */
    struct cw_history *next_made;  /* every ring made (teardown), pool_lock */
};

/* The single writer's update: version odd, the change, version even. The
 * release stores keep the change after the odd version for any reader. */
static void begin_write(cw_history *h)
{
    uint32_t v = __atomic_load_n(&h->version, __ATOMIC_RELAXED);
    __atomic_store_n(&h->version, v + 1, __ATOMIC_RELAXED);
}

static void end_write(cw_history *h)
{
    uint32_t v = __atomic_load_n(&h->version, __ATOMIC_RELAXED);
    __atomic_store_n(&h->version, v + 1, __ATOMIC_RELEASE);
}

static uint64_t next_seq = 1; /* atomic */
/* pool_lock guards the pool and the list of every ring made. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static cw_history *pool;
static cw_history *made;
/* Rings of threads that ended, kept for reports about them; the oldest goes
 * back to the pool as another thread ends. */
#define CW_HISTORY_RETIRED 64
static cw_history *retired[CW_HISTORY_RETIRED];
static uint64_t nretired;

static const char *const kind_names[CW_EVENT_KIND_COUNT] = {
    "acquire", "release", "publish", "consume", "start", "begin", "end",
};

const char *cw_event_kind_name(cw_event_kind kind)
{
    return (unsigned)kind < CW_EVENT_KIND_COUNT ? kind_names[kind] : "?";
}

static cw_history *ring_for(cw_thread *t)
{
    cw_history *h = __atomic_load_n(&t->history, __ATOMIC_ACQUIRE);
    if (h != NULL)
        return h;
    pthread_mutex_lock(&pool_lock);
    h = pool;
    if (h != NULL)
        pool = h->next_free;
    pthread_mutex_unlock(&pool_lock);
    if (h == NULL) {
        if ((h = cw_calloc(CW_MEM_HISTORY, 1, sizeof(*h))) == NULL)
            return NULL;
        pthread_mutex_lock(&pool_lock);
        h->next_made = made;
        made = h;
        pthread_mutex_unlock(&pool_lock);
    }
    begin_write(h);
    __atomic_store_n(&h->owner, t->number, __ATOMIC_RELEASE);
    __atomic_store_n(&h->count, 0, __ATOMIC_RELEASE);
    end_write(h);
    __atomic_store_n(&t->history, h, __ATOMIC_RELEASE);
    return h;
}

int cw_history_note(cw_thread *t, cw_event_kind kind, uintptr_t object, cw_lock_id lock,
                    cw_str_id label, cw_site site)
{
    cw_history *h = ring_for(t);
    if (h == NULL)
        return CW_ERR_NOMEM;
    /* Built in place as whole words (its padding zero): they are what a
     * reader copies. */
    union {
        cw_event e;
        uint64_t words[WORDS];
    } u = {.words = {0}};
    u.e.seq = __atomic_fetch_add(&next_seq, 1, __ATOMIC_RELAXED);
    u.e.object = object;
    u.e.lock = lock;
    u.e.site = site;
    u.e.ordinal = t->nevents++;
    u.e.clock = t->vc ? cw_thread_now(t) : 0;
    u.e.label = label;
    u.e.kind = (uint8_t)kind;
    uint32_t count = __atomic_load_n(&h->count, __ATOMIC_RELAXED);
    uint64_t *slot = h->ring[count % CW_HISTORY];
    begin_write(h);
    for (size_t i = 0; i < WORDS; i++)
        __atomic_store_n(&slot[i], u.words[i], __ATOMIC_RELEASE);
    __atomic_store_n(&h->count, count + 1, __ATOMIC_RELEASE);
    end_write(h);
    return CW_OK;
}

uint64_t cw_history_next_seq(void)
{
    return __atomic_load_n(&next_seq, __ATOMIC_RELAXED);
}

uint32_t cw_history_copy(cw_thread *t, cw_event *out)
{
    cw_history *h = t ? __atomic_load_n(&t->history, __ATOMIC_ACQUIRE) : NULL;
    if (h == NULL)
        return 0;
    /* The owner writes a few dozen bytes at a time: a copy that overlapped
     * one is simply made again (and given up after many, never waited on). */
    for (int attempt = 0; attempt < 1000; attempt++) {
        uint32_t before = __atomic_load_n(&h->version, __ATOMIC_ACQUIRE);
        if (before & 1)
            continue;
        uint32_t n = 0;
        cw_tid owner = __atomic_load_n(&h->owner, __ATOMIC_ACQUIRE);
        uint32_t count = __atomic_load_n(&h->count, __ATOMIC_ACQUIRE);
        if (owner == t->number) {
            uint32_t first = count > CW_HISTORY ? count - CW_HISTORY : 0;
            for (uint32_t i = first; i < count; i++, n++) {
                uint64_t words[WORDS];
                for (size_t w = 0; w < WORDS; w++)
                    words[w] = __atomic_load_n(&h->ring[i % CW_HISTORY][w], __ATOMIC_ACQUIRE);
                memcpy(&out[n], words, sizeof(words));
            }
        }
        if (__atomic_load_n(&h->version, __ATOMIC_RELAXED) == before)
            return n;
    }
    return 0;
}

uint32_t cw_history_place(const cw_event *events, uint32_t n, uint32_t low, cw_clock clock)
{
    if (n == 0)
        return low;
    uint32_t count = events[n - 1].ordinal + 1;
    uint32_t at = count - ((count - low) & 0xFFFFu);
    for (uint32_t i = 0; i < n; i++) {
        if (events[i].clock > clock) {
            if (events[i].ordinal < at)
                at = events[i].ordinal;
            break;
        }
    }
    return at;
}

/* A ring to the pool: its owner is no more (the caller holds pool_lock). */
static void recycle_unlocked(cw_history *h)
{
    begin_write(h); /* its owner ended: pool_lock makes this the only writer */
    __atomic_store_n(&h->owner, 0, __ATOMIC_RELEASE);
    end_write(h);
    h->next_free = pool;
    pool = h;
}

void cw_history_retire(cw_thread *t)
{
    cw_history *h = __atomic_load_n(&t->history, __ATOMIC_ACQUIRE);
    if (h == NULL)
        return;
    pthread_mutex_lock(&pool_lock);
    cw_history *oldest = retired[nretired % CW_HISTORY_RETIRED];
    if (nretired >= CW_HISTORY_RETIRED && oldest != NULL)
        recycle_unlocked(oldest);
    retired[nretired++ % CW_HISTORY_RETIRED] = h;
    pthread_mutex_unlock(&pool_lock);
}

void cw_history_after_fork_child(void)
{
    pthread_mutex_init(&pool_lock, NULL); /* whoever held it is gone */
    for (cw_history *h = made; h != NULL; h = h->next_made) /* and any writer */
        __atomic_store_n(&h->version, h->version & ~1u, __ATOMIC_RELAXED);
}

void cw_history_fini(void)
{
    pthread_mutex_lock(&pool_lock);
    while (made != NULL) {
        cw_history *h = made;
        made = h->next_made;
        cw_free(h);
    }
    pool = NULL;
    memset(retired, 0, sizeof(retired));
    nretired = 0;
    pthread_mutex_unlock(&pool_lock);
}
