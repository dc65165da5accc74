/* idvec.h: an append-only vector from small ids to pointers whose slots never
 * move, so readers resolve an id without a lock once it was published.
 * Writers append under their owner's guard. Define one with its memory kind:
 *   static cw_idvec v = {.mem = CW_MEM_STACKS}; */
#ifndef CW_IDVEC_H
#define CW_IDVEC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "memory.h"

#define CW_IDVEC_CHUNK_BITS 12
#define CW_IDVEC_CHUNKS 4096 /* up to 16M ids */

typedef struct cw_idvec {
    void **chunks[CW_IDVEC_CHUNKS];
    uint32_t count; /* atomic: ids 1..count are published */
    cw_mem_kind mem;
} cw_idvec;

/* Append under the owner's guard; returns the new id (1-based) or 0. */
static inline uint32_t cw_idvec_push(cw_idvec *v, void *p)
{
    uint32_t id = v->count + 1;
    uint32_t chunk = id >> CW_IDVEC_CHUNK_BITS;
    if (chunk >= CW_IDVEC_CHUNKS)
        return 0;
    if (v->chunks[chunk] == NULL) {
        v->chunks[chunk] = cw_calloc(v->mem, (size_t)1 << CW_IDVEC_CHUNK_BITS, sizeof(void *));
        if (v->chunks[chunk] == NULL)
            return 0;
    }
    v->chunks[chunk][id & ((1u << CW_IDVEC_CHUNK_BITS) - 1)] = p;
    __atomic_store_n(&v->count, id, __ATOMIC_RELEASE);
    return id;
}

/* Replace the element of a published id, under the owner's guard. */
static inline void cw_idvec_set(cw_idvec *v, uint32_t id, void *p)
{
    if (id == 0 || id > v->count)
        return;
    __atomic_store_n(&v->chunks[id >> CW_IDVEC_CHUNK_BITS][id & ((1u << CW_IDVEC_CHUNK_BITS) - 1)],
                     p, __ATOMIC_RELEASE);
}

static inline void *cw_idvec_get(const cw_idvec *v, uint32_t id)
{
    if (id == 0 || id > __atomic_load_n(&v->count, __ATOMIC_ACQUIRE))
        return NULL;
    return v->chunks[id >> CW_IDVEC_CHUNK_BITS][id & ((1u << CW_IDVEC_CHUNK_BITS) - 1)];
}

static inline uint32_t cw_idvec_count(const cw_idvec *v)
{
    return __atomic_load_n(&v->count, __ATOMIC_ACQUIRE);
}

/* Free every chunk, and every element with cw_free() when owned; not
 * concurrent-safe. */
static inline void cw_idvec_free(cw_idvec *v, bool owned)
{
    for (uint32_t c = 0; c < CW_IDVEC_CHUNKS; c++) {
        if (v->chunks[c] == NULL)
            continue;
        for (uint32_t i = 0; owned && i < (1u << CW_IDVEC_CHUNK_BITS); i++)
            cw_free(v->chunks[c][i]);
        cw_free(v->chunks[c]);
        v->chunks[c] = NULL;
    }
    v->count = 0;
}

static inline void cw_idvec_free_all(cw_idvec *v) { cw_idvec_free(v, true); }

#endif
