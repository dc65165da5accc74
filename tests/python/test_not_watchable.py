"""Silence means "no race here", never "could not look": a target that names
shared state of a kind cachewatch does not watch (a mapping that is not a
dict, an object of a C type, a class's own attributes) gets one line as soon
as it is applied, from the command line, the environment variable and the
pytest plugin alike; what it can watch (dict, list, set and deque and their
subclasses, objects of Python classes), and what has no state, gets none."""
import collections
import dataclasses
import enum
import os
import textwrap
import threading
import weakref

from cachewatch import _targets
from helpers import child_env, run_cachewatch, run_python
from test_service import needs_pth

STATE_MODULE = """
import array, collections, enum, logging, threading, weakref

class Stats:
    def __init__(self):
        self.hits = 0

class Color(enum.Enum):
    RED = 1

COUNTS = collections.defaultdict(int)
JOBS = collections.deque()
STATS = Stats()
REFS = weakref.WeakValueDictionary()
SAMPLES = array.array("d")
CACHE = {}
LOCK = threading.Lock()
LOG = logging.getLogger(__name__)
FAVOURITE = Color.RED
LIMIT = 10
"""

SAMPLES_LINE = ("cachewatch: watch target state_mod:SAMPLES holds an array.array (cachewatch "
                "watches dicts, lists, sets and deques and their subclasses, not other "
                "containers); only rebinding the name is watched")
DISCOVERY_LINE = ("cachewatch: in state_mod, not watched (cachewatch watches names, dicts, lists, "
                  "sets and deques and their subclasses, and objects of Python classes): SAMPLES "
                  "(an array.array)")


def write_module(tmp_path):
    (tmp_path / "state_mod.py").write_text(STATE_MODULE)
    return {"PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}


class Mine:
    pass


@dataclasses.dataclass(frozen=True)
class Point:
    x: int


class Mood(enum.Enum):
    OK = 1


def test_what_is_said_not_watchable():
    for value in ({}, [], set(), 1, "s", (1, [2]), None, frozenset(), Point(1), Mood.OK, len,
                  threading.RLock, os):
        assert _targets.not_watchable(value) is None, value
    # threading.Lock: a factory function up to 3.12, the C type _thread.lock
    # from 3.13, whose own attributes cannot change
    lock = _targets.not_watchable(threading.Lock)
    if isinstance(threading.Lock, type):
        assert lock == ("the class _thread.lock", "a C type, whose attributes cannot change")
    else:
        assert lock is None
    for value in (collections.OrderedDict(), collections.Counter(), collections.deque(),
                  collections.defaultdict(list), Mine()):
        assert _targets.not_watchable(value) is None, value
    assert _targets.not_watchable(weakref.WeakValueDictionary()) is None  # an object: watched
    import array
    assert _targets.not_watchable(array.array("d"))[0] == "an array.array"
    local = _targets.not_watchable(threading.local())
    assert local[0] == "an instance of _thread._local" and "C type" in local[1], local
    assert _targets.not_watchable(Mine) is None  # its own attributes: watched when named
    import copyreg
    assert _targets.not_watchable(copyreg.dispatch_table) == (
        "a dict pickle's C code reads only as an exact dict",
        "left plain: watching it would break pickling")
    assert _targets.not_watchable(int) == ("the class builtins.int",
                                           "a C type, whose attributes cannot change")


def test_command_line_says_it_once(tmp_path):
    env = write_module(tmp_path)
    script = tmp_path / "main.py"
    script.write_text(textwrap.dedent("""
        import threading, state_mod
        def work():
            state_mod.COUNTS["a"] += 1
        ts = [threading.Thread(target=work) for _ in range(3)]
        [t.start() for t in ts]; [t.join() for t in ts]
        print("counted", state_mod.COUNTS["a"])
    """))
    proc, findings = run_cachewatch(["--watch", "state_mod:SAMPLES", "--watch", "state_mod:STATS",
                                     "--watch", "state_mod:REFS",
                                     "--watch", "state_mod:CACHE", "--watch", "state_mod:LIMIT",
                                     str(script)], env=env, cwd=str(tmp_path))
    assert proc.returncode == 0 and proc.stdout.strip() == "counted 3", proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "state_mod" in ln]
    assert lines == [SAMPLES_LINE], proc.stderr
    assert findings == []


@needs_pth
def test_environment_variable_says_what_discovery_left_out(tmp_path):
    env = write_module(tmp_path)
    env["CACHEWATCH_OPTIONS"] = "watch=state_mod:*"
    proc = run_python(["-c", "import state_mod; print('imported')"], env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "imported", proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if "state_mod" in ln] == [DISCOVERY_LINE]


@needs_pth
def test_pytest_plugin_says_it_in_its_summary(pytester, tmp_path):
    pytester.makepyfile(state_mod=STATE_MODULE)
    pytester.makepyfile(test_uses_state="""
        import state_mod
        def test_count():
            state_mod.COUNTS["a"] += 1
    """)
    result = pytester.runpytest_subprocess("--cachewatch", "--cachewatch-watch", "state_mod:SAMPLES")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*= cachewatch =*", SAMPLES_LINE, "cachewatch: nothing found"])


def test_a_watchable_target_says_nothing(tmp_path):
    env = write_module(tmp_path)
    proc = run_python(["-m", "cachewatch", "run", "--watch", "state_mod:CACHE", "-c",
                       "import state_mod"], env=child_env(env))
    assert "state_mod" not in proc.stderr, proc.stderr


PATHS_MODULE = """
import threading

class App:
    def __init__(self):
        self.registry = {}
        self.name = "app"
        self.lock = threading.Lock()

    @property
    def expensive(self):
        raise RuntimeError("a property must not run")

APP = App()
"""


def test_attribute_paths(tmp_path):
    """module:NAME.attr watches the container the attribute holds; anything
    else is said in one line; reading the path runs no code (a property
    that raises is not called)."""
    (tmp_path / "paths_mod.py").write_text(PATHS_MODULE)
    script = tmp_path / "main.py"
    script.write_text(textwrap.dedent("""
        import threading, paths_mod
        def register(n):
            if "shared" not in paths_mod.APP.registry:
                paths_mod.APP.registry["shared"] = n
        ts = [threading.Thread(target=register, args=(n,)) for n in range(3)]
        [t.start() for t in ts]; [t.join() for t in ts]
        print("registered", len(paths_mod.APP.registry))
    """))
    env = {"PYTHONPATH": str(tmp_path)}
    proc, findings = run_cachewatch(
        ["--watch", "paths_mod:APP.registry", "--watch", "paths_mod:APP.name",
         "--watch", "paths_mod:APP",
         "--watch", "paths_mod:APP.missing", "--watch", "paths_mod:App.expensive",
         str(script)], env=env, cwd=str(tmp_path))
    assert proc.stdout.strip() == "registered 1", proc.stderr
    assert [(f["category"], f["target"]) for f in findings] == \
        [("check-then-act", "paths_mod.APP.registry")]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("cachewatch: watch target")]
    assert lines == [
        "cachewatch: watch target paths_mod:APP.missing names nothing (paths_mod.APP has no "
        "attribute missing)",
        "cachewatch: watch target paths_mod:App.expensive is a property, computed by code; "
        "not watched",
    ], proc.stderr


INSTANCE_MODULE = """
import threading

class App:
    def __init__(self):
        self.registry = {}
        self.hits = 0

APP = App()

def register(n):
    if "shared" not in APP.registry:
        APP.registry["shared"] = n

def main():
    ts = [threading.Thread(target=register, args=(n,)) for n in range(3)]
    [t.start() for t in ts]; [t.join() for t in ts]
"""


def test_discovery_watches_what_module_level_instances_hold(tmp_path):
    (tmp_path / "inst_mod.py").write_text(INSTANCE_MODULE)
    (tmp_path / "run_inst.py").write_text("import inst_mod\ninst_mod.main()\n")
    proc, findings = run_cachewatch(["--watch", "inst_mod:*", str(tmp_path / "run_inst.py")],
                                    env={"PYTHONPATH": str(tmp_path)}, cwd=str(tmp_path))
    assert [(f["category"], f["target"]) for f in findings] == \
        [("check-then-act", "inst_mod.APP.registry")], proc.stderr
    assert "not watched" not in proc.stderr, proc.stderr
