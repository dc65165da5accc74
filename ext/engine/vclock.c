/* vclock.c: vector clocks with copy-on-write. */
#include "vclock.h"

#include <stdlib.h>
#include <string.h>

#include "memory.h"

/* Reference counts use the GCC/Clang atomics so snapshots can be dropped by
 * any thread. */
cw_vc *cw_vc_new(uint32_t len)
{
    cw_vc *vc = cw_calloc(CW_MEM_CLOCKS, 1, sizeof(cw_vc) + (size_t)len * sizeof(cw_clock));
    if (vc == NULL)
        return NULL;
    vc->refs = 1;
    vc->len = len;
    return vc;
}

cw_vc *cw_vc_ref(cw_vc *vc)
{
    if (vc != NULL)
        __atomic_add_fetch(&vc->refs, 1, __ATOMIC_RELAXED);
    return vc;
}

void cw_vc_unref(cw_vc *vc)
{
    if (vc != NULL && __atomic_sub_fetch(&vc->refs, 1, __ATOMIC_ACQ_REL) == 0)
        cw_free(vc);
}

/* Return a clock the caller may write, with at least len entries. Sizes
 * round up to a multiple of 16 entries, never more: clocks exchanged back
 * and forth must not grow each other. */
static cw_vc *writable(cw_vc *vc, uint32_t len)
{
    if (vc != NULL && len <= vc->len &&
        __atomic_load_n(&vc->refs, __ATOMIC_ACQUIRE) == 1)
        return vc;
    uint32_t have = vc ? vc->len : 0;
    uint32_t cap = have > len ? have : len;
    cap = (cap + 15u) & ~15u;
    cw_vc *copy = cw_vc_new(cap);
    if (copy == NULL)
        return NULL;
    if (have)
        memcpy(copy->c, vc->c, (size_t)have * sizeof(cw_clock));
    cw_vc_unref(vc);
    return copy;
}

/* Entries of src that can be non-zero. */
static uint32_t used_len(const cw_vc *src)
{
    uint32_t n = src->len;
    while (n > 0 && src->c[n - 1] == 0)
        n--;
    return n;
}

cw_vc *cw_vc_set(cw_vc *vc, cw_tid t, cw_clock value)
{
    if (cw_vc_get(vc, t) == value && vc != NULL && t < vc->len)
        return vc;
    cw_vc *w = writable(vc, t + 1);
    if (w == NULL)
        return NULL;
    w->c[t] = value;
    return w;
}

cw_vc *cw_vc_tick(cw_vc *vc, cw_tid t)
{
    return cw_vc_set(vc, t, cw_vc_get(vc, t) + 1);
}

cw_vc *cw_vc_join(cw_vc *dst, const cw_vc *src)
{
    if (src == NULL || dst == src)
        return dst;
    if (dst == NULL) /* knows nothing yet: share src (copied on a write) */
        return cw_vc_ref((cw_vc *)src);
    /* One pass: up to the first entry src knows more of, then the join. */
    uint32_t n = used_len(src);
    uint32_t common = n < dst->len ? n : dst->len, i = 0;
    while (i < common && src->c[i] <= dst->c[i])
        i++;
    if (i == n)
        return dst; /* nothing new: keep sharing */
    cw_vc *w = writable(dst, n);
    if (w == NULL)
        return NULL;
    for (; i < n; i++)
        if (src->c[i] > w->c[i])
            w->c[i] = src->c[i];
    return w;
}

bool cw_vc_leq(const cw_vc *a, const cw_vc *b)
{
    if (a == NULL)
        return true;
    for (uint32_t i = 0; i < a->len; i++)
        if (a->c[i] > cw_vc_get(b, i))
            return false;
    return true;
}
