"""The public API of cachewatch (re-exported lazily by __init__).

cachewatch: a runtime concurrency checker for Python.

    import cachewatch
    cachewatch.start()
    cachewatch.watch("myapp.cache:CACHE")   # or watch(some_dict, name="...")
    ...
    for finding in cachewatch.findings(): ...

It reports unsynchronised check-then-act, conflicting writes and iteration
racing a resize on watched dicts, with both threads' stacks, the locks they
held and where they were created, and stays silent about code ordered by
locks, queues, events, joins and futures."""
import atexit
import contextlib
import os
import sys

from . import _cachewatch, _greenlets, _hooks, _options, _pools, _targets, _tasks, report
from ._targets import TargetError
from ._text import printable

__all__ = ["start", "stop", "watch", "unwatch", "findings", "clear", "checking",
           "is_active", "write_json", "benign", "TargetError"]


def start(options=None, *, watch=()):
    """Start checking. options: 'name=value ...' text or a dict, over
    CACHEWATCH_OPTIONS. Installs the synchronisation hooks before returning,
    so start before the code under test creates its threads."""
    text = _options.combined(options)
    _options.check_text(text)
    if not _gil_enabled():
        print("cachewatch: not checking: this free-threaded CPython runs without its GIL "
              "(PYTHON_GIL=0), and cachewatch's hooks still rely on it (run with PYTHON_GIL=1)",
              file=sys.stderr)
        return
    if _cachewatch.is_active():
        for target in watch:
            globals()["watch"](target)
        return
    _cachewatch.configure(text)
    _check_report_directories(_cachewatch.options())
    _cachewatch.start()
    report.forget_annotations()  # a start begins with no findings
    try:
        _hooks.install()
        _pools.install(_cachewatch.options(), _targets.on_import)
        _tasks.on_spawn[:] = _greenlets.on_spawn[:] = [_targets.retry_point]
        _targets.on_import("asyncio", _tasks.install)
        _targets.on_import("uvloop", _tasks.uvloop_imported)
        _targets.on_import("eventlet", _eventlet_imported)
        _targets.on_import("gevent", _gevent_imported)
        for option, form in (("json_path", "json"), ("sarif_path", "sarif"),
                             ("html_path", "html")):
            _write_report_at_exit(_cachewatch.options().get(option, ""), form)
        _arm_fork()
        configured = _cachewatch.options().get("watch", "")
        targets = [t for t in configured.split(",") if t] + list(watch)
        for target in targets:  # every one understood before any is applied
            if isinstance(target, str):
                for one in [t.strip() for t in target.split(",") if t.strip()]:
                    _targets.parse(one)
        for target in targets:
            globals()["watch"](target)
    except BaseException:
        _undo()  # silently: the error is the one line to say
        raise


def _gil_enabled():
    # A free-threaded build (3.13t+) turns the GIL back on when it imports our
    # C core (which says it needs it), unless PYTHON_GIL=0 forbids that.
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return is_enabled is None or is_enabled()


def _eventlet_imported(eventlet):
    _greenlets.install_eventlet(eventlet)
    from eventlet import patcher
    _starters_again_after(patcher, "monkey_patch", also=eventlet)
    _hooks.install_on_copies()
    # tpool's queues and threads come from unpatched copies made as it loads
    _targets.on_import("eventlet.tpool", lambda tpool: _hooks.install_on_copies())


def _gevent_imported(gevent):
    _greenlets.install_gevent(gevent)
    _targets.on_import("gevent.pool", _greenlets.install_gevent_pool)
    _targets.on_import("gevent.monkey", lambda monkey: (
        _starters_again_after(monkey, "patch_all"),
        _starters_again_after(monkey, "patch_thread")))


def _starters_again_after(module, name, also=None):
    """Wrap threading's starters again once module.name() (a monkey
    patcher) has made them green."""
    original = getattr(module, name, None)
    if original is None or hasattr(original, "__cachewatch_patcher__"):
        return

    def patcher(*args, **kwargs):
        result = original(*args, **kwargs)
        _hooks.install_starters()
        _hooks.install_on_copies()
        return result

    patcher.__wrapped__ = original
    patcher.__cachewatch_patcher__ = True
    for holder in (module, also):
        if holder is not None and getattr(holder, name, None) is original:
            setattr(holder, name, patcher)


def _check_report_directories(options):
    """A report path whose directory does not exist is said at start, not
    when the report is written at exit."""
    for option in ("json_path", "sarif_path", "html_path", "log_path"):
        path = options.get(option) or ""
        if path:
            directory = os.path.dirname(os.path.abspath(path.replace("%p", "0")))
            if not os.path.isdir(directory):
                raise OSError(f"cachewatch: {option} {path!r}: no such directory {directory!r}")


_reports_at_exit = []


def _write_report_at_exit(path, form="json"):
    if path and (path, form) not in _reports_at_exit:
        if not _reports_at_exit:
            atexit.register(_flush_reports)
        _reports_at_exit.append((path, form))


_json_final = False  # written after checking stopped: nothing can change it


def _flush_reports():
    """Write the JSON reports asked for at exit (once, when checking has
    stopped: the service's exit writes them before this atexit runs)."""
    global _json_final
    if _json_final:
        return
    _json_final = not _cachewatch.is_active()
    for path, form in _reports_at_exit:
        try:
            if form == "sarif":
                from . import sarif
                sarif.write(path, report.findings(),
                            suppressed=_cachewatch.suppressed_findings())
            elif form == "html":
                from . import html
                html.write(path, report.findings())
            else:
                report.write_json(path)
        except OSError as exc:
            sys.stderr.write(f"cachewatch: cannot write {form.upper()} report to "
                             f"{printable(path)}: {printable(exc.strerror or exc)}\n")


def benign(target, reason):
    """Say that races on target (a name as reports show it, "module.NAME";
    wildcards allowed) are known and harmless: they are counted, not
    reported."""
    if not _cachewatch.is_active():
        raise RuntimeError("cachewatch is not started (call cachewatch.start() first)")
    _cachewatch.add_suppression("race", target, reason)


def suppression_lines():
    """One line per suppression: how often it matched, or that it never did."""
    lines = []
    for s in _cachewatch.suppressions():
        why = f" ({s['reason']})" if s["reason"] else ""
        said = f"matched {s['hits']} time(s)" if s["hits"] else "never matched"
        lines.append(printable(f"cachewatch: suppression {s['type']}:{s['pattern']}{why} {said}"))
    return lines


_fork_armed = False
_pid = os.getpid()
after_fork_in_child = []  # callables run in a forked child, after our own


def _arm_fork():
    """Once per process: a forked child forgets the parent's threads (the
    C registry) and pools, and keeps checking. A C server (uWSGI) forks
    with no Python fork hook: the retry points of _targets catch up then."""
    global _fork_armed
    if not _fork_armed and hasattr(os, "register_at_fork"):
        _fork_armed = True
        os.register_at_fork(after_in_child=catch_up_after_fork)
        _targets.before_retry_point.append(catch_up_after_fork)


def catch_up_after_fork():
    """In a process forked since we last looked: forget the parent's
    threads and pools, then run after_fork_in_child (once per process)."""
    global _pid
    if os.getpid() == _pid:
        return
    _pid = os.getpid()
    if _cachewatch.is_active():
        _cachewatch.after_fork_child()
        _pools.after_fork_child()
    for callback in after_fork_in_child:
        callback()


def stop(*, quiet=False):
    """Stop checking: hooks are removed and watched dicts become plain again.
    Findings stay available. Targets that never named anything, and how
    often each suppression matched, are said on stderr, one line each
    (targets not when quiet: a pre-fork server's master never imports what
    its workers watch)."""
    if _cachewatch.is_active():
        _pools.finish_scope()
        _greenlets.check_leaks()
    for line in _targets.unused(quiet) + suppression_lines():
        sys.stderr.write(line + "\n")
    _undo()


def _undo():
    _targets.clear()
    _pools.uninstall()
    _tasks.uninstall()
    _greenlets.uninstall()
    _hooks.uninstall()
    _cachewatch.stop()


def is_active():
    return _cachewatch.is_active()


def watch(target, name=None):
    """Watch a dict, list, set or deque, or an object of a subclass of one
    (defaultdict, OrderedDict, Counter, a class of your own: the object
    itself, so every alias sees it), or a target:
    'module:NAME' (the name: its loads, stores and the container it holds),
    'module:NAME.attr' (the dict, list or set the attribute holds),
    or an object of a Python class (its attributes, named name.attr), or a
    class of one (its own data attributes: cls._instance),
    'module:*' or 'package.*' (every module-level container and rebound name
    of matching modules). Targets apply when their module is imported."""
    if not _cachewatch.is_active():
        raise RuntimeError("cachewatch is not started (call cachewatch.start() first)")
    if isinstance(target, str):
        # comma-separated, as in the watch option: --watch 'a:X,b:Y'
        for one in [t.strip() for t in target.split(",")] if "," in target else [target]:
            if one:
                _targets.add(one)
        return
    if _targets.watchable_object(target):
        _targets.watch_object(target, name or _guess_name(target))
        return
    if isinstance(target, type) and _targets.is_open_class(target):
        name = name or _guess_name(target)
        _cachewatch.watch_class(target, name, _targets.describe_class(target))
        return
    if not _cachewatch.can_watch(target):
        found = _targets.not_watchable(target)
        why = f"{found[0]} ({found[1]})" if found else \
            f"a {type(target).__name__}, which has no state to watch"
        raise TypeError(f"cachewatch cannot watch {why}")
    _cachewatch.watch_container(target, name or _guess_name(target))


def unwatch(target):
    """Stop watching a container (it becomes a plain one again) or an
    object's attributes."""
    _cachewatch.unwatch_container(target)
    _cachewatch.unwatch_object(target)


def _guess_name(obj):
    for mod_name, mod in list(sys.modules.items()):
        namespace = getattr(mod, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for key, value in list(namespace.items()):
            if value is obj:
                return f"{mod_name}.{key}"
    return f"{type(obj).__name__}@{id(obj):#x}"


def findings():
    """Every finding so far as dicts (see README: JSON report)."""
    return report.findings()


def clear():
    """Forget every finding."""
    _cachewatch.clear_findings()
    report.forget_annotations()


def write_json(path):
    """Write the findings as JSON (atomically, mode 0600); returns the path."""
    return report.write_json(path)


@contextlib.contextmanager
def checking(options=None, *, watch=()):
    """with cachewatch.checking(watch=[...]) as found: ... ; found() lists the
    findings made inside the block."""
    started = not _cachewatch.is_active()
    before = len(findings())
    start(options, watch=watch)
    try:
        yield lambda: findings()[before:]
    finally:
        if started:
            stop()
