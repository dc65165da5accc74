"""Thread pools and threads: what can grow without limit or keep running
after everyone stopped caring.

- unbounded-pool: a pool with no bound on its backlog (stdlib and
  multiprocessing thread pools always; futurist's unless given
  check_and_reject) whose backlog passed `pool_backlog` tasks, or whose task
  waited `pool_wait_ms` for a worker, under this run's load. With
  `pool_strict`, every such pool when it is made.
- executor-leak: `executor_leak_count` executors made at one place and never
  shut down.
- abandoned-task: a task that ran on (or started) after its waiter gave up: a
  result()/exception()/wait()/as_completed() timeout ran out, or cancel()
  returned False. Decided when nobody can wait on it any more (the future is
  gone) or checking ends; a later result() or done-callback clears it.
- thread-leak: a thread started while checking, still alive when checking ends
  (after `thread_leak_grace_ms`, waited once for all of them, not at all for
  a thread blocked for good). Daemon threads are meant to be abandoned: only
  with `thread_leak_daemons`. A thread started inside a method of an object
  a module holds (a pool made once per module, started lazily by the first
  test to use it) is that object's: a test's scope leaves it to the run's.

The findings go to the C report store, like races, so they print, count,
de-duplicate and reach the JSON file the same way. What runs for every task
(submit, start, finish, a wait) is in C (ext/cpython/pool_tasks.c), which
calls back here on a finding or when a waiter gives up. Guarded by the GIL."""
import os
import sys
import threading
import time
import weakref

from . import _cachewatch as _c
from . import report
from ._failsafe import guarded

# Where the pool classes are meant to be imported from.
_PUBLIC_MODULE = {"concurrent.futures.thread": "concurrent.futures",
                  "futurist._futures": "futurist", "multiprocessing.pool": "multiprocessing.pool"}

# The modules that make pools and threads, and the ones a call passes
# through on its way there (mock's patch wrappers): a pool is made where the
# first frame of any other module is. Decided by the module the code
# belongs to, never by its path (futurist's own tests live under futurist/).
_LIBRARY_MODULES = frozenset((
    "threading", "concurrent.futures", "concurrent.futures._base", "concurrent.futures.thread",
    "concurrent.futures.process", "futurist", "futurist._futures", "futurist._utils",
    "futurist._thread", "futurist.rejection", "multiprocessing.pool", "multiprocessing.dummy",
    "unittest.mock", "contextlib", "functools"))
# Packages whose every module is the event loop's or the hub's machinery, not
# the program (a task's creation stack passes through them).
_LIBRARY_PACKAGES = ("asyncio", "eventlet", "greenlet")


_library_answers = {}  # module name -> is it a library's (asked per task made)


def _is_library_module(name):
    known = _library_answers.get(name)
    if known is None:
        known = _library_answers[name] = (
            name in _LIBRARY_MODULES or name == "cachewatch" or name.startswith("cachewatch.")
            or name.split(".", 1)[0] in _LIBRARY_PACKAGES)
    return known


class _Pool(_c.PoolState):
    """What cachewatch knows of one executor. Its base (C) holds what every
    task reads and writes: bounded, reported, max_wait, the backlog's course
    and the names of the queues that make it up."""

    __slots__ = ("name", "workers", "created_stack", "created_tid", "site", "shut_down",
                 "threads_of", "ref")

    def __init__(self, executor, bounded, queues, threads_of):
        cls = type(executor)
        self.name = f"{_PUBLIC_MODULE.get(cls.__module__, cls.__module__)}.{cls.__qualname__}"
        self.bounded = bounded
        self.queues = queues
        self.workers = getattr(executor, "_max_workers", None) or getattr(executor, "_processes", 0)
        self.created_stack = _c.capture_stack()
        self.created_tid = _c.current_tid()
        self.site = _user_site()
        self.shut_down = False
        self.threads_of = threads_of
        self.ref = weakref.ref(executor)


class _Task:
    """A task of a watched pool whose waiter gave up: what C knew of it then,
    and its finish time, which C sets when it comes."""

    __slots__ = ("pool", "started", "finished", "worker", "worker_tid", "cancelled",
                 "retrieved", "gave_up")

    def __init__(self, record):
        self.pool, self.started, self.finished, self.worker, self.worker_tid = record
        self.cancelled = self.retrieved = False
        self.gave_up = None  # (when, how, waiter tid, waiter stack, task stack, running)


_pools = weakref.WeakKeyDictionary()    # executor -> _Pool
_by_site = {}                           # site -> [_Pool] made there, never shut down
_reported_sites = set()
# Keyed by id(future), not weakly: C reads its size after every wait.
_abandoned = {}                         # id(future) -> _Task given up on, until decided
_candidates = {}                        # id(task) -> (weakref to future, task)
_started_threads = weakref.WeakKeyDictionary()  # Thread -> (monotonic start time, owner ids)
_watermark = 0                          # tids above it started while checking
_undo = []
_options = {}


def user_frame(depth=2):
    """The first frame outside the libraries (pools, event loops, hubs,
    cachewatch) from depth frames up, or None."""
    try:
        frame = sys._getframe(depth)
    except ValueError:  # a greenlet's short stack
        return None
    while frame is not None and _is_library_module(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
    return frame


def _user_site():
    """(file, line) of the first frame outside the pool libraries."""
    frame = user_frame(3)
    return (frame.f_code.co_filename, frame.f_lineno) if frame is not None else ("?", 0)


def _site_text(site):
    return f"{site[0]}:{site[1]}"


def _ms(seconds):
    return int(seconds * 1000)


# ---- pools ------------------------------------------------------------------


@guarded
def _made(executor, bounded, queues, threads_of):
    after_fork_child()
    pool = _Pool(executor, bounded, queues, threads_of)
    _pools[executor] = pool
    _c.pool_watch(executor, pool)
    weakref.finalize(executor, _c.pool_forget, id(executor))
    if not bounded and _options.get("pool_strict"):
        _report_unbounded(pool, "made with no bound on its backlog", {}, [])
    made_here = _by_site.setdefault(pool.site, [])
    made_here.append(pool)
    if len(made_here) >= _options.get("executor_leak_count", 5) and pool.site not in _reported_sites:
        _reported_sites.add(pool.site)
        _report_leak(pool.site, made_here)


def _report_unbounded(pool, why, facts, sections):
    pool.reported = True
    facts = dict(facts, workers=pool.workers or 0)
    found = _c.add_finding("unbounded-pool", pool.name,
                           f"a pool with no bound on its backlog {why}; made at "
                           f"{_site_text(pool.site)}",
                           facts, [("Made", pool.created_tid, pool.created_stack)] + sections,
                           f"pool:{_site_text(pool.site)}")
    backlog = pool.backlog
    if found and backlog:
        report.annotate(found, "backlog", backlog)  # [[ms, waiting], ...]


def _report_leak(site, pools):
    live = [p for p in pools if p.ref() is not None]
    threads = sum(p.threads_of(p.ref()) for p in live if p.ref() is not None)
    first = pools[0]
    # The facts are counted as the report is made (more may be made later,
    # and the ones dropped without shutdown() were collected): say so.
    _c.add_finding("executor-leak", first.name,
                   f"{len(pools)} executors made at {_site_text(site)} and never shut down "
                   f"(counted as executor {len(pools)} was made: {len(live)} still alive, with "
                   f"{threads} worker threads)",
                   {"made": len(pools), "live": len(live), "threads": threads},
                   [("Made (the first of them)", first.created_tid, first.created_stack)],
                   f"leak:{_site_text(site)}")


@guarded
def _shut(executor):
    pool = _pools.get(executor)
    if pool is not None and not pool.shut_down:
        pool.shut_down = True
        made_here = _by_site.get(pool.site, [])
        if pool in made_here:
            made_here.remove(pool)


# Called by C (pool_tasks.c) on the rare paths: their exceptions are
# internal failures there, as guarded ones are here.

def _backlog_passed(pool, backlog):
    """A submit left more than pool_backlog tasks waiting."""
    _report_unbounded(pool, f"had {backlog} tasks waiting for its {pool.workers} workers",
                      {"pending": backlog, "max_wait_ms": _ms(pool.max_wait)},
                      [("Submitted (the burst)", _c.current_tid(), _c.capture_stack())])


def _waited_too_long(pool, waited, worker_tid):
    """A task starting waited more than pool_wait_ms for a worker."""
    _report_unbounded(pool, f"kept a task waiting {_ms(waited)} ms for a worker",
                      {"max_wait_ms": _ms(waited)},
                      [("The task starting", worker_tid, _c.capture_stack())])


_DONE_STATES = frozenset(("FINISHED", "CANCELLED", "CANCELLED_AND_NOTIFIED"))


def _is_done(future):
    # Never future.done(): it is a hand-off hook, and bookkeeping makes none.
    return getattr(future, "_state", None) in _DONE_STATES


# ---- waiters that give up ---------------------------------------------------


@guarded
def _gave_up(future, how):
    """The caller stopped waiting for future (a timeout, a failed cancel)."""
    record = _c.pool_task(future)
    if record is None or record[0] is None or _is_done(future):
        return
    task = _Task(record)
    if not _c.pool_task_follow(future, task):
        return  # given up on before: the first time decides
    task_stack = 0
    if task.worker is not None and task.finished is None:
        frame = sys._current_frames().get(task.worker)
        if frame is not None:
            task_stack = _c.stack_of_frame(frame)
    task.gave_up = (time.monotonic(), how, _c.current_tid(), _c.capture_stack(), task_stack,
                    task.started is not None)
    _candidates[id(task)] = (weakref.ref(future), task)
    _abandoned[id(future)] = task
    weakref.finalize(future, _decide, id(task), id(future))


@guarded
def _cancel_tried(future, done):
    if done:
        task = _c.pool_task_cancelled(future)
        if task is not None:
            task.cancelled = True
    elif future.running():
        _gave_up(future, "cancel() returned False")


@guarded
def _still_wanted(future):
    """Someone waited on it again, or will be called when it is done."""
    if not _abandoned:
        return
    task = _abandoned.pop(id(future), None)
    if task is not None:
        task.retrieved = True
        _candidates.pop(id(task), None)


@guarded
def _decide(key, future_key=None):
    _abandoned.pop(future_key, None)
    entry = _candidates.pop(key, None)
    if entry is None:
        return
    _, task = entry
    if task.retrieved or task.cancelled or task.gave_up is None:
        return
    when, how, waiter_tid, waiter_stack, task_stack, running = task.gave_up
    now = time.monotonic()
    if task.started is None:
        return  # never ran: nothing ran on after the waiter left
    end = task.finished if task.finished is not None else now
    ran_on = end - max(when, task.started)
    still = task.finished is None
    if not still and _ms(ran_on) < _options.get("abandoned_ms", 100):
        return
    started_after = not running
    what = ("started after" if started_after else "ran on after") + f" its waiter gave up ({how})"
    facts = {"ran_on_ms": _ms(ran_on), "still_running": int(still),
             "started_after_waiter_left": int(started_after)}
    sections = [("Waiter gave up", waiter_tid, waiter_stack)]
    if task_stack:
        sections.append(("The task, when its waiter gave up", task.worker_tid, task_stack))
    pool = task.pool
    sections.append(("Pool made", pool.created_tid, pool.created_stack))
    _c.add_finding("abandoned-task", pool.name, f"a task {what}", facts, sections,
                   f"task:{waiter_stack}:{_site_text(pool.site)}")


@guarded
def _decide_all():
    for key in list(_candidates):
        _decide(key)


# ---- threads ----------------------------------------------------------------


_POOL_WORKERS = set()


def _is_pool_worker(thread):
    target = getattr(thread, "_target", None)
    return target in _POOL_WORKERS or type(thread).__name__ == "ThreadWorker"


def _blocked_for_good(thread):
    """Waiting with no timeout (Condition/Event wait, a queue's get): it
    will not finish by itself, however long we wait."""
    frame = sys._current_frames().get(thread.ident)
    code = frame.f_code if frame is not None else None
    return (code is not None and code.co_name == "wait" and
            code.co_filename == threading.__file__ and code.co_varnames[1:2] == ("timeout",) and
            _c.frame_local(frame, 1, 0) is None)


def _module_level_ids():
    """The ids of every module-level value now (one scan per check)."""
    ids = set()
    for module in list(sys.modules.values()):
        try:
            ids.update(id(v) for v in list(vars(module).values()))
        except TypeError:
            continue
    return ids


def _owners_at_start():
    """The objects whose methods are starting a thread (ids): the thread is
    theirs if a module holds one of them."""
    ids = set()
    frame = sys._getframe(2)
    for _ in range(12):
        if frame is None:
            break
        code = frame.f_code
        if code.co_argcount and code.co_varnames[0] == "self":
            owner = _c.frame_local(frame, 0, None)  # never f_locals: it keeps locals alive
            if owner is not None:
                ids.add(id(owner))
        frame = frame.f_back
    return frozenset(ids)


@guarded
def _check_threads(run_scope):
    if not _options.get("thread_leaks", 1):
        return
    me = threading.current_thread()
    daemons = _options.get("thread_leak_daemons", 0)
    suspects = []
    for thread in threading.enumerate():
        if thread is me or thread is threading.main_thread() or not thread.is_alive():
            continue
        if isinstance(thread, threading._DummyThread) or _is_pool_worker(thread) or \
                getattr(thread, "_cachewatch_own", False) or (thread.daemon and not daemons):
            continue
        info = _c.thread_of(thread.ident) if thread.ident else None
        if info is None or info[0] <= _watermark:
            continue
        suspects.append((thread, info))
    if not run_scope and suspects:
        held = _module_level_ids()
        suspects = [(t, info) for t, info in suspects
                    if held.isdisjoint(_started_threads.get(t, (0, ()))[1])]
    deadline = time.monotonic() + _options.get("thread_leak_grace_ms", 1000) / 1000
    for thread, _ in suspects:
        if not _blocked_for_good(thread):
            thread.join(max(0.0, deadline - time.monotonic()))
    now = time.monotonic()
    for thread, (tid, created, parent) in suspects:
        if not thread.is_alive():
            continue
        started = _started_threads.get(thread, (None,))[0]
        alive_ms = _ms(now - started) if started is not None else 0
        detail = (f"daemon thread '{thread.name}' still running when checking ended "
                  "(it is killed at exit)" if thread.daemon else
                  f"thread '{thread.name}' started and never joined, still running when "
                  "checking ended")
        _c.add_finding("thread-leak", "threading.Thread", detail,
                       {"alive_ms": alive_ms, "daemon": int(thread.daemon)},
                       [(f"Thread T{tid} '{thread.name}' created", parent, created)],
                       f"thread:{created}:{int(thread.daemon)}")


# ---- hooks --------------------------------------------------------------------


def _replace(cls, name, make):
    """Replace a method where it is defined (a base class, maybe) by
    make(original), once; undone when checking stops."""
    cls = next((c for c in cls.__mro__ if name in c.__dict__), cls)
    original = cls.__dict__.get(name)
    if original is None or isinstance(original, _c.Around) or \
            getattr(original, "_cachewatch", False):
        return
    setattr(cls, name, make(original))
    _undo.append(lambda: setattr(cls, name, original))


def _wrap(cls, name, make):
    """Wrap a method in a Python function: the wrappers look the instance up
    and do nothing for pools they do not know."""
    def wrapped(original):
        wrapper = make(original)
        wrapper._cachewatch = True
        wrapper.__wrapped__ = original
        wrapper.__name__ = getattr(original, "__name__", name)
        wrapper.__qualname__ = getattr(original, "__qualname__", name)
        wrapper.__doc__ = getattr(original, "__doc__", None)
        return wrapper
    _replace(cls, name, wrapped)


def _wrap_around(cls, name, before, after):
    """_wrap's twin for the hottest methods: an Around (ext/cpython/around.c)
    runs before and after with no Python frame of its own."""
    _replace(cls, name, lambda original: _c.Around(original, before, after))


def _hook_executor(cls, bounded_of, queues, threads_of, submit="submit", shutdown=("shutdown",)):
    def init(original):
        def __init__(self, /, *args, **kwargs):
            original(self, *args, **kwargs)
            if self not in _pools:
                _made(self, bounded_of(args, kwargs), queues, threads_of)
        return __init__

    def shutting(original):
        def shutdown_(self, /, *args, **kwargs):
            _shut(self)
            return original(self, *args, **kwargs)
        return shutdown_

    _wrap(cls, "__init__", init)
    for name in (submit if isinstance(submit, tuple) else (submit,)):
        # C (pool_tasks.c) takes each task's future from submit's outcome
        _replace(cls, name, lambda original: _c.Around(original, None, _c.pool_submitted,
                                                       outcome=True))
    for name in shutdown:
        _wrap(cls, name, shutting)


def _install_futures():
    import concurrent.futures as cf
    from concurrent.futures import _base, thread as cf_thread

    _POOL_WORKERS.add(getattr(cf_thread, "_worker", None))
    _hook_executor(cf.ThreadPoolExecutor, lambda a, k: False, ("_work_queue",),
                   lambda e: len(e._threads))
    # (TimeoutError, _base.TimeoutError): one class from 3.11 only
    _c.pool_monitor_setup(_base.Future, (TimeoutError, _base.TimeoutError), _abandoned,
                          _backlog_passed, _waited_too_long, _gave_up, _still_wanted)

    def cancelling(original):
        def cancel(self):
            done = original(self)
            _cancel_tried(self, done)
            return done
        return cancel

    def callbacks(original):
        def add_done_callback(self, fn):
            if _abandoned:
                _still_wanted(self)
            return original(self, fn)
        return add_done_callback

    future = _base.Future
    # Around, not Python wrappers: these run for every task of every pool,
    # and their before and after are C's (pool_tasks.c).
    _wrap_around(future, "set_running_or_notify_cancel", None, _c.pool_task_started)
    _wrap_around(future, "set_result", _c.pool_task_finished, None)
    _wrap_around(future, "set_exception", _c.pool_task_finished, None)
    _replace(future, "result", lambda original: _c.Around(
        original, _c.pool_wait_begins, _c.pool_result_waited, outcome=True))
    _replace(future, "exception", lambda original: _c.Around(
        original, _c.pool_wait_begins, _c.pool_exception_waited, outcome=True))
    _wrap(future, "cancel", cancelling)
    _wrap(future, "add_done_callback", callbacks)


@guarded
def after_wait(done, not_done, timeout):
    """Called by the wait() hook: what was done is wanted, the rest given up."""
    for f in done if _abandoned else ():
        _still_wanted(f)
    # timeout=0 polls without waiting (gunicorn's gthread worker, between
    # accepts): the caller keeps its futures and looks again
    if timeout is not None and timeout > 0:
        for f in not_done:
            _gave_up(f, f"wait(timeout={timeout}) ran out")


@guarded
def after_as_completed_timeout(pending, timeout):
    for f in pending:
        _gave_up(f, f"as_completed(timeout={timeout}) ran out")


def _install_futurist(futurist):
    from futurist import _thread as fthread

    def bounded(args, kwargs):
        # futurist rejects nothing unless given check_and_reject.
        return kwargs.get("check_and_reject") is not None or len(args) >= 2

    _hook_executor(futurist.ThreadPoolExecutor, bounded, ("_work_queue",),
                   lambda e: len(e._workers))
    green = getattr(futurist, "GreenThreadPoolExecutor", None)
    if green is not None:
        _hook_executor(green, bounded, ("_delayed_work",),
                       lambda e: getattr(e, "_pool", None) and e._pool.running() or 0)
    worker = getattr(fthread, "ThreadWorker", None)
    if worker is not None:
        _POOL_WORKERS.add(worker)


def _install_multiprocessing_pool(mpool):
    for fn in (getattr(mpool, "worker", None),):
        if fn is not None:
            _POOL_WORKERS.add(fn)
    for name in ("_handle_workers", "_handle_tasks", "_handle_results"):
        fn = getattr(mpool.Pool, name, None)
        if fn is not None:
            _POOL_WORKERS.add(fn)
    _hook_executor(mpool.ThreadPool, lambda a, k: False,
                   ("_taskqueue", "_inqueue"), lambda p: len(p._pool),
                   submit=("apply_async", "map_async", "starmap_async", "imap",
                           "imap_unordered"),
                   shutdown=("close", "terminate"))


def _install_thread_start():
    def starting(original):
        def start(self):
            _started_threads[self] = (time.monotonic(), _owners_at_start())
            return original(self)
        return start

    _wrap(threading.Thread, "start", starting)


def _name_library_files(_module=None):
    """Tell the reports which files are the pool libraries' (imported so far):
    a finding's SUMMARY names the first frame outside them."""
    files = [getattr(sys.modules.get(name), "__file__", None) for name in sorted(_LIBRARY_MODULES)]
    for package in _LIBRARY_PACKAGES:
        init = getattr(sys.modules.get(package), "__file__", None)
        files.append(os.path.dirname(init) + os.sep if init else None)
    _c.set_library_files([f for f in files if f])


def install(options, on_import):
    """Put the pool and thread hooks in place. on_import(name, callback) runs
    callback(module) when (or as soon as) a module is imported."""
    _options.clear()
    _options.update(options)
    begin_scope()
    _install_thread_start()
    _install_futures()
    _name_library_files()
    on_import("futurist", _install_futurist)
    on_import("futurist", _name_library_files)
    on_import("multiprocessing.pool", _install_multiprocessing_pool)
    on_import("multiprocessing.pool", _name_library_files)
    for package in _LIBRARY_PACKAGES:
        on_import(package, _name_library_files)


def begin_scope():
    """A scope (the run, a test) begins: threads started from now on are its."""
    global _watermark
    _watermark = _c.stats().get("threads", 0)


def made_in_scope(number):
    """Was thread (or logical thread) number made since the scope began?"""
    return number > _watermark


def finish_scope(run_scope=True):
    """A scope ends (the run's, or a test's: run_scope False): decide
    abandoned tasks, look for its leaked threads."""
    _decide_all()
    _check_threads(run_scope)


_pid = os.getpid()  # the process the pools below were made in


def after_fork_child():
    """The parent's pools, tasks and threads are not the child's (once per
    process: a worker forked from C catches up when it first makes a pool)."""
    global _watermark, _pid
    if _pid == os.getpid():
        return
    _pid = os.getpid()
    _pools.clear()
    _by_site.clear()
    _reported_sites.clear()
    _c.pool_tasks_clear()
    _abandoned.clear()
    _candidates.clear()
    _watermark = _c.stats().get("threads", 0)


def uninstall():
    while _undo:
        _undo.pop()()
    _pools.clear()
    _by_site.clear()
    _reported_sites.clear()
    _c.pool_tasks_clear()
    _abandoned.clear()
    _candidates.clear()
    _POOL_WORKERS.clear()
