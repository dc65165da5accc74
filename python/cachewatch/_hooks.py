"""Which Python-level methods are hand-offs, and of what kind.

The C core runs the hooks (Hook objects); this table decides where they go.
Lock and RLock are hooked in C (their types' methods), and so is thread
start (the Starter wrapping _thread's starter)."""
import collections.abc
import copyreg
import importlib

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

# (module, class, method, kind): what each call means for ordering.
METHOD_HOOKS = [
    ("threading", "Event", "set", PUBLISH),
    ("threading", "Event", "wait", CONSUME_IF_TRUE),
    ("threading", "Event", "is_set", CONSUME_IF_TRUE),
    ("threading", "Condition", "notify", PUBLISH),
    ("threading", "Condition", "notify_all", PUBLISH),
    ("threading", "Condition", "wait", CONSUME),
    ("threading", "Condition", "wait_for", CONSUME),
    ("threading", "Semaphore", "__init__", SEM_INIT),
    ("threading", "Semaphore", "acquire", SEM_ACQUIRE),
    ("threading", "Semaphore", "__enter__", SEM_ACQUIRE),
    ("threading", "Semaphore", "release", SEM_RELEASE),
    ("threading", "BoundedSemaphore", "release", SEM_RELEASE),
    ("threading", "Barrier", "wait", PUBLISH_CONSUME),
    ("threading", "Thread", "join", JOIN),
    ("threading", "Thread", "is_alive", CONSUME_IF_FALSE),
    ("queue", "Queue", "put", PUBLISH),
    ("queue", "Queue", "get", CONSUME),
    ("queue", "Queue", "task_done", PUBLISH),
    ("queue", "Queue", "join", CONSUME),
    ("queue", "SimpleQueue", "put", PUBLISH),
    ("queue", "SimpleQueue", "put_nowait", PUBLISH),
    ("queue", "SimpleQueue", "get", CONSUME),
    ("queue", "SimpleQueue", "get_nowait", CONSUME),
    ("concurrent.futures", "Future", "set_result", PUBLISH),
    ("concurrent.futures", "Future", "set_exception", PUBLISH),
    ("concurrent.futures", "Future", "result", CONSUME),
    ("concurrent.futures", "Future", "exception", CONSUME),
    ("concurrent.futures", "Future", "done", CONSUME_IF_TRUE),
    ("concurrent.futures", "Future", "add_done_callback", CONSUME_BEFORE),
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


def _install_method(module_name, class_name, method, kind):
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name)
    original = cls.__dict__.get(method)
    if original is None or isinstance(original, _c.Hook):
        return
    _set_type_attr(cls, method, _c.Hook(kind, original))
    _undo.append(lambda: _set_type_attr(cls, method, original))


def _install_starter(module_name, attr):
    module = importlib.import_module(module_name)
    original = getattr(module, attr, None)
    if original is None or isinstance(original, _c.Starter):
        return
    setattr(module, attr, _c.Starter(original))
    _undo.append(lambda: setattr(module, attr, original))


def _install_futures_functions():
    import concurrent.futures as cf
    from concurrent.futures import _base

    original_wait = _base.wait
    original_as_completed = _base.as_completed

    def wait(fs, timeout=None, return_when=_base.ALL_COMPLETED):
        result = original_wait(fs, timeout, return_when)
        for f in result.done:
            _c.consume(f)
        return result

    def as_completed(fs, timeout=None):
        for f in original_as_completed(fs, timeout):
            _c.consume(f)
            yield f

    wait.__wrapped__ = original_wait
    as_completed.__wrapped__ = original_as_completed
    for mod in (cf, _base):
        for name, new, old in (("wait", wait, original_wait),
                               ("as_completed", as_completed, original_as_completed)):
            if getattr(mod, name, None) is old:
                setattr(mod, name, new)
                _undo.append(lambda mod=mod, name=name, old=old: setattr(mod, name, old))


def _reduce_watched(d):
    # pickle, copy and deepcopy give plain dicts.
    return (dict, (), None, None, iter(dict.items(d)))


_registered = False


def _register_types():
    global _registered
    if _registered:
        return
    copyreg.pickle(_c.WatchedDict, _reduce_watched)
    collections.abc.KeysView.register(_c.WatchedKeys)
    collections.abc.ValuesView.register(_c.WatchedValues)
    collections.abc.ItemsView.register(_c.WatchedItems)
    _registered = True


def install():
    """Put every hook in place (idempotent)."""
    if _undo:
        return
    _register_types()
    for module_name, attr in THREAD_STARTERS:
        _install_starter(module_name, attr)
    for row in METHOD_HOOKS:
        _install_method(*row)
    _install_futures_functions()


def uninstall():
    while _undo:
        _undo.pop()()
