"""Watch targets: 'module:NAME' names a module-level container.

A target is applied when its module finishes importing (at once if it is
already imported). A name not bound yet (a script's own globals while it
runs) is tried again whenever a thread starts: state touched before the
first thread starts cannot race."""
import importlib.abc
import sys
import threading

from . import _cachewatch as _c

_pending = {}   # module name -> set of NAMEs not applied yet
_applied = {}   # "module.NAME" -> id of the container watched
_finder = None
_warned = set()


class TargetError(ValueError):
    """A watch target that cannot be understood."""


def parse(spec):
    module, sep, name = spec.partition(":")
    if not sep or not module or not name or not name.isidentifier() or \
            not all(part.isidentifier() for part in module.split(".")):
        raise TargetError(f"cachewatch: bad watch target '{spec}' (want module:NAME)")
    return module, name


def _warn_once(key, message):
    if key not in _warned:
        _warned.add(key)
        sys.stderr.write(message + "\n")


def _apply_one(module, name):
    """True when the target is settled (watched or refused)."""
    mod = sys.modules.get(module)
    if mod is None:
        return False
    value = getattr(mod, name, _pending)
    if value is _pending:
        return False
    target = f"{module}.{name}"
    if type(value) is dict or _c.is_watched(value):
        _c.watch_dict(value, target)
        _applied[target] = id(value)
        return True
    _warn_once(target, f"cachewatch: {target} is a {type(value).__name__}, "
                       "not a dict; it is not watched")
    return True


def retry(module=None):
    """Apply pending targets (of one module, or all)."""
    for mod_name in ([module] if module else list(_pending)):
        names = _pending.get(mod_name)
        if not names:
            continue
        for name in list(names):
            if _apply_one(mod_name, name):
                names.discard(name)
        if not names:
            _pending.pop(mod_name, None)


class _Loader:
    """Delegates to the real loader and applies targets after exec."""

    def __init__(self, loader, fullname):
        self._loader = loader
        self._fullname = fullname

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        retry(self._fullname)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _pending:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader, fullname)
        return spec


_thread_start = None


def _install_retry_points():
    global _finder, _thread_start
    if _finder is None:
        _finder = _Finder()
        sys.meta_path.insert(0, _finder)
    if _thread_start is None:
        original = threading.Thread.start

        def start(self):
            if _pending:
                retry()
            return original(self)

        start.__wrapped__ = original
        threading.Thread.start = start
        _thread_start = original


def add(spec):
    module, name = parse(spec)
    _pending.setdefault(module, set()).add(name)
    _install_retry_points()
    retry(module)


def clear():
    """Forget every target and remove the retry points."""
    global _finder, _thread_start
    _pending.clear()
    _applied.clear()
    if _finder is not None and _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    _finder = None
    if _thread_start is not None:
        threading.Thread.start = _thread_start
        _thread_start = None


def pending():
    return {m: sorted(n) for m, n in _pending.items() if n}
