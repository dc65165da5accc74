/* hashtable.c: open addressing with linear probing and tombstones. */
#include "hashtable.h"

#include <stdlib.h>
#include <string.h>

static void *const TOMBSTONE = (void *)&TOMBSTONE;

static uint64_t hash_of(const cw_hashtable *ht, uintptr_t key)
{
    return ht->hash ? ht->hash(key) : cw_hash_word((uint64_t)key);
}

static bool key_eq(const cw_hashtable *ht, uintptr_t a, uintptr_t b)
{
    return ht->eq ? ht->eq(a, b) : a == b;
}

int cw_ht_init(cw_hashtable *ht, size_t capacity, cw_hash_fn hash, cw_eq_fn eq,
               cw_mem_kind mem)
{
    size_t cap = 8;
    while (cap < capacity)
        cap <<= 1;
    memset(ht, 0, sizeof(*ht));
    ht->slots = cw_calloc(mem, cap, sizeof(cw_ht_slot));
    if (ht->slots == NULL)
        return -1;
    ht->mask = cap - 1;
    ht->hash = hash;
    ht->eq = eq;
    ht->mem = mem;
    return 0;
}

void cw_ht_fini(cw_hashtable *ht)
{
    cw_free(ht->slots);
    ht->slots = NULL;
    ht->used = ht->tombstones = 0;
}

static cw_ht_slot *find_slot(const cw_hashtable *ht, uintptr_t key, uint64_t h)
{
    size_t i = (size_t)h & ht->mask;
    for (;;) {
        cw_ht_slot *s = &ht->slots[i];
        if (s->value == NULL)
            return NULL;
        if (s->value != TOMBSTONE && s->hash == h && key_eq(ht, s->key, key))
            return s;
        i = (i + 1) & ht->mask;
    }
}

void *cw_ht_get(const cw_hashtable *ht, uintptr_t key)
{
    cw_ht_slot *s = find_slot(ht, key, hash_of(ht, key));
    return s ? s->value : NULL;
}

static int resize(cw_hashtable *ht, size_t cap)
{
    cw_ht_slot *old = ht->slots;
    size_t old_cap = ht->mask + 1;
    cw_ht_slot *slots = cw_calloc(ht->mem, cap, sizeof(cw_ht_slot));
    if (slots == NULL)
        return -1;
    ht->slots = slots;
    ht->mask = cap - 1;
    ht->tombstones = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].value == NULL || old[i].value == TOMBSTONE)
            continue;
        size_t j = (size_t)old[i].hash & ht->mask;
        while (slots[j].value != NULL)
            j = (j + 1) & ht->mask;
        slots[j] = old[i];
    }
    cw_free(old);
    return 0;
}

int cw_ht_put(cw_hashtable *ht, uintptr_t key, void *value)
{
    uint64_t h = hash_of(ht, key);
    cw_ht_slot *s = find_slot(ht, key, h);
    if (s != NULL) {
        s->value = value;
        return 0;
    }
    /* Keep the load (live + tombstones) under 3/4; a rebuild sizes the table
     * for what is live, so one emptied by removals shrinks back. */
    if ((ht->used + ht->tombstones + 1) * 4 > (ht->mask + 1) * 3) {
        size_t cap = 8;
        while (cap < (ht->used + 1) * 2)
            cap <<= 1;
        if (resize(ht, cap) < 0)
            return -1;
    }
    size_t i = (size_t)h & ht->mask;
    while (ht->slots[i].value != NULL && ht->slots[i].value != TOMBSTONE)
        i = (i + 1) & ht->mask;
    if (ht->slots[i].value == TOMBSTONE)
        ht->tombstones--;
    ht->slots[i].key = key;
    ht->slots[i].hash = h;
    ht->slots[i].value = value;
    ht->used++;
    return 0;
}

void *cw_ht_remove(cw_hashtable *ht, uintptr_t key)
{
    cw_ht_slot *s = find_slot(ht, key, hash_of(ht, key));
    if (s == NULL)
        return NULL;
    void *v = s->value;
    s->value = TOMBSTONE;
    ht->used--;
    ht->tombstones++;
    return v;
}

size_t cw_ht_size(const cw_hashtable *ht) { return ht->used; }

bool cw_ht_next(const cw_hashtable *ht, size_t *pos, uintptr_t *key, void **value)
{
    while (*pos <= ht->mask) {
        cw_ht_slot *s = &ht->slots[(*pos)++];
        if (s->value != NULL && s->value != TOMBSTONE) {
            if (key)
                *key = s->key;
            if (value)
                *value = s->value;
            return true;
        }
    }
    return false;
}

uint64_t cw_hash_bytes(const void *data, size_t len, uint64_t seed)
{
    /* FNV-1a over bytes, finished by the word mixer. */
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return cw_hash_word(h);
}

bool cw_ht_sample(const cw_hashtable *ht, uint64_t r, uintptr_t *key, void **value)
{
    if (ht->used == 0)
        return false;
    size_t cap = ht->mask + 1;
    for (size_t n = 0, i = (size_t)r & ht->mask; n < cap; n++, i = (i + 1) & ht->mask) {
        const cw_ht_slot *s = &ht->slots[i];
        if (s->value != NULL && s->value != TOMBSTONE) {
            if (key)
                *key = s->key;
            if (value)
                *value = s->value;
            return true;
        }
    }
    return false;
}
