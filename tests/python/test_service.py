"""Activation with no code change: the .pth file and CACHEWATCH_OPTIONS, in
plain programs, forked children, and a pre-fork threaded web server
(gunicorn) under concurrent requests on loopback."""
import glob
import json
import os
import re
import signal
import site
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import child_env, run_python

RACY = textwrap.dedent("""
    import threading
    CACHE = {}
    def fill():
        for k in range(5):
            if k not in CACHE:
                CACHE[k] = threading.current_thread().name
    ts = [threading.Thread(target=fill) for _ in range(2)]
    [t.start() for t in ts]; [t.join() for t in ts]
""")


def children_of(pid, expected, wait_s=10):
    """The pids whose parent is pid (sorted), once there are `expected`."""
    deadline = time.monotonic() + wait_s
    while True:
        found = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = open(stat).read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(stat.split("/")[2]))
        if len(found) >= expected or time.monotonic() > deadline:
            return sorted(found)
        time.sleep(0.05)


def pth_installed():
    return any(os.path.exists(os.path.join(d, "cachewatch.pth"))
               for d in site.getsitepackages() + [site.getusersitepackages()])


needs_pth = pytest.mark.skipif(not pth_installed() and not os.environ.get("CI"),
                               reason="cachewatch is not installed here (pip install .)")


@needs_pth
def test_pth_is_installed_and_inert_when_off():
    assert pth_installed(), "pip install . must install cachewatch.pth"
    proc = run_python(["-c", "import sys; print(sorted(m for m in sys.modules "
                             "if m.startswith(('cachewatch', 'threading'))))"])
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr
    proc = run_python(["-c", "import sys; print('cachewatch' in sys.modules)"],
                      env={"CACHEWATCH": "0", "CACHEWATCH_OPTIONS": "  "})
    assert proc.stdout.strip() == "False"


@needs_pth
def test_environment_alone_turns_it_on(tmp_path):
    out = tmp_path / "report.%p.json"
    proc = run_python(["-c", RACY + "print('ok')"],
                      env={"CACHEWATCH_OPTIONS": f"watch=__main__:CACHE json_path={out}"})
    assert proc.returncode == 66 and proc.stdout.strip() == "ok", proc.stderr
    files = glob.glob(str(tmp_path / "report.*.json"))
    assert len(files) == 1
    data = json.load(open(files[0]))
    assert [f["category"] for f in data["findings"]] == ["check-then-act"]
    assert data["pid"] == int(files[0].split(".")[-2])
    assert "WARNING: cachewatch: check-then-act race on __main__.CACHE" in proc.stderr
    # CACHEWATCH=1 with no options at all starts it too.
    proc = run_python(["-c", "import cachewatch; print(cachewatch.is_active())"],
                      env={"CACHEWATCH": "1"})
    assert proc.stdout.strip() == "True"


@needs_pth
def test_exitcode_under_the_environment_variable():
    """As TSAN_OPTIONS=exitcode: a program that would exit 0 with findings
    exits with exitcode (66 unless set); its own failure status stands; no
    finding that counts (fail_on), no change."""
    watch = "watch=__main__:CACHE"
    for options, tail, status in [(watch, "", 66), (watch + " exitcode=7", "", 7),
                                  (watch + " exitcode=0", "", 0),
                                  (watch, "raise SystemExit(3)", 3),
                                  (watch + " fail_on=pool", "", 0),
                                  ("", "", 0)]:
        proc = run_python(["-c", RACY + "print('ok', flush=True)\n" + tail],
                          env={"CACHEWATCH_OPTIONS": options or "print_reports=1"})
        assert proc.returncode == status, (options, tail, proc.returncode, proc.stderr)
        assert proc.stdout.strip() == "ok"


@needs_pth
def test_setup_mistakes_are_said_at_start(tmp_path):
    """A misspelt name is said when its module is imported, with the close
    name; a module that does not exist as the program begins; both before
    the program goes on (not at exit only). A report directory that does not
    exist: one line, and the program runs unchecked."""
    (tmp_path / "app.py").write_text("SESSIONS = {}\n")
    (tmp_path / "main.py").write_text(
        "import sys, app\nsys.stderr.write('WORKING\\n'); sys.stderr.flush()\n")
    proc = run_python([str(tmp_path / "main.py")], cwd=tmp_path,
                      env={"CACHEWATCH_OPTIONS": "watch=app:SESIONS,nosuchpkg.*"})
    lines = proc.stderr.splitlines()
    assert proc.returncode == 0 and "WORKING" in lines, proc.stderr
    working = lines.index("WORKING")
    name = ("cachewatch: watch target app:SESIONS names nothing yet (app has no SESIONS; "
            "did you mean SESSIONS?); it is watched if it is bound later")
    module = "cachewatch: watch target nosuchpkg.* names no module (no module named 'nosuchpkg'"
    assert name in lines[:working], proc.stderr
    assert any(l.startswith(module) for l in lines[:working]), proc.stderr
    assert any(l.startswith(module) for l in lines[working:]), "said again at exit"
    proc = run_python([str(tmp_path / "main.py")], cwd=tmp_path,
                      env={"CACHEWATCH_OPTIONS": "json_path=/missing/dir/r.json"})
    assert proc.returncode == 0
    assert proc.stderr.splitlines() == [
        "cachewatch: json_path '/missing/dir/r.json': no such directory '/missing/dir'; "
        "not started", "WORKING"], proc.stderr


@needs_pth
def test_bad_options_give_one_line_and_the_program_runs():
    proc = run_python(["-c", "print('still here')"],
                      env={"CACHEWATCH_OPTIONS": "watch=x:Y bogus=1"})
    assert proc.returncode == 0 and proc.stdout.strip() == "still here"
    assert proc.stderr.strip() == "cachewatch: unknown option 'bogus'; not started"


@needs_pth
def test_locks_made_at_import_time_are_seen(tmp_path):
    (tmp_path / "app.py").write_text(textwrap.dedent("""
        import threading
        LOCK = threading.Lock()          # made before any code of the test runs
        CACHE = {}
        def fill():
            for k in range(5):
                with LOCK:
                    if k not in CACHE:
                        CACHE[k] = 1
    """))
    proc = run_python(["-c", "import app, threading\n"
                             "ts=[threading.Thread(target=app.fill) for _ in range(3)]\n"
                             "[t.start() for t in ts]; [t.join() for t in ts]\n"
                             "import cachewatch; print(len(cachewatch.findings()))"],
                      env={"CACHEWATCH_OPTIONS": "watch=app:CACHE",
                           "PYTHONPATH": str(tmp_path)})
    assert proc.stdout.strip() == "0", proc.stderr


@needs_pth
def test_forked_child_starts_clean_and_keeps_watching(tmp_path):
    code = textwrap.dedent("""
        import os, threading
        CACHE = {}
        def fill(tag):
            for k in range(5):
                if (tag, k) not in CACHE:
                    CACHE[(tag, k)] = 1
        def race(tag):
            ts = [threading.Thread(target=fill, args=(tag,)) for _ in range(2)]
            [t.start() for t in ts]; [t.join() for t in ts]
        race("parent")
        pid = os.fork()
        if pid == 0:
            race("child")
        else:
            os.waitpid(pid, 0)
    """)
    out = tmp_path / "r.%p.json"
    proc = run_python(["-c", code],
                      env={"CACHEWATCH_OPTIONS": f"watch=__main__:CACHE json_path={out}"})
    assert proc.returncode == 66, proc.stderr  # the parent's own race
    reports = [json.load(open(p)) for p in glob.glob(str(tmp_path / "r.*.json"))]
    assert len(reports) == 2
    keys = sorted(f["key"].split(",")[0] for r in reports for f in r["findings"])
    # Each process reports its own race once; the child none of the parent's.
    assert keys == ["('child'", "('parent'"], keys
    assert reports[0]["pid"] != reports[1]["pid"]


@needs_pth
def test_signal_and_interval_write_the_report_while_running(tmp_path):
    out = tmp_path / "live.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", RACY + "import time, sys\nprint('ready', flush=True)\ntime.sleep(30)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env({"CACHEWATCH_OPTIONS": f"watch=__main__:CACHE json_path={out}"}))
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert not out.exists()
        proc.send_signal(signal.SIGRTMIN + 2)  # the default report_signal
        for _ in range(100):
            if out.exists():
                break
            time.sleep(0.05)
        data = json.loads(out.read_text())
        assert [f["category"] for f in data["findings"]] == ["check-then-act"]
    finally:
        proc.kill()
        proc.communicate()
    out2 = tmp_path / "interval.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", RACY + "import time\ntime.sleep(30)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env({"CACHEWATCH_OPTIONS":
                       f"watch=__main__:CACHE json_path={out2} report_interval_s=1"}))
    try:
        for _ in range(100):
            if out2.exists():
                break
            time.sleep(0.05)
        assert json.loads(out2.read_text())["findings"]
    finally:
        proc.kill()
        proc.communicate()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_app(callable_name):
    """A WSGI app whose handler fills a session cache with no lock."""
    return textwrap.dedent(f"""
        import time
        SESSIONS = {{}}

        def {callable_name}(environ, start_response):
            user = environ.get("QUERY_STRING", "anon")
            if user not in SESSIONS:          # check
                time.sleep(0.02)              # look the user up: requests overlap here
                SESSIONS[user] = object()     # act
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hello " + user.encode()]
    """)


def get_status(port, i):
    url = f"http://127.0.0.1:{port}/?user{i % 3}"
    for _ in range(100):
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status
        except OSError:
            time.sleep(0.05)   # not listening yet
    return None


def load_then_signal_workers(server, port, reports, written_at_once=True):
    """120 concurrent requests to a server of two workers, then the report
    signal the docs give sent to each worker while it serves: it lives on,
    not replaced (gunicorn resets SIGUSR2 in its workers: that one killed
    them), and, written_at_once, has written its report
    (reports/worker.PID.json). The workers' pids."""
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda i: get_status(port, i), range(120)))
    assert statuses == [200] * 120
    workers = children_of(server.pid, 2)
    assert len(workers) == 2
    for pid in workers:
        os.kill(pid, signal.SIGRTMIN + 2)
    for _ in range(100):
        if all(os.path.exists(reports / f"worker.{pid}.json") for pid in workers):
            break
        time.sleep(0.05)
    if written_at_once:
        assert all(os.path.exists(reports / f"worker.{pid}.json") for pid in workers)
    time.sleep(0.3)
    for pid in workers:
        os.kill(pid, 0)  # alive
    assert get_status(port, 0) == 200
    assert children_of(server.pid, 2) == workers, "a worker was replaced"
    return workers


@needs_pth
def test_gunicorn_workers_report_a_request_handler_race(tmp_path):
    pytest.importorskip("gunicorn")
    (tmp_path / "webapp.py").write_text(session_app("app"))
    port = free_port()
    reports = tmp_path / "reports"
    reports.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "2", "-k", "gthread",
         "--threads", "4", "webapp:app"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env({"CACHEWATCH_OPTIONS":
                       f"watch=webapp:SESSIONS json_path={reports}/worker.%p.json",
                       "PYTHONPATH": str(tmp_path)}))
    try:
        workers = load_then_signal_workers(server, port, reports)
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    files = sorted(glob.glob(str(reports / "worker.*.json")))
    assert files, err
    merged = run_python(["-m", "cachewatch", "report", "--json", str(tmp_path / "all.json")] + files)
    assert merged.returncode == 66, merged.stdout + merged.stderr
    findings = json.load(open(tmp_path / "all.json"))["findings"]
    assert [(f["category"], f["target"]) for f in findings] == [("check-then-act", "webapp.SESSIONS")]
    assert "WARNING: cachewatch: check-then-act race on webapp.SESSIONS" in err


@needs_pth
def test_report_signal_spares_a_multiprocessing_child(tmp_path):
    """The documented report signal sent to a plain multiprocessing child
    (forked): it writes its report and runs on to its own end."""
    code = textwrap.dedent("""
        import multiprocessing, sys, threading, time
        CACHE = {}
        def child(ready, go):
            def fill():
                for k in range(5):
                    if k not in CACHE:
                        CACHE[k] = 1
            ts = [threading.Thread(target=fill) for _ in range(2)]
            [t.start() for t in ts]; [t.join() for t in ts]
            ready.set()
            go.wait(30)
            print("child done", flush=True)
        if __name__ == "__main__":
            ctx = multiprocessing.get_context("fork")
            ready, go = ctx.Event(), ctx.Event()
            p = ctx.Process(target=child, args=(ready, go))
            p.start()
            ready.wait(30)
            print(p.pid, flush=True)
            sys.stdin.readline()
            go.set()
            p.join()
            print("exit", p.exitcode, flush=True)
    """)
    script = tmp_path / "mp.py"
    script.write_text(code)
    out = tmp_path / "r.%p.json"
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env({"CACHEWATCH_OPTIONS": f"watch=__main__:CACHE "
                                                                 f"json_path={out} exitcode=0"}))
    try:
        pid = int(proc.stdout.readline())
        os.kill(pid, signal.SIGRTMIN + 2)
        report = tmp_path / f"r.{pid}.json"
        for _ in range(100):
            if report.exists():
                break
            time.sleep(0.05)
        assert report.exists()
        assert [f["category"] for f in json.load(open(report))["findings"]] == ["check-then-act"]
        proc.stdin.write("\n")
        proc.stdin.flush()
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert rest.split() == ["child", "done", "exit", "0"], err


@needs_pth
def test_frames_of_how_the_program_started_are_left_out(tmp_path):
    (tmp_path / "racer.py").write_text(RACY)
    proc = run_python(["-m", "racer"], cwd=str(tmp_path),
                      env={"CACHEWATCH_OPTIONS": "watch=__main__:CACHE"})
    assert "WARNING: cachewatch: check-then-act race on __main__.CACHE" in proc.stderr
    assert "runpy" not in proc.stderr


@needs_pth
def test_a_sub_interpreter_says_it_is_not_checked():
    """uWSGI runs applications in a sub-interpreter by default: the engine
    belongs to the main one, so code there is not checked, and one line says
    so where it starts."""
    proc = run_python(["-c", "import _testcapi\n_testcapi.run_in_subinterp('x = 1')\n"
                             "print('done')"],
                      env={"CACHEWATCH_OPTIONS": "exitcode=0"})
    assert proc.returncode == 0 and proc.stdout.strip() == "done", proc.stderr
    assert proc.stderr.splitlines() == [
        "cachewatch: code run in a sub-interpreter is not checked (under uWSGI: "
        "--single-interpreter)"], proc.stderr


@needs_pth
def test_a_child_forked_from_c_starts_clean_and_keeps_watching(tmp_path):
    """A C server (uWSGI) forks its workers with fork() itself: no Python
    fork hook runs. The child still forgets the parent's threads and
    findings, and writes its reports to its own %p files."""
    code = textwrap.dedent("""
        import ctypes, os, threading
        CACHE = {}
        def fill(tag):
            for k in range(5):
                if (tag, k) not in CACHE:
                    CACHE[(tag, k)] = 1
        def race(tag):
            ts = [threading.Thread(target=fill, args=(tag,)) for _ in range(2)]
            [t.start() for t in ts]; [t.join() for t in ts]
        race("parent")
        pid = ctypes.CDLL(None, use_errno=True).fork()
        if pid == 0:
            len(CACHE)            # a hook runs first in the child
            race("child")
        else:
            os.waitpid(pid, 0)
    """)
    proc = run_python(["-c", code], env={"CACHEWATCH_OPTIONS": (
        f"watch=__main__:CACHE json_path={tmp_path}/r.%p.json log_path={tmp_path}/r.%p.log "
        "exitcode=0")})
    assert proc.returncode == 0, proc.stderr
    reports = {r["pid"]: r for r in (json.load(open(p)) for p in glob.glob(f"{tmp_path}/r.*.json"))}
    assert len(reports) == 2, proc.stderr
    for pid, report in reports.items():
        tags = sorted(f["key"].split(",")[0] for f in report["findings"])
        log = open(f"{tmp_path}/r.{pid}.log").read()
        tag = "('parent'" if tags == ["('parent'"] else "('child'"
        assert tags == [tag], (pid, tags)  # each its own race, once
        assert log.count("WARNING: cachewatch") == 1 and f"pid={pid})" in log, log
        assert report["stats"]["threads"] >= 3



def uwsgi_binary():
    path = os.path.join(os.path.dirname(sys.executable), "uwsgi")
    if not os.path.exists(path):
        if os.environ.get("CI"):
            pytest.fail("uWSGI is not installed (requirements-test.txt installs it)")
        pytest.skip("uWSGI is not installed here (pip install uwsgi)")
    return path


@needs_pth
@pytest.mark.parametrize("target", ["webapp:SESSIONS", "webapp.py:SESSIONS"])
def test_uwsgi_wsgi_file_workers_report_a_request_handler_race(tmp_path, target):
    """uWSGI's usual --wsgi-file runs webapp.py as 'uwsgi_file_webapp' and
    forks its workers from C: both the module's name and the file's find it,
    each worker says which targets still wait for a module, and the report
    signal the docs give writes a worker's report and spares it."""
    uwsgi = uwsgi_binary()
    (tmp_path / "webapp.py").write_text(session_app("application"))
    port = free_port()
    reports = tmp_path / "reports"
    reports.mkdir()
    server = subprocess.Popen(
        [uwsgi, "--virtualenv", sys.prefix, "--http-socket", f"127.0.0.1:{port}",
         "--wsgi-file", "webapp.py", "--master", "--processes", "2", "--threads", "4",
         "--single-interpreter", "--die-on-term", "--disable-logging"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=child_env({"CACHEWATCH_OPTIONS":
                       f"watch={target},webap:SESSIONS json_path={reports}/worker.%p.json"}))
    try:
        # A uWSGI worker's main thread waits in C: Python runs the signal's
        # handler at its next request there (docs/usage.md), not at once.
        workers = load_then_signal_workers(server, port, reports, written_at_once=False)
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=60)
    found = []
    for pid in workers:
        path = reports / f"worker.{pid}.json"  # (uWSGI may skip a worker's exit handlers)
        report = json.load(open(path)) if path.exists() else {"pid": pid, "findings": []}
        assert report["pid"] == pid
        found += [(f["category"], f["target"]) for f in report["findings"]]
        assert out.count(f"cachewatch: process {pid} (forked) starts with watch targets waiting "
                         "for their module: webap:SESSIONS") == 1, out
    # The double initialisation, as a check-then-act; two handlers' stores
    # racing with no check between them in one process add a write-write.
    assert ("check-then-act", "webapp.SESSIONS") in found, out
    assert set(found) <= {("check-then-act", "webapp.SESSIONS"),
                          ("write-write", "webapp.SESSIONS")}, out
    assert "WARNING: cachewatch: check-then-act race on webapp.SESSIONS" in out
    # uWSGI names its request threads after threading first saw them.
    assert re.search(r"by thread T\d+ 'uWSGIWorker\dCore\d'", out), out
