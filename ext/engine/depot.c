/* depot.c: stack and string interning. */
#include "depot.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hashtable.h"
#include "idvec.h"
#include "memory.h"

typedef struct stack_entry {
    uint64_t hash;
    uint32_t n;
    cw_frame frames[];
} stack_entry;

/* A lookup key: the hashtable compares it with stored entries. */
typedef struct stack_key {
    uint64_t hash;
    uint32_t n;
    const cw_frame *frames;
} stack_key;

/* Protected by depot_lock (writers); readers use the idvecs lock-free. */
static pthread_mutex_t depot_lock = PTHREAD_MUTEX_INITIALIZER;
static cw_hashtable stacks;  /* tagged key -> (uintptr_t)id */
static cw_idvec stack_ids = {.mem = CW_MEM_STACKS}; /* id -> stack_entry* */
static cw_hashtable strings; /* char* -> (uintptr_t)id */
static cw_idvec string_ids = {.mem = CW_MEM_STACKS}; /* id -> char* */
static bool initialised;

static uint64_t frames_hash(const cw_frame *f, uint32_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    for (uint32_t i = 0; i < n; i++) {
        h = cw_hash_word(h ^ (uint64_t)f[i].pc);
        h = cw_hash_word(h ^ (uint64_t)(uint32_t)f[i].offset);
    }
    return h;
}

static bool frames_keys_eq(const cw_frame *a, const cw_frame *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (a[i].pc != b[i].pc || a[i].offset != b[i].offset)
            return false;
    return true;
}

/* Keys in the stacks table are either a stored stack_entry* (low bit 0) or a
 * probe stack_key* (low bit 1). Both start with hash and n. */
static const cw_frame *key_frames(uintptr_t k, uint32_t *n, uint64_t *hash)
{
    if (k & 1) {
        const stack_key *sk = (const stack_key *)(k & ~(uintptr_t)1);
        *n = sk->n;
        *hash = sk->hash;
        return sk->frames;
    }
    const stack_entry *e = (const stack_entry *)k;
    *n = e->n;
    *hash = e->hash;
    return e->frames;
}

static uint64_t stack_hash_cb(uintptr_t k)
{
    uint32_t n;
    uint64_t h;
    key_frames(k, &n, &h);
    return h;
}

static bool stack_eq_cb(uintptr_t a, uintptr_t b)
{
    uint32_t na, nb;
    uint64_t ha, hb;
    const cw_frame *fa = key_frames(a, &na, &ha);
    const cw_frame *fb = key_frames(b, &nb, &hb);
    return na == nb && ha == hb && frames_keys_eq(fa, fb, na);
}

static uint64_t str_hash_cb(uintptr_t k)
{
    const char *s = (const char *)k;
    return cw_hash_bytes(s, strlen(s), 0);
}

static bool str_eq_cb(uintptr_t a, uintptr_t b)
{
    return strcmp((const char *)a, (const char *)b) == 0;
}

int cw_depot_init(void)
{
    pthread_mutex_lock(&depot_lock);
    int rc = 0;
    if (!initialised) {
        if (cw_ht_init(&stacks, 1024, stack_hash_cb, stack_eq_cb, CW_MEM_STACKS) < 0 ||
            cw_ht_init(&strings, 256, str_hash_cb, str_eq_cb, CW_MEM_STACKS) < 0)
            rc = -1;
        else
            initialised = true;
    }
    pthread_mutex_unlock(&depot_lock);
    return rc;
}

void cw_depot_fini(void)
{
    pthread_mutex_lock(&depot_lock);
    if (initialised) {
        cw_ht_fini(&stacks);
        cw_ht_fini(&strings);
        cw_idvec_free_all(&stack_ids);
        cw_idvec_free_all(&string_ids);
        initialised = false;
    }
    pthread_mutex_unlock(&depot_lock);
}

cw_stack_id cw_depot_find(const cw_frame *frames, uint32_t n)
{
    stack_key k = {frames_hash(frames, n), n, frames};
    pthread_mutex_lock(&depot_lock);
    uintptr_t id = initialised ? (uintptr_t)cw_ht_get(&stacks, (uintptr_t)&k | 1) : 0;
    pthread_mutex_unlock(&depot_lock);
    return (cw_stack_id)id;
}

cw_stack_id cw_depot_put(const cw_frame *frames, uint32_t n)
{
    stack_key k = {frames_hash(frames, n), n, frames};
    cw_stack_id id = 0;
    pthread_mutex_lock(&depot_lock);
    if (!initialised)
        goto done;
    id = (cw_stack_id)(uintptr_t)cw_ht_get(&stacks, (uintptr_t)&k | 1);
    if (id != 0)
        goto done;
    stack_entry *e = cw_malloc(CW_MEM_STACKS, sizeof(stack_entry) + (size_t)n * sizeof(cw_frame));
    if (e == NULL)
        goto done;
    e->hash = k.hash;
    e->n = n;
    if (n)
        memcpy(e->frames, frames, (size_t)n * sizeof(cw_frame));
    id = cw_idvec_push(&stack_ids, e);
    if (id == 0 || cw_ht_put(&stacks, (uintptr_t)e, (void *)(uintptr_t)id) < 0) {
        /* The slot in the idvec (if any) keeps e; it is freed at fini. */
        if (id == 0)
            cw_free(e);
        id = 0;
    }
done:
    pthread_mutex_unlock(&depot_lock);
    return id;
}

const cw_frame *cw_depot_get(cw_stack_id id, uint32_t *n)
{
    const stack_entry *e = cw_idvec_get(&stack_ids, id);
    *n = e ? e->n : 0;
    return e ? e->frames : NULL;
}

uint32_t cw_depot_count(void) { return cw_idvec_count(&stack_ids); }

cw_str_id cw_str_intern(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    cw_str_id id = 0;
    pthread_mutex_lock(&depot_lock);
    if (!initialised)
        goto done;
    id = (cw_str_id)(uintptr_t)cw_ht_get(&strings, (uintptr_t)s);
    if (id != 0)
        goto done;
    char *copy = cw_strdup(CW_MEM_STACKS, s);
    if (copy == NULL)
        goto done;
    id = cw_idvec_push(&string_ids, copy);
    if (id == 0) {
        cw_free(copy);
    } else if (cw_ht_put(&strings, (uintptr_t)copy, (void *)(uintptr_t)id) < 0) {
        id = 0;
    }
done:
    pthread_mutex_unlock(&depot_lock);
    return id;
}

const char *cw_str_get(cw_str_id id)
{
    const char *s = cw_idvec_get(&string_ids, id);
    return s ? s : "";
}
