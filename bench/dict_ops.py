"""Cost of a watched dict's get and set against the bare operation, side by
side in one run (issue: at most 10x).

Each time is the best of several repeats of a timed loop, less an empty
loop of the same shape; rounds alternate plain and watched, and the ratio
(watched / plain, same loop, same process) is the median over rounds. Two shapes:
- loop: many operations in one function call (the stack cache helps);
- call: one operation per function call (a new frame every time).
Usage: python bench/dict_ops.py [--json PATH] [--quick]"""
import argparse
import json
import statistics
import sys
import threading
import time

import cachewatch

N_KEYS = 64


def make():
    return {f"key-{i}": i for i in range(N_KEYS)}


def loop_get(d, keys, n):
    for _ in range(n):
        for k in keys:
            d[k]


def loop_set(d, keys, n):
    for _ in range(n):
        for k in keys:
            d[k] = 1


def loop_contains(d, keys, n):
    for _ in range(n):
        for k in keys:
            k in d


def loop_method_get(d, keys, n):
    for _ in range(n):
        for k in keys:
            d.get(k)


def one_get(d, k):
    return d[k]


def one_set(d, k):
    d[k] = 1


def call_get(d, keys, n):
    for _ in range(n):
        for k in keys:
            one_get(d, k)


def call_set(d, keys, n):
    for _ in range(n):
        for k in keys:
            one_set(d, k)


def empty_loop(d, keys, n):
    for _ in range(n):
        for k in keys:
            pass


def call_empty(d, keys, n):
    def nothing(d, k):
        return None

    for _ in range(n):
        for k in keys:
            nothing(d, k)


CASES = [
    ("get d[k] (loop)", loop_get, empty_loop),
    ("set d[k]=v (loop)", loop_set, empty_loop),
    ("k in d (loop)", loop_contains, empty_loop),
    ("d.get(k) (loop)", loop_method_get, empty_loop),
    ("get d[k] (call)", call_get, call_empty),
    ("set d[k]=v (call)", call_set, call_empty),
]


def best(fn, d, keys, n, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(d, keys, n)
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(quick):
    n = 200 if quick else 1000
    repeats = 3 if quick else 5
    rounds = 3 if quick else 7
    keys = list(make())
    ops = n * len(keys)
    plain = make()
    watched = make()
    cachewatch.start()
    cachewatch.watch(watched, name="bench.watched")
    # A second thread touches the dict once so the checks run for real.
    t = threading.Thread(target=lambda: watched.get("key-0"))
    t.start()
    t.join()
    rows = []
    for name, fn, baseline in CASES:
        # Rounds interleave plain and watched so drifts of the machine hit
        # both alike; the ratio is the median over rounds.
        ratios, plains, watcheds = [], [], []
        for _ in range(rounds):
            base = best(baseline, plain, keys, n, repeats)
            p = best(fn, plain, keys, n, repeats) - base
            w = best(fn, watched, keys, n, repeats) - base
            plains.append(p / ops * 1e9)
            watcheds.append(w / ops * 1e9)
            ratios.append(w / p if p > 0 else float("inf"))
        rows.append({"operation": name, "plain_ns": statistics.median(plains),
                     "watched_ns": statistics.median(watcheds),
                     "ratio": statistics.median(ratios)})
    cachewatch.stop()
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    rows = measure(args.quick)
    print(f"{'operation':24} {'plain ns':>10} {'watched ns':>11} {'ratio':>7}  budget 10x")
    for r in rows:
        verdict = "met" if r["ratio"] <= 10 else "MISSED"
        print(f"{r['operation']:24} {r['plain_ns']:10.1f} {r['watched_ns']:11.1f} "
              f"{r['ratio']:6.1f}x  {verdict}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
