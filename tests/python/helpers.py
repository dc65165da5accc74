"""Run Python code or scenarios in a child process, as a user would."""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIOS = os.path.join(ROOT, "scenarios")


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


def innermost_lines(finding):
    """Lines of the innermost frame of each access and of each check."""
    lines = set()
    for access in finding["accesses"]:
        if access["stack"]:
            lines.add(access["stack"][0]["line"])
        if access["check"] and access["check"]["stack"]:
            lines.add(access["check"]["stack"][0]["line"])
    return lines
