"""cachewatch's overhead, all of it, in one run: micro operations (wall time
and callgrind instructions), the pure-Python baseline, five macro workloads,
scaling with threads and keys, and memory. Every figure is a ratio taken in
this run against the same work without cachewatch. Prints one table per
section with each budget met or missed, and writes everything as JSON.

  python bench/run.py [--quick] [--json PATH] [--sections micro,macro,...]
                      [--no-callgrind] [--repeats N]

--quick is a smoke run (minutes less, figures rougher); the README's
figures come from a full run."""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import callgrind  # noqa: E402
import macro  # noqa: E402
import measure  # noqa: E402
import micro  # noqa: E402
import table  # noqa: E402

SECTIONS = ["micro", "callgrind", "macro", "macro-callgrind", "scaling"]
BASELINE_MIN = 5.0        # the pure-Python baseline must be this much slower
# Where the baseline makes the same checks (a dict subclass, traced globals,
# wrapped locks); its queue, semaphore and executor hand-offs skip most of
# what cachewatch does there (pool monitoring, semaphores as locks).
BASELINE_GROUPS = {"dict": "watched dicts", "global": "watched globals",
                   "lock": "locks"}
MACRO_WALL_BUDGET = 1.20  # geometric mean, watching
MACRO_RSS_BUDGET = 1.50
IDLE_BUDGET = 1.02


def verdict(value, limit, at_least=False):
    if value != value:  # NaN
        return "n/a"
    ok = value >= limit if at_least else value <= limit
    return "met" if ok else "MISSED"


# ---- micro: wall time ------------------------------------------------------

def _sampler(case, condition, n, repeats, which="run"):
    def sample():
        leave = micro.enter(condition)
        try:
            run, empty = case.make(condition)
            fn = run if which == "run" else empty
            t = measure.best_of(fn, n, repeats) / (n * case.ops_per_n)
            getattr(run, "cleanup", lambda: None)()
        finally:
            leave()
        return t
    return sample


def micro_wall(quick):
    target = 0.01 if quick else 0.04
    rounds = 3 if quick else 7
    repeats = 3
    rows = []
    for case in micro.CASES:
        ns = {}
        for condition in ("plain", "cachewatch", "baseline"):
            leave = micro.enter(condition)
            run, _ = case.make(condition)
            ns[condition] = measure.calibrate(run, target / (4 if condition == "baseline" else 1))
            getattr(run, "cleanup", lambda: None)()
            leave()
        samples = measure.interleaved({
            "empty": _sampler(case, "plain", ns["plain"], repeats, "empty"),
            "plain": _sampler(case, "plain", ns["plain"], repeats),
            "cachewatch": _sampler(case, "cachewatch", ns["cachewatch"], repeats),
            "baseline": _sampler(case, "baseline", ns["baseline"], repeats),
        }, rounds)
        ops = {c: [t - e for t, e in zip(samples[c], samples["empty"])]
               for c in ("plain", "cachewatch", "baseline")}
        ratio = measure.median_ratio(ops["cachewatch"], ops["plain"])
        row = {"case": case.name, "group": case.group,
               "plain_ns": _median(ops["plain"]) * 1e9,
               "cachewatch_ns": _median(ops["cachewatch"]) * 1e9,
               "baseline_ns": _median(ops["baseline"]) * 1e9,
               "ratio": ratio,
               "baseline_over_cachewatch": measure.median_ratio(ops["baseline"], ops["cachewatch"]),
               "budget": case.budget[1] if case.budget else None}
        rows.append(row)
        print(f"  {case.name:28} {row['plain_ns']:8.1f} {row['cachewatch_ns']:9.1f} ns "
              f"{ratio:6.2f}x", file=sys.stderr, flush=True)
    return rows


def _median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else float("nan")


# ---- micro: instructions -------------------------------------------------

def micro_instructions(quick):
    n = 100 if quick else 400
    script = os.path.join(HERE, "micro.py")
    jobs = {}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for case in micro.CASES:
            k = n if case.ops_per_n > 1 else n * 20
            for condition in ("empty", "plain", "cachewatch"):
                jobs[case.name, condition] = (pool.submit(
                    callgrind.per_iteration, [script, "--child", case.name, condition], k),
                    k)
    rows = []
    for case in micro.CASES:
        per_op = {}
        for condition in ("empty", "plain", "cachewatch"):
            future, _ = jobs[case.name, condition]
            per_op[condition] = future.result() / case.ops_per_n
        bare = per_op["plain"] - per_op["empty"]
        watched = per_op["cachewatch"] - per_op["empty"]
        rows.append({"case": case.name, "plain_instructions": bare,
                     "cachewatch_instructions": watched,
                     "ratio": watched / bare if bare > 0 else float("nan"),
                     "budget": case.budget[1] if case.budget else None})
    return rows


# ---- macro -------------------------------------------------------------------

def macro_section(quick, repeats):
    import importlib
    rows = []
    for name in macro.WORKLOADS:
        module = importlib.import_module(f"workloads.{name}")
        scale = module.SCALE // (5 if quick else 1)
        runs = {c: [] for c in macro.CONDITIONS}
        for r in range(repeats):
            order = macro.CONDITIONS[r % 4:] + macro.CONDITIONS[:r % 4]
            for condition in order:
                runs[condition].append(macro.run_child(name, condition, scale))
        plain = runs["plain"]
        row = {"workload": name, "scale": scale}
        checksums = {res["checksum"] for c in runs for res in runs[c]}
        row["same_results"] = len(checksums) == 1
        for condition in macro.CONDITIONS:
            walls = [res["wall_s"] for res in runs[condition]]
            rss = [res["peak_rss_kb"] for res in runs[condition]]
            row[f"{condition}_wall_s"] = _median(walls)
            row[f"{condition}_rss_kb"] = _median(rss)
            if condition != "plain":
                row[f"{condition}_wall_ratio"] = measure.median_ratio(
                    walls, [res["wall_s"] for res in plain])
                row[f"{condition}_rss_ratio"] = _median(rss) / _median(
                    [res["peak_rss_kb"] for res in plain])
        watching = runs["watching"]
        row["findings"] = sorted({f for res in watching for f in res.get("findings", [])})
        row["watched"] = watching[-1].get("watched", 0)
        row["engine_kb"] = watching[-1].get("engine_bytes", 0) / 1024
        rows.append(row)
        print(f"  {name:16} watching {row['watching_wall_ratio']:5.2f}x wall "
              f"{row['watching_rss_ratio']:5.2f}x rss", file=sys.stderr, flush=True)
    return rows


def macro_instructions(quick):
    """Instructions per unit of scale of each workload in each condition (a
    run at n and at 2n, differenced: start-up drops out). Repeatable where
    the wall times above are not; blind to what contention costs."""
    import importlib
    script = os.path.join(HERE, "macro.py")
    jobs = {}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for name in macro.WORKLOADS:
            n = max(1, importlib.import_module(f"workloads.{name}").SCALE // (40 if quick else 20))
            for condition in macro.CONDITIONS:
                env = macro.env_for(name, condition)
                jobs[name, condition] = pool.submit(
                    callgrind.per_iteration, [script, "--child", name, condition], n, env)
    rows = []
    for name in macro.WORKLOADS:
        plain = jobs[name, "plain"].result()
        row = {"workload": name, "plain_instructions": plain}
        for condition in macro.CONDITIONS[1:]:
            row[f"{condition}_ratio"] = jobs[name, condition].result() / plain
        rows.append(row)
    return rows


# ---- scaling -----------------------------------------------------------------

def scaling_section(quick):
    out = {}
    for section in ("threads", "keys", "stacks", "steady", "churn", "removed"):
        args = [sys.executable, os.path.join(HERE, "scaling.py"), "--child", section]
        if quick:
            args.append("quick")
        done = subprocess.run(args, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"scaling {section} failed: {done.stderr[-800:]}")
        out[section] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  scaling {section} done", file=sys.stderr, flush=True)
    if callgrind.available():
        out["threads_instructions"] = thread_instructions(quick)
    return out


def thread_instructions(quick):
    """Instructions per locked read-modify-write as threads go 1..32."""
    script = os.path.join(HERE, "scaling.py")
    total = 16_000 if quick else 64_000
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        jobs = {(t, c): pool.submit(callgrind.per_iteration,
                                    [script, "--threads-child", str(t), c], total)
                for t in (1, 2, 8, 32) for c in ("plain", "cachewatch")}
        return [{"threads": t, "plain_instructions": jobs[t, "plain"].result(),
                 "cachewatch_instructions": jobs[t, "cachewatch"].result(),
                 "ratio": jobs[t, "cachewatch"].result() / jobs[t, "plain"].result()}
                for t in (1, 2, 8, 32)]


# ---- the table --------------------------------------------------------------

def print_tables(result):
    out = []
    if "micro" in result:
        instr = {r["case"]: r for r in result.get("callgrind", [])}
        out.append("Micro: one operation (ns are wall time per operation, loop overhead removed)")
        out.append(f"{'operation':28} {'bare ns':>8} {'cw ns':>8} {'ratio':>7} {'instr':>7} "
                   f"{'baseline ns':>12} {'base/cw':>8}  budget")
        for r in result["micro"]:
            i = instr.get(r["case"])
            iratio = f"{i['ratio']:6.2f}x" if i else "      -"
            figure = i["ratio"] if i else r["ratio"]
            budget = (f"<= {r['budget']:g}x {verdict(figure, r['budget'])}"
                      if r["budget"] else "")
            base = f"{r['baseline_over_cachewatch']:7.1f}x"
            out.append(f"{r['case']:28} {r['plain_ns']:8.1f} {r['cachewatch_ns']:8.1f} "
                       f"{r['ratio']:6.2f}x {iratio} {r['baseline_ns']:12.1f} {base}  {budget}")
        for group, what in BASELINE_GROUPS.items():
            rows = [r for r in result["micro"] if r["group"] == group]
            worst = min(r["baseline_over_cachewatch"] for r in rows)
            out.append(f"pure-Python baseline vs cachewatch, {what}: at least {worst:.1f}x slower "
                       f"(budget >= {BASELINE_MIN:g}x: {verdict(worst, BASELINE_MIN, True)})")
        out.append("")
    if "callgrind" in result:
        out.append("Micro in instructions per operation (callgrind; budgets judged on these)")
        out.append(f"{'operation':28} {'bare':>8} {'cachewatch':>11} {'ratio':>7}")
        for r in result["callgrind"]:
            out.append(f"{r['case']:28} {r['plain_instructions']:8.0f} "
                       f"{r['cachewatch_instructions']:11.0f} {r['ratio']:6.2f}x")
        out.append("")
    if "macro" in result:
        out.append("Macro: wall time of the workload and peak RSS, against plain")
        out.append(f"{'workload':16} {'plain s':>8} {'idle':>7} {'active':>7} {'watching':>9} "
                   f"{'rss idle':>9} {'rss watch':>10} {'same':>5} {'findings':>8}")
        for r in result["macro"]:
            out.append(f"{r['workload']:16} {r['plain_wall_s']:8.3f} {r['idle_wall_ratio']:6.3f}x "
                       f"{r['active_wall_ratio']:6.3f}x {r['watching_wall_ratio']:8.3f}x "
                       f"{r['idle_rss_ratio']:8.2f}x {r['watching_rss_ratio']:9.2f}x "
                       f"{'yes' if r['same_results'] else 'NO':>5} {len(r['findings']):8d}")
        m = result["macro_summary"]
        out.append(f"geometric mean, watching: {m['watching_wall']:.3f}x wall (budget <= "
                   f"{MACRO_WALL_BUDGET}x: {verdict(m['watching_wall'], MACRO_WALL_BUDGET)}), "
                   f"{m['watching_rss']:.2f}x peak RSS (budget <= {MACRO_RSS_BUDGET}x: "
                   f"{verdict(m['watching_rss'], MACRO_RSS_BUDGET)})")
        out.append(f"geometric mean, loaded and idle: {m['idle_wall']:.3f}x wall (budget <= "
                   f"{IDLE_BUDGET}x: {verdict(m['idle_wall'], IDLE_BUDGET)}); active, nothing "
                   f"watched: {m['active_wall']:.3f}x")
        out.append("")
    if "macro_callgrind" in result:
        rows = result["macro_callgrind"]
        out.append("Macro in instructions (callgrind), against plain")
        out.append(f"{'workload':16} {'idle':>7} {'active':>7} {'watching':>9}")
        for r in rows:
            out.append(f"{r['workload']:16} {r['idle_ratio']:6.3f}x {r['active_ratio']:6.3f}x "
                       f"{r['watching_ratio']:8.3f}x")
        g = {c: measure.geomean([r[f"{c}_ratio"] for r in rows]) for c in ("idle", "active", "watching")}
        out.append(f"geometric mean: idle {g['idle']:.3f}x (budget <= {IDLE_BUDGET}x: "
                   f"{verdict(g['idle'], IDLE_BUDGET)}), active {g['active']:.3f}x, watching "
                   f"{g['watching']:.3f}x (budget <= {MACRO_WALL_BUDGET}x: "
                   f"{verdict(g['watching'], MACRO_WALL_BUDGET)})")
        out.append("")
    if "scaling" in result:
        s = result["scaling"]
        out.append("Scaling with threads (locked read-modify-write of a watched dict)")
        instr = {r["threads"]: r for r in s.get("threads_instructions", [])}
        for r in s["threads"]:
            i = instr.get(r["threads"])
            counted = (f"; {i['plain_instructions']:.0f} -> {i['cachewatch_instructions']:.0f} "
                       f"instructions/op {i['ratio']:5.2f}x" if i else "")
            control = (f" (plain with as much work inside the lock: {r['control_ratio']:5.2f}x)"
                       if "control_ratio" in r else "")
            out.append(f"  {r['threads']:3d} threads: {r['plain_ns']:8.1f} -> "
                       f"{r['cachewatch_ns']:8.1f} ns/op {r['ratio']:5.2f}x wall{control}{counted}")
        out.append("Scaling with watched keys (insert each, then read each once)")
        for r in s["keys"]:
            out.append(f"  {r['keys']:>8} keys: set {r['set_ratio']:5.2f}x  get {r['get_ratio']:5.2f}x"
                       f"  {r['shadow_bytes_per_key']:6.0f} shadow bytes per key")
        st = s["steady"]
        half, last = st["samples"][4], st["samples"][-1]
        out.append(f"Steady workload, {st['ops']:.0e} operations: engine "
                   f"{half['engine_bytes'] / 1024:.0f} KiB at half way, "
                   f"{last['engine_bytes'] / 1024:.0f} KiB at the end "
                   f"({'flat' if st['engine_flat'] else 'GROWING'}); RSS over the second half "
                   f"{st['rss_growth_second_half_kb']:+d} KiB (without cachewatch "
                   f"{st['plain_rss_growth_second_half_kb']:+d} KiB)")
        out.append(f"Memory: {s['stacks']['stack_bytes_per_stack']:.0f} bytes per distinct stack; "
                   f"{s['keys'][-1]['shadow_bytes_per_key']:.0f} bytes per watched location "
                   f"(one writer, one reader); {s['churn']['engine_bytes_per_thread']:.0f} bytes "
                   f"per finished thread")
        if "removed" in s:
            r = s["removed"]
            out.append(f"Keys that come and go: {r['keys']:,} distinct keys through a dict kept "
                       f"at {r['live']:,}: peak RSS {r['plain_peak_rss_kb'] / 1024:.0f} MB -> "
                       f"{r['cachewatch_peak_rss_kb'] / 1024:.0f} MB, shadow peak "
                       f"{r['shadow_peak_bytes'] / 2**20:.1f} MB, {r['locations_at_end']:,} "
                       f"locations at the end")
    return "\n".join(out)


def summarise_macro(rows):
    def geomean_of(key):
        return measure.geomean([r[key] for r in rows])
    return {"idle_wall": geomean_of("idle_wall_ratio"),
            "active_wall": geomean_of("active_wall_ratio"),
            "watching_wall": geomean_of("watching_wall_ratio"),
            "watching_rss": geomean_of("watching_rss_ratio")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", metavar="PATH", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--repeats", type=int, default=0, help="macro runs per condition")
    args = ap.parse_args(argv)
    wanted = [s for s in args.sections.split(",") if s]
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown section {unknown[0]!r} (choose from {', '.join(SECTIONS)})")
    if args.no_callgrind or not callgrind.available():
        wanted = [s for s in wanted if "callgrind" not in s]
    result = {"python": platform.python_version(), "machine": platform.machine(),
              "cpus": os.cpu_count(), "quick": args.quick,
              "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    t0 = time.perf_counter()
    if "micro" in wanted:
        print("micro (wall)", file=sys.stderr)
        result["micro"] = micro_wall(args.quick)
    if "callgrind" in wanted:
        print("micro (callgrind)", file=sys.stderr)
        result["callgrind"] = micro_instructions(args.quick)
    if "macro" in wanted:
        print("macro", file=sys.stderr)
        result["macro"] = macro_section(args.quick, args.repeats or (2 if args.quick else 5))
        result["macro_summary"] = summarise_macro(result["macro"])
    if "macro-callgrind" in wanted:
        print("macro (callgrind)", file=sys.stderr)
        result["macro_callgrind"] = macro_instructions(args.quick)
    if "scaling" in wanted:
        print("scaling and memory", file=sys.stderr)
        result["scaling"] = scaling_section(args.quick)
    result["seconds"] = time.perf_counter() - t0
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    print(print_tables(result))
    print(f"\n({result['seconds']:.0f} s; JSON in {args.json})")
    if os.path.abspath(args.json) == table.RESULTS and not args.quick:
        table.main([])  # docs/overhead.md's tables follow the committed results
        print(f"(tables in {table.PAGE} rewritten)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
