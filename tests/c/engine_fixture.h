/* engine_fixture.h: a whole engine, up for a test group and down after it
 * (cmocka group setup/teardown). */
#ifndef CW_ENGINE_FIXTURE_H
#define CW_ENGINE_FIXTURE_H

#include "engine.h"

static cw_flags fixture_flags;

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
    return 0;
}

#endif
