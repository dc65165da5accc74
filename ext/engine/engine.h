/* engine.h: bring the whole engine up and down. */
#ifndef CW_ENGINE_H
#define CW_ENGINE_H

#include "flags.h"

/* Initialise every engine module from the options; 0 or CW_ERR_NOMEM. */
int cw_engine_init(const cw_flags *flags);
/* In a forked child (only the forking thread runs): every lock re-made, no
 * thread but the caller's, no history, no reports (the parent has them). The
 * caller registers its thread again. drop_cookie releases death notices. */
void cw_engine_after_fork_child(void (*drop_cookie)(void *cookie));
/* Tear everything down. Only when no thread can be inside the engine. */
void cw_engine_fini(void (*drop_cookie)(void *cookie));

#endif
