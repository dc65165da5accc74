/* frames_internal.c: the only file that reads CPython's internal frame
 * structures, to tell where one run of the evaluation loop starts (so native
 * frames can be placed between the Python frames they called). Everything
 * else uses the public frame API. */
#include "binding.h"

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define Py_BUILD_CORE 1
#include "internal/pycore_frame.h"

int cw_frame_is_entry(PyFrameObject *frame)
{
    /* 3.11: the first Python frame a C call of the evaluation loop ran. */
    return frame->f_frame != NULL && frame->f_frame->is_entry;
}
#else
int cw_frame_is_entry(PyFrameObject *frame)
{
    (void)frame;
    return -1; /* unknown: every Python frame goes at the innermost loop */
}
#endif
