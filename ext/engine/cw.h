/* cw.h: ground rules and common types of the cachewatch engine.
 *
 * Ground rules
 * ------------
 * 1. The engine (ext/engine/, a static library: no file there includes
 *    Python.h) knows nothing of CPython. Objects are opaque addresses
 *    (uintptr_t); stacks are ids from the depot. The binding (ext/cpython/:
 *    module.c, runtime.c, the hooks_*.c families, stack.c, unwind.c)
 *    translates between the two. Calls between files only point down
 *    (tests/python/test_layout.py checks it): engine files down to cw.h,
 *    memory and hashtable; binding files down to state.c and the engine;
 *    module.c, at the top, gives runtime.c the table of hook families.
 * 2. The engine is called from many threads at once and must be correct
 *    without the GIL: every shared variable names its guard. A function whose
 *    name ends in _unlocked expects its caller to hold that guard.
 * 3. The engine never calls back into Python and never blocks on anything but
 *    its own short mutexes, so it cannot deadlock against the GIL: the binding
 *    does every Python call (stack capture, repr) before or after an engine
 *    call, never during one.
 * 4. Per-thread state (cw_thread) is owned by its thread. Other threads read
 *    only the immutable identity fields (tid, name, creation stack).
 * 5. Allocation failure inside the engine is reported upward (return codes);
 *    the binding then disables the checker with one warning. The engine never
 *    aborts its host.
 *
 * Semantics (a hybrid detector)
 * -----------------------------
 * Happens-before comes only from hand-offs: thread start/join, queue put/get,
 * Event, Condition, Barrier, futures, and a lock or semaphore released by a
 * thread that did not acquire it. A lock acquired and released by one thread
 * contributes only to locksets, so an incidental lock (a logging handler's)
 * orders nothing and hides no race.
 */
#ifndef CW_H
#define CW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint32_t cw_tid;         /* 1-based; 0 means "no thread" */
typedef uint32_t cw_clock;       /* a thread's logical time */
typedef uint32_t cw_stack_id;    /* depot id; 0 means "no stack" */
typedef uint32_t cw_lockset_id;  /* interned lockset; 0 is the empty set */
typedef uint64_t cw_lock_id;     /* one incarnation of a lock; 0 means none */
typedef uint32_t cw_str_id;      /* interned string; 0 is "" */

/* A code location: the code object (or native pc) and instruction offset. */
typedef struct cw_site {
    uintptr_t code;
    int32_t offset;
} cw_site;

static inline bool cw_site_eq(cw_site a, cw_site b)
{
    return a.code == b.code && a.offset == b.offset;
}

static inline bool cw_site_is_null(cw_site s) { return s.code == 0; }

/* Status codes of engine calls. */
enum {
    CW_OK = 0,
    CW_ERR_NOMEM = -1,
    CW_NEED_STACK = 1, /* call again with the current stack captured */
};

/* The operations a hook reports. Kept in one list so the printer and the
 * Python layer name them the same way. */
#define CW_OPS(X)                       \
    X(GETITEM, "getitem")               \
    X(GET, "get")                       \
    X(CONTAINS, "contains")             \
    X(SETITEM, "setitem")               \
    X(DELITEM, "delitem")               \
    X(SETDEFAULT, "setdefault")         \
    X(POP, "pop")                       \
    X(POPITEM, "popitem")               \
    X(UPDATE, "update")                 \
    X(CLEAR, "clear")                   \
    X(ITER, "iterate")                  \
    X(LOAD, "load")                     \
    X(STORE, "store")                   \
    X(DELETE, "delete")                 \
    X(APPEND, "append")                 \
    X(EXTEND, "extend")                 \
    X(INSERT, "insert")                 \
    X(REMOVE, "remove")                 \
    X(ADD, "add")                       \
    X(DISCARD, "discard")               \
    X(INDEX, "index")

typedef enum cw_op {
#define CW_OP_ENUM(name, text) CW_OP_##name,
    CW_OPS(CW_OP_ENUM)
#undef CW_OP_ENUM
    CW_OP_COUNT
} cw_op;

const char *cw_op_name(cw_op op);

#endif /* CW_H */
