/* unwind.c: the only libunwind user. Native frames of the calling thread and
 * their symbols. Built without libunwind (CW_HAVE_LIBUNWIND=0) every call
 * says "nothing here" and native_stacks reports what is missing. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "binding.h"

#include <dlfcn.h>
#include <string.h>

#include "depot.h"

#ifndef CW_HAVE_LIBUNWIND
#define CW_HAVE_LIBUNWIND 0
#endif

#if CW_HAVE_LIBUNWIND
#define UNW_LOCAL_ONLY
#include <libunwind.h>

int cw_unwind_available(void) { return 1; }

int cw_unwind_capture(uintptr_t *pcs, int max)
{
    unw_context_t ctx;
    unw_cursor_t cursor;
    if (unw_getcontext(&ctx) != 0 || unw_init_local(&cursor, &ctx) != 0)
        return 0;
    int n = 0;
    while (n < max && unw_step(&cursor) > 0) {
        unw_word_t ip;
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0 || ip == 0)
            break;
        pcs[n++] = (uintptr_t)ip;
    }
    return n;
}
#else
int cw_unwind_available(void) { return 0; }

int cw_unwind_capture(uintptr_t *pcs, int max)
{
    (void)pcs;
    (void)max;
    return 0;
}
#endif

/* A return address points after the call; look up the call itself. */
static uintptr_t call_site(uintptr_t pc) { return pc > 0 ? pc - 1 : pc; }

void cw_unwind_symbolize(uintptr_t pc, cw_frame *out)
{
    Dl_info info;
    memset(&info, 0, sizeof(info));
    out->line = 0;
    out->file = 0;
    out->function = 0;
    if (dladdr((void *)call_site(pc), &info) == 0)
        return;
    if (info.dli_fname) {
        const char *base = strrchr(info.dli_fname, '/');
        out->file = cw_str_intern(base ? base + 1 : info.dli_fname);
    }
    if (info.dli_sname) {
        out->function = cw_str_intern(info.dli_sname);
        out->line = (int32_t)(pc - (uintptr_t)info.dli_saddr); /* offset, shown as +0x.. */
    } else if (info.dli_fbase) {
        out->line = (int32_t)(pc - (uintptr_t)info.dli_fbase);
    }
}

int cw_unwind_is_eval_frame(uintptr_t pc)
{
    static void *eval;
    static int looked;
    if (!looked) {
        eval = dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");
        looked = 1;
    }
    Dl_info info;
    if (eval == NULL || dladdr((void *)call_site(pc), &info) == 0)
        return 0;
    return info.dli_saddr == eval;
}

int cw_unwind_is_ours(uintptr_t pc)
{
    static void *base;
    if (base == NULL) {
        Dl_info me;
        if (dladdr((void *)&cw_unwind_is_ours, &me) != 0)
            base = me.dli_fbase;
    }
    Dl_info info;
    return base != NULL && dladdr((void *)call_site(pc), &info) != 0 && info.dli_fbase == base;
}
