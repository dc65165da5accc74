/* engine_fixture.h: a whole engine, up for a test group and down after it
 * (cmocka group setup/teardown). Teardown fails the group when any engine
 * allocation outlives the engine: every test doubles as a leak test. */
#ifndef CW_ENGINE_FIXTURE_H
#define CW_ENGINE_FIXTURE_H

#include <stdio.h>

#include "engine.h"
#include "memory.h"

static cw_flags fixture_flags;
static int fixture_leaked; /* cmocka does not fail the run for a failed group teardown */

static int setup(void **state)
{
    (void)state;
    if (cw_flags_set_defaults(&fixture_flags) < 0)
        return -1;
    return cw_engine_init(&fixture_flags) == CW_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cw_engine_fini(NULL);
    cw_flags_free(&fixture_flags);
    int leaked = 0;
    for (int k = 0; k < CW_MEM_KIND_COUNT; k++) {
        size_t n = cw_mem_bytes((cw_mem_kind)k);
        if (n != 0) {
            fprintf(stderr, "engine memory left after teardown: %zu bytes of %s\n", n,
                    cw_mem_kind_name((cw_mem_kind)k));
            leaked = 1;
        }
    }
    fixture_leaked = leaked || cw_mem_bad_frees() != 0;
    return fixture_leaked ? -1 : 0;
}

/* main's exit status: the failed tests, or 1 for a leak. */
static int fixture_status(int failed)
{
    return failed ? failed : fixture_leaked;
}

#endif
