"""Run Python code or scenarios in a child process, as a user would."""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIOS = os.path.join(ROOT, "scenarios")

# Threads whose check-then-act runs inside sorted()'s C code (a key function):
# native stacks must show that C code between touch and work.
SORTKEY_PROGRAM = """\
import threading
CACHE = {}
def touch(k):
    if k not in CACHE:
        CACHE[k] = 1
    return k
def work():
    sorted([3, 1, 2], key=touch)
ts = [threading.Thread(target=work) for _ in range(2)]
[t.start() for t in ts]; [t.join() for t in ts]
"""


def child_env(extra=None):
    env = dict(os.environ)
    env.pop("CACHEWATCH_OPTIONS", None)
    env.pop("CACHEWATCH", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def run_python(args, env=None, cwd=None, timeout=120, stdin=None):
    """Run `python args...`; returns CompletedProcess with text output."""
    return subprocess.run([sys.executable] + list(args), capture_output=True, text=True,
                          env=child_env(env), cwd=cwd, timeout=timeout, input=stdin)


def run_code(code, env=None, timeout=120):
    return run_python(["-c", code], env=env, timeout=timeout)


def run_cachewatch(args, env=None, cwd=None, timeout=120):
    """python -m cachewatch run ARGS; returns (process, findings or None)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "report.json")
        proc = run_python(["-m", "cachewatch", "run", "--json", out] + list(args), env=env,
                          cwd=cwd, timeout=timeout)
        findings = None
        if os.path.exists(out):
            with open(out) as f:
                findings = json.load(f)["findings"]
    return proc, findings


def _program_line(stack, program_dir):
    """The line of the innermost frame in the program (not the libraries it
    called, such as threading's Thread.start); else of the innermost frame."""
    for frame in stack:
        if program_dir and os.path.abspath(frame["file"]).startswith(program_dir):
            return frame["line"]
    return stack[0]["line"]


def innermost_lines(finding, program_dir=None):
    """Lines of each access, each check and each section of a finding."""
    stacks = []
    for access in finding.get("accesses", []):
        stacks.append(access["stack"])
        if access["check"]:
            stacks.append(access["check"]["stack"])
    for section in finding.get("stacks", []):
        stacks.append(section["stack"])
    return {_program_line(s, program_dir) for s in stacks if s}
