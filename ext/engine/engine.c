/* engine.c: engine lifecycle and the few engine-wide helpers. */
#include "engine.h"

#include "depot.h"
#include "history.h"
#include "lockset.h"
#include "report.h"
#include "shadow.h"
#include "sync.h"
#include "thread.h"

int cw_engine_init(const cw_flags *flags)
{
    if (cw_depot_init() < 0 || cw_lockset_init() < 0 || cw_sync_init() < 0 ||
        cw_shadow_init((uint32_t)flags->history_size,
                        (size_t)flags->shadow_memory_mb << 20) < 0 ||
        cw_report_init((uint32_t)flags->max_reports, flags->dedup != 0) < 0)
        return CW_ERR_NOMEM;
    return CW_OK;
}

void cw_engine_after_fork_child(void (*drop_cookie)(void *cookie))
{
    cw_history_after_fork_child(); /* before the threads' exits retire their rings */
    cw_threads_after_fork_child();
    cw_shadow_forget_history();
    cw_sync_fini(drop_cookie);
    cw_sync_init();
    cw_report_clear();
}

void cw_engine_fini(void (*drop_cookie)(void *cookie))
{
    cw_shadow_fini();
    cw_sync_fini(drop_cookie);
    cw_report_fini();
    cw_threads_fini();
    cw_history_fini();
    cw_lockset_fini();
    cw_depot_fini();
}
