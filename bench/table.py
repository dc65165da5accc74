"""docs/overhead.md's tables, made from bench/results.json (what run.py
wrote), between the markers `<!-- bench tables -->` and `<!-- end bench
tables -->`; nothing there is typed by hand.

  python bench/table.py           rewrite the tables from results.json
  python bench/table.py --check   exit 1 when the page is not what results.json says"""
import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results.json")
PAGE = os.path.join(os.path.dirname(HERE), "docs", "overhead.md")
START, END = "<!-- bench tables -->", "<!-- end bench tables -->"

MACRO_BUDGETS = {"idle_ratio": 1.02, "watching_ratio": 1.20}  # geometric means (run.py's)
RSS_BUDGET = 1.50
WORKLOAD_TITLES = {
    "http_cache": "threaded HTTP service with a module cache",
    "pipeline": "producer/consumer pipeline",
    "scatter_gather": "scatter-gather over an executor",
    "lazy_registry": "lazily initialised global registry",
    "logging_pool": "logging-heavy worker pool",
    "async_cache": "asyncio service: many tasks, a watched cache",
}


def _verdict(value, budget):
    return f"<= {budget:g}x {'met' if value <= budget else 'missed'}"


def _geomean(values):
    values = [v for v in values if v and v == v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def micro_table(results):
    instructions = {c["case"]: c for c in results.get("callgrind", [])}
    rows = ["| operation (micro) | bare instr | cachewatch | ratio instr | ratio wall | budget |",
            "|---|---:|---:|---:|---:|---|"]
    for case in results.get("micro", []):
        counted = instructions.get(case["case"])
        if counted:
            bare, watched = f"{counted['plain_instructions']:.0f}", \
                f"{counted['cachewatch_instructions']:.0f}"
            ratio = f"{counted['ratio']:.2f}x"
            budget = counted.get("budget") or case.get("budget")
            verdict = _verdict(counted["ratio"], budget) if budget else ""
        else:
            bare = watched = ratio = verdict = ""
        rows.append(f"| {case['case']} | {bare} | {watched} | {ratio} | {case['ratio']:.1f}x "
                    f"| {verdict} |")
    return rows


def macro_table(results):
    rss = {m["workload"]: m.get("watching_rss_ratio") for m in results.get("macro", [])}
    wall = {m["workload"]: m for m in results.get("macro", [])}
    counted = results.get("macro_callgrind") or []
    rows = ["| workload (macro, instructions) | idle | active, nothing watched | watching "
            "| watching, wall | peak RSS watching |",
            "|---|---:|---:|---:|---:|---:|"]
    for m in counted:
        name = m["workload"]
        watching_wall = wall.get(name, {}).get("watching_wall_ratio")
        rows.append(f"| {WORKLOAD_TITLES.get(name, name)} | {m['idle_ratio']:.3f}x "
                    f"| {m['active_ratio']:.3f}x | {m['watching_ratio']:.3f}x "
                    f"| {watching_wall or float('nan'):.2f}x | {rss.get(name) or float('nan'):.2f}x |")
    means = {k: _geomean([m[k] for m in counted]) for k in ("idle_ratio", "active_ratio",
                                                           "watching_ratio")}
    mean_wall = _geomean([m.get("watching_wall_ratio") for m in wall.values()])
    mean_rss = _geomean(list(rss.values()))
    rows.append(f"| geometric mean (budget) | {means['idle_ratio']:.3f}x "
                f"({_verdict(means['idle_ratio'], MACRO_BUDGETS['idle_ratio'])}) "
                f"| {means['active_ratio']:.3f}x "
                f"| **{means['watching_ratio']:.3f}x "
                f"({_verdict(means['watching_ratio'], MACRO_BUDGETS['watching_ratio'])})** "
                f"| {mean_wall:.2f}x | {mean_rss:.2f}x ({_verdict(mean_rss, RSS_BUDGET)}) |")
    return rows


def tables(results):
    head = (f"Figures of the run of {results.get('date', '?')} (CPython "
            f"{results.get('python', '?')}, {results.get('cpus', '?')} CPUs"
            f"{', quick' if results.get('quick') else ''}), from bench/results.json by "
            "bench/table.py.")
    return "\n".join([head, ""] + micro_table(results) + [""] + macro_table(results))


def rewritten(page, results):
    if START not in page or END not in page:
        raise ValueError(f"{PAGE} has no {START} ... {END} block")
    before, rest = page.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{tables(results)}\n{END}{after}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--page", default=PAGE)
    args = parser.parse_args(argv)
    with open(args.results) as f:
        results = json.load(f)
    with open(args.page) as f:
        page = f.read()
    new = rewritten(page, results)
    if args.check:
        if new != page:
            print(f"{args.page} is not what {args.results} says: run python bench/table.py",
                  file=sys.stderr)
            return 1
        return 0
    with open(args.page, "w") as f:
        f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
