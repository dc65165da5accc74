"""Cost of cachewatch's pool and hand-off hooks on a task's submit-to-result
round trip (issue budget: at most 2x), side by side in one run: rounds
alternate cachewatch off and on, and the ratio is the median over rounds.
Usage: python bench/executor.py [--json PATH] [--quick]"""
import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import cachewatch


def nothing():
    return None


def make_pools():
    pools = {"concurrent.futures.ThreadPoolExecutor": ThreadPoolExecutor(max_workers=1)}
    try:
        import futurist
        pools["futurist.ThreadPoolExecutor"] = futurist.ThreadPoolExecutor(max_workers=1)
    except ImportError:
        pass
    return pools


def round_trip(pool, n):
    t0 = time.perf_counter()
    for _ in range(n):
        pool.submit(nothing).result()
    return (time.perf_counter() - t0) / n


def measure(quick):
    n = 300 if quick else 2000
    rounds = 3 if quick else 7
    samples = {}
    for r in range(rounds):
        for on in ((False, True) if r % 2 == 0 else (True, False)):
            if on:
                cachewatch.start()
            pools = make_pools()  # made while on, so their hooks see them
            for name, pool in pools.items():
                round_trip(pool, n // 10)  # warm the worker
                samples.setdefault(name, ([], []))[int(on)].append(round_trip(pool, n))
                pool.shutdown()
            if on:
                cachewatch.stop()
    rows = []
    for name, (off, on) in samples.items():
        rows.append({"pool": name, "off_us": statistics.median(off) * 1e6,
                     "on_us": statistics.median(on) * 1e6,
                     "ratio": statistics.median(b / a for a, b in zip(off, on))})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    rows = measure(args.quick)
    print(f"{'pool (submit + result)':40} {'off us':>8} {'on us':>8} {'ratio':>7}  budget 2x")
    for r in rows:
        verdict = "met" if r["ratio"] <= 2 else "MISSED"
        print(f"{r['pool']:40} {r['off_us']:8.1f} {r['on_us']:8.1f} {r['ratio']:6.2f}x  {verdict}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
