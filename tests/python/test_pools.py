"""Pool and thread findings: what is reported, what clears, what options do.
Each test runs its program in a child process."""
import json
import textwrap

import pytest

from helpers import run_code


def findings_of(code, options=""):
    proc = run_code(textwrap.dedent(f"""
        import json, cachewatch
        cachewatch.start({options!r})
    """) + textwrap.dedent(code) + textwrap.dedent("""
        cachewatch.stop()
        print("FINDINGS" + json.dumps(cachewatch.findings()))
    """))
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("FINDINGS"))
    return json.loads(line[len("FINDINGS"):]), proc.stderr


def kinds(findings):
    return sorted((f["kind"], f["target"]) for f in findings)


def test_strict_reports_unbounded_pools_when_made():
    found, _ = findings_of("""
        import futurist
        from concurrent.futures import ThreadPoolExecutor
        from futurist import rejection
        from multiprocessing.pool import ThreadPool
        pools = [ThreadPoolExecutor(2), futurist.ThreadPoolExecutor(),
                 futurist.DynamicThreadPoolExecutor(),
                 futurist.ThreadPoolExecutor(check_and_reject=rejection.reject_when_reached(4)),
                 ThreadPool(2)]
        pools[-1].close(); pools[-1].join()
        for p in pools[:-1]: p.shutdown()
    """, "pool_strict=1")
    assert kinds(found) == [("unbounded-pool", "concurrent.futures.ThreadPoolExecutor"),
                            ("unbounded-pool", "futurist.DynamicThreadPoolExecutor"),
                            ("unbounded-pool", "futurist.ThreadPoolExecutor"),
                            ("unbounded-pool", "multiprocessing.pool.ThreadPool")]
    for f in found:
        assert f["stacks"][0]["title"] == "Made"
        assert "<string>" in [frame["file"] for frame in f["stacks"][0]["stack"]]


def test_not_strict_pools_are_reported_only_under_load():
    found, _ = findings_of("""
        import time
        from multiprocessing.pool import ThreadPool
        quiet = ThreadPool(2)
        quiet.apply_async(time.sleep, (0.001,)).get()
        busy = ThreadPool(1)
        results = [busy.apply_async(time.sleep, (0.001,)) for _ in range(60)]
        for r in results: r.get()
        for p in (quiet, busy): p.close(); p.join()
    """, "pool_backlog=20")
    assert kinds(found) == [("unbounded-pool", "multiprocessing.pool.ThreadPool")]
    assert found[0]["facts"]["pending"] > 20


def test_waiting_too_long_reports_an_unbounded_pool():
    found, _ = findings_of("""
        import time
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(1)
        futures = [pool.submit(time.sleep, 0.05) for _ in range(4)]
        for f in futures: f.result()
        pool.shutdown()
    """, "pool_wait_ms=80")
    assert kinds(found) == [("unbounded-pool", "concurrent.futures.ThreadPoolExecutor")]
    assert found[0]["facts"]["max_wait_ms"] > 80


def test_result_timeout_then_result_is_not_abandoned():
    found, _ = findings_of("""
        import time
        from concurrent.futures import ThreadPoolExecutor, TimeoutError
        pool = ThreadPoolExecutor(1)
        f = pool.submit(time.sleep, 0.3)
        try:
            f.result(timeout=0.05)
        except TimeoutError:
            pass
        f.result()          # waited again: still wanted
        g = pool.submit(time.sleep, 0.3)
        try:
            g.result(timeout=0.05)
        except TimeoutError:
            pass            # gave up for good
        pool.shutdown()
    """, "abandoned_ms=50")
    assert kinds(found) == [("abandoned-task", "concurrent.futures.ThreadPoolExecutor")]
    facts = found[0]["facts"]
    assert facts["ran_on_ms"] >= 150 and facts["still_running"] == 0
    assert found[0]["stacks"][0]["title"] == "Waiter gave up"


@pytest.mark.parametrize("timeout,abandoned", [(0, False), (0.05, True)])
def test_a_wait_that_only_polls_gives_nothing_up(timeout, abandoned):
    # gunicorn's gthread worker polls its futures with wait(timeout=0)
    # between accepts, keeps them and looks again later.
    found, _ = findings_of(f"""
        import time
        from concurrent import futures
        pool = futures.ThreadPoolExecutor(1)
        pending = {{pool.submit(time.sleep, 0.3)}}
        futures.wait(pending, timeout={timeout}, return_when=futures.FIRST_COMPLETED)
        pool.shutdown()
    """, "abandoned_ms=50")
    assert kinds(found) == ([("abandoned-task", "concurrent.futures.ThreadPoolExecutor")]
                            if abandoned else [])


def test_cancel_before_start_is_fine_cancel_of_running_task_is_not():
    found, _ = findings_of("""
        import time, threading
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(1)
        started = threading.Event()
        def slow():
            started.set(); time.sleep(0.3)
        running = pool.submit(slow)
        queued = pool.submit(time.sleep, 0.3)
        started.wait()
        assert queued.cancel() is True
        assert running.cancel() is False
        pool.shutdown()
    """, "abandoned_ms=50")
    assert kinds(found) == [("abandoned-task", "concurrent.futures.ThreadPoolExecutor")]
    assert "cancel() returned False" in found[0]["detail"]


def test_daemon_threads_only_when_asked_and_options_apply():
    code = """
        import threading, time
        threading.Thread(target=time.sleep, args=(0.5,), name="worker").start()
        threading.Thread(target=time.sleep, args=(5,), name="ticker", daemon=True).start()
    """
    found, _ = findings_of(code, "thread_leak_grace_ms=20")
    assert [f["detail"].split(" started")[0] for f in found] == ["thread 'worker'"]
    found, _ = findings_of(code, "thread_leak_grace_ms=20 thread_leak_daemons=1")
    details = sorted(f["detail"] for f in found)
    assert [f["kind"] for f in found] == ["thread-leak", "thread-leak"]
    assert details[0].startswith("daemon thread 'ticker'")
    assert details[1].startswith("thread 'worker' started and never joined")
    assert sorted(f["facts"]["daemon"] for f in found) == [0, 1]
    found, _ = findings_of(code, "thread_leak_grace_ms=20 thread_leaks=0")
    assert found == []
    found, _ = findings_of(code, "thread_leak_grace_ms=900")
    assert found == [], "the grace period lets them finish"


def test_no_wait_for_a_daemon_or_a_thread_blocked_for_good():
    """A daemon heartbeat is not waited for; nor is a thread waiting on an
    event nobody will set (it is reported at once). The grace is ten minutes:
    waiting for either would run into the child's timeout and fail here."""
    proc = run_code(textwrap.dedent("""
        import threading, time, json, cachewatch
        cachewatch.start({"print_reports": 0, "thread_leak_grace_ms": 600000})
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        never = threading.Event()
        threading.Thread(target=never.wait, name="stuck").start()
        time.sleep(0.1)
        cachewatch.stop()
        print(json.dumps([f["detail"] for f in cachewatch.findings()]))
        never.set()
    """), timeout=120)
    details = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(details) == 1 and details[0].startswith("thread 'stuck' started and never joined")


def test_threads_from_before_start_are_not_leaks():
    proc = run_code(textwrap.dedent("""
        import threading, time, json, cachewatch
        early = threading.Thread(target=time.sleep, args=(0.4,)); early.start()
        cachewatch.start("thread_leak_grace_ms=10")
        cachewatch.stop()
        print(json.dumps(cachewatch.findings()))
    """))
    assert json.loads(proc.stdout) == []


def test_executor_leak_count_option():
    code = """
        from concurrent.futures import ThreadPoolExecutor
        kept = []
        for i in range(3):
            kept.append(ThreadPoolExecutor(1))
            kept[-1].submit(len, "x").result()
    """
    found, _ = findings_of(code, "executor_leak_count=3")
    assert kinds(found) == [("executor-leak", "concurrent.futures.ThreadPoolExecutor")]
    # Reported as the third is made: it has no thread yet.
    assert found[0]["facts"] == {"made": 3, "live": 3, "threads": 2}
    found, _ = findings_of(code, "executor_leak_count=4")
    assert found == []


def test_futurist_green_pool_is_hooked():
    import pytest
    pytest.importorskip("eventlet")
    found, _ = findings_of("""
        import futurist
        from futurist import rejection
        g = futurist.GreenThreadPoolExecutor()
        assert g.submit(len, "abc").result() == 3
        g.shutdown()
        futurist.GreenThreadPoolExecutor(check_and_reject=rejection.reject_when_reached(3)).shutdown()
    """, "pool_strict=1")
    assert kinds(found) == [("unbounded-pool", "futurist.GreenThreadPoolExecutor")]


def test_a_finding_names_the_users_line_decided_by_module_not_path(tmp_path):
    """Executors made by code whose path says futurist/ (futurist's own tests)
    through mock.patch's wrapper are attributed to that code; a thread leak's
    SUMMARY names the line that started the thread, not Thread.start."""
    tests_dir = tmp_path / "futurist" / "tests"
    tests_dir.mkdir(parents=True)
    (tests_dir / "maker.py").write_text(textwrap.dedent("""
        import threading, time
        from unittest import mock
        from concurrent.futures import ThreadPoolExecutor
        KEPT = []
        @mock.patch("time.monotonic", time.monotonic)
        def make():
            KEPT.append(ThreadPoolExecutor(1))  # line 8
        def stray():
            threading.Thread(target=time.sleep, args=(0.5,)).start()  # line 10
    """))
    found, stderr = findings_of(f"""
        import sys
        sys.path.insert(0, {str(tests_dir)!r})
        import maker
        for _ in range(5):
            maker.make()
        maker.stray()
    """, "thread_leak_grace_ms=10")
    sites = {f["kind"]: f["stacks"][0]["stack"] for f in found}
    assert sorted(sites) == ["executor-leak", "thread-leak"], found
    leak = next(f for f in found if f["kind"] == "executor-leak")
    assert "maker.py:8 and never shut down" in leak["detail"], leak
    summary = [l for l in stderr.splitlines() if l.startswith("SUMMARY: cachewatch: thread-leak")]
    assert summary and summary[0].endswith("maker.py:10 in stray"), stderr


def test_executor_leak_says_when_its_counts_were_taken():
    """Counted as the report is made (the fifth executor), not at exit:
    the text says so, so live=1 of 7 made later is not a contradiction."""
    found, _ = findings_of("""
        import gc
        from concurrent.futures import ThreadPoolExecutor
        kept = None
        for i in range(7):
            kept = ThreadPoolExecutor(1)
            kept.submit(len, "x").result()
            gc.collect()
    """)
    leak = next(f for f in found if f["kind"] == "executor-leak")
    facts = leak["facts"]
    assert facts["made"] == 5
    assert leak["detail"].endswith(f"(counted as executor 5 was made: {facts['live']} still "
                                   f"alive, with {facts['threads']} worker threads)"), leak["detail"]


def test_a_backlog_keeps_its_course_in_at_most_256_points():
    """The chart of an unbounded pool's backlog: one point a submit until the
    finding, every other one dropped when 256 are full, so the first and the
    last stay and the course keeps its shape."""
    found, _ = findings_of("""
        import threading
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(1)
        gate = threading.Event()
        pool.submit(gate.wait)
        futures = [pool.submit(pow, 2, i) for i in range(1100)]
        gate.set()
        for f in futures: f.result()
        pool.shutdown()
    """, "pool_backlog=1000")
    [finding] = found
    assert finding["kind"] == "unbounded-pool" and finding["facts"]["pending"] == 1001
    course = finding["backlog"]
    assert 100 < len(course) <= 256
    waiting = [w for _, w in course]
    assert waiting[0] <= 1 and waiting[-1] == 1001
    assert waiting == sorted(waiting) and len(set(waiting)) == len(waiting)
    assert [ms for ms, _ in course] == sorted(ms for ms, _ in course)


def test_a_task_given_up_on_twice_is_told_once_as_the_first_waiter_left_it():
    found, _ = findings_of("""
        import time
        from concurrent.futures import ThreadPoolExecutor, TimeoutError
        pool = ThreadPoolExecutor(1)
        f = pool.submit(time.sleep, 0.3)
        for wait in (f.result, f.exception):
            try:
                wait(timeout=0.02)
            except TimeoutError:
                pass
        pool.shutdown()
    """, "abandoned_ms=50")
    [finding] = found
    assert finding["kind"] == "abandoned-task"
    assert "result(timeout=0.02) ran out" in finding["detail"]
    assert finding["facts"]["still_running"] == 0 and finding["facts"]["ran_on_ms"] >= 200
