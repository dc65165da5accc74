"""Micro benchmarks: one operation, bare, under cachewatch and under the
pure-Python baseline (bench/baseline.py), timed in interleaved rounds in one
process and, with callgrind, counted in instructions per operation.

Each case builds its state for a condition and returns a loop running the
operation n times. The bare operation's time is the loop's less an empty
loop of the same shape, measured bare; a ratio is (condition's operation) /
(bare operation).

Conditions:
  plain       cachewatch not started, plain objects;
  cachewatch  cachewatch started, the state watched (dicts, names) or, for
              locks, queues and pools, simply used (their hooks are global);
  baseline    cachewatch not started, the baseline's checked objects.

Usage: python bench/micro.py --child CASE CONDITION N   (one callgrind child;
       CONDITION may also be "empty": the case's empty loop)"""
import importlib
import os
import queue
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor

import baseline

N_KEYS = 64
KEYS = [f"key-{i}" for i in range(N_KEYS)]


def _other_thread_touches(fn):
    """A second thread uses the state once, so checks run for real."""
    t = threading.Thread(target=fn)
    t.start()
    t.join()


def _dict_for(condition, name):
    import cachewatch
    data = {k: i for i, k in enumerate(KEYS)}
    if condition == "baseline":
        d = baseline.CheckedDict(data)
    else:
        d = data
        if condition == "cachewatch":
            cachewatch.watch(d, name=f"bench.{name}")
    _other_thread_touches(lambda: d.get(KEYS[0]))
    return d


# ---- loop shapes: each runs its body n times over the 64 keys --------------

def _loop_get(d, n):
    keys = KEYS
    for _ in range(n):
        for k in keys:
            d[k]


def _loop_set(d, n):
    keys = KEYS
    for _ in range(n):
        for k in keys:
            d[k] = 1


def _loop_contains(d, n):
    keys = KEYS
    for _ in range(n):
        for k in keys:
            k in d


def _loop_method_get(d, n):
    keys = KEYS
    for _ in range(n):
        for k in keys:
            d.get(k)


def _loop_setdefault(d, n):
    keys = KEYS
    for _ in range(n):
        for k in keys:
            d.setdefault(k, 0)


def _loop_iterate(d, n):
    for _ in range(n):
        for k in d:
            pass


def _loop_empty(d, n):
    keys = KEYS
    for _ in range(n):
        for k in keys:
            pass


def _one_get(d, k):
    return d[k]


def _one_set(d, k):
    d[k] = 1


def _one_nothing(d, k):
    return None


def _call_get(d, n):
    keys = KEYS
    for _ in range(n):
        for k in keys:
            _one_get(d, k)


def _call_set(d, n):
    keys = KEYS
    for _ in range(n):
        for k in keys:
            _one_set(d, k)


def _call_empty(d, n):
    keys = KEYS
    for _ in range(n):
        for k in keys:
            _one_nothing(d, k)


def _dict_case(loop, empty):
    def make(condition):
        d = _dict_for(condition, loop.__name__)
        return (lambda n: loop(d, n)), (lambda n: empty(d, n))
    return make


def _new_keys_case(condition):
    """Each operation inserts a key never seen: a new location, a record
    stored and a stack captured (one call per operation)."""
    d = _dict_for(condition, "new_keys")
    counter = iter(range(1 << 62))

    def run(n):
        for _ in range(n):
            for k in KEYS:
                _one_set(d, next(counter))

    def empty(n):
        for _ in range(n):
            for k in KEYS:
                _one_nothing(d, next(counter))

    return run, empty


# ---- module globals -----------------------------------------------------------

GLOBALS_SOURCE = '''
CACHE = {}
COUNT = 0


def read(n):
    for _ in range(n):
        for _ in KEYS:
            CACHE


def write(n):
    global COUNT
    for _ in range(n):
        for i in KEYS:
            COUNT = i


def empty(n):
    for _ in range(n):
        for _ in KEYS:
            pass


def helper(i):
    return i


def other_names(n):
    # Globals, builtins and a call, but not the watched names.
    total = 0
    for _ in range(n):
        for i in KEYS:
            total += len(i) + helper(1)
    return total
'''

_globals_dir = None


def _globals_module(condition):
    global _globals_dir
    import cachewatch
    if _globals_dir is None:
        _globals_dir = tempfile.mkdtemp(prefix="cw-bench-")
        with open(os.path.join(_globals_dir, "bench_globals.py"), "w") as f:
            f.write(GLOBALS_SOURCE)
        sys.path.insert(0, _globals_dir)
    module = importlib.import_module("bench_globals")
    module.KEYS = KEYS
    tracer = None
    if condition == "cachewatch":
        cachewatch.watch("bench_globals:CACHE")
        cachewatch.watch("bench_globals:COUNT")
    elif condition == "baseline":
        tracer = baseline.GlobalTracer(module, ["CACHE", "COUNT"])
    _other_thread_touches(lambda: module.read(1))
    return module, tracer


def _global_case(fname, empty_name="empty"):
    def make(condition):
        module, tracer = _globals_module(condition)

        def run(n):
            if tracer:
                tracer.start()
            getattr(module, fname)(n)  # looked up now: watching rewrites code
            if tracer:
                tracer.stop()

        def empty(n):
            getattr(module, empty_name)(n)

        return run, empty
    return make


def _unrelated_module_case(condition):
    """Code of a module nothing is watched in, while another module's names
    are watched."""
    _globals_module(condition)
    namespace = {"KEYS": KEYS}
    exec(compile(GLOBALS_SOURCE, "<bench-other-module>", "exec"), namespace)
    return (lambda n: namespace["other_names"](n)), (lambda n: namespace["empty"](n))


# ---- synchronisation ---------------------------------------------------------

def _lock_case(kind, form):
    plain_types = {"Lock": threading.Lock, "RLock": threading.RLock,
                   "Semaphore": threading.Semaphore}
    checked_types = {"Lock": baseline.TrackedLock, "RLock": baseline.TrackedRLock,
                     "Semaphore": baseline.TrackedSemaphore}

    def make(condition):
        lock = (checked_types if condition == "baseline" else plain_types)[kind]()
        keys = KEYS

        if form == "with":
            def run(n):
                for _ in range(n):
                    for _ in keys:
                        with lock:
                            pass
        else:
            def run(n):
                acquire, release = lock.acquire, lock.release
                for _ in range(n):
                    for _ in keys:
                        acquire()
                        release()

        def empty(n):
            for _ in range(n):
                for _ in keys:
                    pass

        return run, empty
    return make


def _queue_case(condition):
    q = baseline.CheckedQueue() if condition == "baseline" else queue.Queue()

    def run(n):
        put, get = q.put, q.get
        for _ in range(n):
            put(1)
            get()

    return run, (lambda n: None)


def _nothing():
    return None


def _executor_case(condition):
    pool = (baseline.CheckedExecutor if condition == "baseline" else ThreadPoolExecutor)(1)
    pool.submit(_nothing).result()  # start the worker

    def run(n):
        for _ in range(n):
            pool.submit(_nothing).result()

    run.cleanup = pool.shutdown
    return run, (lambda n: None)


# ---- objects' attributes ------------------------------------------------------

class _Stats:
    def __init__(self):
        self.hits = 0


def _loop_attr_read(o, n):
    keys = KEYS
    for _ in range(n):
        for _k in keys:
            o.hits


def _loop_attr_write(o, n):
    keys = KEYS
    for _ in range(n):
        for _k in keys:
            o.hits = 1


def _attr_case(loop, which):
    """which: "watched" (the object itself) or "sibling" (another instance
    of its class, unwatched: it pays the class's attribute wrapper)."""
    def make(condition):
        import cachewatch
        obj, sibling = _Stats(), _Stats()
        if condition == "cachewatch":
            cachewatch.watch(obj, name=f"bench.obj_{loop.__name__}_{which}")
        _other_thread_touches(lambda: obj.hits)
        target = obj if which == "watched" else sibling
        return (lambda n: loop(target, n)), (lambda n: _loop_empty(target, n))
    return make


class _StatsWithGetattr(_Stats):
    def __getattr__(self, name):  # any class with one: its loads are never specialised
        raise AttributeError(name)


def _floor_case(loop, cls):
    """What the interpreter alone charges an instance whose class hooks
    attribute loads as a wrapped class does (its loads are never
    specialised), cachewatch or not: the "cachewatch" condition uses such a
    class, nothing watched."""
    def make(condition):
        target = cls() if condition == "cachewatch" else _Stats()
        return (lambda n: loop(target, n)), (lambda n: _loop_empty(target, n))
    return make


class Case:
    def __init__(self, name, make, ops_per_n, budget=None, group="dict"):
        self.name, self.make, self.ops_per_n = name, make, ops_per_n
        self.budget = budget  # (figure, limit): the budget for it
        self.group = group


DICT_BUDGET = ("ratio", 10.0)
LOCK_BUDGET = ("ratio", 2.0)
# From "Module-global rebinding": code that does not touch a watched name.
WATCHED_MODULE_BUDGET = ("ratio", 1.10)
OTHER_MODULE_BUDGET = ("ratio", 1.02)
# Issue 13: a watched object's attribute access at most 10x the bare one; an
# instance of a watched class that no second thread touches at most 2x.
ATTR_BUDGET = ("ratio", 10.0)
SIBLING_BUDGET = ("ratio", 2.0)

CASES = [
    Case("dict get d[k]", _dict_case(_loop_get, _loop_empty), N_KEYS, DICT_BUDGET),
    Case("dict set d[k]=v", _dict_case(_loop_set, _loop_empty), N_KEYS, DICT_BUDGET),
    Case("dict get, one call each", _dict_case(_call_get, _call_empty), N_KEYS, DICT_BUDGET),
    Case("dict set, one call each", _dict_case(_call_set, _call_empty), N_KEYS, DICT_BUDGET),
    Case("dict set of a new key", _new_keys_case, N_KEYS, DICT_BUDGET),
    Case("dict k in d", _dict_case(_loop_contains, _loop_empty), N_KEYS),
    Case("dict d.get(k)", _dict_case(_loop_method_get, _loop_empty), N_KEYS),
    Case("dict setdefault", _dict_case(_loop_setdefault, _loop_empty), N_KEYS),
    Case("dict iteration step", _dict_case(_loop_iterate, _loop_empty), N_KEYS),
    Case("attribute read o.x", _attr_case(_loop_attr_read, "watched"), N_KEYS, ATTR_BUDGET,
         "attr"),
    Case("attribute write o.x=v", _attr_case(_loop_attr_write, "watched"), N_KEYS, ATTR_BUDGET,
         "attr"),
    Case("unwatched instance, read", _attr_case(_loop_attr_read, "sibling"), N_KEYS,
         SIBLING_BUDGET, "attr"),
    Case("unwatched instance, write", _attr_case(_loop_attr_write, "sibling"), N_KEYS,
         SIBLING_BUDGET, "attr"),
    Case("floor: read, class with __getattr__", _floor_case(_loop_attr_read, _StatsWithGetattr),
         N_KEYS, group="attr"),
    Case("global read", _global_case("read"), N_KEYS, group="global"),
    Case("global write", _global_case("write"), N_KEYS, group="global"),
    Case("watched module, other names", _global_case("other_names", "empty"), N_KEYS,
         WATCHED_MODULE_BUDGET, group="module"),
    Case("another module", _unrelated_module_case, N_KEYS, OTHER_MODULE_BUDGET,
         group="module"),
    Case("Lock acquire+release", _lock_case("Lock", "call"), N_KEYS, LOCK_BUDGET, "lock"),
    Case("Lock with-block", _lock_case("Lock", "with"), N_KEYS, LOCK_BUDGET, "lock"),
    Case("RLock acquire+release", _lock_case("RLock", "call"), N_KEYS, group="lock"),
    Case("Semaphore acquire+release", _lock_case("Semaphore", "call"), N_KEYS, group="sync"),
    Case("Queue put+get", _queue_case, 1, group="sync"),
    Case("executor submit+result", _executor_case, 1, group="sync"),
]
BY_NAME = {c.name: c for c in CASES}


def enter(condition, quiet=True):
    """Put the process in a condition; returns the function that leaves it."""
    if condition != "cachewatch":
        return lambda: None
    import cachewatch
    cachewatch.start({"print_reports": "0", "thread_leaks": "0"})
    return lambda: cachewatch.stop(quiet=quiet)


def child(case_name, condition, n):
    """One callgrind child: build the case and run it n times; condition
    "empty" runs the plain case's empty loop."""
    leave = enter(condition)
    run, empty = BY_NAME[case_name].make("plain" if condition == "empty" else condition)
    (empty if condition == "empty" else run)(n)
    getattr(run, "cleanup", lambda: None)()
    leave()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
