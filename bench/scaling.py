"""Scaling and memory: how the cost of a watched operation moves with the
number of threads and of watched keys, what a watched location and a
distinct stack cost in memory, and whether memory stays flat under a
steady workload. Each section runs in its own process (python
bench/scaling.py --child SECTION [quick]) so one cannot inflate another's
peak RSS; `--threads-child THREADS CONDITION N` is one callgrind child of the
thread scaling in instructions (contended wall times are convoys of the
GIL as much as anything)."""
import gc
import json
import resource
import sys
import threading
import time

import cachewatch
from cachewatch import _cachewatch
from macro import peak_rss_kb

OPTIONS = {"print_reports": "0", "thread_leaks": "0"}


def engine_bytes(kind=None):
    stats = _cachewatch.stats()
    return stats["memory"][kind] if kind else stats["memory_bytes"]


def rss_kb():
    """Resident set now (not the peak), from /proc."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


# ---- threads --------------------------------------------------------------------

def _thread_ops(d, lock, keys, n, barrier, spin=0):
    barrier.wait()
    for i in range(n):
        k = keys[i % len(keys)]
        with lock:
            for _ in range(spin):  # the control's extra work, inside the lock
                pass
            d[k] = d.get(k, 0) + 1


def _timed_threads(d, lock, threads, per, spin=0):
    """ns per operation, each of `threads` threads doing `per` of them."""
    keys = [f"k{i}" for i in range(256)]
    barrier = threading.Barrier(threads + 1)
    ts = [threading.Thread(target=_thread_ops, args=(d, lock, keys, per, barrier, spin))
          for _ in range(threads)]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    return (time.perf_counter() - t0) / (per * threads) * 1e9


def _watched_threads(threads, per):
    cachewatch.start(OPTIONS)
    d = {}
    cachewatch.watch(d, name="bench.scaling")
    try:
        return _timed_threads(d, threading.Lock(), threads, per)
    finally:
        cachewatch.stop(quiet=True)


def _spins_for(target_ns, per, plain_ns):
    """Iterations of the control's empty loop inside the lock that make one
    thread's operation take target_ns (fitted on the operation itself)."""
    spin = 16
    for _ in range(4):
        took = sorted(_timed_threads({}, threading.Lock(), 1, per, spin) for _ in range(3))[1]
        per_spin = max(0.1, (took - plain_ns) / spin)
        spin = max(0, round((target_ns - plain_ns) / per_spin))
    return spin


def threads_section(quick):
    """ns per locked read-modify-write as threads go 1..32: plain, watched,
    and a control: plain CPython doing, inside the lock, as much extra work
    as cachewatch adds to an operation of one thread. Every thread does the
    same number of operations, enough that a plain thread runs past
    CPython's switch interval (5 ms) and is preempted as a watched one is:
    a fixed total split over 32 threads let each plain thread finish inside
    one interval, never contending, and made the ratio a convoy of
    cachewatch's alone. Contended runs are bimodal (a convoy forms or not),
    so each figure is the median of its rounds."""
    per = 1_000 if quick else 25_000
    rounds = 3
    median = lambda xs: sorted(xs)[len(xs) // 2]
    one_plain = median([_timed_threads({}, threading.Lock(), 1, per) for _ in range(rounds)])
    one_watched = median([_watched_threads(1, per) for _ in range(rounds)])
    spin = _spins_for(one_watched, per, one_plain)
    rows = []
    for threads in (1, 2, 8, 32):
        plain, watched, control = [], [], []
        for _ in range(rounds):
            plain.append(_timed_threads({}, threading.Lock(), threads, per))
            watched.append(_watched_threads(threads, per))
            control.append(_timed_threads({}, threading.Lock(), threads, per, spin))
        row = {"threads": threads, "ops_per_thread": per, "plain_ns": median(plain),
               "cachewatch_ns": median(watched), "control_ns": median(control)}
        row["ratio"] = row["cachewatch_ns"] / row["plain_ns"]
        row["control_ratio"] = row["control_ns"] / row["plain_ns"]
        rows.append(row)
    return rows


# ---- keys -----------------------------------------------------------------------

def keys_section(quick):
    """Insert K keys into a watched dict then read each once: ns per op
    against a plain dict, and shadow bytes per location, K = 10^2 .. 10^6.
    Small K repeat over fresh dicts so every size does about as many
    operations."""
    sizes = [10 ** e for e in range(2, 6 if quick else 7)]
    rows = []
    for size in sizes:
        keys = [f"key-{i}" for i in range(size)]
        reps = max(1, 200_000 // size)

        def fill(dicts):
            t0 = time.perf_counter()
            for d in dicts:
                for k in keys:
                    d[k] = 1
            t1 = time.perf_counter()
            for d in dicts:
                for k in keys:
                    d[k]
            return t1 - t0, time.perf_counter() - t1

        plain_set, plain_get = fill([{} for _ in range(reps)])
        cachewatch.start(OPTIONS)
        dicts = [{} for _ in range(reps)]
        for d in dicts:
            cachewatch.watch(d, name="bench.keys")
        before = engine_bytes("shadow")
        cw_set, cw_get = fill(dicts)
        shadow = engine_bytes("shadow") - before
        cachewatch.stop(quiet=True)
        ops = size * reps
        rows.append({"keys": size, "dicts": reps,
                     "set_ns_plain": plain_set / ops * 1e9,
                     "set_ns_cachewatch": cw_set / ops * 1e9,
                     "get_ns_plain": plain_get / ops * 1e9,
                     "get_ns_cachewatch": cw_get / ops * 1e9,
                     "set_ratio": cw_set / plain_set, "get_ratio": cw_get / plain_get,
                     "shadow_bytes_per_key": shadow / ops})
        del dicts
        gc.collect()
    return rows


# ---- memory per stack --------------------------------------------------------

def stacks_section(quick):
    """Bytes per distinct stack: writes from many distinct code locations."""
    count = 2000 if quick else 10000
    source = "\n".join(f"def w{i}(d):\n    d[{i}] = {i}\n" for i in range(count))
    namespace = {}
    exec(compile(source, "<bench-stacks>", "exec"), namespace)
    writers = [namespace[f"w{i}"] for i in range(count)]
    cachewatch.start(OPTIONS)
    d = {}
    cachewatch.watch(d, name="bench.stacks")
    stacks_before = _cachewatch.stats()["stacks"]
    bytes_before = engine_bytes("stacks")
    for w in writers:
        w(d)
    stats = _cachewatch.stats()
    made = stats["stacks"] - stacks_before
    row = {"distinct_stacks": made,
           "stack_bytes_per_stack": (stats["memory"]["stacks"] - bytes_before) / max(made, 1)}
    cachewatch.stop(quiet=True)
    return row


# ---- steady workload -----------------------------------------------------------

def _steady_worker(d, lock, n, offset, out):
    made = 0
    for i in range(n):
        k = offset + (i % 5000)
        with lock:
            if i % 7 == 0:
                d.pop(k, None)
            else:
                d[k] = d.get(k, 0) + 1
        if i % 500 == 0:
            # Short-lived synchronisation objects, as real programs make.
            ev = threading.Event()
            ev.set()
            with threading.Lock():
                made += 1
    out.append(made)


def _steady_run(total, watched):
    """Run the steady workload in tenths; sample memory after each."""
    threads = 4
    d = {}
    if watched:
        cachewatch.start(OPTIONS)
        cachewatch.watch(d, name="bench.steady")
    lock = threading.Lock()
    samples = []
    per_slice = total // 10 // threads
    t0 = time.perf_counter()
    for s in range(10):
        out = []
        ts = [threading.Thread(target=_steady_worker, args=(d, lock, per_slice, 100_000 * t, out))
              for t in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        gc.collect()
        samples.append({"ops": (s + 1) * per_slice * threads, "rss_kb": rss_kb(),
                        "engine_bytes": engine_bytes() if watched else 0})
    elapsed = time.perf_counter() - t0
    stats = _cachewatch.stats() if watched else {}
    if watched:
        cachewatch.stop(quiet=True)
    return samples, elapsed, stats


def _flat(levels):
    first, second = levels[:5], levels[5:]
    if max(second) <= max(first) * 1.05 + 65536:
        return True
    return max(second) - first[-1] < (first[-1] - first[0]) / 3


def steady_section(quick):
    """10^7 watched operations (10^6 quick) from 4 threads (new ones each
    tenth) over a fixed key space, with deletions and short-lived locks and
    events; engine memory and RSS sampled at each tenth, and RSS of the same
    run without cachewatch. Flat: no sample of the second half above the
    first half's largest by more than 5% (and 64 KiB), or, while histories
    are still filling (a quick run), the second half growing less than a
    third of what the first did: a leak grows by the same each tenth. Not
    tighter: removed keys' histories are forgotten in batches (a shard's
    last 4,096 removals are kept), so the level wanders by a few percent."""
    total = 1_000_000 if quick else 10_000_000
    plain, plain_s, _ = _steady_run(total, False)
    samples, elapsed, stats = _steady_run(total, True)
    half, last = samples[4], samples[-1]
    return {"ops": total, "seconds": elapsed, "plain_seconds": plain_s, "samples": samples,
            "plain_rss_kb": [p["rss_kb"] for p in plain],
            "engine_flat": _flat([s["engine_bytes"] for s in samples]),
            "engine_growth_second_half": last["engine_bytes"] - half["engine_bytes"],
            "rss_growth_second_half_kb": last["rss_kb"] - half["rss_kb"],
            "plain_rss_growth_second_half_kb": plain[-1]["rss_kb"] - plain[4]["rss_kb"],
            "threads_registered": stats["threads"], "locations": stats["locations"],
            "sync_objects": stats["sync_objects"]}


# ---- thread churn --------------------------------------------------------------

def churn_section(quick):
    """Short-lived threads, 64 at a time, each touching watched state:
    engine bytes per finished thread, and the cost of starting one."""
    total = 1000 if quick else 5000
    cachewatch.start(OPTIONS)
    d = {}
    cachewatch.watch(d, name="bench.churn")
    lock = threading.Lock()

    def touch(i):
        with lock:
            d[i % 100] = i

    before = engine_bytes()
    t0 = time.perf_counter()
    for start in range(0, total, 64):
        ts = [threading.Thread(target=touch, args=(i,)) for i in range(start, start + 64)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    elapsed = time.perf_counter() - t0
    grown = engine_bytes() - before
    cachewatch.stop(quiet=True)
    return {"threads": total, "engine_bytes_per_thread": grown / total,
            "us_per_thread_cachewatch": elapsed / total * 1e6}


# ---- keys that come and go ------------------------------------------------------

def _sessions(d, lock, w, n, live):
    for i in range(n):
        with lock:
            d[(w, i)] = i
            if i >= live:
                del d[(w, i - live)]


def _sessions_run(d, keys, live):
    lock = threading.Lock()
    ts = [threading.Thread(target=_sessions, args=(d, lock, w, keys // 2, live // 2))
          for w in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def removed_section(quick):
    """A watched dict kept at 10,000 entries while two threads insert and
    delete distinct keys (2,000,000; 200,000 quick): peak RSS without
    cachewatch, then with it (VmHWM, this process image's peak so far:
    ru_maxrss would carry the parent's across exec), and the engine's shadow
    memory at its peak. Memory should follow the live keys."""
    keys, live = (200_000 if quick else 2_000_000), 10_000
    _sessions_run({}, keys, live)
    plain_kb = peak_rss_kb()
    cachewatch.start(OPTIONS)
    d = {}
    cachewatch.watch(d, name="bench.sessions")
    _sessions_run(d, keys, live)
    stats = _cachewatch.stats()
    cachewatch.stop(quiet=True)
    return {"keys": keys, "live": live, "plain_peak_rss_kb": plain_kb,
            "cachewatch_peak_rss_kb": peak_rss_kb(),
            "shadow_peak_bytes": stats["memory_peak"]["shadow"],
            "locations_at_end": stats["locations"]}


def thread_ops_child(threads, condition, total):
    """A callgrind child: `total` locked read-modify-writes of one dict,
    spread over `threads` threads, watched or not."""
    if condition == "cachewatch":
        cachewatch.start(OPTIONS)
    d = {}
    if condition == "cachewatch":
        cachewatch.watch(d, name="bench.scaling")
    _timed_threads(d, threading.Lock(), threads, total // threads)


SECTIONS = {"threads": threads_section, "keys": keys_section, "stacks": stacks_section,
            "steady": steady_section, "churn": churn_section, "removed": removed_section}

if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--threads-child":
        thread_ops_child(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "--child":
        result = SECTIONS[sys.argv[2]](len(sys.argv) > 3 and sys.argv[3] == "quick")
        print(json.dumps(result))
    else:
        sys.exit(__doc__)
