"""asyncio's tasks judged as pools and threads are (cachewatch/_pools.py).

- unbounded-pool: pool_backlog tasks made at one line in flight at once
  (pending and not waiting for an asyncio Lock or Semaphore: a fan-out bounded
  by a semaphore has few in flight however many wait);
- abandoned-task: a task asyncio.wait(..., timeout=) left pending that ran on
  for abandoned_ms or more with nobody awaiting it again;
- thread-leak (its asyncio twin): a task still pending when asyncio.run's
  main returned (run cancels it) or when its loop closed, or destroyed while
  pending, never awaited (asyncio's "Task was destroyed but it is pending!").

_tasks.py tells this module when a task is born, takes its first step (every
step while a waiter has given up on some task), waits for a lock and ends."""
import os
import sys
import time

from . import _cachewatch as _c
from ._failsafe import guarded

_options = {}
_site_of = {}        # id(task) -> (file, line) where the program made it
_tid_of = {}         # id(task) -> its logical thread
_in_flight = {}      # site -> tasks made there, pending, not waiting for a lock
_lock_waits = {}     # id(task) -> acquires it is waiting in
_running = set()     # id(task) of those that began their first step
_fanout_sites = set()
_gave_up = {}        # id(task) -> (when, how, waiter tid, waiter stack, task stack)
_leaks_said = set()
_ASYNCIO_DIR = None


def configure(options, asyncio):
    global _ASYNCIO_DIR
    _options.clear()
    _options.update(options)
    _ASYNCIO_DIR = os.path.dirname(os.path.abspath(asyncio.__file__))


@guarded
def born(task, tid, frame):
    """A task was made (frame: the program's line that made it, or None)."""
    _site_of[id(task)] = (frame.f_code.co_filename, frame.f_lineno) if frame else ("?", 0)
    _tid_of[id(task)] = tid


def _started(task):
    """Its first step: in flight from now until it waits for a lock or ends
    (a task made and not yet run holds nothing)."""
    _running.add(id(task))
    site = _site_of[id(task)]
    tid = _tid_of.get(id(task), 0)
    n = _in_flight[site] = _in_flight.get(site, 0) + 1
    if n >= _options.get("pool_backlog", 1000) and site not in _fanout_sites:
        _fanout_sites.add(site)
        created, parent, _ = _c.logical_created(tid) or (0, 0, "")
        _c.add_finding("unbounded-pool", "asyncio.Task",
                       f"{n} asyncio tasks made at {site[0]}:{site[1]} in flight at once, "
                       "with no bound (an asyncio.Semaphore around their work, or a fixed "
                       "number of workers taking from an asyncio.Queue, bounds them)",
                       {"in_flight": n}, [(f"Made (task {n})", parent, created)],
                       f"tasks:{site[0]}:{site[1]}")


def _settle(task):
    site = _site_of.get(id(task))
    if site is not None and id(task) in _running and not _lock_waits.get(id(task)):
        _in_flight[site] = _in_flight.get(site, 1) - 1
    _running.discard(id(task))


@guarded
def lock_wait(task, entering):
    """A task began (entering) or ended waiting in a Lock/Semaphore acquire."""
    if task is None or id(task) not in _running:
        return
    site = _site_of[id(task)]
    n = _lock_waits.get(id(task), 0)
    if entering:
        if n == 0:
            _in_flight[site] = _in_flight.get(site, 1) - 1
        _lock_waits[id(task)] = n + 1
    else:
        if n == 1:
            _in_flight[site] = _in_flight.get(site, 0) + 1
            del _lock_waits[id(task)]
        elif n > 1:
            _lock_waits[id(task)] = n - 1


@guarded
def stepping(task):
    """A task's step is about to run: its first? awaited by someone again?"""
    if id(task) not in _running and id(task) in _site_of:
        _started(task)
    if _gave_up and id(task) in _gave_up and getattr(task, "_callbacks", None):
        del _gave_up[id(task)]
        _gave_up_changed()


@guarded
def finished(task):
    _settle(task)
    _lock_waits.pop(id(task), None)
    site = _site_of.pop(id(task), None)
    tid = _tid_of.pop(id(task), 0)
    record = _gave_up.pop(id(task), None)
    if record is not None:
        _gave_up_changed()
        if not task.cancelled():
            _abandoned(task, tid, site, record, still=False)


def _gave_up_changed():
    """Every step matters while some task is given up on (is it awaited
    again?); otherwise only a task's first."""
    _c.task_steps_every_step(bool(_gave_up))


def _abandoned(task, tid, site, record, still):
    when, how, waiter_tid, waiter_stack, task_stack = record
    ran_on = time.monotonic() - when
    if not still and ran_on * 1000 < _options.get("abandoned_ms", 100):
        return
    created, parent, _ = _c.logical_created(tid) or (0, 0, "")
    sections = [("Waiter gave up", waiter_tid, waiter_stack)]
    if task_stack:
        sections.append(("The task, when its waiter gave up", tid, task_stack))
    sections.append(("Task created", parent, created))
    site_text = f"{site[0]}:{site[1]}" if site else "?"
    _c.add_finding("abandoned-task", "asyncio.Task",
                   f"a task made at {site_text} ran on after its waiter gave up ({how})",
                   {"ran_on_ms": int(ran_on * 1000), "still_running": int(still)}, sections,
                   f"atask:{waiter_stack}:{site_text}")


@guarded
def gave_up(pending, timeout):
    """asyncio.wait returned on its timeout with these still pending."""
    waiter_tid, waiter_stack = _c.logical_running(), _c.capture_stack()
    now = time.monotonic()
    for task in pending:
        if id(task) in _site_of and id(task) not in _gave_up:
            _gave_up[id(task)] = (now, f"asyncio.wait timeout={timeout}", waiter_tid,
                                  waiter_stack, _stack_of(task))
    _gave_up_changed()


def _stack_of(task):
    coro = getattr(task, "get_coro", lambda: None)()
    frame = None  # the innermost of the program's own coroutines
    while coro is not None:
        inner = getattr(coro, "cr_frame", None)
        if inner is not None and not inner.f_code.co_filename.startswith(_ASYNCIO_DIR or "\0"):
            frame = inner
        coro = getattr(coro, "cr_await", None)
    return _c.stack_of_frame(frame) if frame is not None else 0


@guarded
def left_pending(tasks, why):
    """Tasks pending as their loop's work ended (why says how)."""
    if not _options.get("thread_leaks", 1):
        return
    for task in tasks:
        if task.done() or id(task) not in _site_of:
            continue
        site = _site_of[id(task)]
        record = _gave_up.pop(id(task), None)
        if record is not None:
            _gave_up_changed()
            _abandoned(task, _tid_of.get(id(task), 0), site, record, still=True)
            continue
        _leak(task, site, why)


def _leak(task, site, why):
    key = (site, why)
    if key in _leaks_said:
        return
    _leaks_said.add(key)
    created, parent, _ = _c.logical_created(_tid_of.get(id(task), 0)) or (0, 0, "")
    name = getattr(task, "get_name", lambda: "Task")()
    _c.add_finding("thread-leak", "asyncio.Task",
                   f"task '{name}' made at {site[0]}:{site[1]} {why}",
                   {}, [(f"Task '{name}' created", parent, created)],
                   f"task-leak:{site[0]}:{site[1]}:{why}")


@guarded
def destroyed_pending(context):
    """The loop's exception handler was told a pending task was destroyed."""
    task = context.get("task")
    if task is not None and id(task) in _site_of and \
            "destroyed but it is pending" in str(context.get("message", "")):
        _settle(task)
        _lock_waits.pop(id(task), None)
        _leak(task, _site_of.pop(id(task)), "was destroyed while pending, never awaited")


def clear():
    for table in (_site_of, _tid_of, _in_flight, _lock_waits, _gave_up, _running):
        table.clear()
    _fanout_sites.clear()
    _leaks_said.clear()
