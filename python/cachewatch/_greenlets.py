"""Greenlets (eventlet) as logical threads (the C side is ext/cpython/logical.c).

greenlet's trace function sees every switch: the greenlet left keeps the
record it ran as, the one entered runs as its own (made on first entry). A
switch is a suspension of the greenlet left, so a check and a write with a
green sleep, I/O or lock wait between them are a check-then-act.

The hub is no thread of its own for ordering: it runs timers that many
greenthreads made. A timer carries what its maker knew (a HandOff) to the
greenlet it switches into (eventlet.spawn's first switch, an Event's wake-up),
and nothing else passes through the hub. A green lock's release wakes its
next waiter through a timer that carries nothing: locks are locksets.

Hand-offs of eventlet's own objects (Event, queues, GreenPool, and the
threading module monkey_patch() makes green) are hooked as threading's are.
gevent's primitives and hub are compiled (Cython) and cannot be hooked this
way. Under gevent every switch hands off (a total order of the greenlets'
steps, as they ran): a check-then-act is still found when another greenlet's
write landed between its check and its act in this run, never a race that
did not interleave, and that limit is said once."""
import sys
import time
import weakref

from . import _cachewatch as _c
from . import _green_pools, _pools
from ._failsafe import guarded

_os_thread = _c.os_thread

_runs_as = weakref.WeakKeyDictionary()  # greenlet -> tid it runs as (while out)
_timers = {}            # id(timer) -> HandOff of its maker (None: carries nothing)
_carry = {}             # OS thread -> the HandOff of its timer running now, until its switch
_quiet = [0]            # inside a green lock's release
_releasing = set()      # id() of the green locks being released
_names = {"n": 0}
_undo = []
on_spawn = []           # called as each greenlet is born (the targets' retry point)


def _name(glet, func=None):
    """GreenThread-3 (get_cell): its kind, a number, what it runs when known."""
    _names["n"] += 1
    run = func or getattr(glet, "__dict__", {}).get("run") or getattr(glet, "_run", None)
    what = getattr(run, "__qualname__", None)
    kind = type(glet).__name__
    return f"{kind}-{_names['n']} ({what})" if what else f"{kind}-{_names['n']}"


def _born(glet, inherited=None, func=None):
    for callback in on_spawn:
        callback()
    frame = _pools.user_frame()
    tid = _c.logical_spawn(_name(glet, func), inherited, frame)
    _runs_as[glet] = tid
    _green_pools.born(glet, tid, frame)
    return tid


def _hub_greenlet():
    hub = getattr(_hub_local[0], "hub", None)
    return getattr(hub, "greenlet", None)


_hub_local = [None]  # eventlet.hubs._threadlocal
_every_switch_hands_off = [False]  # gevent: the steps' order as they ran


@guarded
def _trace(event, args):
    if event not in ("switch", "throw"):
        return
    origin, target = args
    carry = _carry.pop(_os_thread(), None)
    if _every_switch_hands_off[0]:
        carry = True
    elif carry is None:
        hub = _hub_greenlet()
        if origin is not hub and target is not hub:
            carry = True  # a direct switch, no hub between: a hand-off
    tid = _runs_as.get(target)
    if tid is None:
        tid = _born(target, carry)
    left = _c.logical_switch(tid, carry)
    if origin.dead:
        _runs_as.pop(origin, None)
        _green_pools.died(origin, left)
        _c.logical_end(left)
    else:
        _runs_as[origin] = left


def _install_trace():
    # greenlet's trace function is per OS thread: this one's now, each
    # thread's started from now as it begins (one started earlier that runs
    # greenlets of its own is not seen switching).
    import greenlet

    def trace_this_thread():
        previous = greenlet.gettrace()

        def trace(event, args):
            _trace(event, args)
            if previous is not None:
                return previous(event, args)

        greenlet.settrace(trace)
        return previous

    previous = trace_this_thread()
    _c.on_os_thread_start(guarded(trace_this_thread))
    _undo.append(lambda: (_c.on_os_thread_start(None), greenlet.settrace(previous)))


def install_eventlet(eventlet):
    """Trace greenlet switches; hook eventlet's timers and primitives."""
    if _undo:
        return
    from eventlet import hubs
    _hub_local[0] = hubs._threadlocal
    _install_trace()
    _install_timers()
    _install_primitives()


def _patch(cls, name, make):
    from . import _hooks
    _hooks.wrap(cls, name, make, _undo)


def _install_timers():
    # Around, not Python wrappers: eventlet's timer debugging records the
    # stack that made a timer, which a wrapper's frame would be part of.
    import greenlet
    from eventlet.hubs import timer

    def timer_made(timer_, _state):
        cb, args, _ = timer_.tpl
        glet = getattr(cb, "__self__", None)
        if isinstance(glet, greenlet.greenlet) and not glet and not glet.dead \
                and glet not in _runs_as:
            # spawned: made here, by whoever scheduled its start (its first
            # switch's arguments: what it runs)
            _born(glet, func=args[0] if args and callable(args[0]) else None)
        _timers[id(timer_)] = None if _quiet[0] else _c.hand_off()

    def firing(timer_, *args):
        _carry[_os_thread()] = _timers.pop(id(timer_), None)

    def fired(timer_, _state):
        _carry.pop(_os_thread(), None)

    def cancelling(timer_, *args):
        _timers.pop(id(timer_), None)

    for name, before, after in (("__init__", None, timer_made), ("__call__", firing, fired),
                                ("cancel", cancelling, None)):
        original = timer.Timer.__dict__[name]
        setattr(timer.Timer, name, _c.Around(original, before, after))
        _undo.append(lambda name=name, original=original: setattr(timer.Timer, name, original))


def _install_primitives():
    from eventlet import semaphore

    def acquire(original):
        def acquire_(self, *args, **kwargs):
            got = original(self, *args, **kwargs)
            if got:
                bound = getattr(self, "original_counter", None)
                _c.lock_acquired(self, bound == 1 if bound is not None else self.counter == 0)
            return got
        return acquire_

    def release(original):
        def release_(self, *args, **kwargs):
            outer = id(self) not in _releasing  # BoundedSemaphore's calls Semaphore's
            if outer:
                _c.lock_released(self)
                _releasing.add(id(self))
            _quiet[0] += 1
            try:
                return original(self, *args, **kwargs)
            finally:
                _quiet[0] -= 1
                if outer:
                    _releasing.discard(id(self))
        return release_

    # eventlet's Lock (threading.Lock once monkey-patched) has a release of
    # its own that does not call Semaphore's.
    from eventlet import lock
    for cls in (semaphore.Semaphore, semaphore.BoundedSemaphore, lock.Lock):
        if "acquire" in cls.__dict__:
            _patch(cls, "acquire", acquire)
        if "release" in cls.__dict__:
            _patch(cls, "release", release)
    from . import _hooks
    _hooks.install_methods(_hooks.EVENTLET_METHOD_HOOKS)
    from eventlet import greenpool, greenthread
    for name in ("spawn", "spawn_n"):  # they wait for room: bounded
        _patch(greenpool.GreenPool, name, _green_pools.bounded)
    _patch(greenthread.GreenThread, "wait", _waiting)


def _waiting(wait):
    """GreenThread.wait: cut (an eventlet Timeout), its waiter gave up."""
    def wait_(self, *args, **kwargs):
        try:
            result = wait(self, *args, **kwargs)
        except BaseException as exc:
            if not self.dead:
                _green_pools.gave_up([self], f"its wait was cut by {type(exc).__name__}")
            raise
        _green_pools.waited_again(self)
        return result
    return wait_


def install_gevent(gevent):
    """Trace greenlet switches, each a hand-off (said once)."""
    if _undo:
        return
    print("cachewatch: gevent's locks and events are compiled and cannot be hooked: its "
          "greenlets are ordered as they ran, and a race between them is reported only "
          "when it interleaved in this run", file=sys.stderr)
    _every_switch_hands_off[0] = True
    _undo.append(lambda: _every_switch_hands_off.__setitem__(0, False))
    _install_trace()
    # A greenlet is made where it is spawned (its Greenlet type is compiled:
    # the spawning functions are wrapped instead).
    for name, wrap in (("spawn", _spawning), ("spawn_later", _spawning),
                       ("joinall", _joining_all)):
        original = getattr(gevent, name, None)
        if original is not None:
            setattr(gevent, name, wrap(original))
            _undo.append(lambda name=name, original=original: setattr(gevent, name, original))


def install_gevent_pool(pool):
    """gevent.pool's Group.spawn makes its greenlet where it is called; a
    Pool with a size waits for room (bounded)."""
    if not _every_switch_hands_off[0]:
        return
    original = pool.Group.__dict__.get("spawn")
    if original is None or hasattr(original, "__wrapped__"):
        return
    unbounded, bounded = _spawning(original), _green_pools.bounded(_spawning(original))

    def spawn(self, *args, **kwargs):
        sized = getattr(self, "size", None) is not None
        return (bounded if sized else unbounded)(self, *args, **kwargs)

    spawn.__wrapped__ = original
    pool.Group.spawn = spawn
    _undo.append(lambda: setattr(pool.Group, "spawn", original))


def _joining_all(joinall):
    """gevent.joinall(timeout=) returning with greenlets alive gave up on them."""
    def joinall_(greenlets, timeout=None, *args, **kwargs):
        greenlets = list(greenlets)
        result = joinall(greenlets, timeout, *args, **kwargs)
        if timeout is not None:
            _green_pools.gave_up([g for g in greenlets if not g.dead],
                                 f"gevent.joinall timeout={timeout}")
        return result
    joinall_.__wrapped__ = joinall
    return joinall_


def _spawning(original):
    def spawn(*args, **kwargs):
        glet = original(*args, **kwargs)
        try:
            if glet not in _runs_as and not glet.dead:
                _born(glet)
        except Exception:  # a spawn must never fail on our account
            pass
        return glet
    spawn.__wrapped__ = original
    spawn.__doc__ = getattr(original, "__doc__", None)
    return spawn


def _sleeper():
    """The green sleep of the library in use, or None."""
    for name in ("eventlet", "gevent"):
        module = sys.modules.get(name)
        if module is not None and _undo:
            return getattr(module, "sleep", None)
    return None


def _is_hub(glet):
    if glet is _hub_greenlet():
        return True
    hub_module = sys.modules.get("gevent.hub")
    return hub_module is not None and isinstance(glet, getattr(hub_module, "Hub", ()))


def _suspects():
    threads = set(getattr(__import__("threading"), "_active", {}))
    found = []
    for glet, tid in list(_runs_as.items()):
        if glet.dead or not glet or glet.parent is None or _is_hub(glet) or id(glet) in threads:
            continue  # finished, not started, a main greenlet, a hub, a threading.Thread
        if _pools.made_in_scope(tid):
            found.append((glet, tid))
    return found


@guarded
def check_leaks():
    """Greenthreads made while checking and still running at its end (the
    green twin of thread-leak), after up to thread_leak_grace_ms of green
    sleep for them to finish."""
    if not _undo or not _c.options().get("thread_leaks", 1):
        return
    import greenlet
    suspects = _suspects()
    sleep = _sleeper()
    if suspects and sleep is not None and greenlet.getcurrent().parent is None:
        deadline = time.monotonic() + _c.options().get("thread_leak_grace_ms", 1000) / 1000
        while time.monotonic() < deadline and any(not g.dead for g, _ in suspects):
            sleep(0.005)
    for glet, tid in suspects:
        if glet.dead or _green_pools.still_running(glet, tid):
            continue
        created, parent, name = _c.logical_created(tid) or (0, 0, "?")
        _c.add_finding("thread-leak", "greenthread",
                       f"greenthread '{name}' made while checking and still running when "
                       "checking ended (it is dropped at exit)", {},
                       [(f"Greenthread '{name}' created", parent, created)],
                       f"greenthread:{created}")


def uninstall():
    while _undo:
        _undo.pop()()
    _timers.clear()
    _carry.clear()
    _green_pools.clear()
