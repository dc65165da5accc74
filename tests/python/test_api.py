"""The Python API: start/stop, watch targets, findings as data, the
context manager. Each test runs its program in a child process so hooks
and findings never leak between tests."""
import json
import sys
import textwrap

from helpers import run_code

RACY_BODY = """
import threading
def fill(d):
    for k in range(5):
        if k not in d:
            d[k] = threading.current_thread().name
ts = [threading.Thread(target=fill, args=(CACHE,), name=f"filler-{i}") for i in range(2)]
[t.start() for t in ts]
[t.join() for t in ts]
"""


def child(*parts):
    proc = run_code("\n".join(textwrap.dedent(p) for p in parts))
    assert proc.returncode == 0, proc.stderr
    return proc


def test_findings_have_the_documented_shape():
    proc = child("""
        import json, cachewatch
        cachewatch.start()
        CACHE = {}
        cachewatch.watch(CACHE, name="app.CACHE")
    """, RACY_BODY, """
        print(json.dumps(cachewatch.findings()))
    """)
    findings = json.loads(proc.stdout)
    assert len(findings) == 1
    f = findings[0]
    assert f["kind"] == "race"
    assert f["category"] == "check-then-act"
    assert f["target"] == "app.CACHE"
    assert f["key"] in ("0", "1", "2", "3", "4")
    assert len(f["accesses"]) == 2
    for access in f["accesses"]:
        assert access["thread"].startswith("filler-")
        assert access["op"] in ("contains", "setitem")
        assert access["locks"] == []
        top = access["stack"][0]
        assert top["file"] == "<string>" and top["function"] == "fill"
        assert isinstance(top["line"], int)
        # qualified names from 3.11 (3.9 and 3.10 code objects have none)
        assert access["thread_created_at"][0]["function"] == \
            ("Thread.start" if sys.version_info >= (3, 11) else "start")
    # The text report went to stderr, once.
    assert proc.stderr.count("WARNING: cachewatch: check-then-act race on app.CACHE") == 1


def test_context_manager_scopes_findings_and_restores_plain_dict():
    body = textwrap.indent(textwrap.dedent(RACY_BODY), "    ")
    code = ("import cachewatch\nCACHE = {}\n"
            "with cachewatch.checking(watch=['__main__:CACHE']) as found:\n"
            + body + "    inside = found()\n"
            "assert len(inside) == 1, inside\n"
            "assert type(CACHE) is dict\n"
            "assert not cachewatch.is_active()\n"
            "print('ok')\n")
    proc = run_code(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_target_watched_when_module_is_imported(tmp_path):
    (tmp_path / "appcache.py").write_text("CACHE = {}\n")
    proc = child(f"""
        import sys; sys.path.insert(0, {str(tmp_path)!r})
        import cachewatch
        cachewatch.start(watch=["appcache:CACHE"])
        import appcache
        assert cachewatch._cachewatch.is_watched(appcache.CACHE)
        CACHE = appcache.CACHE
    """, RACY_BODY, """
        print(cachewatch.findings()[0]["target"])
    """)
    assert proc.stdout.strip() == "appcache.CACHE"


def test_target_already_imported_is_watched_at_once():
    proc = child("""
        import json, cachewatch
        cachewatch.start()
        cachewatch.watch("json.decoder:BACKSLASH")
        print(cachewatch._cachewatch.is_watched(json.decoder.BACKSLASH))
    """)
    assert proc.stdout.strip() == "True"


def test_targets_that_name_nothing_give_one_line_each():
    proc = child("""
        import cachewatch
        cachewatch.start(watch=["os:no_such_name", "no_such_module:X", "no_such_pkg.*"])
        cachewatch.stop()
        print("still running")
    """)
    assert proc.stdout.strip() == "still running"
    no_module = "cachewatch: watch target no_such_module:X names no module " \
                "(no module named 'no_such_module')"
    no_package = "cachewatch: watch target no_such_pkg.* names no module " \
                 "(no module named 'no_such_pkg')"
    # Said as each target is given, and again when checking stops.
    assert proc.stderr.strip().splitlines() == [
        "cachewatch: watch target os:no_such_name names nothing yet (os has no no_such_name); "
        "it is watched if it is bound later",
        no_module, no_package, no_module, no_package,
        "cachewatch: watch target os:no_such_name names nothing (os has no no_such_name)",
    ]


def test_bad_options_give_one_clear_line():
    for text, message in [("no_such=1", "unknown option 'no_such'"),
                          ("exitcode=x", "option 'exitcode' wants a number, got 'x'"),
                          ("max_frames=0", "option 'max_frames' must be 1-256, got 0"),
                          ("garbage", "malformed option 'garbage' (want name=value)")]:
        proc = run_code(f"""
import cachewatch
try:
    cachewatch.start({text!r})
except ValueError as exc:
    print(exc)
print(cachewatch.is_active())
""")
        assert proc.stdout.splitlines() == [message, "False"], proc.stdout + proc.stderr


def test_environment_options_apply_and_explicit_ones_win():
    proc = run_code("""
import cachewatch
cachewatch.stop()   # in case the environment already started it (the .pth)
cachewatch.start("max_frames=7")
o = cachewatch._cachewatch.options()
print(o["max_frames"], o["history_size"])
""", env={"CACHEWATCH_OPTIONS": "max_frames=3 history_size=5"})
    assert proc.stdout.split() == ["7", "5"], proc.stderr


def test_start_and_stop_are_idempotent_and_restore_hooks():
    proc = child("""
        import threading, queue, _thread, cachewatch
        before = (threading.Event.set, queue.Queue.get, _thread.start_new_thread,
                  _thread.LockType.__dict__["acquire"])
        cachewatch.start(); cachewatch.start()
        assert threading.Event.__dict__["set"] is not before[0]
        cachewatch.stop(); cachewatch.stop()
        after = (threading.Event.set, queue.Queue.get, _thread.start_new_thread,
                 _thread.LockType.__dict__["acquire"])
        assert before == after, (before, after)
        print("ok")
    """)
    assert proc.stdout.strip() == "ok"


def test_sync_histories_are_kept_only_while_something_is_watched():
    """Each thread's last sync events exist for race reports, and with
    nothing watched there can be none: a program that watches nothing pays
    nothing for them (no ring is made), one that watches something keeps them."""
    proc = child("""
        import threading, queue, cachewatch
        from cachewatch import _cachewatch

        def traffic():
            lock, q = threading.Lock(), queue.Queue()
            def work():
                for i in range(50):
                    with lock:
                        q.put(i)
            t = threading.Thread(target=work)
            t.start()
            for _ in range(50):
                q.get()
            t.join()

        cachewatch.start()
        traffic()
        print(_cachewatch.stats()["memory"]["history"])
        D = {}
        cachewatch.watch(D, name="t.D")
        traffic()
        print(_cachewatch.stats()["memory"]["history"])
    """)
    nothing_watched, watching = map(int, proc.stdout.split())
    assert nothing_watched == 0 and watching > 0, proc.stdout + proc.stderr


def test_hand_offs_carry_clocks_only_once_something_is_watched():
    """Before anything is watched a hand-off can order no recorded access, so
    none is kept (no sync record is made for a queue); once something is,
    a hand-off orders what follows it and an access after it without one is
    still a race."""
    proc = child("""
        import threading, queue, json, cachewatch
        from cachewatch import _cachewatch
        cachewatch.start({"print_reports": "0", "exitcode": "0"})
        RACY, ORDERED = {}, {}
        before, after = queue.Queue(), queue.Queue()

        def worker():
            before.get()                      # handed off before anything was watched
            after.get()                       # handed off after
            ORDERED["n"] = ORDERED.get("n", 0) + 1
            RACY["n"] = RACY.get("n", 0) + 1

        def records_made(keys):  # hand-offs on objects never handed off before
            made = _cachewatch.stats()["sync_objects"]
            for key in keys:
                _cachewatch.publish(key)
            return _cachewatch.stats()["sync_objects"] - made

        t = threading.Thread(target=worker)
        t.start()
        before.put(0)
        keys = [object() for _ in range(100)]
        print(records_made(keys))
        cachewatch.watch(RACY, name="t.RACY")
        cachewatch.watch(ORDERED, name="t.ORDERED")
        print(records_made(keys))
        ORDERED["n"] = ORDERED.get("n", 0) + 1
        after.put(1)
        RACY["n"] = RACY.get("n", 0) + 1      # after the put: nothing orders it
        t.join()
        print(json.dumps(sorted(f["target"] for f in cachewatch.findings())))
    """)
    before_watching, after_watching, targets = proc.stdout.split("\n")[:3]
    assert (int(before_watching), int(after_watching)) == (0, 100), proc.stdout
    assert json.loads(targets) == ["t.RACY"], proc.stdout + proc.stderr


def test_json_path_option_writes_report_at_exit(tmp_path):
    out = tmp_path / "r.json"
    child(f"""
        import cachewatch
        cachewatch.start("json_path={out}")
        CACHE = {{}}
        cachewatch.watch(CACHE, name="app.CACHE")
    """, RACY_BODY)
    data = json.loads(out.read_text())
    assert [f["category"] for f in data["findings"]] == ["check-then-act"]
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_fork_after_api_start_gives_child_fresh_thread_registry():
    # Not only under the environment variable: a program that starts
    # cachewatch itself and forks gets its child's main thread registered
    # anew (the parent's threads are gone there).
    proc = child("""
        import os, threading, cachewatch
        from cachewatch import _cachewatch
        cachewatch.start({"print_reports": 0})
        go = threading.Event()
        ts = [threading.Thread(target=go.wait) for _ in range(3)]
        [t.start() for t in ts]
        before = _cachewatch.stats()["threads"]
        pid = os.fork()
        if pid == 0:
            print("child", _cachewatch.stats()["threads"] - before, flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        go.set()
        [t.join() for t in ts]
    """)
    assert proc.stdout.split() == ["child", "1"]
