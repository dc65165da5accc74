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
#include "hashtable.h"

/* pc -> (name string id << 32 | offset), filled while unwinding, when a
 * cursor can name the frame. Guarded by the GIL: the name cache. Without
 * the GIL: a PyMutex for it (libunwind's local unwinding is thread-safe). */
static cw_hashtable names;
static int names_ready;

static void remember_name(uintptr_t pc, const char *name, uintptr_t offset)
{
    if (!names_ready) {
        if (cw_ht_init(&names, 256, NULL, NULL, CW_MEM_STACKS) < 0)
            return;
        names_ready = 1;
    }
    uint64_t v = ((uint64_t)cw_str_intern(name) << 32) | (uint32_t)offset;
    cw_ht_put(&names, pc, (void *)(uintptr_t)(v | (1ULL << 63)));
}

static int known_name(uintptr_t pc, cw_str_id *name, uintptr_t *offset)
{
    if (!names_ready)
        return 0;
    uint64_t v = (uint64_t)(uintptr_t)cw_ht_get(&names, pc);
    if (v == 0)
        return 0;
    *name = (cw_str_id)((v >> 32) & 0x7fffffff);
    *offset = (uint32_t)v;
    return 1;
}

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
        cw_str_id id;
        uintptr_t off;
        if (!known_name((uintptr_t)ip, &id, &off)) {
            /* libunwind reads the ELF symbol table: static functions (of
             * CPython, of a host program) get names, which dladdr cannot give. */
            char name[256];
            unw_word_t o = 0;
            unw_proc_info_t pi;
            if (unw_get_proc_name(&cursor, name, sizeof(name), &o) == 0) {
                /* A stripped library names only its exported functions: a
                 * static one (libc's start_thread) gets the exported name
                 * before it. The name is the procedure's only if it starts
                 * where the unwind tables say the procedure does. */
                int starts_there = unw_get_proc_info(&cursor, &pi) != 0 || pi.start_ip == ip - o;
                remember_name((uintptr_t)ip, starts_there ? name : "", (uintptr_t)o);
            }
        }
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
    int found = dladdr((void *)call_site(pc), &info) != 0;
    if (found && info.dli_fname) {
        const char *base = strrchr(info.dli_fname, '/');
        out->file = cw_str_intern(base ? base + 1 : info.dli_fname);
    }
    cw_str_id name;
    uintptr_t offset = 0;
    int named = known_name(pc, &name, &offset);
    if (named && name != cw_str_intern("")) {
        out->function = name;
        out->line = (int32_t)offset; /* shown as +0x.. */
    } else if (!named && found && info.dli_sname) {
        out->function = cw_str_intern(info.dli_sname);
        out->line = (int32_t)(pc - (uintptr_t)info.dli_saddr);
    } else if (found && info.dli_fbase) {
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
