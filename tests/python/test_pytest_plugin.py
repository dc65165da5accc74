"""The pytest plugin, driven with pytester as pytest's own plugins are.
It needs cachewatch installed (its pytest11 entry point)."""
import json
import os
import textwrap

import pytest

from test_service import needs_pth

pytestmark = needs_pth

RACY_MODULE = """
    import threading
    CACHE = {}
    def fill():
        for k in range(5):
            if k not in CACHE:
                CACHE[k] = 1
    def race():
        ts = [threading.Thread(target=fill) for _ in range(2)]
        [t.start() for t in ts]; [t.join() for t in ts]
"""


# The race happens afresh in every call (the cache starts empty each time).
RACY_EACH_TIME = RACY_MODULE.replace("    def race():\n", "    def race():\n        CACHE.clear()\n")


def test_inert_when_off(pytester):
    pytester.makepyfile(test_off="""
        import sys, _thread
        def test_nothing_loaded():
            assert "cachewatch._cachewatch" not in sys.modules
            assert "cachewatch" not in type(_thread.allocate_lock().acquire).__module__.lower()
    """)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert "cachewatch" not in result.stdout.str().split("passed")[0].split("===")[-1]


def test_race_fails_the_test_that_made_it(pytester):
    pytester.makepyfile(racy=RACY_MODULE)
    pytester.makepyfile(test_app="""
        import racy
        def test_racy():
            racy.race()
        def test_clean():
            assert True
    """)
    result = pytester.runpytest_subprocess("--cachewatch", "--cachewatch-watch", "racy:CACHE")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*_ test_racy _*",
        "WARNING: cachewatch: check-then-act race on racy.CACHE*",
        "*SUMMARY: cachewatch: check-then-act race on racy.CACHE*",
        "*= cachewatch =*",
        "check-then-act on racy.CACHE * [[]test_app.py::test_racy::call]",
        "cachewatch: 1 finding(s): 1 check-then-act",
    ])
    # Frames of pytest itself are left out of the stacks.
    assert "_pytest" not in result.stdout.str()


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_a_finding_fails_every_test_it_occurs_in(pytester, monkeypatch, workers):
    """Whatever ran before, in one process or split by xdist: the same race in
    three tests fails all three (a test taking the fixture sees it instead),
    and the session summary lists it once with every test."""
    if workers:
        pytest.importorskip("xdist")
    monkeypatch.setenv("COLUMNS", "300")  # the short summary is cut to the terminal
    pytester.makepyfile(racy=RACY_EACH_TIME)
    pytester.makepyfile(test_app="""
        import racy
        def test_first():
            racy.race()
        def test_second():
            racy.race()
        def test_third(cachewatch_findings):
            racy.race()
            assert [f["target"] for f in cachewatch_findings()] == ["racy.CACHE"]
    """)
    result = pytester.runpytest_subprocess("--cachewatch", "--cachewatch-watch", "racy:CACHE",
                                           *workers)
    result.assert_outcomes(passed=1, failed=2)
    # pytest's one-line summary carries the finding, not a rule of '='.
    result.stdout.fnmatch_lines([
        "FAILED test_app.py::test_first - Failed: cachewatch: check-then-act race on racy.CACHE*",
    ])
    summary = result.stdout.str().split("= cachewatch =")[1]
    assert summary.count("check-then-act on racy.CACHE") == 1, summary
    for name in ("first", "second", "third"):
        assert f"test_app.py::test_{name}::call" in summary, summary


@pytest.mark.parametrize("args, said", [
    (["--cachewatch-fail-on", "rcae"], "option 'fail_on' has no category 'rcae'"),
    (["--cachewatch-max-frames", "0"], "option 'max_frames' must be 1-256, got 0"),
    (["--cachewatch-json-path", "/missing/dir/x.json"], "no such directory '/missing/dir'"),
    (["--cachewatch-watch", "not a target"], "bad watch target 'not a target'"),
    ([], "test_app.py::test_marked: cachewatch: bad watch target 'bad target'"),
], ids=["fail-on", "max-frames", "json-path", "watch", "marker"])
def test_usage_mistakes_are_usage_errors(pytester, args, said):
    """Said in one line before any test runs, pytest's exit status 4."""
    pytester.makepyfile(test_app="""
        import pytest
        @pytest.mark.cachewatch(watch=["bad target"])
        def test_marked():
            pass
    """ if not args else """
        def test_plain():
            pass
    """)
    result = pytester.runpytest_subprocess("--cachewatch", *args)
    assert result.ret == 4, result.stdout.str() + result.stderr.str()
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and said in errors[0], result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "passed" not in result.stdout.str()


def test_fail_on_and_the_fixture(pytester):
    pytester.makepyfile(racy=RACY_MODULE)
    pytester.makepyfile(test_app="""
        import racy
        def test_racy():
            racy.race()
    """)
    result = pytester.runpytest_subprocess("--cachewatch", "--cachewatch-watch", "racy:CACHE",
                                           "--cachewatch-fail-on", "thread")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["cachewatch: 1 finding(s): 1 check-then-act"])

    pytester.makepyfile(test_app="""
        import racy
        def test_expects_the_race(cachewatch_findings):
            racy.race()
            found = cachewatch_findings("check-then-act")
            assert [f["target"] for f in found] == ["racy.CACHE"]
    """)
    result = pytester.runpytest_subprocess("--cachewatch", "--cachewatch-watch", "racy:CACHE")
    result.assert_outcomes(passed=1)


def test_marker_runs_the_body_in_threads(pytester):
    pytester.makepyfile(state="""
        import threading
        CACHE = {}
        LOCK = threading.Lock()
        def unsafe(k):
            if k not in CACHE:
                CACHE[k] = 1
        def safe(k):
            with LOCK:
                if k not in CACHE:
                    CACHE[k] = 1
    """)
    pytester.makepyfile(test_state="""
        import pytest, state
        @pytest.mark.cachewatch(watch=["state:CACHE"], threads=4, iterations=5)
        def test_unsafe():
            for k in range(3):
                state.unsafe(("u", k))
        @pytest.mark.cachewatch(threads=4, iterations=5)
        def test_safe():
            for k in range(3):
                state.safe(("s", k))
    """)
    result = pytester.runpytest_subprocess("--cachewatch")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*_ test_unsafe _*", "WARNING: cachewatch: check-then-act*"])


def test_ini_options_json_and_suppressions(pytester, tmp_path):
    pytester.makepyfile(racy=RACY_MODULE)
    pytester.makepyfile(test_app="""
        import racy
        def test_racy():
            racy.race()
    """)
    out = tmp_path / "findings.json"
    pytester.makeini(f"""
        [pytest]
        cachewatch = true
        cachewatch_watch = racy:CACHE
        cachewatch_json_path = {out}
    """)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    data = json.loads(out.read_text())
    assert [(f["category"], f["tests"]) for f in data["findings"]] == \
        [("check-then-act", ["test_app.py::test_racy::call"])]

    supp = tmp_path / "supp.txt"
    supp.write_text("# known\nrace:racy.CACHE\n")
    result = pytester.runpytest_subprocess(f"--cachewatch-suppressions={supp}")
    result.assert_outcomes(passed=1)
    result.stderr.fnmatch_lines(["cachewatch: suppression race:racy.CACHE matched * time(s)"])


def test_leaked_thread_fails_its_teardown(pytester):
    pytester.makepyfile(test_leak="""
        import threading, time
        def test_leaks():
            threading.Thread(target=time.sleep, args=(0.5,), name="stray").start()
        def test_next():
            pass
    """)
    result = pytester.runpytest_subprocess("--cachewatch", "--cachewatch-thread-leak-grace-ms=20")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks*",
                                 "WARNING: cachewatch: thread-leak: threading.Thread*",
                                 "*thread 'stray' started and never joined*"])


def test_leaked_greenthread_fails_its_teardown(pytester):
    pytest.importorskip("eventlet")
    pytester.makepyfile(test_green="""
        import eventlet
        def test_leaks():
            eventlet.spawn(eventlet.sleep, 5)
            eventlet.sleep(0)
        def test_next():
            eventlet.sleep(0)
    """)
    result = pytester.runpytest_subprocess("--cachewatch", "--cachewatch-thread-leak-grace-ms=20")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks*",
                                 "WARNING: cachewatch: thread-leak: greenthread*"])


def test_threads_of_a_module_level_pool_are_not_a_tests_leak(pytester):
    """A pool kept in a module global and started lazily by the first test
    that submits (as pebble's pools are): its thread is the pool's. A daemon
    heartbeat is no leak either. A thread the test itself leaves is."""
    pytester.makepyfile(lazypool="""
        import queue, threading
        class Pool:
            def __init__(self):
                self.tasks, self.worker = queue.Queue(), None
            def submit(self, fn):
                if self.worker is None:
                    self.worker = threading.Thread(target=self._run, name="pool-worker")
                    self.worker.start()
                self.tasks.put(fn)
            def _run(self):
                while True:
                    try:
                        self.tasks.get(timeout=3)()
                    except queue.Empty:
                        return  # idle: done
        POOL = Pool()
    """)
    pytester.makepyfile(test_pool="""
        import threading, time, lazypool
        def test_first():
            lazypool.POOL.submit(lambda: None)
            threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        def test_second():
            lazypool.POOL.submit(lambda: None)
        def test_strays():
            threading.Thread(target=time.sleep, args=(0.5,), name="stray").start()
    """)
    result = pytester.runpytest_subprocess("--cachewatch", "--cachewatch-thread-leak-grace-ms=20")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_strays*"])
    assert "pool-worker" not in result.stdout.str()


def test_xdist_workers_report_to_the_controller_once(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(racy=RACY_MODULE)
    for name in ("one", "two", "three"):
        pytester.makepyfile(**{f"test_{name}": f"""
            import racy
            def test_{name}():
                racy.race()
        """})
    result = pytester.runpytest_subprocess("--cachewatch", "--cachewatch-watch", "racy:CACHE",
                                           "-n", "2")
    outcomes = result.parseoutcomes()
    # The cache is filled by a worker's first test: later ones only read it.
    assert outcomes.get("failed") in (1, 2) and outcomes.get("passed", 0) + outcomes["failed"] == 3
    text = result.stdout.str()
    summary = text.split("= cachewatch =")[1]
    assert summary.count("check-then-act on racy.CACHE") == 1, summary
    assert "cachewatch: 1 finding(s): 1 check-then-act" in summary


def test_async_tests_are_judged_per_test(pytester):
    # anyio's pytest plugin runs each test in an event loop: its tasks are
    # threads of their own, and a check-then-act across an await fails the
    # test that made it; the same code with no await between is silent.
    pytest.importorskip("anyio")
    pytester.makepyfile(test_async="""
        import asyncio
        import pytest
        SESSIONS = {}

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        async def login(user, pause):
            if user not in SESSIONS:
                if pause:
                    await asyncio.sleep(0)
                SESSIONS[user] = object()

        @pytest.mark.anyio
        async def test_racy():
            await asyncio.gather(*(login("alice", True) for _ in range(3)))

        @pytest.mark.anyio
        async def test_atomic():
            await asyncio.gather(*(login("bob", False) for _ in range(3)))
    """)
    result = pytester.runpytest_subprocess("--cachewatch", "--cachewatch-watch",
                                           "test_async:SESSIONS")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*_ test_racy _*",
        "WARNING: cachewatch: check-then-act race on test_async.SESSIONS*",
        "*Task-*(login)*",
        "check-then-act on test_async.SESSIONS * [[]test_async.py::test_racy::call]",
    ])
