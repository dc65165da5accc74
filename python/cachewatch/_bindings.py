"""Watched module-level names: a Binding per (module, name), the module's
type changed so outside access goes through them, and the module's functions
rewritten (see _rewrite) so its own loads and stores do too."""
import gc
import sys
import types
import weakref

from . import _cachewatch as _c
from . import _rewrite

_by_module = {}                          # module name -> {name: Binding}
_original = weakref.WeakKeyDictionary()  # function -> its code before rewriting
_dict_watched = set()                    # module names whose dict is watched


def _functions_in_gc(namespace):
    """Every function whose globals are this module dict, closures and
    methods included (the garbage collector knows them all)."""
    return [obj for obj in gc.get_objects()
            if type(obj) is types.FunctionType and obj.__globals__ is namespace]


def _functions_reachable(module):
    """The module's functions reachable from its namespace: functions,
    methods of its classes, and what decorators wrapped (__wrapped__ and
    closure cells). Enough for a module just imported, and far cheaper than
    asking the garbage collector."""
    namespace = module.__dict__
    found, seen = [], set()
    todo = list(namespace.values())
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (staticmethod, classmethod)):
            todo.append(obj.__func__)
        elif isinstance(obj, property):
            todo += [obj.fget, obj.fset, obj.fdel]
        elif isinstance(obj, type) and getattr(obj, "__module__", None) == module.__name__:
            todo += list(vars(obj).values())
        elif type(obj) is types.FunctionType:
            if obj.__globals__ is namespace:
                found.append(obj)
            todo += [cell.cell_contents for cell in (obj.__closure__ or ())
                     if _cell_full(cell)]
            wrapped = getattr(obj, "__wrapped__", None)
            if wrapped is not None:
                todo.append(wrapped)
    return found


def _cell_full(cell):
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _functions_of(module, fresh):
    return _functions_reachable(module) if fresh else _functions_in_gc(module.__dict__)


def bindings_of(module_name):
    return dict(_by_module.get(module_name, {}))


def watch(module, names, fresh=False, label=None):
    """Watch these names of an imported module (adds to what it had).
    fresh: the module was imported just now, so walking its namespace finds
    all its functions; otherwise the garbage collector is asked. label: the
    module's name in reports, when not its own (uWSGI's for a file)."""
    module_name = module.__name__
    bindings = _by_module.setdefault(module_name, {})
    namespace = module.__dict__
    for name in names:
        if name not in bindings:
            bindings[name] = _c.Binding(namespace, name, f"{label or module_name}.{name}")
        else:
            _c.notice_binding(bindings[name])  # bound since: watch what it holds
    _c.watch_module(module, bindings)
    if module_name not in _dict_watched and _c.watch_module_dict(namespace):
        _dict_watched.add(module_name)
    for func in _functions_of(module, fresh):
        code = func.__code__
        new = _rewrite.rewrite(code, bindings)
        if new is not code:
            _original.setdefault(func, code)
            func.__code__ = new


def rebound_names(module, fresh=False):
    """Names that the module's code stores or deletes with `global`."""
    found = set()
    for func in _functions_of(module, fresh):
        found |= _rewrite.stored_names(_original.get(func, func.__code__))
    return found


def never_bound():
    """(module, name) of each watched name its module never had."""
    found = []
    for module_name, bindings in sorted(_by_module.items()):
        module = sys.modules.get(module_name)
        for name, binding in sorted(bindings.items()):
            if module is not None and not _c.was_bound(binding):
                found.append((module, name))
    return found


def unwatch_all():
    """Give every function its code back and every module its type."""
    for func, code in list(_original.items()):
        func.__code__ = code
    _original.clear()
    for module_name in list(_by_module):
        module = sys.modules.get(module_name)
        if module is not None:
            _c.unwatch_module(module)
            if module_name in _dict_watched:
                _c.unwatch_module_dict(module.__dict__)
    _by_module.clear()
    _dict_watched.clear()
