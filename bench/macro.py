"""Macro benchmarks: each workload of bench/workloads/ runs in a fresh
process per condition, and the process reports its own wall time (of
run(), not of interpreter start-up), its peak RSS, its result checksum and
what cachewatch found.

Conditions, all activated the way a user would:
  plain     cachewatch installed but never imported (CACHEWATCH unset);
  idle      imported and loaded, not started (as under an inert pytest plugin);
  active    started by environment (CACHEWATCH=1), nothing watched: only the
            hooks on locks, queues, threads and pools;
  watching  started by environment, watching every module-level name and
            container of the workload (CACHEWATCH_OPTIONS="watch=...:*").

Usage: python bench/macro.py --child WORKLOAD CONDITION SCALE   (one run)"""
import importlib
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ["http_cache", "pipeline", "scatter_gather", "lazy_registry", "logging_pool",
             "async_cache"]
CONDITIONS = ["plain", "idle", "active", "watching"]


def env_for(workload, condition):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEWATCH")}
    env["PYTHONHASHSEED"] = "0"
    if condition == "active":
        env["CACHEWATCH"] = "1"
    elif condition == "watching":
        env["CACHEWATCH_OPTIONS"] = (f"watch=workloads.{workload}:* print_reports=0 "
                                     "report_signal=0")
    if condition in ("active", "watching"):
        env["CACHEWATCH_OPTIONS"] = env.get("CACHEWATCH_OPTIONS", "") + " exitcode=0"
    return env


def run_child(workload, condition, scale, python=sys.executable):
    """One process; returns its measurement dict."""
    done = subprocess.run([python, __file__, "--child", workload, condition, str(scale)],
                          env=env_for(workload, condition), capture_output=True, text=True,
                          timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{workload}/{condition} failed ({done.returncode}): "
                           f"{done.stderr[-800:]}")
    return json.loads(lines[-1])


def peak_rss_kb():
    """VmHWM: the peak of this process image (ru_maxrss survives exec, so a
    child would report its parent's peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def child(workload, condition, scale):
    sys.path.insert(0, HERE)
    if condition == "idle":
        import cachewatch
        cachewatch.is_active()  # loads the C core
    module = importlib.import_module(f"workloads.{workload}")
    t0 = time.perf_counter()
    checksum = module.run(scale)
    wall = time.perf_counter() - t0
    out = {"wall_s": wall, "peak_rss_kb": peak_rss_kb(), "checksum": checksum}
    if "cachewatch" in sys.modules:
        import cachewatch
        if cachewatch.is_active():
            from cachewatch import _cachewatch
            stats = _cachewatch.stats()
            out["findings"] = [f"{f['category']}: {f['target']}" for f in cachewatch.findings()]
            out["watched"] = stats.get("watched", 0)
            out["engine_bytes"] = stats.get("memory_bytes", 0)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
