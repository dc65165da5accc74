/* memory.h: every engine allocation, counted by what it is for.
 *
 * The counts answer "how much does watching cost" (bytes per watched
 * location, per distinct stack) and let a bound on the shadow state be
 * enforced. A test can make the nth allocation from now fail, to prove that
 * running out of memory disables the checker and nothing else.
 *
 * Thread-safe: counters are atomics. */
#ifndef CW_MEMORY_H
#define CW_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#define CW_MEM_KINDS(X)                                          \
    X(SHADOW, "shadow", "access history of watched locations")   \
    X(STACKS, "stacks", "interned stacks and strings")           \
    X(SYNC, "sync", "records of locks, queues, events, threads") \
    X(LOCKS, "locks", "lock incarnations and locksets")          \
    X(CLOCKS, "clocks", "vector clocks")                         \
    X(THREADS, "threads", "per-thread state")                    \
    X(HISTORY, "history", "threads' last sync events, for reports") \
    X(REPORTS, "reports", "findings kept for the report")        \
    X(MISC, "misc", "options, suppressions, binding tables")

typedef enum cw_mem_kind {
#define CW_MEM_ENUM(name, text, doc) CW_MEM_##name,
    CW_MEM_KINDS(CW_MEM_ENUM)
#undef CW_MEM_ENUM
    CW_MEM_KIND_COUNT
} cw_mem_kind;

void *cw_malloc(cw_mem_kind kind, size_t size);
void *cw_calloc(cw_mem_kind kind, size_t n, size_t size);
/* Like realloc; the block keeps the kind it was allocated with. */
void *cw_realloc(cw_mem_kind kind, void *p, size_t size);
void cw_free(void *p);
char *cw_strdup(cw_mem_kind kind, const char *s);

/* Bytes live now (requested sizes plus a 16-byte header per block), and the
 * most ever live at once. */
size_t cw_mem_bytes(cw_mem_kind kind);
size_t cw_mem_peak(cw_mem_kind kind);
size_t cw_mem_total(void);
const char *cw_mem_kind_name(cw_mem_kind kind);

/* Frees of blocks that were not ours (leaked instead): always 0 unless
 * there is a bug. */
uint64_t cw_mem_bad_frees(void);

/* Testing: the nth allocation from now (1 = the next) and every one after it
 * fail, until called with 0. */
void cw_mem_fail_after(uint64_t n);

#endif
