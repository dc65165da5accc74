"""cachewatch side by side with the tools a user would pick instead, on the
same machine and the same programs (issue 18, item 3):

  threadcheck  (PyPI; `threadcheck run SCRIPT`; needs CPython 3.12+: the
               3.12 venv, build-venv-3.12)
  pyvft        (PyPI; `python -m pyvft SCRIPT`; declares 3.14, its pure
               Python runs on 3.13 installed with --ignore-requires-python:
               build-venv-3.13)
  cachewatch   (`cachewatch run --watch ...` as the scenario says, and the
               environment activation of bench/macro.py for the workloads;
               the interpreter running this script: build-venv, CPython 3.11)

Two questions, each answered per tool:
  overhead   bench/workloads/ at a fifth of their scale: wall time of run()
             and peak RSS under the tool over the same interpreter without
             it (ratios; one run each, wall times are noisy);
  verdicts   scenario pairs of scenarios/: the planted race found in the
             racy one, silence on its _norace twin.

Each tool runs a script with no arguments (threadcheck passes none), so the
workload and its scale go through the environment (peer_child.py).

Usage: python bench/peers.py [--quick] [--json PATH]
A tool whose venv or package is missing is skipped with a line saying so."""
import argparse
import json
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCENARIOS = os.path.join(ROOT, "scenarios")
CHILD = os.path.join(HERE, "peer_child.py")
WORKLOADS = ["http_cache", "pipeline", "scatter_gather", "lazy_registry", "logging_pool"]
PAIRS = ["dict_check_then_set", "dict_lost_update", "dict_logging_lock", "global_lazy_init",
         "object_lazy_connection", "queue_publish_too_early", "dict_handoffs"]
TIMEOUT = 900


def _venv(name):
    return os.path.join(ROOT, name, "bin", "python")


# tool -> (python, how to run a script under it, how to tell it found something)
def _threadcheck_found(proc, out_path):
    """Its JSON (a list of warnings) comes last on stdout, after the
    program's own output (-o is not honoured by `run`)."""
    lines = proc.stdout.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("["):
            try:
                return bool(json.loads("\n".join(lines[i:])))
            except ValueError:
                continue
    return None


def _pyvft_found(proc, out_path):
    if "NO DATA RACES DETECTED" in proc.stderr + proc.stdout:
        return False
    return "DATA RACE" in (proc.stderr + proc.stdout).upper() or None


def _cachewatch_found(proc, out_path):
    return {66: True, 0: False}.get(proc.returncode)


TOOLS = {
    "threadcheck": (_venv("build-venv-3.12"),
                    lambda py, script, out, args: [os.path.join(os.path.dirname(py), "threadcheck"),
                                                   "run", "--json", "-q", script],
                    _threadcheck_found),
    "pyvft": (_venv("build-venv-3.13"),
              lambda py, script, out, args: [py, "-m", "pyvft", "--no-colour", script],
              _pyvft_found),
    "cachewatch": (sys.executable,
                   lambda py, script, out, args: [py, "-m", "cachewatch", "run"] + args + [script],
                   _cachewatch_found),
}


def available(tool):
    if tool not in TOOLS:
        return f"no such tool (known: {', '.join(TOOLS)})"
    python = TOOLS[tool][0]
    if not os.path.exists(python):
        return f"{os.path.relpath(python, ROOT)} is missing (scripts/test-versions.sh makes it)"
    module = {"threadcheck": "threadcheck", "pyvft": "pyvft", "cachewatch": "cachewatch"}[tool]
    done = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True)
    if done.returncode != 0:
        how = "--ignore-requires-python " if tool == "pyvft" else ""
        return f"{module} is not installed there (pip install {how}{module})"
    return None


def _scenario_args(path):
    args = []
    with open(path) as f:
        for line in f:
            if line.startswith("# CACHEWATCH-ARGS:"):
                args += shlex.split(line.split(":", 1)[1])
    return args


def verdicts(tool, tmp):
    python, command, found = TOOLS[tool]
    rows = []
    for name in PAIRS:
        row = {"scenario": name}
        for variant, script in (("racy", f"{name}.py"), ("correct", f"{name}_norace.py")):
            out = os.path.join(tmp, f"{tool}-{variant}-{name}.json")
            args = _scenario_args(os.path.join(SCENARIOS, script))
            # The scenarios import their support package: not every tool puts the
            # script's directory on the path.
            env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEWATCH")}
            env["PYTHONPATH"] = SCENARIOS
            try:
                proc = subprocess.run(command(python, script, out, args), cwd=SCENARIOS, env=env,
                                      capture_output=True, text=True, timeout=TIMEOUT)
                row[variant] = found(proc, out)
            except subprocess.TimeoutExpired:
                row[variant] = None
        row["right"] = row["racy"] is True and row["correct"] is False
        rows.append(row)
    return rows


def _workload_run(python, prefix, workload, scale, env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEWATCH")}
    env.update(PYTHONHASHSEED="0", PEER_WORKLOAD=workload, PEER_SCALE=str(scale), **env_extra)
    done = subprocess.run(prefix + [CHILD], cwd=HERE, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"exit {done.returncode}: {(done.stderr or done.stdout)[-300:]}"}
    return json.loads(lines[-1])


def overhead(tool, quick, tmp):
    import importlib
    sys.path.insert(0, HERE)
    python, command, _ = TOOLS[tool]
    rows = []
    for workload in WORKLOADS:
        scale = importlib.import_module(f"workloads.{workload}").SCALE // (25 if quick else 5)
        plain = _workload_run(python, [python], workload, scale, {})
        if tool == "cachewatch":
            prefix, extra = [python], {"CACHEWATCH_OPTIONS": f"watch=workloads.{workload}:* "
                                       "print_reports=0 report_signal=0 exitcode=0"}
        else:
            prefix, extra = command(python, "", os.path.join(tmp, "o.json"), [])[:-1], {}
        checked = _workload_run(python, prefix, workload, scale, extra)
        row = {"workload": workload, "scale": scale, "plain": plain, "checked": checked}
        if "error" not in plain and "error" not in checked:
            row["wall_ratio"] = checked["wall_s"] / plain["wall_s"]
            row["rss_ratio"] = checked["peak_rss_kb"] / plain["peak_rss_kb"]
            row["same_result"] = checked["checksum"] == plain["checksum"]
        rows.append(row)
    return rows


def main():
    import tempfile
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", metavar="PATH", default=os.path.join(HERE, "peers.json"))
    ap.add_argument("--tools", default=",".join(TOOLS))
    args = ap.parse_args()
    result = {"quick": args.quick, "tools": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for tool in args.tools.split(","):
            missing = available(tool)
            if missing:
                print(f"peers: {tool} skipped: {missing}", file=sys.stderr)
                result["tools"][tool] = {"skipped": missing}
                continue
            print(f"peers: {tool}", file=sys.stderr, flush=True)
            result["tools"][tool] = {"verdicts": verdicts(tool, tmp),
                                     "overhead": overhead(tool, args.quick, tmp)}
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print(summary(result))


def summary(result):
    out = []
    for tool, r in result["tools"].items():
        if "skipped" in r:
            out.append(f"{tool}: skipped ({r['skipped']})")
            continue
        right = sum(v["right"] for v in r["verdicts"])
        out.append(f"{tool}: right on {right} of {len(r['verdicts'])} scenario pairs")
        for v in r["verdicts"]:
            out.append(f"  {v['scenario']:26} racy: {v['racy']!s:5}  correct: {v['correct']}")
        for o in r["overhead"]:
            if "wall_ratio" in o:
                out.append(f"  {o['workload']:16} wall {o['wall_ratio']:7.2f}x  peak RSS "
                           f"{o['rss_ratio']:5.2f}x" + ("" if o["same_result"] else
                                                        "  (RESULT DIFFERS)"))
            else:
                out.append(f"  {o['workload']:16} failed: {o.get('checked', {}).get('error') or o['plain'].get('error')}")
    return "\n".join(out)


if __name__ == "__main__":
    main()
