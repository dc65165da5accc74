"""Runs one suite (or some of its tests) once, in one mode, in a fresh child
process, and reads back what happened: per-test outcomes, whether it
finished, crashed or hung, and whether cachewatch was really running.

Modes: 'plain' (no CACHEWATCH_OPTIONS), 'watched' (cachewatch started by
CACHEWATCH_OPTIONS at interpreter start, the suite's targets watched),
'dicts' (watched, and the dicts the test module builds are watched too)."""
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "child.py")
INTERNAL_ERROR = "cachewatch: internal error"
MODES = ("plain", "watched", "dicts")


@dataclass
class Run:
    suite: str
    mode: str
    names: list
    outcomes: dict = field(default_factory=dict)   # test id -> outcome word
    details: dict = field(default_factory=dict)    # test id -> exception line
    summary: dict = None          # child's last line: None if it never finished
    returncode: int = None
    timed_out: bool = False
    last_started: str = None      # the test running when it stopped
    load_error: str = None
    stderr: str = ""
    reports: list = field(default_factory=list)   # JSON report files written
    main_report: bool = False     # the suite's own process wrote one
    elapsed: float = 0.0

    def problems(self):
        """Why this run cannot be compared or is itself a failure."""
        out = []
        if self.timed_out:
            out.append(f"hung: killed after its timeout while running {self.last_started}")
        elif self.returncode != 0:
            out.append(f"exit status {self.returncode} while running {self.last_started}")
        if self.load_error:
            out.append(f"could not load the tests: {self.load_error}")
        if self.summary is None and not self.timed_out:
            out.append(f"did not finish (last test started: {self.last_started})")
        if INTERNAL_ERROR in self.stderr:
            line = next(x for x in self.stderr.splitlines() if INTERNAL_ERROR in x)
            out.append(f"printed: {line.strip()}")
        state = (self.summary or {}).get("cachewatch", {})
        if self.mode == "plain" and state.get("loaded"):
            out.append("cachewatch was loaded in the plain run")
        if self.mode != "plain" and self.summary is not None:
            if not state.get("active"):
                out.append(f"cachewatch was not active: {state}")
            elif not state.get("stats", {}).get("watched"):
                out.append("cachewatch was active but watched nothing")
            if not self.main_report:
                out.append("no JSON report was written by the watched process")
        return out


def cachewatch_options(targets, report_dir):
    """Findings must not change the exit status or the output the tests
    see; they go to a JSON file per process, whose existence also proves
    cachewatch ran there."""
    return " ".join([
        "watch=" + ",".join(targets),
        "exitcode=0",
        "print_reports=0",
        "json_path=" + os.path.join(report_dir, "report.%p.json"),
    ])


def system_python_path(directory):
    """A PYTHONPATH directory holding only this cachewatch (and bytecode,
    which it needs), plus the start-up shim, for /usr/bin/python3."""
    import bytecode
    import cachewatch

    for module in (cachewatch, bytecode):
        pkg = os.path.dirname(module.__file__)
        os.symlink(pkg, os.path.join(directory, os.path.basename(pkg)))
    shutil.copy(os.path.join(HERE, "autostart_shim.py"),
                os.path.join(directory, "sitecustomize.py"))
    return directory


def child_env(suite, mode, report_dir, path_dir):
    env = dict(os.environ)
    for name in ("CACHEWATCH_OPTIONS", "CACHEWATCH", "PYTHONPATH", "PYTEST_CURRENT_TEST",
                 "PYTEST_ADDOPTS"):
        env.pop(name, None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # never leave caches in the stdlib
    if suite.system_python:
        env["PYTHONPATH"] = path_dir      # same in both modes: only the option differs
    if mode != "plain":
        env["CACHEWATCH_OPTIONS"] = cachewatch_options(suite.targets, report_dir)
    return env


def _read_outcomes(run, path):
    if not os.path.exists(path):
        return
    with open(path) as f:
        for line in f:
            try:
                item = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash
            if "id" in item:
                run.outcomes[item["id"]] = item["outcome"]
                if "detail" in item:
                    run.details[item["id"]] = item["detail"]
            elif "started" in item:
                run.last_started = item["started"]
            elif "load_error" in item:
                run.load_error = item["load_error"]
            elif item.get("done"):
                run.summary = item


def run_suite(suite, mode, names, timeout=None):
    """One child process; returns a Run. Never raises on the suite's
    behaviour: hangs and crashes are recorded in the Run."""
    assert mode in MODES
    timeout = timeout or suite.timeout
    run = Run(suite.name, mode, list(names))
    with tempfile.TemporaryDirectory(prefix=f"host-{suite.name}-{mode}-") as tmp:
        work, reports, path_dir = (os.path.join(tmp, d) for d in ("cwd", "reports", "path"))
        for d in (work, reports, path_dir):
            os.mkdir(d)
        if suite.system_python:
            system_python_path(path_dir)
        out = os.path.join(tmp, "outcomes.jsonl")
        cmd = [suite.python, CHILD, "--out", out, "--timeout", str(max(timeout - 15, 10))]
        if mode == "dicts":
            cmd += ["--watch-dicts", suite.module]
        cmd += list(names)
        err_path = os.path.join(tmp, "stderr.txt")
        start = time.monotonic()
        with open(err_path, "w") as err:
            # Own session: a hang is ended with every process the suite made.
            proc = subprocess.Popen(cmd, cwd=work, env=child_env(suite, mode, reports, path_dir),
                                    stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                    start_new_session=True)
            try:
                run.returncode = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                run.timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                run.returncode = proc.wait()
        run.elapsed = time.monotonic() - start
        _read_outcomes(run, out)
        with open(err_path, errors="replace") as f:
            run.stderr = f.read()
        # The main process's report, not only a child's: cachewatch ran in it.
        run.main_report = os.path.exists(os.path.join(reports, f"report.{proc.pid}.json"))
        run.reports = sorted(os.path.basename(p) for p in glob.glob(os.path.join(reports, "*.json")))
    return run
