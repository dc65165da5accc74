"""cachewatch's own Python code runs inside other people's programs: a bug
in it must never surface there. Bookkeeping called from hooks is guarded: an
exception disables the checker with one warning (the C core's, the same as
for running out of memory) and the program's call goes on as if unwatched."""
import functools

from . import _cachewatch as _c


def fail(what):
    """Disable checking for good, saying so once on stderr."""
    _c.internal_failure(what)


def guarded(fn):
    """fn's exceptions become an internal failure; it then returns None."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any bug of ours
            fail(f"{fn.__module__}.{fn.__qualname__}: {type(exc).__name__}: {exc}")
            return None
    return call
