"""asyncio's tasks judged as pools and threads are (cachewatch/_pools.py).

- unbounded-pool: pool_backlog tasks made at one line in flight at once
  (pending and not waiting for an asyncio Lock or Semaphore: a fan-out bounded
  by a semaphore has few in flight however many wait);
- abandoned-task: a task asyncio.wait(..., timeout=) left pending that ran on
  for abandoned_ms or more with nobody awaiting it again;
- thread-leak (its asyncio twin): a task still pending when asyncio.run's
  main returned (run cancels it) or when its loop closed, or destroyed while
  pending, never awaited (asyncio's "Task was destroyed but it is pending!").

The counts of tasks in flight per line are kept in C, with each task's
record (ext/cpython/task_steps.c: where it was made, its thread); this
module makes the findings. C calls fanout() when a line reaches
pool_backlog, and stepping() and finished() at every step and end while
some waiter has given up on a task."""
import os
import time

from . import _cachewatch as _c
from ._failsafe import guarded

_options = {}
_gave_up = {}        # id(task) -> (when, how, waiter tid, waiter stack, task stack)
_leaks_said = set()
_ASYNCIO_DIR = None


def configure(options, asyncio):
    global _ASYNCIO_DIR
    _options.clear()
    _options.update(options)
    _ASYNCIO_DIR = os.path.dirname(os.path.abspath(asyncio.__file__))


def pool_backlog():
    return int(_options.get("pool_backlog", 1000))


@guarded
def fanout(task, file, line, n, tid):
    """n tasks made at file:line are in flight at once."""
    created, parent, _ = _c.logical_created(tid) or (0, 0, "")
    _c.add_finding("unbounded-pool", "asyncio.Task",
                   f"{n} asyncio tasks made at {file}:{line} in flight at once, "
                   "with no bound (an asyncio.Semaphore around their work, or a fixed "
                   "number of workers taking from an asyncio.Queue, bounds them)",
                   {"in_flight": n}, [(f"Made (task {n})", parent, created)],
                   f"tasks:{file}:{line}")


def _gave_up_changed():
    """Every step and end matters while some task is given up on (is it
    awaited again? did it run on?); otherwise C keeps them to itself."""
    _c.task_steps_every_step(bool(_gave_up))


@guarded
def stepping(task):
    """A step of a task is about to run: is it awaited by someone again?"""
    if id(task) in _gave_up and getattr(task, "_callbacks", None):
        del _gave_up[id(task)]
        _gave_up_changed()


@guarded
def finished(task, tid, file, line):
    record = _gave_up.pop(id(task), None)
    if record is not None:
        _gave_up_changed()
        if not task.cancelled():
            _abandoned(task, tid, (file, line), record, still=False)


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
        if _c.task_info(task) is not None and id(task) not in _gave_up:
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
        info = None if task.done() else _c.task_info(task)
        if info is None:
            continue
        file, line, tid = info
        record = _gave_up.pop(id(task), None)
        if record is not None:
            _gave_up_changed()
            _abandoned(task, tid, (file, line), record, still=True)
            continue
        _leak(task, (file, line), tid, why)


def _leak(task, site, tid, why):
    key = (site, why)
    if key in _leaks_said:
        return
    _leaks_said.add(key)
    created, parent, _ = _c.logical_created(tid) or (0, 0, "")
    name = getattr(task, "get_name", lambda: "Task")()
    _c.add_finding("thread-leak", "asyncio.Task",
                   f"task '{name}' made at {site[0]}:{site[1]} {why}",
                   {}, [(f"Task '{name}' created", parent, created)],
                   f"task-leak:{site[0]}:{site[1]}:{why}")


@guarded
def destroyed_pending(context):
    """The loop's exception handler was told a pending task was destroyed."""
    task = context.get("task")
    if task is not None and "destroyed but it is pending" in str(context.get("message", "")):
        info = _c.task_forget(task)
        if info is not None:
            file, line, tid = info
            _leak(task, (file, line), tid, "was destroyed while pending, never awaited")


def clear():
    _gave_up.clear()
    _leaks_said.clear()
