/* state.c: the binding's global state, read by every hook (binding.h). */
#include "binding.h"

int cw_active;        /* atomic: hooks record only while set */
cw_flags cw_options;  /* guarded by the GIL; set before activation */
__thread cw_tls cw_tls_state __attribute__((tls_model("initial-exec")));
int cw_engine_ready;   /* guarded by the GIL: the engine is up */

int cw_is_started(void) { return cw_engine_ready; }
