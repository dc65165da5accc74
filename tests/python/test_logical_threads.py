"""Greenthreads (eventlet) and asyncio tasks are threads of their own, which
interleave only where they suspend. The scenarios asyncio_* and eventlet_*
judge whole programs; these tests pin the rules one at a time."""
import json
import textwrap

import pytest

from helpers import child_env, innermost_lines, run_cachewatch, run_python


def judge(tmp_path, program, target="__main__:CACHE", env=None):
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(program))
    proc, findings = run_cachewatch(["--watch", target, str(path)], cwd=str(tmp_path),
                                    env=child_env(env or {}))
    assert findings is not None, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, findings


ASYNC_RMW = """
    import asyncio
    CACHE = {"hits": 0}

    async def hit(pause):
        n = CACHE["hits"]
        if pause:
            await asyncio.sleep(0)
        CACHE["hits"] = n + 1

    async def main():
        await asyncio.gather(*(hit(PAUSE) for _ in range(6)))
        print("hits", CACHE["hits"])

    if __name__ == "__main__":
        asyncio.run(main())
"""


@pytest.mark.parametrize("pause", [False, True])
def test_a_task_read_modify_write_races_only_across_an_await(tmp_path, pause):
    proc, findings = judge(tmp_path, ASYNC_RMW.replace("PAUSE", str(pause)))
    if pause:
        assert [f["category"] for f in findings] == ["check-then-act"], proc.stderr
        assert "hits 1" in proc.stdout  # the updates were really lost
        assert "Task-" in proc.stderr and "(hit)" in proc.stderr  # the tasks are named
    else:
        assert findings == [], proc.stderr
        assert "hits 6" in proc.stdout


def test_a_task_is_created_where_the_program_created_it(tmp_path):
    proc, findings = judge(tmp_path, ASYNC_RMW.replace("PAUSE", "True"))
    created = [a["thread_created_at"] for a in findings[0]["accesses"]]
    lines = {f["line"] for stack in created for f in stack if f["file"].endswith("prog.py")}
    assert 12 in lines, created  # the gather in main()
    # it starts there: asyncio's own frames above it (gather, create_task,
    # call_soon) are how, not where
    assert all(stack[0]["file"].endswith("prog.py") and stack[0]["line"] == 12
               for stack in created), created


TWO_SITES = """
    import asyncio
    CACHE = {"hits": 0}

    async def hit():
        n = CACHE["hits"]
        await asyncio.sleep(0)
        CACHE["hits"] = n + 1

    async def main():
        first = asyncio.create_task(hit())
        second = asyncio.create_task(hit())
        await first
        await second

    if __name__ == "__main__":
        asyncio.run(main())
"""


def test_tasks_made_on_two_lines_are_each_created_on_its_own(tmp_path):
    # (the stacks of births are remembered by the frames they were made of)
    proc, findings = judge(tmp_path, TWO_SITES)
    assert [f["category"] for f in findings] == ["check-then-act"], proc.stderr
    created = [a["thread_created_at"][0] for a in findings[0]["accesses"]]
    assert sorted(f["line"] for f in created) == [11, 12], created


JOINS = """
    import asyncio
    CACHE = {}

    async def fill(n):
        value = CACHE.get(n, 0)
        await asyncio.sleep(0)
        CACHE[n] = value + 1

    async def main():
        tasks = [asyncio.create_task(fill(n)) for n in range(3)]
        JOIN
        for n in range(3):
            value = CACHE.get(n, 0)
            await asyncio.sleep(0)
            CACHE[n] = value + 10

    if __name__ == "__main__":
        asyncio.run(main())
"""


@pytest.mark.parametrize("join,ordered", [
    ("await asyncio.wait(tasks)", True),
    ("await asyncio.gather(*tasks)", True),
    ("[await t for t in tasks]", True),
    ("await asyncio.sleep(0)", False),
])
def test_joins_order_a_parent_after_its_tasks(tmp_path, join, ordered):
    proc, findings = judge(tmp_path, JOINS.replace("JOIN", join))
    assert (findings == []) == ordered, proc.stderr


def test_a_task_group_orders_every_task_before_its_exit(tmp_path):
    program = JOINS.replace("""        tasks = [asyncio.create_task(fill(n)) for n in range(3)]
        JOIN""", """        async with asyncio.TaskGroup() as group:
            for n in range(3):
                group.create_task(fill(n))""")
    if not hasattr(__import__("asyncio"), "TaskGroup"):
        pytest.skip("asyncio.TaskGroup is 3.11+")
    proc, findings = judge(tmp_path, program)
    assert findings == [], proc.stderr


GREEN_THREADS = """
    import eventlet
    eventlet.monkey_patch()
    import threading, time
    CACHE = {}
    LOCK = threading.Lock()

    def worker():
        for k in range(4):
            with GUARD:
                if k not in CACHE:
                    time.sleep(0.001)
                    CACHE[k] = 1

    def main():
        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("joined", len(CACHE))

    if __name__ == "__main__":
        main()
"""


@pytest.mark.parametrize("guard,race", [("LOCK", False), ("open(__file__)", True)])
def test_monkey_patched_threads_are_green_and_their_locks_count(tmp_path, guard, race):
    # threading.Thread is a greenthread and threading.Lock eventlet's; the
    # join returns (a thread's start is wrapped as eventlet expects).
    proc, findings = judge(tmp_path, GREEN_THREADS.replace("GUARD", guard))
    assert "joined 4" in proc.stdout, proc.stderr
    assert [f["category"] for f in findings] == (["check-then-act"] if race else []), proc.stderr
    if race:
        assert innermost_lines(findings[0], str(tmp_path)) >= {11, 13}


def test_the_environment_variable_before_monkey_patch_works_as_after(tmp_path):
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(GREEN_THREADS.replace("GUARD", "open(__file__)")))
    out = tmp_path / "out.json"
    proc = run_python([str(path)], cwd=str(tmp_path), env=child_env({
        "CACHEWATCH": "1",
        "CACHEWATCH_OPTIONS": f"watch=__main__:CACHE json_path={out}"}))
    assert "joined 4" in proc.stdout, proc.stderr
    findings = json.loads(out.read_text())["findings"]
    assert [f["category"] for f in findings] == ["check-then-act"], proc.stderr


GREEN_IN_AN_OS_THREAD = """
    import threading
    import eventlet, eventlet.semaphore
    CACHE = {}
    LOCK = eventlet.semaphore.Semaphore()

    def worker():
        for k in range(4):
            with GUARD:
                if k not in CACHE:
                    eventlet.sleep(0)
                    CACHE[k] = 1

    def green_service():  # a hub of its own, in this OS thread
        pool = eventlet.GreenPool()
        for _ in range(3):
            pool.spawn(worker)
        pool.waitall()

    if __name__ == "__main__":
        service = threading.Thread(target=green_service, name="service")
        service.start()
        service.join()
        print("done", len(CACHE))
"""


@pytest.mark.parametrize("guard,race", [("LOCK", False), ("open(__file__)", True)])
def test_greenthreads_of_another_os_thread_are_told_apart(tmp_path, guard, race):
    # greenlet's trace function is per OS thread: each thread started after
    # eventlet's import is traced from its first step.
    proc, findings = judge(tmp_path, GREEN_IN_AN_OS_THREAD.replace("GUARD", guard))
    assert "done 4" in proc.stdout, proc.stderr
    assert [f["category"] for f in findings] == (["check-then-act"] if race else []), proc.stderr
    if race:
        assert innermost_lines(findings[0], str(tmp_path)) >= {10, 12}
        assert "GreenThread-" in proc.stderr, proc.stderr


@pytest.mark.parametrize("guard,race", [("LOCK", False), ("open(__file__)", True)])
def test_gevent_greenlets_are_told_apart_and_ordered_as_they_ran(tmp_path, guard, race):
    pytest.importorskip("gevent")
    program = GREEN_THREADS.replace("import eventlet\n    eventlet.monkey_patch()",
                                    "from gevent import monkey\n    monkey.patch_all()")
    proc, findings = judge(tmp_path, program.replace("GUARD", guard))
    assert "joined 4" in proc.stdout, proc.stderr
    assert proc.stderr.count("gevent's locks and events are compiled") == 1, proc.stderr
    assert [f["category"] for f in findings] == (["check-then-act"] if race else []), proc.stderr
    if race:
        assert "'Thread-" in proc.stderr  # named as threading named them


def test_a_task_destroyed_pending_is_a_leak_where_it_was_made(tmp_path):
    proc, findings = judge(tmp_path, """
        import asyncio, gc
        CACHE = {}

        async def stuck():
            await asyncio.get_running_loop().create_future()

        async def main():
            asyncio.ensure_future(stuck())
            await asyncio.sleep(0)
            gc.collect()
            await asyncio.sleep(0)

        if __name__ == "__main__":
            asyncio.run(main())
    """)
    assert [f["category"] for f in findings] == ["thread-leak"], proc.stderr
    assert "was destroyed while pending, never awaited" in findings[0]["detail"]
    assert "prog.py:9" in findings[0]["detail"], findings[0]["detail"]


TO_THREAD = """
    import asyncio, time
    CACHE = {}

    def blocking(n):
        for _ in range(3):
            v = CACHE.get("k", 0)
            time.sleep(0.001)
            CACHE["k"] = v + n

    async def main():
        CACHE["k"] = 1
        work = asyncio.create_task(asyncio.to_thread(blocking, 5))
        AWAIT_FIRST
        for _ in range(3):
            v = CACHE["k"]
            await asyncio.sleep(0.001)
            CACHE["k"] = v * 2
        await work

    if __name__ == "__main__":
        asyncio.run(main())
"""


@pytest.mark.parametrize("await_first,race", [("await work", False), ("pass", True)])
def test_tasks_and_os_threads_mix(tmp_path, await_first, race):
    # asyncio.to_thread runs on an executor's OS thread: awaiting it orders
    # the task after the thread's work; not awaiting it leaves them racing.
    proc, findings = judge(tmp_path, TO_THREAD.replace("AWAIT_FIRST", await_first))
    assert [f["category"] for f in findings] == (["check-then-act"] if race else []), proc.stderr


def test_uvloop_is_said_to_hide_its_tasks(tmp_path):
    pytest.importorskip("uvloop")
    proc, findings = judge(tmp_path, """
        import asyncio, uvloop
        CACHE = {}

        async def main():
            await asyncio.sleep(0)

        if __name__ == "__main__":
            uvloop.run(main())
    """)
    assert proc.stderr.count("uvloop's event loop is compiled") == 1, proc.stderr


@pytest.mark.parametrize("pause", [False, True])
def test_eager_tasks_run_their_first_step_as_themselves(tmp_path, pause):
    # 3.12's eager task factory runs a task's first step inside create_task,
    # with no Handle: it is still the task's, made by its creator.
    if not hasattr(__import__("asyncio"), "eager_task_factory"):
        pytest.skip("eager tasks are 3.12+")
    proc, findings = judge(tmp_path, ASYNC_RMW.replace("PAUSE", str(pause)).replace(
        "    async def main():\n",
        "    async def main():\n"
        "        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)\n"))
    assert [f["category"] for f in findings] == (["check-then-act"] if pause else []), \
        proc.stderr


def test_a_target_added_after_births_went_quiet_applies_at_a_later_birth(tmp_path):
    """Births stop calling Python once no target waits; a target added later
    (naming a name the running script binds afterwards) wakes them, and the
    next birth applies it: the race on LATE is found. (No target at start:
    a script's own __main__ targets keep births retrying while it runs.)"""
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent("""
        import asyncio
        import cachewatch
        from cachewatch import _targets

        async def noop():
            pass

        async def racer(n):
            if "k" not in LATE:
                await asyncio.sleep(0)
                LATE["k"] = n

        async def main():
            global LATE
            await asyncio.gather(*(noop() for _ in range(3)))  # nothing waits: quiet
            assert not _targets._retry_wanted()
            cachewatch.watch("__main__:LATE")  # LATE is not bound yet: it waits
            LATE = {}
            await asyncio.gather(*(racer(n) for n in range(4)))
            print("done", LATE)

        if __name__ == "__main__":
            asyncio.run(main())
    """))
    proc, findings = run_cachewatch([str(path)], cwd=str(tmp_path))
    assert "done" in proc.stdout and "Traceback" not in proc.stderr, proc.stderr
    assert [(f["category"], f["target"]) for f in findings] == \
        [("check-then-act", "__main__.LATE")], proc.stderr


def test_a_bug_in_the_task_hooks_stops_checking_and_the_loop_goes_on(tmp_path):
    proc, findings = judge(tmp_path, """
        import asyncio
        from cachewatch import _tasks
        CACHE = {}

        def broken(*args):
            raise RuntimeError("a bug of cachewatch's")

        async def work(n):
            await asyncio.sleep(0)
            CACHE[n] = n
            return n

        async def main():
            _tasks.on_spawn.append(broken)  # called as each task is born
            print("sum", sum(await asyncio.gather(*(work(n) for n in range(5)))))

        if __name__ == "__main__":
            asyncio.run(main())
    """)
    assert "sum 10" in proc.stdout, proc.stderr
    assert proc.stderr.count("cachewatch: internal error") == 1, proc.stderr
    assert "a bug of cachewatch's" in proc.stderr


TPOOL = """
    import eventlet
    eventlet.monkey_patch()
    from eventlet import tpool
    import time
    CACHE = {}

    def blocking(n):
        for _ in range(3):
            v = CACHE.get("k", 0)
            time.sleep(0.001)
            CACHE["k"] = v + n

    def main():
        CACHE["k"] = 1
        gt = eventlet.spawn(tpool.execute, blocking, 5)
        WAIT_FIRST
        for _ in range(3):
            v = CACHE["k"]
            eventlet.sleep(0.001)
            CACHE["k"] = v * 2
        gt.wait()
        tpool.killall()

    if __name__ == "__main__":
        main()
"""


@pytest.mark.parametrize("wait_first,race", [("gt.wait()", False), ("eventlet.sleep(0)", True)])
def test_greenthreads_and_tpool_threads_mix(tmp_path, wait_first, race):
    # eventlet's tpool runs work on OS threads made from unpatched copies of
    # threading and queue: its queues and thread starts are hand-offs too.
    proc, findings = judge(tmp_path, TPOOL.replace("WAIT_FIRST", wait_first))
    assert [f["category"] for f in findings] == (["check-then-act"] if race else []), proc.stderr
    if race:
        assert "'tpool_thread_" in proc.stderr  # named, with where it was made


def test_a_task_calls_cachewatch_python_a_fixed_number_of_times_however_many_steps(tmp_path):
    # The Handle hooks and a task's birth and end run in C: cachewatch's
    # Python is called at a birth (the targets' retry point), never per step.
    proc, findings = judge(tmp_path, """
        import asyncio, sys
        CACHE = {}
        calls = []

        def profile(frame, event, arg):
            if event == "call" and "/cachewatch/" in frame.f_code.co_filename:
                calls.append(frame.f_code.co_name)

        async def work(n, steps):
            for _ in range(steps):
                await asyncio.sleep(0)
            CACHE[n] = n

        async def run(steps):
            await asyncio.sleep(0)  # main's own first step is behind it
            del calls[:]
            sys.setprofile(profile)
            await asyncio.gather(*(work(n, steps) for n in range(10)))
            sys.setprofile(None)
            return len(calls)

        async def main():
            await run(1)  # modules seen for the first time are asked about once
            print("calls", await run(1), await run(20), flush=True)

        if __name__ == "__main__":
            asyncio.run(main())
    """)
    few, many = [int(n) for n in proc.stdout.split("calls")[1].split()]
    assert few == many, proc.stdout
    # Only the watch targets' retry point at each birth (9 frames a task;
    # 26 when births and ends ran in Python, 309 when every birth retried
    # the targets against every loaded module).
    assert 10 <= few <= 10 * 15, proc.stdout
    assert findings == []
