/* frames_internal.c: the only file that reads CPython's internal frame
 * structures, to tell where one run of the evaluation loop starts (so native
 * frames can be placed between the Python frames they called), and to read
 * one local of a running frame without making its f_locals dict (which
 * would keep every local of the frame alive: a `del executor` in a test
 * would no longer free it), and to read the running thread's innermost
 * frames without making frame objects for them (a lock's every acquire
 * notes where it was). Everything else uses the public frame API. */
#include "binding.h"

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define Py_BUILD_CORE 1
#include "internal/pycore_code.h"
#include "internal/pycore_frame.h"

int cw_frame_is_entry(PyFrameObject *frame)
{
    /* 3.11: the first Python frame a C call of the evaluation loop ran. */
    return frame->f_frame != NULL && frame->f_frame->is_entry;
}
#elif PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030E0000
#define Py_BUILD_CORE 1
#include "internal/pycore_frame.h"

int cw_frame_is_entry(PyFrameObject *frame)
{
    /* 3.12, 3.13: a run of the evaluation loop links its first frame to a
     * shim frame of its own, owned by the C stack. */
    _PyInterpreterFrame *f = frame->f_frame;
    return f != NULL && f->previous != NULL && f->previous->owner == FRAME_OWNED_BY_CSTACK;
}
#elif PY_VERSION_HEX < 0x030B0000
int cw_frame_is_entry(PyFrameObject *frame)
{
    (void)frame;
    return 1; /* up to 3.10 every Python frame is a C call of the loop of its own */
}
#else
int cw_frame_is_entry(PyFrameObject *frame)
{
    (void)frame;
    return -1; /* unknown (3.14+ unchecked): every Python frame at the innermost loop */
}
#endif

/* Local i of a running frame (a cell's contents), a new reference; NULL
 * (no error set) when it is unbound or cannot be read. */
PyObject *cw_frame_local(PyFrameObject *frame, int i)
{
    PyObject *value = NULL;
    PyCodeObject *code = PyFrame_GetCode(frame);
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *names = PyCode_GetVarnames(code);
    if (names != NULL && i >= 0 && i < PyTuple_GET_SIZE(names))
        value = PyFrame_GetVar(frame, PyTuple_GET_ITEM(names, i));
    Py_XDECREF(names);
    PyErr_Clear();
#elif PY_VERSION_HEX >= 0x030B0000
    if (frame->f_frame != NULL && i >= 0 && i < code->co_nlocalsplus) {
        value = frame->f_frame->localsplus[i];
        if (value != NULL && PyCell_Check(value) &&
            (_PyLocals_GetKind(code->co_localspluskinds, i) & CO_FAST_CELL))
            value = PyCell_GET(value);
        Py_XINCREF(value);
    }
#else
    if (i >= 0 && i < code->co_nlocals) {
        value = frame->f_localsplus[i];
        Py_XINCREF(value);
    }
#endif
    Py_DECREF(code);
    return value;
}

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000
static int code_frames_from(_PyInterpreterFrame *f, PyCodeObject **codes, int *lastis,
                            PyObject **globals, int max)
{
    int n = 0;
    for (; f != NULL && n < max; f = f->previous) {
#if PY_VERSION_HEX >= 0x030C0000
        if (f->owner == FRAME_OWNED_BY_CSTACK)
            continue; /* a run of the loop's shim */
#endif
        if (_PyFrame_IsIncomplete(f))
            continue;
#if PY_VERSION_HEX >= 0x030D0000
        if (!PyCode_Check(f->f_executable))
            continue;
        codes[n] = (PyCodeObject *)f->f_executable;
#else
        codes[n] = f->f_code;
#endif
        if (globals != NULL)
            globals[n] = f->f_globals;
        int lasti = _PyInterpreterFrame_LASTI(f);
        lastis[n++] = lasti < 0 ? -1 : lasti * (int)sizeof(_Py_CODEUNIT);
    }
    return n;
}

static _PyInterpreterFrame *current_frame(void)
{
    PyThreadState *ts = PyThreadState_Get();
#if PY_VERSION_HEX >= 0x030D0000
    return ts->current_frame;
#else
    return ts->cframe->current_frame;
#endif
}

int cw_current_code_frames(PyCodeObject **codes, int *lastis, int max)
{
    return code_frames_from(current_frame(), codes, lastis, NULL, max);
}

int cw_current_code_frames_globals(PyCodeObject **codes, int *lastis, PyObject **globals, int max)
{
    return code_frames_from(current_frame(), codes, lastis, globals, max);
}

int cw_code_frames_from(PyFrameObject *frame, PyCodeObject **codes, int *lastis, int max)
{
    /* A running frame's interpreter frame links to its callers' (a finished
     * one's to nothing): no frame object is made for them. */
    return code_frames_from(frame ? frame->f_frame : NULL, codes, lastis, NULL, max);
}
#else
static int code_frames_from(PyFrameObject *f, PyCodeObject **codes, int *lastis,
                            PyObject **globals, int max)
{
    /* 3.9, 3.10: every frame is an object already; 3.14+: unchecked, the
     * public API (which makes frame objects). */
    Py_XINCREF(f);
    int n = 0;
    while (f != NULL && n < max) {
        PyCodeObject *code = cw_frame_code(f);
        codes[n] = code;
        if (globals != NULL) {
            globals[n] = cw_frame_globals(f);
            Py_XDECREF(globals[n]); /* alive while its frame runs */
        }
        lastis[n++] = cw_frame_lasti(f);
        Py_DECREF(code); /* alive while its frame runs */
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
    }
    Py_XDECREF(f);
    return n;
}

int cw_current_code_frames(PyCodeObject **codes, int *lastis, int max)
{
    return code_frames_from(PyEval_GetFrame(), codes, lastis, NULL, max);
}

int cw_current_code_frames_globals(PyCodeObject **codes, int *lastis, PyObject **globals, int max)
{
    return code_frames_from(PyEval_GetFrame(), codes, lastis, globals, max);
}

int cw_code_frames_from(PyFrameObject *frame, PyCodeObject **codes, int *lastis, int max)
{
    return code_frames_from(frame, codes, lastis, NULL, max);
}
#endif
