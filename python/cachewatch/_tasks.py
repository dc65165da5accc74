"""asyncio tasks as logical threads (the C side is ext/cpython/logical.c).

Everything an event loop runs is a Handle: a task's step, a future's
done-callback, a timer. Each Handle remembers who made it and what they knew
(a HandOff); when it runs, a task's step runs as that task, any other
callback as its maker, and either receives the HandOff. So a future's result
set by one task orders the awaiting task's next step after it, and the
loop's own bookkeeping orders nothing: it never runs as a thread of its own
that every task's callbacks would pass through.

A task is switched out at the end of each step: a check and a write with an
await between them are a check-then-act, with none they are one atomic step.

asyncio's Lock and Semaphore are locks (locksets), not hand-offs: a release
wakes its next waiter through a future, and that wake-up carries nothing.

The Handle hooks run in C (ext/cpython/task_steps.c, which keeps the tables
of Handles and tasks and _task_pools.py's counts of tasks in flight); this
module installs them and is called at a task's birth (the watch targets'
retry point) and, while a waiter has given up on some task, at its steps."""
from . import _cachewatch as _c
from . import _hooks, _pools, _task_pools
from ._failsafe import guarded

_undo = []
on_spawn = []  # called as each logical thread is born (the targets' retry point)


def _patch(cls, name, make):
    _hooks.wrap(cls, name, make, _undo)


def uvloop_imported(uvloop):
    """Said once: uvloop's loop runs its callbacks in compiled code, past
    the Handle these hooks see."""
    import sys
    print("cachewatch: uvloop's event loop is compiled and its callbacks cannot be hooked: "
          "asyncio tasks on it run as their OS thread, and races between them are not "
          "reported (check with asyncio's own loop)", file=sys.stderr)
    del uvloop


@guarded
def _spawn_hooks():
    """A task is born: the watch targets' retry point (a script that runs on
    tasks starts no OS thread). When every callback answers True (nothing
    left to do until a target is added), births stop calling here until the
    callbacks change, the process forks or _targets wakes them."""
    quiet = bool(on_spawn)
    for on_born in on_spawn:
        quiet = on_born() is True and quiet
    if quiet:
        _c.task_births_quiet(on_spawn)


def _eager_factory(factory):
    """3.12+ eager tasks run their first step inside create_task, with no
    Handle: the task's logical thread is made first, by its creator, and
    the first step runs as it."""
    def eager(loop, coro, *args, **kwargs):
        made = _eager_begin(coro)
        try:
            task = factory(loop, coro, *args, **kwargs)
        finally:
            if made is not None:
                _c.task_eager(0, None)
                _c.logical_switch(made[1])
        if made is not None:
            _eager_end(task, made)
        return task
    eager.__wrapped__ = factory
    return eager


@guarded
def _eager_begin(coro):
    for on_born in on_spawn:
        on_born()
    frame = _pools.user_frame(3)
    name = f"Task ({getattr(coro, '__qualname__', 'coroutine')})"
    tid = _c.logical_spawn(name, None, frame)
    _c.task_eager(tid, frame)
    return tid, _c.logical_switch(tid), frame


@guarded
def _eager_end(task, made):
    tid, _, frame = made
    _c.task_eager_end(task, tid, frame)


def _install_eager(tasks):
    factory = getattr(tasks, "eager_task_factory", None)
    make = getattr(tasks, "create_eager_task_factory", None)
    if factory is None or make is None:
        return  # before 3.12
    import asyncio
    wrapped = _eager_factory(factory)

    def create_eager_task_factory(custom_task_constructor):
        return _eager_factory(make(custom_task_constructor))

    create_eager_task_factory.__wrapped__ = make
    for module in (asyncio, tasks):
        for name, new, old in (("eager_task_factory", wrapped, factory),
                               ("create_eager_task_factory", create_eager_task_factory, make)):
            if getattr(module, name, None) is old:
                setattr(module, name, new)
                _undo.append(lambda module=module, name=name, old=old: setattr(module, name, old))


def install(asyncio):
    """Hook asyncio's Handle, Future, Lock and Semaphore, and its waits."""
    if _undo:
        return
    from asyncio import events, locks, tasks

    task_types = tuple({tasks.Task, getattr(tasks, "_PyTask", tasks.Task)})
    _task_pools.configure(_c.options(), asyncio)
    _c.task_steps_install(task_types, _spawn_hooks, _pools._is_library_module,
                          _pools._library_answers, _task_pools.fanout, _task_pools.stepping,
                          _task_pools.finished, _task_pools.pool_backlog())
    # Around, not Python wrappers: in debug mode a Handle takes its maker's
    # stack from sys._getframe(1), which a wrapper's frame would be.
    for name, before, after in (("__init__", None, _c.task_handle_made),
                                ("_run", _c.task_step_begins, _c.task_step_ends),
                                ("cancel", _c.task_handle_cancelled, None)):
        original = events.Handle.__dict__[name]
        setattr(events.Handle, name, _c.Around(original, before, after))
        _undo.append(lambda name=name, original=original: setattr(events.Handle, name, original))
    _install_eager(tasks)
    _install_loop_ends(asyncio, tasks)
    _install_locks(locks)
    _install_waits(asyncio, tasks)


def _install_loop_ends(asyncio, tasks):
    # Tasks pending when asyncio.run's main returned (it cancels them), when
    # their loop closed, or destroyed while pending (the loop is told).
    from asyncio import base_events, runners

    cancel_all = getattr(runners, "_cancel_all_tasks", None)
    if cancel_all is not None:
        def _cancel_all_tasks(loop):
            _task_pools.left_pending(tasks.all_tasks(loop),
                                     "still pending when asyncio.run's main returned "
                                     "(cancelled by it)")
            return cancel_all(loop)
        _cancel_all_tasks.__wrapped__ = cancel_all
        runners._cancel_all_tasks = _cancel_all_tasks
        _undo.append(lambda: setattr(runners, "_cancel_all_tasks", cancel_all))

    def closing(loop):
        if not loop.is_closed():
            _task_pools.left_pending(tasks.all_tasks(loop),
                                     "still pending when its event loop closed")

    def told(loop, context):
        _task_pools.destroyed_pending(context)

    loop_type = base_events.BaseEventLoop
    for name, before in (("close", closing), ("call_exception_handler", told)):
        original = loop_type.__dict__[name]
        setattr(loop_type, name, _c.Around(original, before, None))
        _undo.append(lambda name=name, original=original: setattr(loop_type, name, original))


def _install_locks(locks):
    # A lock held by a task counts for its locksets (acquire is awaited: the
    # mark comes after the await). A Semaphore is a lock when made with 1.
    for cls in (locks.Lock, locks.Semaphore, locks.BoundedSemaphore):
        if "acquire" in cls.__dict__:
            _patch(cls, "acquire", _marking_acquire)
        if "release" in cls.__dict__:
            _patch(cls, "release", _marking_release)


def _is_mutex(lock):
    """A Lock; a BoundedSemaphore(1); a Semaphore emptied by this acquire
    (as threading's undeclared ones are judged)."""
    if not hasattr(lock, "_value"):
        return True
    bound = getattr(lock, "_bound_value", None)
    return bound == 1 if bound is not None else lock._value == 0


def _marking_acquire(acquire):
    from asyncio import tasks

    async def acquire_(self):
        task = tasks.current_task()
        _c.task_lock_wait(task, True)
        try:
            result = await acquire(self)
        finally:
            _c.task_lock_wait(task, False)
        if result:
            _c.lock_acquired(self, _is_mutex(self))
        return result
    return acquire_


def _marking_release(release):
    def release_(self):
        _c.lock_released(self)
        _c.task_steps_quiet(1)
        try:
            return release(self)
        finally:
            _c.task_steps_quiet(-1)
    return release_


def _install_waits(asyncio, tasks):
    # A finished task publishes its clock on itself; result() and the like,
    # and the waits that return finished tasks, receive it. A TaskGroup
    # gathers its tasks' as each is done and hands them to __aexit__.
    from asyncio import locks, queues

    from . import _hooks
    _hooks.install_methods(_hooks.ASYNCIO_METHOD_HOOKS)
    for cls, name in ((queues.Queue, "join"), (locks.Event, "wait"), (locks.Condition, "wait")):
        _patch(cls, name, _consuming_after)

    # Awaiting a future that is already done receives its setter's clock.
    for cls in {asyncio.Future, tasks.Task}:
        if type(cls.__dict__.get("__await__")).__name__ == "wrapper_descriptor":  # C types
            _c.hook_await(cls)
    _undo.append(_c.unhook_awaits)

    original_wait = tasks.wait

    async def wait(fs, **kwargs):  # its options are keyword-only on every version
        done, pending = await original_wait(fs, **kwargs)
        for f in done:
            _c.consume(f)
        timeout = kwargs.get("timeout")
        if pending and timeout is not None:
            _task_pools.gave_up(pending, timeout)
        return done, pending

    for module in (asyncio, tasks):
        if getattr(module, "wait", None) is original_wait:
            setattr(module, "wait", wait)
            _undo.append(lambda module=module: setattr(module, "wait", original_wait))
    wait.__wrapped__ = original_wait

    taskgroups = getattr(asyncio, "taskgroups", None)
    if taskgroups is not None:
        group = taskgroups.TaskGroup

        def publishing(on_done):
            def _on_task_done(self, task):
                _c.publish(self)
                return on_done(self, task)
            return _on_task_done

        def consuming(aexit):
            async def __aexit__(self, *exc):
                try:
                    return await aexit(self, *exc)
                finally:
                    _c.consume(self)
            return __aexit__

        _patch(group, "_on_task_done", publishing)
        _patch(group, "__aexit__", consuming)


def _consuming_after(method):
    async def consuming(self, *args, **kwargs):
        result = await method(self, *args, **kwargs)
        _c.consume(self)
        return result
    return consuming


def uninstall():
    while _undo:
        _undo.pop()()
    _c.task_steps_clear()
    _task_pools.clear()

