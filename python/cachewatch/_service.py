"""Long-running processes: write the report when the process exits, on a
signal (report_signal, SIGUSR2 by default) and every report_interval_s
seconds if asked; per-pid file names (%p in json_path and log_path); after a
fork (pre-fork servers: gunicorn, uWSGI) the child starts with a clean thread
registry and keeps watching. Report files are replaced atomically."""
import atexit
import os
import signal
import sys
import threading

from . import _api, _cachewatch, report

_interval_thread = None
_armed = False


def write_now(reason):
    """Write the JSON report now (if json_path is set); never raises."""
    path = _cachewatch.options().get("json_path", "")
    try:
        if path:
            report.write_json(path)
    except OSError as exc:
        sys.stderr.write(f"cachewatch: cannot write report ({reason}): {exc}\n")


def _at_exit():
    if not _api.is_active():
        return
    _api.stop(quiet=True)  # ends the scope: abandoned tasks, thread leaks
    write_now("exit")
    if report.findings():
        sys.stderr.write(report.summary_line() + "\n")


def _on_signal(previous):
    def handler(signum, frame):
        write_now(f"signal {signum}")
        if callable(previous):
            previous(signum, frame)
    return handler


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
    if not _api.is_active():
        return
    _cachewatch.after_fork_child()
    _api.after_fork_child()
    _start_interval()   # threads do not survive a fork


def run():
    """Arm exit, signal, interval and fork handling (once per process)."""
    global _armed
    if _armed:
        return
    _armed = True
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
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
