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


def _clean_env(**extra):
    """This environment without cachewatch's variables (a tool under test
    must not have cachewatch start in it), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEWATCH")}
    env.update(extra)
    return env


def _threadcheck_found(proc):
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


def _pyvft_found(proc):
    if "NO DATA RACES DETECTED" in proc.stderr + proc.stdout:
        return False
    return "DATA RACE" in (proc.stderr + proc.stdout).upper() or None


def _cachewatch_found(proc):
    return {66: True, 0: False}.get(proc.returncode)


# tool -> (its python, the command a script is appended to (given the
# scenario's CACHEWATCH-ARGS), whether a finished run found something: True,
# False, or None when it could not tell)
TOOLS = {
    "threadcheck": (_venv("build-venv-3.12"),
                    lambda py, args: [os.path.join(os.path.dirname(py), "threadcheck"),
                                      "run", "--json", "-q"],
                    _threadcheck_found),
    "pyvft": (_venv("build-venv-3.13"),
              lambda py, args: [py, "-m", "pyvft", "--no-colour"],
              _pyvft_found),
    "cachewatch": (sys.executable,
                   lambda py, args: [py, "-m", "cachewatch", "run"] + args,
                   _cachewatch_found),
}


def available(tool):
    if tool not in TOOLS:
        return f"no such tool (known: {', '.join(TOOLS)})"
    python = TOOLS[tool][0]
    if not os.path.exists(python):
        return f"{os.path.relpath(python, ROOT)} is missing (scripts/test-versions.sh makes it)"
    done = subprocess.run([python, "-c", f"import {tool}"], capture_output=True, text=True)
    if done.returncode != 0:
        how = "--ignore-requires-python " if tool == "pyvft" else ""
        return f"{tool} is not installed there (pip install {how}{tool})"
    return None


def _scenario_args(path):
    args = []
    with open(path) as f:
        for line in f:
            if line.startswith("# CACHEWATCH-ARGS:"):
                args += shlex.split(line.split(":", 1)[1])
    return args


def verdicts(tool):
    python, command, found = TOOLS[tool]
    # The scenarios import their support package: not every tool puts the
    # script's directory on the path.
    env = _clean_env(PYTHONPATH=SCENARIOS)
    rows = []
    for name in PAIRS:
        row = {"scenario": name}
        for variant, script in (("racy", f"{name}.py"), ("correct", f"{name}_norace.py")):
            args = _scenario_args(os.path.join(SCENARIOS, script))
            try:
                proc = subprocess.run(command(python, args) + [script], cwd=SCENARIOS, env=env,
                                      capture_output=True, text=True, timeout=TIMEOUT)
                row[variant] = found(proc)
            except subprocess.TimeoutExpired:
                row[variant] = None
        row["right"] = row["racy"] is True and row["correct"] is False
        rows.append(row)
    return rows


def _workload_run(prefix, workload, scale, env_extra):
    env = _clean_env(PYTHONHASHSEED="0", PEER_WORKLOAD=workload, PEER_SCALE=str(scale),
                     **env_extra)
    done = subprocess.run(prefix + [CHILD], cwd=HERE, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"exit {done.returncode}: {(done.stderr or done.stdout)[-300:]}"}
    return json.loads(lines[-1])


def overhead(tool, quick):
    import importlib
    sys.path.insert(0, HERE)
    python, command, _ = TOOLS[tool]
    rows = []
    for workload in WORKLOADS:
        scale = importlib.import_module(f"workloads.{workload}").SCALE // (25 if quick else 5)
        plain = _workload_run([python], workload, scale, {})
        if tool == "cachewatch":  # started by environment, as bench/macro.py's watching
            prefix, extra = [python], {"CACHEWATCH_OPTIONS": f"watch=workloads.{workload}:* "
                                       "print_reports=0 report_signal=0 exitcode=0"}
        else:
            prefix, extra = command(python, []), {}
        checked = _workload_run(prefix, workload, scale, extra)
        row = {"workload": workload, "scale": scale, "plain": plain, "checked": checked}
        if "error" not in plain and "error" not in checked:
            row["wall_ratio"] = checked["wall_s"] / plain["wall_s"]
            row["rss_ratio"] = checked["peak_rss_kb"] / plain["peak_rss_kb"]
            row["same_result"] = checked["checksum"] == plain["checksum"]
        rows.append(row)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", metavar="PATH", default=os.path.join(HERE, "peers.json"))
    ap.add_argument("--tools", default=",".join(TOOLS))
    args = ap.parse_args()
    result = {"quick": args.quick, "tools": {}}
    for tool in args.tools.split(","):
        missing = available(tool)
        if missing:
            print(f"peers: {tool} skipped: {missing}", file=sys.stderr)
            result["tools"][tool] = {"skipped": missing}
            continue
        print(f"peers: {tool}", file=sys.stderr, flush=True)
        result["tools"][tool] = {"verdicts": verdicts(tool),
                                 "overhead": overhead(tool, args.quick)}
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
                error = o["plain"].get("error") or o["checked"].get("error")
                out.append(f"  {o['workload']:16} failed: {error}")
    return "\n".join(out)


if __name__ == "__main__":
    main()
