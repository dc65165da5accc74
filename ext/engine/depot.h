/* depot.h: interning of stacks and strings to small ids.
 *
 * A stack is captured into a scratch buffer, looked up by its frame keys
 * (code address + instruction offset, or native pc), and copied into the
 * depot only on a miss. Shadow records and reports hold the 32-bit id.
 * Entries are immutable once published and never freed while the engine
 * lives, so ids can be resolved without a lock. */
#ifndef CW_DEPOT_H
#define CW_DEPOT_H

#include "cw.h"

#define CW_FRAME_NATIVE (-1)

typedef struct cw_frame {
    uintptr_t pc;       /* key: code object address, or native pc */
    int32_t offset;     /* key: instruction offset, CW_FRAME_NATIVE for C */
    int32_t line;       /* symbolised line (0 when unknown) */
    cw_str_id file;     /* symbolised file, or the native module */
    cw_str_id function; /* symbolised function name */
} cw_frame;

int cw_depot_init(void);
void cw_depot_fini(void);

/* Look a stack up by its keys only; 0 when it was never put. */
cw_stack_id cw_depot_find(const cw_frame *frames, uint32_t n);
/* Intern a symbolised stack (n may be 0); returns its id, 0 without memory. */
cw_stack_id cw_depot_put(const cw_frame *frames, uint32_t n);
/* Frames of a stack, innermost first; NULL and *n = 0 for id 0. */
const cw_frame *cw_depot_get(cw_stack_id id, uint32_t *n);
uint32_t cw_depot_count(void);

cw_str_id cw_str_intern(const char *s);
const char *cw_str_get(cw_str_id id);

#endif
