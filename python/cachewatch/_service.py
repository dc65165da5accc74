"""Long-running processes: write the report when the process exits, on a
signal (report_signal, SIGRTMIN+2 by default: no server resets a real-time
signal, where gunicorn resets SIGUSR2 in each worker) and every report_interval_s
seconds if asked; per-pid file names (%p in json_path and log_path); after a
fork (pre-fork servers: gunicorn, uWSGI) the child starts with a clean thread
registry and keeps watching. Report files are replaced atomically."""
import atexit
import os
import signal
import sys
import threading
import time

from . import _api, _cachewatch, _targets, report
from ._text import printable

_interval_thread = None
_armed = False
# One write at a time. A signal handler runs in the main thread, maybe in
# the middle of a write (its own or the exit's): it never waits for this.
_write_lock = threading.Lock()
_final = False        # the exit's report is written: later writes are stale
_last_write = (0.0, 0.0)  # (when the last write ended, how long it took)


def write_now(reason, wait=True):
    """Write the JSON report now (if json_path is set); never raises. With
    wait=False (from a signal handler) a write under way, or one that just
    ended, stands for this one: a storm of signals cannot keep the program
    in its handler."""
    global _last_write
    _api.catch_up_after_fork()
    path = _cachewatch.options().get("json_path", "")
    if not path or not _write_lock.acquire(wait):
        return
    try:
        ended, took = _last_write
        if _final or (not wait and time.monotonic() - ended < took):
            return
        start = time.monotonic()
        try:
            report.write_json(path)
        except OSError as exc:
            sys.stderr.write(f"cachewatch: cannot write report ({reason}): {printable(exc)}\n")
        now = time.monotonic()
        _last_write = (now, now - start)
    finally:
        _write_lock.release()


def _at_exit():
    global _final
    _api.catch_up_after_fork()
    if not _api.is_active():
        return
    # Quiet: a target's module may be imported only in other processes (a
    # pre-fork server's workers, the children that inherit the variable);
    # a worker says at its start which targets wait for their module.
    _api.stop(quiet=True)  # ends the scope: abandoned tasks, thread leaks
    with _write_lock:
        _api._flush_reports()  # the report files' last write, once
        _final = True
    _quiet_signal()
    options = _cachewatch.options()
    if report.findings() and options.get("print_reports"):
        sys.stderr.write(report.summary_line() + "\n")
    # The exitcode option, as under `cachewatch run`: the status of a
    # program that would exit 0 with findings that count (fail_on). Not of a
    # forked child (a pre-fork server's worker): its parent acts on it.
    if os.getpid() == _started_pid and \
            any(report.counts(f, options.get("fail_on")) for f in report.findings()):
        _cachewatch.exit_status_on_findings(int(options.get("exitcode") or 0))


def _on_signal(previous):
    def handler(signum, frame):
        write_now(f"signal {signum}", wait=False)
        if callable(previous):
            previous(signum, frame)
    handler.previous = previous
    return handler


def _quiet_signal():
    """After the last report, the report signal is ignored (or goes back to
    the program's own handler): the interpreter's finalisation would reset
    it to its default action, which for SIGUSR2 and SIGRTMIN+2 ends the process."""
    signum = int(_cachewatch.options().get("report_signal", 0) or 0)
    if not signum or threading.current_thread() is not threading.main_thread():
        return
    try:
        current = signal.getsignal(signum)
        previous = getattr(current, "previous", None)
        if previous is not None:
            signal.signal(signum, previous if callable(previous) else signal.SIG_IGN)
    except (ValueError, OSError):
        pass


def _interval_loop(seconds, stop):
    while not stop.wait(seconds):
        write_now("interval")


def _start_interval():
    global _interval_thread
    seconds = int(_cachewatch.options().get("report_interval_s", 0) or 0)
    if seconds <= 0:
        return
    stop = threading.Event()
    _interval_thread = threading.Thread(target=_interval_loop, args=(seconds, stop),
                                        name="cachewatch-reporter", daemon=True)
    _interval_thread._cachewatch_own = True
    _interval_thread.start()


def _after_fork_in_child():
    """After _api's own fork handling; in a worker forked from C (uWSGI), at
    its first retry point (a thread it starts or threading first sees)."""
    global _write_lock
    _write_lock = threading.Lock()  # its holder may not exist in the child
    if _api.is_active():
        _start_interval()   # threads do not survive a fork
        _targets.at_worker_start()


_started_pid = None


def run():
    """Arm exit, signal, interval and fork handling (once per process)."""
    global _armed, _started_pid
    if _armed:
        return
    _armed = True
    _started_pid = os.getpid()
    # Before threading's own shutdown joins the threads, so leaked ones are
    # still alive to be seen; atexit as the fallback.
    register = getattr(threading, "_register_atexit", None)
    try:
        register(_at_exit) if register else atexit.register(_at_exit)
    except RuntimeError:
        atexit.register(_at_exit)
    signum = int(_cachewatch.options().get("report_signal", 0) or 0)
    if signum and threading.current_thread() is threading.main_thread():
        try:
            previous = signal.getsignal(signum)
            signal.signal(signum, _on_signal(previous))
        except (ValueError, OSError) as exc:
            sys.stderr.write(f"cachewatch: cannot use signal {signum}: {exc}\n")
    _start_interval()
    _api.after_fork_in_child.append(_after_fork_in_child)
    _targets.install_retry_points()  # a C server's fork is caught up there
