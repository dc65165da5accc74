/* memory.c: counted allocations. Each block carries a 16-byte header with
 * its size and kind, so frees and reallocs are counted without the caller
 * remembering either. */
#include "memory.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct header {
    size_t size;
    uint32_t kind;
    uint32_t magic;
} header;

#define MAGIC 0x63776d6du /* "cwmm" */

static size_t live[CW_MEM_KIND_COUNT]; /* atomic */
static size_t peak[CW_MEM_KIND_COUNT]; /* atomic, approximate under races */
static uint64_t fail_countdown;        /* atomic; 0: never fail */
static uint64_t bad_frees;             /* atomic */

_Static_assert(sizeof(header) == 16, "blocks stay 16-byte aligned");

static bool should_fail(void)
{
    uint64_t n = __atomic_load_n(&fail_countdown, __ATOMIC_RELAXED);
    if (n == 0)
        return false;
    if (n == 1)
        return true; /* sticky: every later allocation fails too */
    __atomic_compare_exchange_n(&fail_countdown, &n, n - 1, false, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
    return false;
}

static void count(uint32_t kind, size_t add, size_t sub)
{
    size_t now;
    if (add >= sub)
        now = __atomic_add_fetch(&live[kind], add - sub, __ATOMIC_RELAXED);
    else
        now = __atomic_sub_fetch(&live[kind], sub - add, __ATOMIC_RELAXED);
    size_t old = __atomic_load_n(&peak[kind], __ATOMIC_RELAXED);
    while (now > old &&
           !__atomic_compare_exchange_n(&peak[kind], &old, now, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
}

static void *finish(header *h, cw_mem_kind kind, size_t size)
{
    if (h == NULL)
        return NULL;
    h->size = size;
    h->kind = (uint32_t)kind;
    h->magic = MAGIC;
    count(kind, size + sizeof(header), 0);
    return h + 1;
}

void *cw_malloc(cw_mem_kind kind, size_t size)
{
    if (should_fail() || size > SIZE_MAX - sizeof(header))
        return NULL;
    return finish(malloc(sizeof(header) + size), kind, size);
}

void *cw_calloc(cw_mem_kind kind, size_t n, size_t size)
{
    if (should_fail() || (size != 0 && n > (SIZE_MAX - sizeof(header)) / size))
        return NULL;
    return finish(calloc(1, sizeof(header) + n * size), kind, n * size);
}

void *cw_realloc(cw_mem_kind kind, void *p, size_t size)
{
    if (p == NULL)
        return cw_malloc(kind, size);
    if (should_fail() || size > SIZE_MAX - sizeof(header))
        return NULL;
    header *old = (header *)p - 1;
    size_t old_size = old->size;
    uint32_t old_kind = old->kind;
    header *h = realloc(old, sizeof(header) + size);
    if (h == NULL)
        return NULL;
    h->size = size;
    count(old_kind, size, old_size);
    return h + 1;
}

void cw_free(void *p)
{
    if (p == NULL)
        return;
    header *h = (header *)p - 1;
    if (h->magic != MAGIC) {
        /* Not ours, or freed twice: a bug. Leaking the block is the one
         * answer that cannot hurt the host's heap. */
        __atomic_add_fetch(&bad_frees, 1, __ATOMIC_RELAXED);
        return;
    }
    h->magic = 0;
    count(h->kind, 0, h->size + sizeof(header));
    free(h);
}

char *cw_strdup(cw_mem_kind kind, const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = cw_malloc(kind, n);
    if (copy != NULL)
        memcpy(copy, s, n);
    return copy;
}

size_t cw_mem_bytes(cw_mem_kind kind)
{
    return kind < CW_MEM_KIND_COUNT ? __atomic_load_n(&live[kind], __ATOMIC_RELAXED) : 0;
}

size_t cw_mem_peak(cw_mem_kind kind)
{
    return kind < CW_MEM_KIND_COUNT ? __atomic_load_n(&peak[kind], __ATOMIC_RELAXED) : 0;
}

size_t cw_mem_total(void)
{
    size_t n = 0;
    for (int k = 0; k < CW_MEM_KIND_COUNT; k++)
        n += cw_mem_bytes((cw_mem_kind)k);
    return n;
}

const char *cw_mem_kind_name(cw_mem_kind kind)
{
    switch (kind) {
#define CW_MEM_CASE(name, text, doc) \
    case CW_MEM_##name:              \
        return text;
        CW_MEM_KINDS(CW_MEM_CASE)
#undef CW_MEM_CASE
    case CW_MEM_KIND_COUNT:
        break;
    }
    return "?";
}

void cw_mem_fail_after(uint64_t n)
{
    __atomic_store_n(&fail_countdown, n, __ATOMIC_RELAXED);
}

uint64_t cw_mem_bad_frees(void)
{
    return __atomic_load_n(&bad_frees, __ATOMIC_RELAXED);
}
