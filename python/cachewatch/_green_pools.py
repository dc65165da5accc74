"""Greenthreads judged as pools and tasks are (the green twin of
cachewatch/_task_pools.py; thread-leak is in _greenlets.check_leaks).

- unbounded-pool: pool_backlog greenthreads made at one line alive at once,
  spawned with no bound (eventlet.spawn or spawn_n, gevent.spawn, a gevent
  Group or a Pool with no size); a GreenPool's or a sized Pool's spawn waits
  for room and is not counted;
- abandoned-task: a greenthread its waiter gave up on (a GreenThread.wait
  cut by an eventlet Timeout, gevent.joinall(timeout=) returning with it
  alive) that ran on for abandoned_ms or more.

_greenlets.py tells this module when a greenthread is born and dies."""
import time
import weakref

from . import _cachewatch as _c
from ._failsafe import guarded

_site_of = weakref.WeakKeyDictionary()   # greenlet -> the line that spawned it (counted)
_alive = {}                              # line -> its greenthreads alive
_reported = set()
_in_bounded_spawn = [0]                  # inside a bounded pool's spawn
_gave_up = weakref.WeakKeyDictionary()   # greenlet -> (when, how, tid, waiter tid, stack)


@guarded
def born(glet, tid, frame):
    if _in_bounded_spawn[0] or frame is None:
        return
    site = (frame.f_code.co_filename, frame.f_lineno)
    _site_of[glet] = site
    n = _alive[site] = _alive.get(site, 0) + 1
    if n >= _c.options().get("pool_backlog", 1000) and site not in _reported:
        _reported.add(site)
        created, parent, _ = _c.logical_created(tid) or (0, 0, "")
        _c.add_finding("unbounded-pool", "greenthread",
                       f"{n} greenthreads spawned at {site[0]}:{site[1]} alive at once, with no "
                       "bound (a GreenPool or a gevent Pool with a size bounds them)",
                       {"in_flight": n}, [(f"Spawned (greenthread {n})", parent, created)],
                       f"greens:{site[0]}:{site[1]}")


@guarded
def died(glet, tid):
    site = _site_of.pop(glet, None)
    if site is not None:
        _alive[site] = _alive.get(site, 1) - 1
    record = _gave_up.pop(glet, None)
    if record is not None:
        _abandoned(record, tid, still=False)


def _abandoned(record, tid, still):
    when, how, waiter_tid, waiter_stack = record
    ran_on = time.monotonic() - when
    if not still and ran_on * 1000 < _c.options().get("abandoned_ms", 100):
        return
    created, parent, name = _c.logical_created(tid) or (0, 0, "?")
    _c.add_finding("abandoned-task", "greenthread",
                   f"greenthread '{name}' ran on after its waiter gave up ({how})",
                   {"ran_on_ms": int(ran_on * 1000), "still_running": int(still)},
                   [("Waiter gave up", waiter_tid, waiter_stack),
                    ("Greenthread created", parent, created)],
                   f"gtask:{waiter_stack}:{created}")


@guarded
def gave_up(glets, how):
    waiter_tid, waiter_stack = _c.logical_running(), _c.capture_stack()
    now = time.monotonic()
    for glet in glets:
        if not glet.dead and glet not in _gave_up:
            _gave_up[glet] = (now, how, waiter_tid, waiter_stack)


def waited_again(glet):
    _gave_up.pop(glet, None)


def still_running(glet, tid):
    """Checking ends with glet alive: abandoned if its waiter gave up on it
    (True: said here, not as a leak)."""
    record = _gave_up.pop(glet, None)
    if record is None:
        return False
    _abandoned(record, tid, still=True)
    return True


def bounded(spawn):
    """A pool's spawn that waits for room: what it makes is not counted."""
    def spawn_(*args, **kwargs):
        _in_bounded_spawn[0] += 1
        try:
            return spawn(*args, **kwargs)
        finally:
            _in_bounded_spawn[0] -= 1
    spawn_.__wrapped__ = spawn
    return spawn_


def clear():
    _site_of.clear()
    _alive.clear()
    _reported.clear()
    _gave_up.clear()
