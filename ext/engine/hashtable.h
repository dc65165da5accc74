/* hashtable.h: a small open-addressing table mapping a word-sized key to a
 * pointer. Hash and equality are pluggable so a key can also be a pointer to
 * a larger record (the depot's stacks, interned locksets).
 *
 * Not synchronised: every table belongs to one guard named by its owner. */
#ifndef CW_HASHTABLE_H
#define CW_HASHTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory.h"

typedef uint64_t (*cw_hash_fn)(uintptr_t key);
typedef bool (*cw_eq_fn)(uintptr_t a, uintptr_t b);

typedef struct cw_ht_slot {
    uintptr_t key;
    void *value;  /* Borrowed: the owner frees values. NULL marks empty. */
    uint64_t hash;
} cw_ht_slot;

typedef struct cw_hashtable {
    cw_ht_slot *slots;
    size_t mask;       /* capacity - 1; capacity is a power of two */
    size_t used;       /* live entries */
    size_t tombstones;
    cw_hash_fn hash;
    cw_eq_fn eq;
    cw_mem_kind mem;   /* what its slots are counted as */
} cw_hashtable;

/* hash/eq may be NULL for plain word keys; mem is what the table is for.
 * Returns 0, or -1 without memory. */
int cw_ht_init(cw_hashtable *ht, size_t capacity, cw_hash_fn hash, cw_eq_fn eq,
               cw_mem_kind mem);
void cw_ht_fini(cw_hashtable *ht);

void *cw_ht_get(const cw_hashtable *ht, uintptr_t key);
/* Insert or replace. Values must not be NULL. Returns 0 or -1 (no memory). */
int cw_ht_put(cw_hashtable *ht, uintptr_t key, void *value);
/* Remove; returns the old value or NULL. */
void *cw_ht_remove(cw_hashtable *ht, uintptr_t key);
size_t cw_ht_size(const cw_hashtable *ht);

/* Some entry, picked from a random word (the first live one at or after
 * slot r): false when empty. */
bool cw_ht_sample(const cw_hashtable *ht, uint64_t r, uintptr_t *key, void **value);

/* Iterate: *pos starts at 0; returns false at the end. */
bool cw_ht_next(const cw_hashtable *ht, size_t *pos, uintptr_t *key, void **value);

/* A strong 64-bit mixer for word keys (splitmix64's finaliser). */
static inline uint64_t cw_hash_word(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t cw_hash_bytes(const void *data, size_t len, uint64_t seed);

#endif
