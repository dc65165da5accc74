"""Makes the dicts a test module builds watched, so a suite written to pin
down dict's behaviour runs against watched dicts.

The module's source is rewritten as it is imported: every dict display
({...}), dict comprehension, dict(...), dict.fromkeys(...) and x.copy() call
has its result passed through cachewatch.watch (when it is an exact dict).
A source rewrite keeps line numbers and evaluation order, and touches
nothing but the value of those expressions. Loaded by child.py with
cachewatch already started by the environment."""
import ast
import importlib.machinery
import sys

HELPER = "__cachewatch_watch__"


class _Counts:
    def __init__(self):
        self.watched = 0          # dicts handed to cachewatch.watch
        self.refused = 0          # watch() raised: should stay 0
        self.sites = set()        # source lines whose dicts were watched
        self.peak_live = 0        # most watched containers alive at once (sampled)

    def counts(self):
        return {"watched": self.watched, "refused": self.refused,
                "sites": len(self.sites), "peak_live": self.peak_live}


def _make_helper(module_name, counts):
    import cachewatch
    from cachewatch import _cachewatch as core

    def watch_result(obj, line):
        if type(obj) is dict:
            try:
                cachewatch.watch(obj, name=f"{module_name}:{line}")
            except Exception:  # counted: a refusal is a finding of this harness
                counts.refused += 1
            else:
                counts.watched += 1
                counts.sites.add(line)
                if counts.watched % 64 == 1:
                    counts.peak_live = max(counts.peak_live, core.stats()["watched"])
        return obj

    return watch_result


class _Wrap(ast.NodeTransformer):
    """Wraps each dict-building expression in HELPER(expr, lineno)."""

    @staticmethod
    def _builds_dict(node):
        if isinstance(node, (ast.Dict, ast.DictComp)):
            return True
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id == "dict":
                return True
            if isinstance(f, ast.Attribute) and f.attr == "fromkeys" and \
                    isinstance(f.value, ast.Name) and f.value.id == "dict":
                return True
            if isinstance(f, ast.Attribute) and f.attr == "copy" and not node.args:
                return True
        return False

    def visit(self, node):
        node = super().visit(node)
        if isinstance(node, ast.expr) and self._builds_dict(node):
            wrapped = ast.Call(func=ast.Name(id=HELPER, ctx=ast.Load()),
                               args=[node, ast.Constant(node.lineno)], keywords=[])
            return ast.copy_location(wrapped, node)
        return node


class _Loader(importlib.machinery.SourceFileLoader):
    """Compiles the rewritten source (never a cached .pyc) and gives the
    module its helper before the body runs."""

    def __init__(self, fullname, path, counts):
        super().__init__(fullname, path)
        self._counts = counts

    def get_code(self, fullname):
        path = self.get_filename(fullname)
        tree = ast.parse(self.get_data(path), path)
        tree = ast.fix_missing_locations(_Wrap().visit(tree))
        return compile(tree, path, "exec", dont_inherit=True)

    def exec_module(self, module):
        setattr(module, HELPER, _make_helper(module.__name__, self._counts))
        super().exec_module(module)


class _Finder:
    def __init__(self, names, counts):
        self._names = set(names)
        self._counts = counts

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self._names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        spec.loader = _Loader(fullname, spec.origin, self._counts)
        return spec


def install(module_names):
    """Rewrite these modules when they are imported; returns the counters."""
    counts = _Counts()
    # Just ahead of the path finder, so cachewatch's own finder (first, for
    # the module:* targets) still wraps this loader and applies its targets.
    path_finder = importlib.machinery.PathFinder
    where = sys.meta_path.index(path_finder) if path_finder in sys.meta_path \
        else len(sys.meta_path)
    sys.meta_path.insert(where, _Finder(module_names, counts))
    return counts
