/* stack.c: capture the current Python stack (and native frames when asked)
 * into a scratch buffer, intern it in the depot, and symbolise on a miss.
 *
 * Frame keys are code object addresses; every code object that appears in a
 * depot entry is kept alive (code_refs) so an address never names two
 * different code objects. Guarded by the GIL: code_refs, the class cache
 * (the code's co_extra slot, or the "ours" table). Without the GIL: a
 * PyMutex for code_refs; the table only (read per frame) as a lock-free
 * snapshot replaced on a miss. */
#include "binding.h"

#include <string.h>

#include "depot.h"
#include "hashtable.h"

/* The frame's instruction offset, one per call: 3.11 makes some calls from
 * a specialised PRECALL and others from the CALL after it (PRECALL has one
 * cache entry), and a race is named by where its accesses were. */
static int call_site_offset(PyCodeObject *code, int offset)
{
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
    if (cw_opcode.precall >= 0 && cw_code_opcode(code, offset) == cw_opcode.precall)
        offset += 4;
#else
    (void)code;
#endif
    return offset;
}

#define MAX_CAPTURE 256
#define MAX_NATIVE 256

static PyObject *code_refs;  /* Owned: set of code objects named by the depot */
static cw_hashtable ours;    /* code address -> its class (CW_CODE_*), when
                                co_extra cannot hold it */
static int ours_ready;
/* The code objects' extra slot holding (class_generation << 3 | class), or
 * -1. A class is decided again when the generation moves on: a new session
 * (whose code_refs must keep the code alive again) or other omitted dirs.
 * Requested once per process (an index cannot be given back). The
 * free-threaded build keeps to the table: co_extra has no lock of its own. */
static Py_ssize_t extra_index = -2; /* -2: not asked yet */
static uintptr_t class_generation = 1;
static PyObject *our_dir;    /* Owned: str, the package directory */
static PyObject *omitted;    /* Owned: tuple of str, more directories whose frames
                                are how the program runs, not the program (pytest) */

/* Stacks moved to a check site, cached: a region's write asks for the same
 * one each time its record is stored again (guarded by the GIL). */
#define MOVED_CACHE 256
static struct moved {
    cw_stack_id stack, moved;
    cw_site site;
} moved_cache[MOVED_CACHE];

static cw_stack_id move_to_site(cw_stack_id stack, cw_site site);

int cw_stack_init(void)
{
    if (code_refs == NULL && (code_refs = PySet_New(NULL)) == NULL)
        return -1;
    if (!ours_ready) {
        if (cw_ht_init(&ours, 256, NULL, NULL, CW_MEM_MISC) < 0)
            return -1;
        ours_ready = 1;
    }
#ifndef Py_GIL_DISABLED
    if (extra_index == -2 && (extra_index = cw_code_extra_index()) < 0) {
        extra_index = -1;
        PyErr_Clear();
    }
#endif
    if (our_dir == NULL) {
        PyObject *mod = PyImport_ImportModule("cachewatch");
        PyObject *file = mod ? PyObject_GetAttrString(mod, "__file__") : NULL;
        Py_XDECREF(mod);
        if (file && PyUnicode_Check(file)) {
            Py_ssize_t len = PyUnicode_GetLength(file);
            Py_ssize_t slash = PyUnicode_FindChar(file, '/', 0, len, -1);
            our_dir = slash > 0 ? PyUnicode_Substring(file, 0, slash + 1) : NULL;
        }
        Py_XDECREF(file);
        PyErr_Clear();
    }
    return 0;
}

void cw_stack_fini(void)
{
    memset(moved_cache, 0, sizeof(moved_cache)); /* stack ids die with the depot */
    Py_CLEAR(code_refs);
    Py_CLEAR(our_dir);
    if (ours_ready)
        cw_ht_fini(&ours);
    ours_ready = 0;
    class_generation++;
}

/* Frames of cachewatch's own Python code, of runpy and of the import
 * machinery (a module's body runs under "<frozen importlib._bootstrap>")
 * are left out of stacks. The answer is cached per code object. */
int cw_code_is_ours(PyCodeObject *code)
{
    int cls = cw_code_class(code);
    return cls == CW_CODE_OURS || cls == CW_CODE_IMPORT;
}

/* The class cached on the code object, or 0. */
static int cached_class(PyCodeObject *code)
{
    if (extra_index < 0)
        return (int)(uintptr_t)cw_ht_get(&ours, (uintptr_t)code);
    void *extra = NULL;
    if (cw_code_get_extra((PyObject *)code, extra_index, &extra) < 0) {
        PyErr_Clear();
        return 0;
    }
    uintptr_t v = (uintptr_t)extra;
    return v >> 3 == class_generation ? (int)(v & 7) : 0;
}

static void cache_class(PyCodeObject *code, int cls)
{
    if (extra_index < 0)
        cw_ht_put(&ours, (uintptr_t)code, (void *)(uintptr_t)cls);
    else if (cw_code_set_extra((PyObject *)code, extra_index,
                               (void *)(class_generation << 3 | (uintptr_t)cls)) < 0)
        PyErr_Clear();
}

int cw_code_class(PyCodeObject *code)
{
    if (!ours_ready)
        return CW_CODE_PROGRAM;
    int known = cached_class(code);
    if (known)
        return known;
    int mine = 0, threading = 0, import = 0;
    PyObject *file = code->co_filename;
    if (file && PyUnicode_Check(file)) {
        if (our_dir && PyUnicode_Tailmatch(file, our_dir, 0, PY_SSIZE_T_MAX, -1) == 1)
            mine = 1;
        for (Py_ssize_t i = 0; !mine && omitted && i < PyTuple_GET_SIZE(omitted); i++) {
            if (PyUnicode_Tailmatch(file, PyTuple_GET_ITEM(omitted, i), 0, PY_SSIZE_T_MAX, -1) == 1)
                mine = 1;
        }
        if (!mine) {
            /* runpy.py, or "<frozen runpy>" when frozen (3.11+) */
            PyObject *runpy = PyUnicode_FromString("runpy.py");
            PyObject *frozen = PyUnicode_FromString("<frozen runpy>");
            PyObject *importlib = PyUnicode_FromString("<frozen importlib.");
            if ((runpy && PyUnicode_Tailmatch(file, runpy, 0, PY_SSIZE_T_MAX, 1) == 1) ||
                (frozen && PyUnicode_Compare(file, frozen) == 0))
                mine = 1;
            else if (importlib && PyUnicode_Tailmatch(file, importlib, 0, PY_SSIZE_T_MAX, -1) == 1)
                import = 1;
            Py_XDECREF(runpy);
            Py_XDECREF(frozen);
            Py_XDECREF(importlib);
        }
        if (!mine && !import) {
            PyObject *name = PyUnicode_FromString("/threading.py");
            threading = name && PyUnicode_Tailmatch(file, name, 0, PY_SSIZE_T_MAX, 1) == 1;
            Py_XDECREF(name);
        }
    }
    PyErr_Clear();
    /* Keep the code alive so the address keeps meaning this code object. */
    if (PySet_Add(code_refs, (PyObject *)code) < 0)
        PyErr_Clear();
    int cls = mine     ? CW_CODE_OURS
              : import    ? CW_CODE_IMPORT
              : threading ? CW_CODE_THREADING
                          : CW_CODE_PROGRAM;
    cache_class(code, cls);
    return cls;
}

static cw_str_id intern_pystr(PyObject *s)
{
    const char *u = (s && PyUnicode_Check(s)) ? PyUnicode_AsUTF8(s) : NULL;
    if (u == NULL) {
        PyErr_Clear();
        return 0;
    }
    return cw_str_intern(u);
}

static void symbolize_python(cw_frame *f)
{
    PyCodeObject *code = (PyCodeObject *)f->pc;
    f->line = PyCode_Addr2Line(code, f->offset);
    f->file = intern_pystr(code->co_filename);
    f->function = intern_pystr(cw_code_qualname(code));
}

/* Walk Python frames from `frame` outward into out (at most max). With
 * entries, also note which frames began a run of the evaluation loop
 * (entries[i] for out[i]; an omitted frame passes its mark outward). */
static uint32_t walk_python_marked(PyFrameObject *frame, cw_frame *out, int8_t *entries,
                                   uint32_t max)
{
    uint32_t n = 0;
    int pending_entry = 0;
    PyFrameObject *f = frame;
    Py_XINCREF(f);
    while (f != NULL && n < max) {
        PyCodeObject *code = cw_frame_code(f);
        int entry = entries ? cw_frame_is_entry(f) : 0;
        /* Omit cachewatch's own frames (wrappers, the CLI runner) and
         * runpy's: they are how the program was started, not the program. */
        if (!cw_code_is_ours(code)) {
            if (entries)
                entries[n] = (int8_t)(entry < 0 ? -1 : (entry || pending_entry));
            pending_entry = 0;
            out[n++] = (cw_frame){(uintptr_t)code, call_site_offset(code, cw_frame_lasti(f)), 0, 0,
                                  0};
        } else if (entry > 0 && n > 0) {
            entries[n - 1] = 1; /* the run began at or below an omitted frame */
        }
        Py_DECREF(code); /* kept alive by code_refs via cw_code_is_ours */
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
    }
    Py_XDECREF(f);
    return n;
}

/* The frames of running code already read (cw_code_frames_from: as the
 * interpreter keeps them, with no frame object made), ours left out. */
static uint32_t keep_code_frames(PyCodeObject *const *codes, const int *lastis, int n,
                                 cw_frame *out, uint32_t max)
{
    uint32_t kept = 0;
    for (int i = 0; i < n && kept < max; i++) {
        if (!cw_code_is_ours(codes[i])) /* kept alive by code_refs from here on */
            out[kept++] = (cw_frame){(uintptr_t)codes[i], call_site_offset(codes[i], lastis[i]),
                                     0, 0, 0};
    }
    return kept;
}

/* Native frames with the Python frames placed where they ran: each frame of
 * the evaluation loop stands for the Python frames of its run (up to the
 * frame that began it). Where CPython does not say where runs begin, all
 * Python frames go at the innermost loop. */
static uint32_t walk_mixed(PyFrameObject *frame, cw_frame *out, uint32_t max)
{
    uintptr_t pcs[MAX_NATIVE];
    int np = cw_unwind_capture(pcs, MAX_NATIVE);
    cw_frame py[MAX_CAPTURE];
    int8_t entries[MAX_CAPTURE];
    uint32_t npy = frame ? walk_python_marked(frame, py, entries, MAX_CAPTURE) : 0;
    uint32_t n = 0, ip = 0;
    for (int i = 0; i < np && n < max; i++) {
        if (cw_unwind_is_ours(pcs[i]))
            continue; /* cachewatch's own frames (hooks, the thread trampoline) */
        if (cw_unwind_is_eval_frame(pcs[i])) {
            while (ip < npy && n < max) {
                int8_t entry = entries[ip];
                out[n++] = py[ip++];
                if (entry == 1)
                    break; /* this run of the loop began here */
            }
            continue;
        }
        out[n++] = (cw_frame){pcs[i], CW_FRAME_NATIVE, 0, 0, 0};
    }
    while (ip < npy && n < max)
        out[n++] = py[ip++];
    return n;
}

static cw_stack_id intern(cw_frame *frames, uint32_t n)
{
    cw_stack_id id = cw_depot_find(frames, n);
    if (id != 0)
        return id;
    for (uint32_t i = 0; i < n; i++) {
        if (frames[i].offset == CW_FRAME_NATIVE)
            cw_unwind_symbolize(frames[i].pc, &frames[i]);
        else
            symbolize_python(&frames[i]);
    }
    return cw_depot_put(frames, n);
}

static cw_stack_id capture(PyFrameObject *frame, int native);

/* The stack from frame outward with its native frames (native), or of the
 * running Python frames read already (codes, lastis: n of them). */
static cw_stack_id capture_of(PyFrameObject *frame, int native, PyCodeObject *const *codes,
                              const int *lastis, int n)
{
    cw_saved_error saved;
    cw_error_save(&saved);
    cw_tls_state.busy++;
    cw_frame frames[MAX_CAPTURE];
    uint32_t max = (uint32_t)cw_options.max_frames;
    if (max > MAX_CAPTURE)
        max = MAX_CAPTURE;
    uint32_t kept = native ? walk_mixed(frame, frames, max)
                           : keep_code_frames(codes, lastis, n, frames, max);
    cw_stack_id id = intern(frames, kept);
    cw_tls_state.busy--;
    cw_error_restore(&saved);
    return id;
}

static cw_stack_id capture_from(PyFrameObject *frame)
{
    return capture(frame, cw_options.native_stacks && cw_unwind_available());
}

cw_stack_id cw_capture_stack_of(PyFrameObject *frame)
{
    return capture(frame, 0); /* another thread's: its native frames are not ours to unwind */
}

/* Stacks made from running frames lately, by the frames they were made of:
 * an access in a coroutine (whose callers change between resumptions, so no
 * thread caches its stack) or a task's birth is made again and again from
 * the same frames. A code object named by a depot entry lives as long as
 * the depot (code_refs), one left out is ours (alive), one past the frames
 * kept does not change the stack, and the generation moves on with a new
 * depot or other omitted dirs: equal addresses make the same stack.
 * Direct-mapped; guarded by the GIL (without it, per thread). */
#define MADE_CACHE 16
#define MADE_FRAMES 64 /* deeper stacks are made each time */
static struct made {
    uintptr_t generation;
    int n;
    PyCodeObject *codes[MADE_FRAMES];
    int lastis[MADE_FRAMES];
    cw_stack_id id;
} made_cache[MADE_CACHE];

cw_stack_id cw_stack_of_code_frames(PyCodeObject *const *codes, const int *lastis, int n)
{
    if (n > MAX_CAPTURE)
        n = MAX_CAPTURE; /* what keep_code_frames would read at most */
    if (n > MADE_FRAMES)
        return capture_of(NULL, 0, codes, lastis, n);
    uint64_t h = (uint64_t)n;
    for (int i = 0; i < n; i++)
        h = cw_hash_word(h ^ (uintptr_t)codes[i] ^ ((uint64_t)(uint32_t)lastis[i] << 48));
    struct made *m = &made_cache[h % MADE_CACHE];
    if (m->id != 0 && m->generation == class_generation && m->n == n &&
        memcmp(m->codes, codes, (size_t)n * sizeof(*codes)) == 0 &&
        memcmp(m->lastis, lastis, (size_t)n * sizeof(*lastis)) == 0)
        return m->id;
    cw_stack_id id = capture_of(NULL, 0, codes, lastis, n);
    if (id != 0) {
        m->id = id;
        m->generation = class_generation;
        m->n = n;
        memcpy(m->codes, codes, (size_t)n * sizeof(*codes));
        memcpy(m->lastis, lastis, (size_t)n * sizeof(*lastis));
    }
    return id;
}

static cw_stack_id capture(PyFrameObject *frame, int native)
{
    if (native)
        return capture_of(frame, 1, NULL, NULL, 0);
    PyCodeObject *codes[MAX_CAPTURE];
    int lastis[MAX_CAPTURE];
    int n = cw_code_frames_from(frame, codes, lastis, MAX_CAPTURE);
    return cw_stack_of_code_frames(codes, lastis, n);
}

int cw_stack_omit_under(PyObject *dirs)
{
    PyObject *t = PySequence_Tuple(dirs);
    if (t == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t); i++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(t, i))) {
            Py_DECREF(t);
            PyErr_SetString(PyExc_TypeError, "omit_frames_under wants directories (str)");
            return -1;
        }
    }
    Py_XSETREF(omitted, t);
    class_generation++;
    if (ours_ready) { /* decided before: decide again */
        cw_ht_fini(&ours);
        if (cw_ht_init(&ours, 256, NULL, NULL, CW_MEM_MISC) < 0) {
            ours_ready = 0;
            PyErr_NoMemory();
            return -1;
        }
    }
    return 0;
}

cw_stack_id cw_capture_stack(void)
{
    return capture_from(PyEval_GetFrame());
}

cw_opcodes cw_opcode = {-1, -1, -1, -1, -1};

static int opcode_of(PyObject *opmap, const char *name)
{
    PyObject *v = PyDict_GetItemString(opmap, name);
    return v ? (int)PyLong_AsLong(v) : -1;
}

int cw_opcodes_init(void)
{
    PyObject *dis = PyImport_ImportModule("dis");
    PyObject *opmap = dis ? PyObject_GetAttrString(dis, "opmap") : NULL;
    Py_XDECREF(dis);
    if (opmap == NULL)
        return -1;
    cw_opcode.binary_subscr = opcode_of(opmap, "BINARY_SUBSCR");
    cw_opcode.binary_op = opcode_of(opmap, "BINARY_OP");
    cw_opcode.contains = opcode_of(opmap, "CONTAINS_OP");
    cw_opcode.for_iter = opcode_of(opmap, "FOR_ITER");
    cw_opcode.precall = opcode_of(opmap, "PRECALL");
    Py_DECREF(opmap);
    return 0;
}

cw_site cw_frame_site(PyFrameObject *frame, int lasti)
{
    if (frame == NULL)
        return (cw_site){0, 0};
    PyCodeObject *code = cw_frame_code(frame);
    cw_site site = {(uintptr_t)code, call_site_offset(code, lasti)};
    Py_DECREF(code); /* alive as long as the frame runs */
    return site;
}

PyFrameObject *cw_current_site(cw_site *site)
{
    PyFrameObject *frame = PyEval_GetFrame();
    *site = cw_frame_site(frame, frame ? cw_frame_lasti(frame) : -1);
    return frame;
}

cw_stack_id cw_stack_for(cw_thread *t, PyFrameObject *frame, cw_site site)
{
    cw_stack_id id = cw_thread_cached_stack(t, (uintptr_t)frame, site);
    if (id != 0)
        return id;
    id = capture_from(frame);
    /* A generator's callers change between resumptions: never cache them. */
    PyCodeObject *code = cw_frame_code(frame);
    int resumable = code->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR);
    Py_DECREF(code);
    if (id != 0 && !resumable)
        cw_thread_cache_stack(t, (uintptr_t)frame, site, id);
    return id;
}


cw_stack_id cw_stack_with_site(cw_stack_id stack, cw_site site)
{
    struct moved *m = &moved_cache[cw_hash_word(((uint64_t)stack << 32) ^ site.code ^
                                                (uint64_t)(uint32_t)site.offset) &
                                   (MOVED_CACHE - 1)];
    if (m->moved != 0 && m->stack == stack && cw_site_eq(m->site, site))
        return m->moved;
    cw_stack_id id = move_to_site(stack, site);
    if (id != 0)
        *m = (struct moved){stack, id, site};
    return id;
}

static cw_stack_id move_to_site(cw_stack_id stack, cw_site site)
{
    uint32_t n;
    const cw_frame *src = cw_depot_get(stack, &n);
    if (n == 0 || n > MAX_CAPTURE)
        return 0;
    cw_frame frames[MAX_CAPTURE];
    memcpy(frames, src, n * sizeof(cw_frame));
    for (uint32_t i = 0; i < n; i++) {
        if (frames[i].offset != CW_FRAME_NATIVE && frames[i].pc == site.code) {
            frames[i].offset = site.offset;
            frames[i].line = PyCode_Addr2Line((PyCodeObject *)site.code, site.offset);
            break;
        }
    }
    return cw_depot_put(frames, n);
}

cw_stack_id cw_stack_of_site(cw_site site)
{
    if (cw_site_is_null(site))
        return 0;
    cw_frame f = {site.code, site.offset, 0, 0, 0};
    cw_tls_state.busy++;
    cw_code_is_ours((PyCodeObject *)site.code); /* keeps the code alive */
    cw_stack_id id = intern(&f, 1);
    cw_tls_state.busy--;
    return id;
}
