"""An internal failure (no memory for the engine, an exception in the Python
layer's hooks) disables checking with one warning; the program goes on and
computes what it computes without cachewatch, and findings made before the
failure are still reported."""
import json
import os
import re
import textwrap

import pytest

from helpers import ROOT, run_code, run_python

WORKLOAD = os.path.join(ROOT, "tests", "failsafe", "workload.py")
FULL = os.environ.get("CACHEWATCH_FULL") == "1"
WARNING = re.compile(r"^cachewatch: internal error \(.+\); checking is disabled, the program goes on$")


def warnings_in(stderr):
    lines = [line for line in stderr.splitlines() if "internal error" in line]
    assert all(WARNING.match(line) for line in lines), stderr
    return len(lines)


@pytest.fixture(scope="module")
def plain_digest():
    proc = run_python([WORKLOAD, "plain"])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[0]


def run_failing_after(n, tmp_path):
    report = tmp_path / f"report-{n}.json"
    proc = run_python([WORKLOAD, str(n)], env={"CACHEWATCH_OPTIONS": f"json_path={report} exitcode=0"})
    assert proc.returncode == 0, proc.stderr
    digest, summary = proc.stdout.splitlines()
    _, found, _, before, _, failed = summary.split()
    saved = json.loads(report.read_text())["findings"]
    return digest, int(found), int(before), failed == "True", saved, proc.stderr


def allocation_points():
    """Where to fail: every allocation early on (start-up paths), then
    spaced wider; in the full run, every one."""
    n = 1
    while True:
        yield n
        n += 1 if FULL or n < 16 else max(1, n // 3)


def test_out_of_memory_anywhere_disables_checking_once(plain_digest, tmp_path):
    tried = failed_runs = 0
    for n in allocation_points():
        digest, found, before, failed, saved, stderr = run_failing_after(n, tmp_path)
        tried += 1
        assert digest == plain_digest, f"fail_after={n} changed the program's results"
        assert warnings_in(stderr) == (1 if failed else 0), stderr
        assert found >= before >= 1 and len(saved) == found, f"fail_after={n} lost findings"
        if not failed:
            break  # past the last allocation the workload makes
        failed_runs += 1
    assert failed_runs >= 20, "the sweep never reached the engine's steady state"
    print(f"allocation failure injected at {failed_runs} points, {tried} runs")


def guarded_child(sabotage, use):
    code = textwrap.dedent("""
        import sys, threading, cachewatch
        from cachewatch import _cachewatch, _pools, _targets
        cachewatch.start({"print_reports": 0, "exitcode": 0, "watch": "colorsys:*"})
    """) + textwrap.dedent(sabotage) + textwrap.dedent(use) + textwrap.dedent("""
        print("failed", _cachewatch.has_failed(), "active", cachewatch.is_active())
    """)
    proc = run_code(code)
    assert proc.returncode == 0, proc.stderr
    assert warnings_in(proc.stderr) == 1, proc.stderr
    return proc.stdout.split()


def test_exception_in_pool_bookkeeping():
    out = guarded_child("""
        class Broken(dict):
            def setdefault(self, k, v):
                raise KeyError("bookkeeping bug")
        _pools._by_site = Broken()
    """, """
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            print(sum(ex.map(lambda x: x * x, range(100))))
            print(ex.submit(pow, 2, 10).result(timeout=5))
    """)
    assert out == ["328350", "1024", "failed", "True", "active", "False"]


def test_exception_in_target_discovery():
    out = guarded_child("""
        def broken(module, fresh):
            raise AttributeError("discovery bug")
        _targets._discover = broken
    """, """
        import colorsys
        print(colorsys.rgb_to_hsv(0.0, 0.0, 1.0))
    """)
    assert out == ["(0.6666666666666666,", "1.0,", "1.0)", "failed", "True", "active", "False"]


def test_a_raw_threads_exception_names_the_programs_function():
    """A thread started with _thread.start_new_thread whose function raises:
    the unraisable hook sees the program's function, as without cachewatch
    (the thread runs through cachewatch's trampoline), and SystemExit stays
    quiet."""
    proc = run_code(textwrap.dedent("""
        import sys, _thread, time
        import cachewatch
        cachewatch.start({"thread_leaks": "0"})
        seen = []
        sys.unraisablehook = lambda u: seen.append(u)

        def task():
            raise ValueError("from the thread")

        def leaves():
            raise SystemExit

        for function in (task, leaves):
            _thread.start_new_thread(function, ())
        for _ in range(200):
            if seen:
                break
            time.sleep(0.01)
        time.sleep(0.1)
        [u] = seen
        assert type(u.exc_value) is ValueError, u
        if sys.version_info >= (3, 13):
            assert u.object is None and repr(task) in u.err_msg, u.err_msg
        else:
            assert u.object is task, u.object
        print("ok")
    """))
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr
