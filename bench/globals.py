"""Cost of watching a module's names for code that does not touch them
(issue budget: at most 1.10x in the watched module, 1.02x in other modules),
and what an access to a watched name costs, side by side in one run.

Two copies of one module are made: `watched_mod` has its name CACHE watched,
`other_mod` nothing. The same functions run in both, and with cachewatch
off; rounds alternate off and on, and each ratio is the median over rounds
of (time on) / (time off) for the same function.
With --callgrind the same cases are also counted in instructions per
iteration (valgrind), which repeat exactly from run to run.
Usage: python bench/globals.py [--json PATH] [--quick] [--callgrind]
       python bench/globals.py --one MODE CASE N    (one callgrind child)"""
import argparse
import importlib
import json
import os
import statistics
import sys
import tempfile
import time

import cachewatch

MODULE = '''
import math

CACHE = {}
LIMITS = (10, 20, 30)


def helper(i):
    return i % 7


def work(n):
    # Globals, builtins and a helper, but not CACHE.
    total = 0
    for i in range(n):
        total += helper(i) + len(LIMITS) + int(math.sqrt(i))
    return total


def touch(n):
    # Loads the watched name each time round.
    total = 0
    for i in range(n):
        total += len(CACHE)
    return total
'''


def _make_modules():
    tmp = tempfile.mkdtemp(prefix="cw-bench-")
    for name in ("watched_mod", "other_mod"):
        with open(os.path.join(tmp, name + ".py"), "w") as f:
            f.write(MODULE)
    sys.path.insert(0, tmp)
    return importlib.import_module("watched_mod"), importlib.import_module("other_mod")


CASE_FUNCS = {"watched module, no watched name": ("watched_mod", "work"),
              "other module": ("other_mod", "work"),
              "watched module, loads CACHE": ("watched_mod", "touch")}


def one(mode, case, n):
    """A callgrind child: run one case n times, cachewatch on or off."""
    _make_modules()
    if mode == "on":
        cachewatch.start(watch=["watched_mod:CACHE"])
    module, fname = CASE_FUNCS[case]
    getattr(sys.modules[module], fname)(n)


def instructions(quick):
    from callgrind import per_iteration
    n = 5000 if quick else 20000
    rows = []
    for case in CASE_FUNCS:
        off = per_iteration([__file__, "--one", "off", case], n)
        on = per_iteration([__file__, "--one", "on", case], n)
        rows.append({"case": case, "off_instructions": off, "on_instructions": on,
                     "ratio": on / off})
    return rows


def best(fn, n, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(n)
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(quick):
    n = 20000 if quick else 100000
    repeats = 3 if quick else 5
    rounds = 4 if quick else 10
    watched, other = _make_modules()
    cases = [("watched module, no watched name", watched.work),
             ("other module", other.work),
             ("watched module, loads CACHE", watched.touch)]
    samples = {name: ([], []) for name, _ in cases}

    def run_all(slot):
        for name, fn in cases:
            module, fname = fn.__module__, fn.__name__
            samples[name][slot].append(
                best(lambda k: getattr(sys.modules[module], fname)(k), n, repeats))

    for r in range(rounds):
        # Alternate which condition goes first, so drift of the machine
        # within a round does not favour one.
        for on in ((False, True) if r % 2 == 0 else (True, False)):
            if on:
                cachewatch.start(watch=["watched_mod:CACHE"])
                run_all(1)
                cachewatch.stop()
            else:
                run_all(0)
    rows = []
    for name, _ in cases:
        off, on = samples[name]
        ratios = [b / a for a, b in zip(off, on)]
        rows.append({"case": name, "off_ns_per_iter": statistics.median(off) / n * 1e9,
                     "on_ns_per_iter": statistics.median(on) / n * 1e9,
                     "ratio": statistics.median(ratios)})
    return rows


BUDGETS = {"watched module, no watched name": 1.10, "other module": 1.02}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--one", nargs=3, metavar=("MODE", "CASE", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        one(args.one[0], args.one[1], int(args.one[2]))
        return 0
    rows = measure(args.quick)
    print(f"{'case':34} {'off ns/iter':>12} {'on ns/iter':>11} {'ratio':>7}  budget")
    for r in rows:
        budget = BUDGETS.get(r["case"])
        verdict = "" if budget is None else (
            f"{budget:.2f}x " + ("met" if r["ratio"] <= budget else "MISSED"))
        print(f"{r['case']:34} {r['off_ns_per_iter']:12.1f} {r['on_ns_per_iter']:11.1f} "
              f"{r['ratio']:6.3f}x  {verdict}")
    result = {"wall": rows}
    if args.callgrind:
        counted = instructions(args.quick)
        print(f"\n{'case (callgrind)':34} {'off instr':>12} {'on instr':>11} {'ratio':>7}  budget")
        for r in counted:
            budget = BUDGETS.get(r["case"])
            verdict = "" if budget is None else (
                f"{budget:.2f}x " + ("met" if r["ratio"] <= budget else "MISSED"))
            print(f"{r['case']:34} {r['off_instructions']:12.0f} {r['on_instructions']:11.0f} "
                  f"{r['ratio']:6.3f}x  {verdict}")
        result["instructions"] = counted
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
