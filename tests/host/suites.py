"""Which CPython suites are compared, with which interpreter, watching what,
and the subset the default (CI) run takes.

Targets: 'module:*' watches every module-level dict, list, set and rebound
name of that module; 'package.*' the package and all its submodules
(python/cachewatch/_targets.py). Each suite watches its own test module and
the library modules it exercises, so their shared state goes through
cachewatch's watched types and hooks for the whole run."""
import os
from dataclasses import dataclass

VENV_PYTHON = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "build-venv", "bin", "python")
SYSTEM_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class Suite:
    name: str                       # CPython test module, e.g. test_dict
    targets: tuple                  # cachewatch watch targets
    reduced: tuple = ()             # test names for the CI run; () = whole module
    system_python: bool = False     # only Debian's python ships it
    timeout: int = 600              # seconds for one full run in one mode
    watch_dicts: bool = False       # also run with the suite's own dicts watched

    @property
    def module(self):
        return f"test.{self.name}"

    def names(self, full):
        """unittest names to load: the module, or the CI subset."""
        if full or not self.reduced:
            return [self.module]
        return [f"{self.module}.{n}" for n in self.reduced]

    @property
    def python(self):
        return SYSTEM_PYTHON if self.system_python else VENV_PYTHON

    def test_file(self):
        """The test module's file for this interpreter (None: not shipped)."""
        if self.system_python:
            root = "/usr/lib/python3.11/test"
        else:
            import sysconfig
            root = os.path.join(sysconfig.get_paths()["stdlib"], "test")
        path = os.path.join(root, *self.name.split("."))
        for found in (path + ".py", os.path.join(path, "__init__.py")):  # a module, a package
            if os.path.exists(found):
                return found
        return None


SUITES = [
    # test_dict is fast (about 1 s), so CI runs it whole, also with its own
    # dicts watched (dictwatch.py).
    Suite("test_dict",
          ("test.test_dict:*", "collections:*", "pickle:*", "copy:*", "copyreg:*"),
          watch_dicts=True),
    # CI subsets: the classes that use threads and the watched library state
    # (queues with producer/consumer threads, Thread/Lock/Condition/Event
    # semantics, the handlers that hand records between threads).
    Suite("test_queue",
          ("test.test_queue:*", "queue:*", "threading:*")),   # whole: about 9 s
    Suite("test_threading",
          ("test.test_threading:*", "threading:*", "_threading_local:*",
           "test.support.threading_helper:*"),
          reduced=("ThreadTests", "ThreadJoinOnShutdown", "LockTests", "PyRLockTests", "CRLockTests", "EventTests", "ConditionAsRLockTests",
                   "ConditionTests", "SemaphoreTests", "BoundedSemaphoreTests", "BarrierTests",
                   "TimerTests", "ThreadingExceptionTests", "InterruptMainTests", "AtexitTests",
                   "MiscTestCase")),
    Suite("test_logging",
          ("test.test_logging:*", "logging.*", "threading:*", "queue:*"),
          reduced=("BuiltinLevelsTest", "BasicFilterTest", "CustomLevelsAndFiltersTest",
                   "MemoryHandlerTest", "ConfigFileTest", "ConfigDictTest", "QueueHandlerTest",
                   "QueueListenerTest", "LoggerAdapterTest", "LoggerTest", "BasicConfigTest",
                   "ModuleLevelMiscTest", "ManagerTest", "ChildLoggerTest", "HandlerTest",
                   "FormatterTest", "LastResortTest", "StreamHandlerTest", "ShutdownTest")),
    Suite("test_weakref",
          ("test.test_weakref:*", "weakref:*", "_weakrefset:*", "copy:*"),
          reduced=("ReferencesTestCase", "MappingTestCase", "WeakMethodTestCase",
                   "FinalizeTestCase", "SubclassableWeakrefTestCase")),
    Suite("test_concurrent_futures",
          ("test.test_concurrent_futures:*", "concurrent.*", "threading:*", "queue:*",
           "multiprocessing.*"),
          # CI: the thread pool and Future classes (process pools, wait() and
          # the deadlock tests take minutes: full run only).
          reduced=("ThreadPoolInitializerTest", "ThreadPoolShutdownTest",
                   "ThreadPoolAsCompletedTest", "ThreadPoolExecutorTest", "FutureTests"),
          system_python=True, timeout=900),
    # asyncio's own suites: every Handle, task, future, lock and queue goes
    # through the logical-thread hooks (cachewatch/_tasks.py), with asyncio's
    # module-level state watched. test_events checks the stacks a Handle
    # records in debug mode (no frame of ours may show). Whole: about 2,400
    # tests, a minute per run.
    Suite("test_asyncio", ("test.test_asyncio.*", "asyncio.*"),
          reduced=("test_locks", "test_queues", "test_tasks", "test_futures", "test_events",
                   "test_taskgroups", "test_runners")),
]


def by_name(name):
    return next(s for s in SUITES if s.name == name)
