"""Which Python-level methods are hand-offs, and of what kind.

The C core runs the hooks (Hook objects); this table decides where they go.
Lock and RLock are hooked in C (their types' methods), and so is thread
start (the Starter wrapping _thread's starter)."""
import collections.abc
import copy
import copyreg
import importlib
import weakref

from . import _cachewatch as _c

PUBLISH = _c.HOOK_PUBLISH
CONSUME = _c.HOOK_CONSUME
CONSUME_IF_TRUE = _c.HOOK_CONSUME_IF_TRUE
CONSUME_IF_FALSE = _c.HOOK_CONSUME_IF_FALSE
CONSUME_BEFORE = _c.HOOK_CONSUME_BEFORE
PUBLISH_CONSUME = _c.HOOK_PUBLISH_CONSUME
JOIN = _c.HOOK_JOIN
SEM_INIT = _c.HOOK_SEM_INIT
SEM_ACQUIRE = _c.HOOK_SEM_ACQUIRE
SEM_RELEASE = _c.HOOK_SEM_RELEASE
TRANSPARENT = _c.HOOK_TRANSPARENT

# (module, class, method, kind, opaque): what each call means for ordering.
# Opaque methods run unobserved inside: the locks and conditions they use
# internally are theirs, and only the hand-off they stand for counts (so a
# Semaphore(1) is a lock, not a chain of happens-before edges). A Future's
# methods are opaque too, but the done-callbacks that set_result, set_exception
# and cancel run are the user's code: _invoke_callbacks is transparent, and
# add_done_callback (which may call its callback at once) is not opaque.
# A Condition on a C lock hands off through the lock's own record (ANCHORS),
# so any acquire of the lock receives its notifies (Condition.acquire is
# never looked up: __init__ binds the lock's); its __enter__ row serves a
# Condition on a Python-level lock (eventlet's green one).
METHOD_HOOKS = [
    ("threading", "Event", "set", PUBLISH, True),
    ("threading", "Event", "wait", CONSUME_IF_TRUE, True),
    ("threading", "Event", "is_set", CONSUME_IF_TRUE, True),
    ("threading", "Condition", "__enter__", CONSUME, False),
    ("threading", "Condition", "notify", PUBLISH, True),
    ("threading", "Condition", "notify_all", PUBLISH, True),
    ("threading", "Condition", "wait", CONSUME, True),
    ("threading", "Condition", "wait_for", CONSUME, True),
    ("threading", "Semaphore", "__init__", SEM_INIT, True),
    ("threading", "Semaphore", "acquire", SEM_ACQUIRE, True),
    ("threading", "Semaphore", "__enter__", SEM_ACQUIRE, True),
    ("threading", "Semaphore", "release", SEM_RELEASE, True),
    ("threading", "BoundedSemaphore", "release", SEM_RELEASE, True),
    ("threading", "Thread", "join", JOIN, True),
    ("threading", "Thread", "is_alive", CONSUME_IF_FALSE, True),
    ("queue", "Queue", "put", PUBLISH, True),
    ("queue", "Queue", "get", CONSUME, True),
    ("queue", "Queue", "task_done", PUBLISH, True),
    ("queue", "Queue", "join", CONSUME, True),
    ("queue", "SimpleQueue", "put", PUBLISH, False),
    ("queue", "SimpleQueue", "put_nowait", PUBLISH, False),
    ("queue", "SimpleQueue", "get", CONSUME, False),
    ("queue", "SimpleQueue", "get_nowait", CONSUME, False),
    ("concurrent.futures", "Future", "set_result", PUBLISH, True),
    ("concurrent.futures", "Future", "set_exception", PUBLISH, True),
    ("concurrent.futures", "Future", "cancel", PUBLISH, True),
    ("concurrent.futures", "Future", "set_running_or_notify_cancel", CONSUME, True),
    ("concurrent.futures", "Future", "result", CONSUME, True),
    ("concurrent.futures", "Future", "exception", CONSUME, True),
    ("concurrent.futures", "Future", "done", CONSUME_IF_TRUE, True),
    ("concurrent.futures", "Future", "add_done_callback", CONSUME_BEFORE, False),
    ("concurrent.futures", "Future", "_invoke_callbacks", TRANSPARENT, False),
]

# The same for asyncio's objects (installed once asyncio is imported; the
# awaited waits are wrapped in cachewatch/_tasks.py): a queue's item and an
# event's set are hand-offs even when the taker does not wait, a future's
# result is its setter's.
ASYNCIO_METHOD_HOOKS = [
    ("asyncio", "Future", "set_result", PUBLISH, True),
    ("asyncio", "Future", "set_exception", PUBLISH, True),
    ("asyncio", "Future", "result", CONSUME, True),
    ("asyncio", "Future", "exception", CONSUME, True),
    ("asyncio", "Future", "done", CONSUME_IF_TRUE, True),
    ("asyncio", "Queue", "put_nowait", PUBLISH, True),
    ("asyncio", "Queue", "get_nowait", CONSUME, True),
    ("asyncio", "Queue", "task_done", PUBLISH, True),
    ("asyncio", "Event", "set", PUBLISH, True),
    ("asyncio", "Event", "is_set", CONSUME_IF_TRUE, True),
    ("asyncio", "Condition", "notify", PUBLISH, True),
    ("asyncio", "Condition", "notify_all", PUBLISH, True),
]

# eventlet's (installed once eventlet is imported; its locks and timers are
# in cachewatch/_greenlets.py). A GreenPool hands each finished
# greenthread's work to waitall().
EVENTLET_METHOD_HOOKS = [
    ("eventlet.event", "Event", "send", PUBLISH, True),
    ("eventlet.event", "Event", "send_exception", PUBLISH, True),
    ("eventlet.event", "Event", "wait", CONSUME, True),
    ("eventlet.event", "Event", "ready", CONSUME_IF_TRUE, True),
    ("eventlet.queue", "LightQueue", "put", PUBLISH, True),
    ("eventlet.queue", "LightQueue", "get", CONSUME, True),
    ("eventlet.queue", "Queue", "task_done", PUBLISH, True),
    ("eventlet.queue", "Queue", "join", CONSUME, True),
    ("eventlet.greenpool", "GreenPool", "_spawn_done", PUBLISH, True),
    ("eventlet.greenpool", "GreenPool", "waitall", CONSUME, True),
]

# Python-level synchronisation objects named after the C lock inside them
# (module, class, attribute path, tag): the engine sees that lock die, so
# these need no weakref death notice each (a Future's costs more than the
# Future). Objects anchored on one lock need different tags: a Thread's end
# is not its _started Event's set(). A Condition's tag is the monitor's: its
# notify() runs with its lock held, so its hand-offs go through the lock's
# own record and every later acquire of that lock receives them, whether
# through `with cond`, cond.acquire() (the lock's own bound method) or the
# lock itself.
ANCHORS = [
    ("threading", "Condition", ("_lock",), _c.TAG_MONITOR),
    ("threading", "Event", ("_cond", "_lock"), 1),
    ("threading", "Semaphore", ("_cond", "_lock"), 1),
    ("threading", "Thread", ("_started", "_cond", "_lock"), 2),
    ("queue", "Queue", ("mutex",), 1),
    ("concurrent.futures", "Future", ("_condition", "_lock"), 1),
]

# Module attributes that start threads, wrapped by the C Starter.
THREAD_STARTERS = [
    ("_thread", "start_new_thread"),
    ("_thread", "start_new"),
    ("_thread", "start_joinable_thread"),
    ("threading", "_start_new_thread"),
    ("threading", "_start_joinable_thread"),
]

_undo = []  # (setter, restore) pairs, last installed first undone


def _set_type_attr(cls, name, value):
    """Set a method on a class, including C types (through their dict)."""
    try:
        setattr(cls, name, value)
    except TypeError:
        # A static or immutable C type (SimpleQueue): the C core writes its dict.
        _c.set_type_attr(cls, name, value)


def _install_method(module_name, class_name, method, kind, opaque):
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name)
    original = cls.__dict__.get(method)
    if original is None or isinstance(original, _c.Hook):
        return
    _set_type_attr(cls, method, _c.Hook(kind, original, opaque))
    _undo.append(lambda: _set_type_attr(cls, method, original))


def wrap(cls, name, make, undo):
    """Replace cls.name by make(original) (a Python wrapper), and say in undo
    how to put the original back."""
    original = cls.__dict__[name]
    new = make(original)
    new.__wrapped__ = original
    new.__name__ = getattr(original, "__name__", name)
    setattr(cls, name, new)
    undo.append(lambda: setattr(cls, name, original))


def install_methods(rows):
    """Hook the methods of a table like METHOD_HOOKS (idempotent)."""
    for row in rows:
        _install_method(*row)


def _install_starter(module_name, attr):
    module = importlib.import_module(module_name)
    original = getattr(module, attr, None)
    if original is None or isinstance(original, _c.Starter):
        return
    setattr(module, attr, _c.Starter(original))
    _undo.append(lambda: setattr(module, attr, original))


# eventlet keeps unpatched copies of the modules its monkey_patch() replaces
# (eventlet.patcher.original: its tpool's queues and OS threads are made from
# them), each a module object of its own with classes of its own.
ORIGINAL_COPY_PREFIX = "__original_module_"


def install_on_copies():
    """Hook the unpatched copies eventlet made so far as their originals are
    (idempotent): their queues, events and thread starts are hand-offs too."""
    import sys
    for copy_name in [m for m in list(sys.modules) if m.startswith(ORIGINAL_COPY_PREFIX)]:
        name = copy_name[len(ORIGINAL_COPY_PREFIX):]
        module = sys.modules.get(copy_name)
        if module is None or getattr(module, "__cachewatch_hooked__", False):
            continue
        for module_name, class_name, path, tag in ANCHORS:
            cls = getattr(module, class_name, None) if module_name == name else None
            if isinstance(cls, type):
                _c.set_anchor(cls, path, tag)
        for module_name, attr in THREAD_STARTERS:
            if module_name == name:
                _install_starter(copy_name, attr)
        for module_name, class_name, method, kind, opaque in METHOD_HOOKS:
            if module_name == name and isinstance(getattr(module, class_name, None), type):
                _install_method(copy_name, class_name, method, kind, opaque)
        if name == "threading":
            _install_sentinel_filter(module)
        try:
            module.__cachewatch_hooked__ = True
        except AttributeError:
            pass


def install_starters():
    """Wrap the thread starters as they are now (eventlet's monkey_patch()
    replaces threading's with green ones)."""
    for module_name, attr in THREAD_STARTERS:
        _install_starter(module_name, attr)


def _install_futures_functions():
    import concurrent.futures as cf
    from concurrent.futures import _base

    original_wait = _base.wait
    original_as_completed = _base.as_completed

    from . import _pools

    def wait(fs, timeout=None, return_when=_base.ALL_COMPLETED):
        result = original_wait(fs, timeout, return_when)
        for f in result.done:
            _c.consume(f)
        _pools.after_wait(result.done, result.not_done, timeout)
        return result

    def as_completed(fs, timeout=None):
        # fs is read once (it may be an iterator); a yielded future is then
        # held by nothing here, as the original holds none.
        pending = set(fs)
        fs = None
        try:
            for f in original_as_completed(set(pending), timeout):
                pending.discard(f)
                _c.consume(f)
                if _pools._abandoned:  # else nothing for after_wait to do (per future: hot)
                    _pools.after_wait((f,), (), None)
                box = [f]
                del f  # as the original: a yielded future the caller drops is freed
                yield box.pop()
        except (TimeoutError, _base.TimeoutError):  # one class from 3.11 only
            _pools.after_as_completed_timeout(pending, timeout)
            raise

    wait.__wrapped__ = original_wait
    as_completed.__wrapped__ = original_as_completed
    for mod in (cf, _base):
        for name, new, old in (("wait", wait, original_wait),
                               ("as_completed", as_completed, original_as_completed)):
            if getattr(mod, name, None) is old:
                setattr(mod, name, new)
                _undo.append(lambda mod=mod, name=name, old=old: setattr(mod, name, old))


def _install_barrier():
    # A barrier orders everything before a cycle's wait() before everything
    # after it, in every party, and nothing more: a fast thread already in
    # the next cycle must not order the slow ones' current cycle. Cycles are
    # counted by entries (each has `parties` of them) and alternate between
    # two hand-off objects.
    import itertools
    import threading

    barrier = threading.Barrier
    original_init = barrier.__init__
    original_wait = barrier.wait
    cycles = {}   # id(barrier) -> (entry counter, (key, key)); weakly via finalize

    def __init__(self, /, *args, **kwargs):
        original_init(self, *args, **kwargs)
        cycles[id(self)] = (itertools.count(), (object(), object()))
        weakref.finalize(self, cycles.pop, id(self), None)

    def wait(self, timeout=None):
        state = cycles.get(id(self))
        if state is None:  # made before cachewatch started
            return original_wait(self, timeout)
        counter, keys = state
        key = keys[(next(counter) // self.parties) % 2]
        _c.publish(key)
        _c.busy_call_begin()
        try:
            index = original_wait(self, timeout)
        finally:
            _c.busy_call_end()
        _c.consume(key)
        return index

    for name, new, old in (("__init__", __init__, original_init), ("wait", wait, original_wait)):
        new.__wrapped__ = old
        setattr(barrier, name, new)
        _undo.append(lambda name=name, old=old: setattr(barrier, name, old))


def _install_sentinel_filter(threading=None):
    # Each thread holds its own tstate lock from start to end (3.9-3.12): it
    # never serialises anything and must not count as a held lock.
    if threading is None:
        import threading

    original = getattr(threading, "_set_sentinel", None)
    if original is None or getattr(original, "__wrapped__", None) is not None:
        return

    def _set_sentinel():
        lock = original()
        _c.ignore(lock)
        return lock

    _set_sentinel.__wrapped__ = original
    threading._set_sentinel = _set_sentinel
    _undo.append(lambda: setattr(threading, "_set_sentinel", original))


# copy.copy of a watched container is its type's __copy__ (C): a plain
# container, copied as atomically as from a plain one. deepcopy walks it live
# in Python as it walks a plain one (copy's own _deepcopy_dict and
# _deepcopy_list), so a walk racing an insertion raises as it would plain,
# and the checker sees the loop. pickle reduces to a plain container whose
# items the pickler takes from a copy made in one C call: a plain dict's are
# taken in one C loop no thread can cut, while this reducer is Python code
# (a thread switch between it and the pickler's walk would see a live dict
# change). Items go after the empty container is made (and memoised), so
# one that holds itself comes back holding itself.
def _reduce_watched_dict(d):
    return (dict, (), None, None, iter(d.copy().items()))


def _reduce_watched_list(lst):
    return (list, (), None, iter(lst))


def _reduce_watched_set(s):
    # set(a_set) copies the table as set.copy does: same order, no __eq__.
    return (set, (set.copy(s),))


def _register_deepcopy():
    dispatch = getattr(copy, "_deepcopy_dispatch", None)
    if not isinstance(dispatch, dict):
        return  # deepcopy falls back on the reducers: the same live walk
    for watched, plain in ((_c.WatchedDict, dict), (_c.WatchedList, list)):
        if plain in dispatch:
            dispatch[watched] = dispatch[plain]


_registered = False


def _register_types():
    global _registered
    if _registered:
        return
    copyreg.pickle(_c.WatchedDict, _reduce_watched_dict)
    copyreg.pickle(_c.WatchedList, _reduce_watched_list)
    copyreg.pickle(_c.WatchedSet, _reduce_watched_set)
    _register_deepcopy()
    collections.abc.KeysView.register(_c.WatchedKeys)
    collections.abc.ValuesView.register(_c.WatchedValues)
    collections.abc.ItemsView.register(_c.WatchedItems)
    collections.abc.KeysView.register(_c.WatchedODictKeys)
    collections.abc.ValuesView.register(_c.WatchedODictValues)
    collections.abc.ItemsView.register(_c.WatchedODictItems)
    _registered = True


def install():
    """Put every hook in place (idempotent)."""
    if _undo:
        return
    _register_types()
    for module_name, class_name, path, tag in ANCHORS:
        _c.set_anchor(getattr(importlib.import_module(module_name), class_name), path, tag)
    install_starters()
    for row in METHOD_HOOKS:
        _install_method(*row)
    _install_futures_functions()
    _install_sentinel_filter()
    _install_barrier()


def uninstall():
    while _undo:
        _undo.pop()()
