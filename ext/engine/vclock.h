/* vclock.h: vector clocks.
 *
 * A cw_vc is reference counted. A thread's own clock is copy-on-write: the
 * thread mutates it in place only while it holds the sole reference, so a
 * snapshot (one more reference) stays immutable and can be kept by a pending
 * read or handed to a child thread at no cost. Clocks held by sync objects
 * are mutated under their owner's guard. */
#ifndef CW_VCLOCK_H
#define CW_VCLOCK_H

#include "cw.h"

typedef struct cw_vc {
    uint32_t refs;   /* atomic; see vclock.c */
    uint32_t len;    /* entries c[0..len-1]; tid t lives at c[t] */
    cw_clock c[];
} cw_vc;

/* A new clock with room for tids below len, all zero; refs = 1. */
cw_vc *cw_vc_new(uint32_t len);
cw_vc *cw_vc_ref(cw_vc *vc);
void cw_vc_unref(cw_vc *vc);

static inline cw_clock cw_vc_get(const cw_vc *vc, cw_tid t)
{
    return (vc != NULL && t < vc->len) ? vc->c[t] : 0;
}

/* Mutators take the caller's (sole or shared) reference and return the one
 * to use from now on: the same clock when it could be changed in place, or a
 * private copy. They return NULL only when memory ran out, and then the
 * caller's reference is untouched. */
cw_vc *cw_vc_set(cw_vc *vc, cw_tid t, cw_clock value);
cw_vc *cw_vc_tick(cw_vc *vc, cw_tid t);
cw_vc *cw_vc_join(cw_vc *dst, const cw_vc *src);

/* a <= b pointwise: everything a knows, b knows. */
bool cw_vc_leq(const cw_vc *a, const cw_vc *b);

#endif
