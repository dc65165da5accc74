"""Stress: no crash, no hang, no leak. Each scenario is a child program in
tests/stress/ run with a timeout; it prints `RESULT {json}` which is checked
exactly (locked counters, contents, engine counters and memory), and its
stderr must hold no internal error and no traceback.

CI size by default (the whole file in about a minute on 2 cores);
CACHEWATCH_FULL=1 runs every scenario bigger (10,000 threads, more rounds,
forks and signals) and adds the Python run under valgrind memcheck."""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from helpers import ROOT, child_env

STRESS = os.path.join(ROOT, "tests", "stress")
FULL = os.environ.get("CACHEWATCH_FULL", "") not in ("", "0")
full_only = pytest.mark.skipif(not FULL, reason="full run only (CACHEWATCH_FULL=1)")


def run_child(script, *args, options=None, env=None, timeout=60):
    """Run tests/stress/SCRIPT; returns (CompletedProcess, RESULT dict or None).
    A timeout is a failure (a hang)."""
    extra = dict(env or {})
    if FULL:
        extra["CACHEWATCH_FULL"] = "1"
    if options is not None:
        # The program's own exit status is what these runs compare.
        extra["CACHEWATCH_OPTIONS"] = options + " exitcode=0"
    try:
        proc = subprocess.run([sys.executable, os.path.join(STRESS, script)] + list(args),
                              capture_output=True, text=True, cwd=STRESS,
                              env=child_env(extra), timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{script} {args} hung (no exit within {timeout} s); stderr tail:\n"
                    f"{(exc.stderr or b'')[-3000:]!r}")
    return proc, parse_result(proc.stdout)


def parse_result(stdout):
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT "):]) if lines else None


def assert_clean(proc, status=0):
    where = f"exit status {proc.returncode}; stderr:\n{proc.stderr[-4000:]}"
    assert proc.returncode == status, where
    assert "cachewatch: internal error" not in proc.stderr, where
    assert "Traceback" not in proc.stderr, where
    assert "Fatal Python error" not in proc.stderr, where


def load_report(path):
    """The JSON report: parseable and complete (every part present, each
    finding whole)."""
    with open(path) as f:
        data = json.load(f)
    assert set(data) >= {"findings", "suppressions", "stats", "pid"}, sorted(data)
    assert data["stats"]["reports"] >= len([f for f in data["findings"]])
    for finding in data["findings"]:
        assert {"kind", "category", "target"} <= set(finding), finding
        if finding["kind"] == "race":
            assert len(finding["accesses"]) == 2 and all(a["stack"] for a in finding["accesses"])
    return data


def summary_count(stderr):
    """How many findings the at-exit summary line announced."""
    m = re.findall(r"cachewatch: (\d+) finding\(s\)", stderr)
    return int(m[-1]) if m else 0


# ---- (a) thread churn ---------------------------------------------------------

def test_thread_churn_exact_results_and_bounded_memory():
    threads = 10000 if FULL else 1000
    proc, r = run_child("churn_threads.py", str(threads), timeout=600 if FULL else 90)
    assert_clean(proc)
    assert r["threads"] == threads and r["max_alive"] <= 64
    assert r["max_alive"] >= 32, r["max_alive"]          # threads really overlapped
    per_thread_ops = r["ops"]
    assert r["locked"] == r["counted"] == threads * per_thread_ops
    assert r["items"] == threads * per_thread_ops + threads
    assert r["seen"] == 100 and r["keys"] == list(range(50))
    assert r["watched"]
    assert r["engine_threads"] == threads                # every thread was seen
    # The unlocked check-then-act on STATE is found; nothing else is.
    assert r["categories"] == ["check-then-act"] and r["targets"] == ["__main__.STATE"]
    # Finished threads are freed but for their identity (README: ~750 B).
    first, last = r["mem_first"], r["mem_last"]
    grown = last["total"] - first["total"]
    per_thread = grown / (threads - 100)
    assert per_thread <= 1024, (per_thread, first, last)
    assert (last["threads"] - first["threads"]) / (threads - 100) <= 512, (first, last)
    # Their last sync events are kept for reports only for the threads alive
    # and the last 64 that ended (a ring of 16 events, about 1 KiB, each).
    assert last["history"] <= (r["max_alive"] + 64 + 1) * 1100, (first, last)
    assert last["sync"] <= first["sync"] + 4096, (first, last)   # thread records freed
    print(f"engine memory per finished thread: {per_thread:.0f} B "
          f"({first['total']} B after 100 threads, {last['total']} B after {threads})")


# ---- (b) watch / unwatch while others mutate --------------------------------

# Snapshots that walk the container in Python, plain as well as watched:
# they may raise when another thread changes it, and are loops to the checker.
LIVE_WALKS = {"dict copy.deepcopy", "list copy.deepcopy"}


def test_snapshots_while_another_thread_changes_the_container():
    """Watching never makes a snapshot less atomic than on the plain
    container: the same ways raise (deepcopy's Python walk of a dict), and
    every C-level snapshot (copy.copy, pickle, d.copy(), dict(d), l[:], ...)
    raises on neither. deepcopy's walk is seen as an iteration."""
    runs = {}
    for mode in ("plain", "watched"):
        proc, res = run_child("concurrent_snapshots.py", mode, timeout=300)
        assert_clean(proc)
        runs[mode] = res
    raised = {mode: {way for way, errors in res["errors"].items() if errors}
              for mode, res in runs.items()}
    assert raised["plain"] <= LIVE_WALKS, runs["plain"]["errors"]
    assert raised["watched"] <= raised["plain"] | LIVE_WALKS, runs["watched"]["errors"]
    assert runs["watched"]["findings"] == [["iteration", "snapshots.dict"],
                                           ["iteration", "snapshots.list"]]


def test_watch_unwatch_while_mutating():
    proc, r = run_child("watch_unwatch.py", timeout=300 if FULL else 60)
    assert_clean(proc)
    n, w = r["rounds"], r["workers"]
    assert r["toggles"] > 10, r
    assert r["count"] == n * w
    assert r["dict_len"] == 1 + w * 37
    assert r["list_len"] == n * w - r["pops"] and r["set_len"] == n * w - r["pops"]
    assert r["iterated"] == r["expected_iterated"]
    assert r["plain"] == [True, True, True]
    assert r["watched_before"] == r["watched_after"] == 0
    assert r["shadow"] == r["shadow_start"], r            # no history left behind
    assert r["categories"] == [], r                      # all of it is synchronised


# ---- (c) garbage collection of watched containers --------------------------

def test_watched_containers_collected():
    proc, r = run_child("gc_containers.py", "600" if FULL else "200",
                        timeout=300 if FULL else 60)
    assert_clean(proc)
    assert r["bad_rounds"] == 0 and r["alive_after_collect"] == 0
    assert r["max_watched_after"] == 0 and r["locations"] == 0
    first, last = r["mem_first"], r["mem_last"]
    assert last["shadow"] == first["shadow"], (first, last)
    assert last["sync"] <= first["sync"] + 4096, (first, last)
    # What may grow: the identity of each finished thread (5 a round), the
    # record of a lock that guarded accesses, and the last sync events of the
    # last 64 threads that ended (a bounded pool of rings of about 1 KiB);
    # nothing per container.
    rounds = r["rounds"] - 1
    grown = lambda m: m["total"] - m["threads"] - m["history"]
    assert (grown(last) - grown(first)) / rounds <= 512, (first, last)
    assert last["history"] <= (64 + 16) * 1100, (first, last)
    assert r["categories"] == []


def test_memory_follows_the_keys_alive_not_every_key_removed():
    """Two threads insert and delete distinct keys through a dict kept at
    5,000 entries: a removed key's history is kept only for the last 4,096
    removals of its shard (a re-insertion soon after still races with it),
    so the engine holds about the live keys, however many went through.
    Without that, 200,000 keys left 200,001 locations and a 39 MB peak."""
    proc, r = run_child("removed_keys.py", timeout=300 if FULL else 60)
    assert_clean(proc)
    assert r["size"] == 5000 and r["findings"] == 0
    assert r["locations"] <= 5000 + 4096 + 1, r
    assert r["shadow_peak"] <= 8 << 20, r
    assert r["shadow"] <= r["shadow_peak"]


# ---- (d) interpreter shutdown with threads still running ------------------

@pytest.mark.parametrize("mode,status", [("end", 0), ("sys_exit", 3), ("raise", 1)])
def test_shutdown_with_threads_touching_watched_state(tmp_path, mode, status):
    out = tmp_path / "report.json"
    proc, _ = run_child("shutdown.py", mode, timeout=60,
                        options=f"watch=__main__:STATE json_path={out} "
                                f"log_path={tmp_path}/reports.log thread_leak_grace_ms=50")
    if mode == "raise":
        assert "RuntimeError: main thread gives up" in proc.stderr
        proc.stderr = proc.stderr.replace("Traceback", "traceback (expected)")
    assert_clean(proc, status)
    assert "exiting " + mode in proc.stdout
    data = load_report(out)
    categories = [f["category"] for f in data["findings"]]
    assert "check-then-act" in categories
    assert len(data["findings"]) == summary_count(proc.stderr)


def test_shutdown_api_start_writes_report(tmp_path):
    out = tmp_path / "api.json"
    proc, _ = run_child("shutdown.py", "end", "api", env={"CW_STRESS_JSON": str(out)},
                        timeout=60)
    assert_clean(proc)
    data = load_report(out)
    assert "check-then-act" in [f["category"] for f in data["findings"]]


# ---- (e) fork while others mutate ------------------------------------------

def test_fork_while_threads_mutate(tmp_path):
    pattern = tmp_path / "r.%p.json"
    proc, r = run_child("fork_midway.py", timeout=300 if FULL else 60,
                        options=f"watch=__main__:STATE json_path={pattern} print_reports=0 "
                                "thread_leak_grace_ms=50")
    assert_clean(proc)
    assert r["statuses"] == [0] * r["forks"], r
    assert r["total"] == r["counted"] > 0
    assert r["categories"] == [], r                     # the parent's code is locked
    reports = {int(p.split(".")[-2]): load_report(p) for p in glob.glob(str(tmp_path / "r.*.json"))}
    assert set(reports) == set(r["children"]) | {r["pid"]}
    for pid in r["children"]:
        data = reports[pid]
        assert data["pid"] == pid
        # Its own race, on its own keys; none of the parent's.
        keys = {f.get("key") for f in data["findings"] if f["category"] == "check-then-act"}
        assert keys and all(k.startswith("('child'") for k in keys), keys


# ---- (f) the report signal, again and again --------------------------------

def external_signals(proc, period, stop):
    sent = 0
    while not stop.is_set() and proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGRTMIN + 2)  # the default report_signal
            sent += 1
        except ProcessLookupError:
            break
        time.sleep(period)
    return sent


def run_signal_storm(tmp_path, seconds, period, extra="", timeout=60):
    out = tmp_path / "live.json"
    env = child_env({"CACHEWATCH_OPTIONS": f"watch=__main__:STATE json_path={out} "
                     f"report_interval_s=1 log_path={tmp_path}/reports.log "
                     f"thread_leak_grace_ms=50 exitcode=0 {extra}",
                     **({"CACHEWATCH_FULL": "1"} if FULL else {})})
    proc = subprocess.Popen([sys.executable, os.path.join(STRESS, "signal_storm.py"),
                             str(seconds), str(period)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=STRESS, env=env)
    stop = threading.Event()
    sent = [0]
    sender = threading.Thread(target=lambda: sent.__setitem__(0, external_signals(proc, period, stop)))
    stdout_lines = []
    watchdog = threading.Timer(timeout, proc.kill)      # a hang ends as a failure
    watchdog.start()
    try:
        # Signals from outside until the main thread says it is done; the
        # child's own sender goes on through the at-exit writes.
        for line in proc.stdout:
            stdout_lines.append(line)
            if line.startswith("started"):
                sender.start()        # the handler is armed: main() runs
            if line.startswith("exiting"):
                stop.set()
        proc.wait(timeout=timeout)
    finally:
        watchdog.cancel()
        stop.set()
        if sender.is_alive():
            sender.join()
        stderr = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    if proc.returncode == -signal.SIGKILL:
        pytest.fail(f"signal storm (period {period} s) hung: no exit within {timeout} s; "
                    f"stderr tail:\n{stderr[-2000:]}")
    proc.stderr = stderr
    return proc, parse_result("".join(stdout_lines)), out, sent[0]


def test_report_signal_during_findings_and_exit(tmp_path):
    seconds = 10 if FULL else 3
    proc, r, out, external = run_signal_storm(tmp_path, seconds, 0.02, timeout=120)
    assert_clean(proc)
    assert r is not None and r["sent_in_main"] > 20 and external > 20, (r, external)
    data = load_report(out)
    categories = sorted(f["category"] for f in data["findings"])
    # The race; the child's own signal sender still running is a daemon,
    # meant to be abandoned (no thread-leak unless thread_leak_daemons=1).
    assert categories == ["check-then-act"], categories
    assert len(data["findings"]) == summary_count(proc.stderr)
    print(f"signals: {r['sent_in_main']} from inside, {external} from outside")


def test_report_signal_storm_neither_recurses_nor_livelocks(tmp_path):
    """Signals faster than a report can be written (dedup=0: hundreds of
    findings, each write tens of ms): the handler must not nest writes
    without bound (RecursionError in the program) nor starve the main
    thread."""
    proc, r, out, external = run_signal_storm(tmp_path, 1, 0.002,
                                              extra="dedup=0 max_reports=300", timeout=30)
    assert_clean(proc)
    assert r is not None
    load_report(out)


# ---- memcheck of a Python run ----------------------------------------------

VALGRIND = shutil.which("valgrind")
SUPPRESSIONS = os.path.join(STRESS, "cpython.supp")
RE2_SUPPRESSIONS = os.path.join(ROOT, "tests", "c", "re2.supp")


def ours(frame_objs):
    return any("_cachewatch" in (f.findtext("obj") or "") for f in frame_objs)


def parse_valgrind_xml(path):
    """(errors in our frames, definitely lost bytes through our frames,
    every error kind seen)."""
    root = ET.parse(path).getroot()
    ours_errors, lost_bytes, kinds = [], 0, {}
    for err in root.iter("error"):
        kind = err.findtext("kind")
        kinds[kind] = kinds.get(kind, 0) + 1
        frames = err.find("stack").findall("frame") if err.find("stack") is not None else []
        if not ours(frames):
            continue
        if kind == "Leak_DefinitelyLost":
            xw = err.find("xwhat")
            lost_bytes += int(xw.findtext("leakedbytes")) if xw is not None else 0
            ours_errors.append(err)
        elif kind.startswith(("Invalid", "Uninit", "Mismatched", "Overlap", "Leak_Indirect")):
            ours_errors.append(err)
    return ours_errors, lost_bytes, kinds


def describe(err):
    what = err.findtext("what") or err.findtext("xwhat/text")
    frames = [f"{f.findtext('fn')} ({f.findtext('file') or f.findtext('obj')}:{f.findtext('line')})"
              for f in err.find("stack").findall("frame")]
    return what + "\n    " + "\n    ".join(frames[:12])


@pytest.mark.skipif(VALGRIND is None, reason="valgrind is not installed")
@full_only
def test_python_stress_under_memcheck(tmp_path):
    xml = tmp_path / "memcheck.xml"
    cmd = [VALGRIND, "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite",
           "--xml=yes", f"--xml-file={xml}", f"--suppressions={SUPPRESSIONS}", f"--suppressions={RE2_SUPPRESSIONS}",
           "--num-callers=30", sys.executable, os.path.join(STRESS, "churn_threads.py"), "150"]
    env = child_env({"PYTHONMALLOC": "malloc"})
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=STRESS, env=env, timeout=900)
    assert_clean(proc)
    r = parse_result(proc.stdout)
    assert r["locked"] == r["counted"] == 150 * r["ops"]
    errors, lost, kinds = parse_valgrind_xml(xml)
    print(f"memcheck: {kinds}; definitely lost through _cachewatch: {lost} B")
    assert not errors, "\n".join(describe(e) for e in errors)
    assert lost == 0
