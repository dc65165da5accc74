"""Timing shared by the benchmarks. Every figure is a ratio of conditions
measured in the same process: rounds interleave the conditions (rotating
which goes first, so a drift of the machine hits all alike), each sample is
the best of a few repeats, and a ratio is the median over rounds of the
per-round ratios."""
import statistics
import time


def best_of(fn, n, repeats):
    """Seconds of the fastest of `repeats` calls fn(n)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - t0)
    return best


def calibrate(fn, target_s, start=1, limit=1 << 26):
    """An n for which fn(n) takes about target_s."""
    n = start
    while n < limit:
        t = best_of(fn, n, 1)
        if t >= target_s:
            break
        n = n * 2 if t < target_s / 8 else max(n + 1, int(n * target_s / max(t, 1e-9)))
    return n


def interleaved(conditions, rounds):
    """conditions: {name: sample()} where sample() returns one measurement
    (seconds). Returns {name: [one per round]}."""
    names = list(conditions)
    out = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(conditions[name]())
    return out


def median_ratio(num, den):
    """Median over rounds of num[i] / den[i]."""
    ratios = [a / b for a, b in zip(num, den) if b > 0]
    return statistics.median(ratios) if ratios else float("nan")


def geomean(values):
    values = [v for v in values if v and v > 0]
    if not values:
        return float("nan")
    product = 1.0
    for v in values:
        product *= v
    return product ** (1 / len(values))
