"""The same checks as cachewatch, written the obvious way in pure Python: the
yardstick that shows what the C core is worth.

A hybrid detector like cachewatch's, kept small: vector clocks as dicts,
locksets as frozensets of wrapped locks, a short access history per key
with the stack captured (frames walked) whenever a record is stored, hand-offs
through wrapped queues and executors, and global names traced with
sys.settrace opcode events (the only way pure Python sees LOAD_GLOBAL).
It finds the same kinds of race on these workloads; it is not a product.

Everything here is used by bench/micro.py's "baseline" condition only."""
import _thread
import dis
import queue
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

HISTORY = 12
MAX_FRAMES = 32

_guard = _thread.allocate_lock()  # the checker's own lock, never tracked
_local = threading.local()
_next_tid = [0]
reports = []


class _Thread:
    __slots__ = ("tid", "vc", "held")

    def __init__(self):
        with _guard:
            _next_tid[0] += 1
            self.tid = _next_tid[0]
        self.vc = {self.tid: 1}
        self.held = []


def _me():
    st = getattr(_local, "st", None)
    if st is None:
        st = _local.st = _Thread()
    return st


def _stack(depth):
    frames = []
    f = sys._getframe(depth)
    while f is not None and len(frames) < MAX_FRAMES:
        code = f.f_code
        frames.append((code.co_filename, f.f_lineno, code.co_name))
        f = f.f_back
    return tuple(frames)


def _join(into, other):
    for tid, clock in other.items():
        if into.get(tid, 0) < clock:
            into[tid] = clock


def _publish(st):
    snap = dict(st.vc)
    st.vc[st.tid] += 1
    return snap


class _Record:
    __slots__ = ("tid", "clock", "write", "locks", "site", "stack")

    def __init__(self, tid, clock, write, locks, site, stack):
        self.tid, self.clock, self.write = tid, clock, write
        self.locks, self.site, self.stack = locks, site, stack


def _access(cells, key, write, depth):
    st = _me()
    locks = frozenset(st.held)
    caller = sys._getframe(depth)
    site = (caller.f_code, caller.f_lasti)
    clock = st.vc[st.tid]
    with _guard:
        history = cells.get(key)
        if history is None:
            history = cells[key] = []
        own = None
        for r in history:
            if r.tid == st.tid:
                if r.site == site and r.write == write and r.locks == locks:
                    own = r
                continue
            if (write or r.write) and r.clock > st.vc.get(r.tid, 0) and not (r.locks & locks):
                reports.append((key, r.stack, _stack(depth + 1)))
        if own is not None and own.clock == clock:
            return
        if own is not None:
            own.clock = clock
            return
        history.append(_Record(st.tid, clock, write, locks, site, _stack(depth + 1)))
        if len(history) > HISTORY:
            del history[0]


class CheckedDict(dict):
    """A dict whose single-key operations are checked."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._cells = {}

    def __getitem__(self, key):
        _access(self._cells, key, False, 2)
        return dict.__getitem__(self, key)

    def __setitem__(self, key, value):
        _access(self._cells, key, True, 2)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key):
        _access(self._cells, key, True, 2)
        dict.__delitem__(self, key)

    def __contains__(self, key):
        _access(self._cells, key, False, 2)
        return dict.__contains__(self, key)

    def get(self, key, default=None):
        _access(self._cells, key, False, 2)
        return dict.get(self, key, default)

    def setdefault(self, key, default=None):
        _access(self._cells, key, True, 2)
        return dict.setdefault(self, key, default)

    def __iter__(self):
        _access(self._cells, "<structure>", False, 2)
        return dict.__iter__(self)


class TrackedLock:
    """A lock that is a lockset member while held by its acquirer, and a
    hand-off when released by another thread."""

    def __init__(self, inner=None):
        self._lock = inner if inner is not None else _thread.allocate_lock()
        self._owner = None
        self._vc = None

    def acquire(self, blocking=True, timeout=-1):
        ok = self._lock.acquire(blocking, timeout)
        if ok:
            st = _me()
            if self._vc is not None:
                _join(st.vc, self._vc)
            self._owner = st.tid
            st.held.append(self)
        return ok

    def release(self):
        st = _me()
        if self._owner == st.tid:
            st.held.remove(self)
        else:
            self._vc = _publish(st)
        self._owner = None
        self._lock.release()

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()


class TrackedRLock(TrackedLock):
    def __init__(self):
        super().__init__(_thread.RLock())


class TrackedSemaphore(TrackedLock):
    def __init__(self, value=1):
        super().__init__(threading.Semaphore(value))


class CheckedQueue(queue.Queue):
    """Each item carries its sender's clock to its receiver."""

    def put(self, item, block=True, timeout=None):
        super().put((_publish(_me()), item), block, timeout)

    def get(self, block=True, timeout=None):
        vc, item = super().get(block, timeout)
        _join(_me().vc, vc)
        return item


class CheckedExecutor(ThreadPoolExecutor):
    """Submit hands the caller's clock to the task; the result hands the
    task's clock back."""

    def submit(self, fn, *args, **kwargs):
        sent = _publish(_me())
        box = {}

        def task():
            st = _me()
            _join(st.vc, sent)
            try:
                return fn(*args, **kwargs)
            finally:
                box["vc"] = _publish(st)

        future = super().submit(task)
        inner_result = future.result

        def result(timeout=None):
            value = inner_result(timeout)
            _join(_me().vc, box.get("vc", {}))
            return value

        future.result = result
        return future


class GlobalTracer:
    """Checks loads and stores of a module's watched names, seen through
    sys.settrace opcode events."""

    def __init__(self, module, names):
        self.module_dict = vars(module)
        self.names = set(names)
        self.cells = {}
        self._ops = {}

    def _watched_op(self, code, offset):
        ops = self._ops.get(code)
        if ops is None:
            ops = self._ops[code] = {
                ins.offset: ins for ins in dis.get_instructions(code)
                if ins.opname in ("LOAD_GLOBAL", "STORE_GLOBAL", "LOAD_NAME", "STORE_NAME")
                and ins.argval in self.names}
        return ops.get(offset)

    def _trace(self, frame, event, arg):
        if frame.f_globals is not self.module_dict:
            return None
        frame.f_trace_opcodes = True
        if event == "opcode":
            ins = self._watched_op(frame.f_code, frame.f_lasti)
            if ins is not None:
                _access(self.cells, ins.argval, ins.opname.startswith("STORE"), 2)
        return self._trace

    def start(self):
        sys.settrace(self._trace)
        threading.settrace(self._trace)

    def stop(self):
        sys.settrace(None)
        threading.settrace(None)
