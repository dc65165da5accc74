"""The per-name lock registry of oslo.concurrency's lockutils, as Nova uses it
around CELL_CACHE: semaphores held weakly by name, dropped when unused and
made anew for the next caller. Reduced to its synchronisation."""
import contextlib
import functools
import threading
import weakref


class Semaphores:
    def __init__(self):
        self._semaphores = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def get(self, name):
        with self._lock:
            try:
                return self._semaphores[name]
            except KeyError:
                sem = threading.Semaphore()
                self._semaphores[name] = sem
                return sem


_semaphores = Semaphores()


@contextlib.contextmanager
def lock(name):
    int_lock = _semaphores.get(name)
    if not int_lock.acquire():
        raise RuntimeError(f"could not take {name}")
    try:
        yield int_lock
    finally:
        int_lock.release()


def synchronized(name):
    def wrap(f):
        @functools.wraps(f)
        def inner(*args, **kwargs):
            with lock(name):
                return f(*args, **kwargs)
        return inner
    return wrap
