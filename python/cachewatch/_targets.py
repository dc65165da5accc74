"""Watch targets.

- 'module:NAME' watches the name NAME of a module: its loads and stores
  (from the module's own code and from outside) and the dict, list or set it
  holds, re-watched after each rebinding; of an instance it holds, the
  dicts, lists and sets its attributes hold.
- 'module:NAME.attr[.attr...]' watches the dict, list or set that attribute
  holds (a class-level cache, a singleton's registry) under the name
  'module.NAME.attr'; the attribute is read without running any code
  (inspect.getattr_static), and rebinding it is not watched yet.
- 'module:NAME' naming a class watches its own data attributes (class-level
  singletons and counters: `cls._instance`), reported as 'module.Class.attr'.
- 'module:Class()' watches every instance of the class (its attributes and
  what they hold) from the first use of it by a second thread on.
- 'path/to/app.py:NAME' (any target with a file in place of the module)
  names the module that runs that file, whatever its name: a script, or
  what uWSGI's --wsgi-file runs as 'uwsgi_file_<path>' (under uWSGI,
  'app:NAME' finds that module too); reports name it after the file.
- 'module:*' and 'package.*' watch, in each matching module, every
  module-level dict, list and set, every name the module's code rebinds
  with `global`, and every dict, list and set a class attribute of the
  module's own classes holds (class-level caches and registries), or an
  attribute of a module-level instance of one, found when the module is
  imported.

A target is applied when its module finishes importing (at once if it is
already imported). A script's own module (__main__) is still running when
cachewatch starts; its targets are applied when it starts its first thread,
which is before anything can race. A thread started outside threading
(a C server's request threads: uWSGI's cores) is a retry point too, when
threading first sees it; and a forked worker applies what it can at its
start and says which targets are still pending.

Silence must mean "no race here", never "could not look": when a target
names shared state of a kind not watched yet (a dict subclass, a deque, an
object's attributes, a class), one line says so as soon as the target is
applied, and the pytest plugin repeats it in its summary (said())."""
import collections
import collections.abc
import enum
import importlib.util
import os
import sys
import threading
import types

from . import _bindings
from . import _cachewatch as _c
from ._failsafe import guarded
from ._text import printable

_names = {}        # module name -> set of NAMEs to watch when it is ready
_on_import = {}    # module name -> [callback(module)] run once it is imported
_patterns = []     # (prefix, exact) for 'package.*' and 'module:*'
_done = set()      # module names whose discovery ran
_finder = None
_thread_start = None
_raw_starts = []   # (name, original) of _thread's starters, wrapped to retry
_said = []         # the lines said about targets that cannot be watched
_files = {}        # a file target's real path -> NAMEs, until a module runs it
_labels = {}       # module name -> the name targets and reports use for it
_dummy_init = None  # threading._DummyThread.__init__, wrapped to retry
_UWSGI_FILE = "uwsgi_file_"  # uWSGI's name for what --wsgi-file runs
before_retry_point = []  # run first at each retry point (_api: catch up after a fork)
_seen_at_birth = [None]  # what the last retry at a logical thread's birth saw


class TargetError(ValueError):
    """A watch target that cannot be understood."""


def getattr_static(obj, name):
    import inspect  # here: inspect costs 5 ms of every start-up

    return inspect.getattr_static(obj, name)


def _is_dotted(name):
    return bool(name) and all(part.isidentifier() for part in name.split("."))


def _is_file(module):
    """A target's module given as a file: 'app.py', 'srv/app.py' (printable,
    no spaces: it is said back in one-line messages)."""
    return (module.endswith(".py") or "/" in module) and module.isprintable() and \
        not any(c.isspace() or c == "," for c in module)


def parse(spec):
    """('module', 'NAME'), ('module', 'Class()'), ('module', '*'),
    ('package', '.*') or ('path/app.py', 'NAME')."""
    if spec.endswith(".*") and ":" not in spec and _is_dotted(spec[:-2]):
        return spec[:-2], ".*"
    module, sep, name = spec.rpartition(":")
    bare = name[:-2] if name.endswith("()") else name
    if sep and (_is_dotted(module) or _is_file(module)) and (name == "*" or _is_dotted(bare)):
        return module, name
    raise TargetError(f"cachewatch: bad watch target {spec!r} "  # repr: one line
                      "(want module:NAME, module:NAME.attr, module:Class(), module:*, "
                      "package.* or path/to/file.py:NAME)")


def _label(module):
    """The name a module goes by in targets and reports: what uWSGI's
    --wsgi-file runs as 'uwsgi_file__srv_app' is 'app' there."""
    return _labels.get(module.__name__, module.__name__)


def on_import(module_name, callback):
    """Run callback(module) once module_name is imported (now if it is)."""
    module = sys.modules.get(module_name)
    if module is not None and _ready(module):
        callback(module)
        return
    _on_import.setdefault(module_name, []).append(callback)
    _install_finder()


@guarded
def _imported(module_name):
    for callback in _on_import.pop(module_name, ()):
        callback(sys.modules[module_name])


def _matches(module_name):
    for prefix, exact in _patterns:
        if module_name == prefix or (not exact and module_name.startswith(prefix + ".")):
            return True
    return False


def _ready(module):
    """Has the module finished running its body?"""
    spec = getattr(module, "__spec__", None)
    return module.__name__ != "__main__" and not getattr(spec, "_initializing", False)


# Containers that C code reads only when they are exact dicts: _pickle's
# copyreg tables (also copy.dispatch_table). A watched dict is a subtype
# on 3.11: watching one would break pickling.
_EXACT_ONLY = ("copyreg", ("dispatch_table", "_extension_registry", "_inverted_registry",
                           "_extension_cache"))


def _exact_only(value):
    module = sys.modules.get(_EXACT_ONLY[0])
    return module is not None and any(value is getattr(module, n, None) for n in _EXACT_ONLY[1])


def _discover(module, fresh):
    """Module-level containers and rebound names worth watching."""
    found = set()
    for name, value in list(vars(module).items()):
        if not name.startswith("__") and _watchable_container(value):
            found.add(name)
    for name in _bindings.rebound_names(module, fresh):
        value = vars(module).get(name)
        if not name.startswith("__") and not isinstance(
                value, (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType)):
            found.add(name)
    return found


# Values a name's binding covers whole: nothing inside them can change.
_IMMUTABLE = (int, float, complex, str, bytes, tuple, frozenset, bool, type(None), range,
              enum.Enum)
_CODE = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def _kind(value):
    cls = type(value)
    where = "" if cls.__module__ == "builtins" else cls.__module__ + "."
    return f"{where}{cls.__qualname__}"


def _watchable_container(value):
    return _c.can_watch(value) and not _exact_only(value)


def _is_container(value):
    # array.array is registered as a MutableSequence from 3.10 on only.
    cls = type(value)
    return isinstance(value, (collections.abc.MutableMapping, collections.abc.MutableSequence,
                              collections.abc.MutableSet)) or (
        hasattr(cls, "__setitem__") and hasattr(cls, "__len__") and hasattr(cls, "__iter__"))


def not_watchable(value, module=None):
    """(what value is, why its state is not watched), or None when it is
    watched (or has no state). module: from discovery, where only containers
    and the module's own instances count as shared state worth a word."""
    if _watchable_container(value) or isinstance(value, _IMMUTABLE + _CODE):
        return None
    if _exact_only(value):
        return ("a dict pickle's C code reads only as an exact dict",
                "left plain: watching it would break pickling")
    params = getattr(type(value), "__dataclass_params__", None)
    if params is not None and params.frozen:
        return None
    if _is_container(value) and _c.object_unwatchable(value):
        kind = _kind(value)
        return (f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}", "cachewatch watches dicts, "
                "lists, sets and deques and their subclasses, not other containers")
    if isinstance(value, type):
        if module is not None or is_open_class(value):
            return None  # its own attributes are watched when it is named
        return (f"the class {value.__module__}.{value.__qualname__}",
                "a C type, whose attributes cannot change")
    if module is not None and type(value).__module__ != module.__name__:
        return None
    why = _c.object_unwatchable(value)
    return None if why is None else (f"an instance of {_kind(value)}", f"it is {why}")


def describe_object(value):
    """What an object is, for its reports: its class, and where it was made
    when tracemalloc was tracing then."""
    what = f"an attribute of an instance of {_kind(value)}"
    try:
        import tracemalloc
        tb = tracemalloc.get_object_traceback(value) if tracemalloc.is_tracing() else None
    except Exception:  # noqa: BLE001 (no traceback is no description)
        tb = None
    if tb:
        frame = tb[-1] if len(tb) else None
        if frame is not None:
            what += f" created at {frame.filename}:{frame.lineno}"
    return what


def watch_object(value, target, only=None):
    _c.watch_object(value, target, describe_object(value), only)


_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement
_IMMUTABLETYPE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE (3.10+): a C type made at run time


def is_open_class(cls):
    """A class made by a class statement: its own attributes can be watched."""
    return bool(cls.__flags__ & _HEAPTYPE) and not cls.__flags__ & _IMMUTABLETYPE


def describe_class(cls):
    return f"an attribute of the class {_kind_of_class(cls)}"


def watch_class(cls, target, only=None):
    try:
        _c.watch_class(cls, target, describe_class(cls), only)
    except TypeError as exc:
        _say(f"cachewatch: watch target {target} holds {exc}"[:400])


def _kind_of_class(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def watchable_object(value):
    """An object whose attributes can be watched (not a container, a
    value, code or a class)."""
    return not _c.can_watch(value) and not isinstance(value, _IMMUTABLE + _CODE + (type,)) and \
        _c.object_unwatchable(value) is None


def _held_containers(value):
    """The attributes of a class or instance that hold a watchable dict,
    list or set, read from its __dict__ (no property or __getattr__ runs)."""
    if isinstance(value, _IMMUTABLE + _CODE):
        return []
    try:
        attrs = object.__getattribute__(value, "__dict__")
    except (AttributeError, TypeError):
        return []
    return sorted(a for a, v in list(dict(attrs).items())
                  if type(a) is str and not a.startswith("__") and _watchable_container(v))


def _paths_held(module, names):
    """'NAME.attr' for each container the classes and instances these
    module-level names hold keep in their attributes."""
    namespace = vars(module)
    return {f"{name}.{attr}" for name in names if name in namespace
            for attr in _held_containers(namespace[name])}


def _own_objects(module):
    """Module-level classes and instances of the module's own classes (not
    enums): where class-level caches and singletons' registries live."""
    found = set()
    for name, value in list(vars(module).items()):
        cls = value if isinstance(value, type) else type(value)
        if not name.startswith("__") and cls.__module__ == module.__name__ and \
                not issubclass(cls, enum.Enum):
            found.add(name)
    return found


def _say(line):
    if line not in _said:
        _said.append(line)
        sys.stderr.write(line + "\n")


def said():
    """Every line said so far about targets that cannot be watched."""
    return list(_said)


def _say_not_watchable(module, explicit, discovering):
    """One line per explicit target whose state is not watched, one for what
    discovery (when discovering) left out."""
    namespace = vars(module)
    for name in sorted(explicit):
        found = not_watchable(namespace[name]) if name in namespace else None
        if found is None:
            continue
        held = _held_containers(namespace[name])
        also = f" and the dicts, lists and sets its attributes hold ({', '.join(held)}) are" \
            if held else " is"
        _say(f"cachewatch: watch target {_label(module)}:{name} holds {found[0]} ({found[1]}); "
             f"only rebinding the name{also} watched")
    if not discovering:
        return
    missed = []
    for name, value in sorted(namespace.items()):
        found = None if name.startswith("_") else not_watchable(value, module)
        if found is not None:
            missed.append(f"{name} ({found[0]})")
    if missed:
        _say(f"cachewatch: in {_label(module)}, not watched (cachewatch watches names, dicts, "
             "lists, sets and deques and their subclasses, and objects of Python classes): "
             + ", ".join(missed))


def _watch_path(module, path, attribute=True):
    """module:NAME.attr...: watch the attribute (when attribute) and what it
    holds now. Discovery watches only what it holds: it must not give every
    class of a module another metaclass."""
    target = f"{_label(module)}:{path}"
    obj = module
    for n, part in enumerate(path.split(".")):
        try:
            obj = getattr_static(obj, part)
        except AttributeError:
            held = ".".join([_label(module)] + path.split(".")[:n])
            _say(f"cachewatch: watch target {target} names nothing ({held} has no attribute {part})")
            return
    if isinstance(obj, property):
        _say(f"cachewatch: watch target {target} is a property, computed by code; not watched")
        return
    # The attribute itself (its loads and stores) on the object or class that
    # holds it, and what it holds.
    parts = path.split(".")
    owner_path, attr = ".".join(parts[:-1]), parts[-1]
    owner = module
    for part in parts[:-1]:
        owner = getattr_static(owner, part)
    owner_target = f"{_label(module)}.{owner_path}"
    watched_attr = False
    if not attribute:
        pass
    elif isinstance(owner, type) and is_open_class(owner):
        watch_class(owner, owner_target, only=[attr])
        watched_attr = True
    elif watchable_object(owner):
        watch_object(owner, owner_target, only=[attr])
        watched_attr = True
    if _watchable_container(obj):
        _c.watch_container(obj, f"{_label(module)}.{path}")
    elif watchable_object(obj):
        watch_object(obj, f"{_label(module)}.{path}")
    elif not watched_attr and attribute:
        found = not_watchable(obj)
        why = f"{found[0]} ({found[1]})" if found else f"a {_kind(obj)}"
        _say(f"cachewatch: watch target {target} holds {why}, and {_kind(owner)} that holds "
             "it cannot be watched; not watched")


def _watch_instances(module, path):
    """module:Class(): every instance of the class, once a second thread
    uses it."""
    target = f"{_label(module)}:{path}()"
    obj = module
    for part in path.split("."):
        try:
            obj = getattr_static(obj, part)
        except AttributeError:
            _say(f"cachewatch: watch target {target} names nothing ({_label(module)} has no "
                 f"{path})")
            return
    why = _c.class_unwatchable(obj)
    if why is not None:
        _say(f"cachewatch: watch target {target} names {why}; not watched")
        return
    _c.watch_instances(obj, f"{_label(module)}.{path}")


@guarded
def apply(module_name, force=False, fresh=False):
    """Watch what is asked of this module, if it is imported and ready.
    fresh: it finished importing just now."""
    module = sys.modules.get(module_name)
    if module is None or not isinstance(module, types.ModuleType):
        return
    ready = _ready(module)
    if not force and not ready:
        return
    # A module still running its body (a script) keeps its targets pending:
    # each later retry rewrites the functions it has defined since and
    # watches what the names hold by then.
    explicit = set(_names.pop(module_name, ()) if ready else _names.get(module_name, ()))
    for name in sorted(n for n in explicit if n.endswith("()")):
        _watch_instances(module, name[:-2])
    explicit = {n for n in explicit if not n.endswith("()")}
    paths = {n for n in explicit if "." in n}
    explicit -= paths
    named_paths = set(paths)  # asked for: the attribute itself too
    names = set(explicit)
    discovering = _matches(module_name) and module_name not in _done
    if discovering:
        _done.add(module_name)
        names |= _discover(module, fresh)
        paths |= _paths_held(module, _own_objects(module))
    if names:
        _bindings.watch(module, sorted(names), fresh=fresh, label=_label(module))
    if ready or fresh:  # its body has run
        _say_missing_names(module, explicit)
    objects = set(explicit) | (_own_objects(module) if discovering else set())
    namespace = vars(module)
    for name in sorted(objects):
        if name in namespace and watchable_object(namespace[name]):
            watch_object(namespace[name], f"{_label(module)}.{name}")
    for name in sorted(explicit):  # a class named as a target: its own attributes
        if isinstance(namespace.get(name), type) and is_open_class(namespace[name]):
            watch_class(namespace[name], f"{_label(module)}.{name}")
    _say_not_watchable(module, explicit, discovering)
    paths |= _paths_held(module, {n for n in explicit if n in namespace and
                                  watchable_object(namespace[n])})
    for path in sorted(paths):
        _watch_path(module, path, attribute=path in named_paths)


@guarded
def retry():
    """Apply every target whose module exists; a running script's too."""
    _resolve_files()
    for module_name in list(_names) + [m for m in list(sys.modules) if _matches(m)]:
        apply(module_name, force=True)


def _retry_wanted():
    return bool(_names or _files or
                (_patterns and "__main__" not in _done and _matches("__main__")))


def _file_of(module):
    filename = getattr(module, "__dict__", {}).get("__file__")
    return filename if isinstance(filename, str) else None


def _modules_running(basenames):
    """(name, real path of its file) of each loaded module whose file has
    one of these base names."""
    for module_name, module in list(sys.modules.items()):
        filename = _file_of(module)
        if filename and os.path.basename(filename) in basenames:
            yield module_name, os.path.realpath(filename)


def _resolve_files():
    """A file target becomes a target of the module that runs its file; under
    uWSGI, a target naming a module that is not imported finds the module
    --wsgi-file made of its file (app:NAME, run as uwsgi_file__srv_app)."""
    if _files:
        for module_name, path in _modules_running({os.path.basename(p) for p in _files}):
            names = _files.pop(path, None)
            if names is not None:
                if module_name.startswith(_UWSGI_FILE):
                    _labels[module_name] = os.path.splitext(os.path.basename(path))[0]
                _take(module_name, names)
    if "uwsgi" not in sys.modules:
        return
    wanted = {m for m in _names if m not in sys.modules} | \
        {m for m, exact in _patterns if exact and m not in sys.modules}
    if not wanted:
        return
    for module_name, path in _modules_running({m.rpartition(".")[2] + ".py" for m in wanted}):
        for target_module in sorted(wanted):
            if module_name.startswith(_UWSGI_FILE) and module_name not in _labels and \
                    path.endswith("/" + target_module.replace(".", "/") + ".py"):
                _labels[module_name] = target_module
                names = _names.pop(target_module, set())
                if (target_module, True) in _patterns:
                    _patterns.remove((target_module, True))
                    names.add("*")
                _take(module_name, names)


def _take(module_name, names):
    """Targets found to mean this module: apply them now."""
    _c.task_births_quiet(None)
    for name in names:
        if name == "*":
            _patterns.append((module_name, True))
        else:
            _names.setdefault(module_name, set()).add(name)
    apply(module_name, force=True)


@guarded
def at_worker_start():
    """In a forked child (a pre-fork server's worker): apply what can be
    applied now, and say which targets are still waiting for their module."""
    if not _retry_wanted():
        return
    retry()
    waiting = [f"{m}:{n}" for m, names in sorted(_names.items()) if m not in sys.modules
               for n in sorted(names)]
    waiting += [f"{path}:{n}" for path, names in sorted(_files.items()) for n in sorted(names)]
    if waiting:
        sys.stderr.write(f"cachewatch: process {os.getpid()} (forked) starts with watch targets "
                         f"waiting for their module: {', '.join(waiting)}\n")


class _Loader:
    """Delegates to the real loader and applies targets after exec."""

    def __init__(self, loader, fullname):
        self._loader = loader
        self._fullname = fullname

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _imported(self._fullname)
        if _files:
            _resolve_files()
        apply(self._fullname, force=True, fresh=True)


def _may_run_a_file(fullname):
    """Could this module be the file of a file target (same base name)?"""
    last = fullname.rpartition(".")[2]
    return any(os.path.basename(p) in (last + ".py", "__init__.py") for p in _files)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _Finder:  # a meta path finder (importlib.abc's base costs 11 ms of start-up)
    def find_spec(self, fullname, path=None, target=None):
        if not _modules_checked and _program_began():
            _check_modules_exist()  # the program's import path is set now
        if fullname not in _names and fullname not in _on_import and not _matches(fullname) \
                and not _may_run_a_file(fullname):
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


_modules_checked = False


def _program_began():
    """Has the program's own code begun (its directory is on the import path
    then)? Under the environment variable, cachewatch starts before."""
    main = sys.modules.get("__main__")
    return main is not None and ("__file__" in vars(main) or "" in sys.path or
                                 getattr(main, "__spec__", None) is not None)


@guarded
def _check_modules_exist():
    """Say at once which targets name a module that does not exist (a typo),
    once the program's import path is set: at the first import after start
    (under the environment variable, before the script's directory is on
    it), or when a target is added later."""
    global _modules_checked
    _modules_checked = True
    for module_name, names in sorted(_names.items()):
        if module_name not in sys.modules and _no_such_module(module_name):
            for name in sorted(names):
                _say(_no_module_line(f"{module_name}:{name}", module_name))
    for prefix, exact in _patterns:
        if _no_such_module(prefix):
            _say(_no_module_line(f"{prefix}:*" if exact else f"{prefix}.*", prefix))


def _did_you_mean(word, candidates):
    import difflib

    close = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.75)
    return f"; did you mean {close[0]}?" if close else ""


def _did_you_mean_module(module_name):
    import pkgutil

    parent, _, last = module_name.rpartition(".")
    if parent and parent in sys.modules:
        path = getattr(sys.modules[parent], "__path__", None)
        names = [m.name for m in pkgutil.iter_modules(path)] if path else []
        hint = _did_you_mean(last, names)
        return hint.replace("mean ", f"mean {parent}.") if hint else ""
    names = [m.name for m in pkgutil.iter_modules()] + list(sys.builtin_module_names)
    return _did_you_mean(module_name, names + [m for m in sys.modules if "." not in m])


def _names_nothing(module, name, later=""):
    public = [n for n in vars(module) if not n.startswith("__")]
    return (f"cachewatch: watch target {_label(module)}:{name} names nothing{later and ' yet'} "
            f"({_label(module)} has no {name}{_did_you_mean(name, public)}){later}")


def _say_missing_names(module, names):
    """Names asked of a module that finished importing and does not have
    them: said now (they are still watched if bound later)."""
    for name in sorted(n for n in names if n not in vars(module)):
        _say(_names_nothing(module, name, "; it is watched if it is bound later"))


def _install_finder():
    global _finder
    if _finder is None:
        _finder = _Finder()
        sys.meta_path.insert(0, _finder)


def install_retry_points():
    global _thread_start, _dummy_init
    _c.task_births_quiet(None)  # a target was added: births retry again
    _install_finder()
    if _thread_start is None:
        original = threading.Thread.start

        def start(self):
            _at_retry_point()
            if not getattr(self, "_cachewatch_own", False) and _retry_wanted():
                retry()
            return original(self)

        start.__wrapped__ = original
        threading.Thread.start = start
        _thread_start = original
    dummy = getattr(threading, "_DummyThread", None)
    if _dummy_init is None and dummy is not None:
        # threading first sees a thread it did not start (a C server's
        # request thread calls current_thread()): the app is loaded by then.
        original_init = dummy.__init__

        def __init__(self, *args, **kwargs):
            original_init(self, *args, **kwargs)
            _at_retry_point()
            if _retry_wanted():
                retry()

        __init__.__wrapped__ = original_init
        dummy.__init__ = __init__
        _dummy_init = original_init
    if not _raw_starts:
        # A script may start its threads with _thread directly: its targets
        # apply then too (threading's own starts pass through Thread.start).
        import _thread
        for attr in ("start_new_thread", "start_new"):
            raw = getattr(_thread, attr, None)
            if raw is not None:
                setattr(_thread, attr, _retrying(raw))
                _raw_starts.append((attr, raw))


@guarded
def _at_retry_point():
    for callback in before_retry_point:
        callback()


def retry_point():
    """A logical thread is born (an asyncio task, a greenlet): a script that
    runs on them starts no OS thread, and its targets apply here. Tasks are
    born by the thousand: a retry runs only when what it would look at has
    changed since the last one here. True: no target waits (nothing to do
    here until one is added: install_retry_points wakes the births)."""
    _at_retry_point()
    if _retry_wanted():
        seen = _what_a_retry_sees()
        if seen != _seen_at_birth[0]:
            retry()
            _seen_at_birth[0] = _what_a_retry_sees()
    return not _retry_wanted()


def _what_a_retry_sees():
    """The modules loaded, and for each module whose targets wait (a script
    still running its body among them): how many names it has and what its
    targets' names hold. A function defined or a target bound since the last
    retry changes it."""
    seen = [len(sys.modules), len(_files)]
    waiting = list(_names)
    if _patterns and "__main__" not in _done:
        waiting.append("__main__")
    for module_name in waiting:
        module = sys.modules.get(module_name)
        namespace = getattr(module, "__dict__", None)
        if isinstance(namespace, dict):
            seen.append((module_name, len(namespace),
                         tuple(id(namespace.get(n.split(".")[0].rstrip("()")))
                               for n in sorted(_names.get(module_name, ())))))
        else:
            seen.append((module_name, None))
    return tuple(seen)


def _retrying(raw):
    def start_new_thread(function, args, kwargs=None):
        _at_retry_point()
        if _retry_wanted():
            retry()
        return raw(function, args) if kwargs is None else raw(function, args, kwargs)
    start_new_thread.__wrapped__ = raw
    start_new_thread.__doc__ = raw.__doc__
    return start_new_thread


def add(spec):
    module, name = parse(spec)
    if _is_file(module):
        _add_file(spec, module, name)
        return
    if name == ".*":
        _patterns.append((module, False))
    elif name == "*":
        _patterns.append((module, True))
    else:
        _names.setdefault(module, set()).add(name)
    install_retry_points()
    if name == ".*":
        for module_name in [m for m in list(sys.modules) if _matches(m)]:
            apply(module_name)
    else:
        apply(module)
    if _modules_checked or _program_began():
        _check_modules_exist()  # the program's import path is set


def _add_file(spec, filename, name):
    path = os.path.realpath(filename)
    _files.setdefault(path, set()).add(name)
    if not os.path.isfile(path):
        _say(_no_file_line(f"{path}:{name}", path))
    install_retry_points()
    _resolve_files()


def _no_file_line(spec, path):
    return printable(f"cachewatch: watch target {spec} names no file ({path} does not exist)")


def clear():
    """Forget every target, remove the retry points, unwatch every name."""
    global _finder, _thread_start, _modules_checked, _dummy_init
    _names.clear()
    _files.clear()
    _labels.clear()
    _seen_at_birth[0] = None
    _patterns.clear()
    _done.clear()
    _on_import.clear()
    _modules_checked = False
    _said.clear()
    if _finder is not None and _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    _finder = None
    if _thread_start is not None:
        threading.Thread.start = _thread_start
        _thread_start = None
    if _dummy_init is not None:
        threading._DummyThread.__init__ = _dummy_init
        _dummy_init = None
    import _thread
    while _raw_starts:
        attr, raw = _raw_starts.pop()
        setattr(_thread, attr, raw)
    _bindings.unwatch_all()


def pending():
    return {m: sorted(n) for m, n in _names.items() if n}


def _no_such_module(module_name):
    """True when module_name cannot be imported at all (a typo), found
    without importing anything: its top-level name, or its own name under a
    parent package that is already imported."""
    top = module_name.partition(".")[0]
    try:
        if importlib.util.find_spec(top) is None:
            return True
        parent = module_name.rpartition(".")[0]
        return bool(parent) and parent in sys.modules and importlib.util.find_spec(module_name) is None
    except (ImportError, ValueError):
        return False


def _no_module_line(spec, module_name):
    return (f"cachewatch: watch target {spec} names no module "
            f"(no module named {module_name!r}{_did_you_mean_module(module_name)})")


def unused(quiet=False):
    """One line for each target that never named anything (those said at
    start are said again: the exit summary is where a service's owner
    looks); when quiet (a pre-fork server's master never imports what its
    workers watch), only for targets whose module does not exist."""
    lines = []
    for path, names in sorted(_files.items()):
        for name in sorted(names):
            if quiet and os.path.isfile(path):
                continue
            lines.append(_no_file_line(f"{path}:{name}", path) if not os.path.isfile(path) else
                         printable(f"cachewatch: watch target {path}:{name} was never applied "
                                   "(no module ran that file)"))
    for module_name, names in sorted(_names.items()):
        module = sys.modules.get(module_name)
        missing = module is None and _no_such_module(module_name)
        if quiet:
            lines += [_no_module_line(f"{module_name}:{n}", module_name) for n in sorted(names)
                      if missing]
            continue
        for name in sorted(names):
            if module is not None and ("." in name or name.endswith("()")):
                continue  # an attribute path or a class's instances: said when applied
            if module is not None and name in _bindings.bindings_of(module_name):
                continue  # a script's names, watched and kept pending
            if missing:
                lines.append(_no_module_line(f"{module_name}:{name}", module_name))
            elif module is None:
                lines.append(f"cachewatch: watch target {module_name}:{name} was never applied "
                             f"(no module {module_name} was imported)")
            elif name not in vars(module):
                lines.append(_names_nothing(module, name))
            # else: a running script that started no thread; nothing could race
    for prefix, exact in _patterns:
        spec = f"{prefix}:*" if exact else f"{prefix}.*"
        if _no_such_module(prefix):
            lines.append(_no_module_line(spec, prefix))
        elif not quiet and not any(m == prefix or (not exact and m.startswith(prefix + "."))
                                   for m in _done):
            lines.append(f"cachewatch: watch target {spec} matched no imported module")
    if not quiet:
        lines += [_names_nothing(module, name) for module, name in _bindings.never_bound()]
    return lines
