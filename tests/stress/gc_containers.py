"""(c) Watched containers dying: made, watched, used from threads, dropped
and collected (plain garbage and reference cycles through dicts, lists and
sets), ROUNDS times.

Checks: each round's results exact, the engine forgets every dead container
(watched count back to where it was), and engine memory after the last
round is back near its level after the first (no growth per round)."""
import gc
import sys
import threading
import weakref

import cachewatch
from _common import engine_stats, memory, result, scale

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else scale(60, 600)
THREADS = 4
KEYS = 200


class Node:
    """Something a weakref can follow, held in the cycles."""

    def __init__(self, payload):
        self.payload = payload


def use(d, lst, s, lock, w):
    for i in range(KEYS):
        k = (w, i)
        if k not in d:                 # distinct per thread: no race
            d[k] = i
        with lock:
            d["n"] = d.get("n", 0) + 1
            lst.append(i)
            s.add(i % 50)
    for _ in list(d):                  # a snapshot
        pass


def one_round(r):
    lock = threading.Lock()
    d, lst, s = {}, [], set()
    cachewatch.watch(d, name="gc.d")
    cachewatch.watch(lst, name="gc.lst")
    cachewatch.watch(s, name="gc.s")
    ts = [threading.Thread(target=use, args=(d, lst, s, lock, w)) for w in range(THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ok = d["n"] == THREADS * KEYS and len(d) == THREADS * KEYS + 1 \
        and len(lst) == THREADS * KEYS and len(s) == 50
    # Cycles: a dict holding itself, a list holding itself, a dict and a list
    # holding each other, a set of objects whose payload refers back.
    cyc_d, cyc_l, inner = {}, [], {}
    node = Node(None)
    holder = set()
    for obj, name in ((cyc_d, "cyc_d"), (cyc_l, "cyc_l"), (inner, "inner"), (holder, "holder")):
        cachewatch.watch(obj, name=f"gc.{name}")
    cyc_d["self"] = cyc_d
    cyc_l.append(cyc_l)
    cyc_l.append(inner)
    inner["up"] = cyc_l
    inner["node"] = node
    node.payload = (holder, inner)
    holder.add(node)

    def touch():
        for i in range(50):
            cyc_d[i] = i
            inner[i] = len(cyc_l)
    t = threading.Thread(target=touch)
    t.start()
    t.join()
    refs = [weakref.ref(node)]
    del d, lst, s, cyc_d, cyc_l, inner, node, holder, touch, t, ts
    return ok, refs


def main():
    cachewatch.start("print_reports=0 thread_leaks=0")
    gc.collect()
    base_watched = engine_stats()["watched"]
    bad = 0
    alive_after_collect = 0
    watched_after = []
    mem_after = []
    for r in range(ROUNDS):
        ok, refs = one_round(r)
        bad += not ok
        gc.collect()
        alive_after_collect += sum(1 for ref in refs if ref() is not None)
        watched_after.append(engine_stats()["watched"] - base_watched)
        mem_after.append(memory())
    stats = engine_stats()
    cachewatch.stop()
    result(rounds=ROUNDS, bad_rounds=bad, alive_after_collect=alive_after_collect,
           max_watched_after=max(watched_after), mem_first=mem_after[0],
           mem_last=mem_after[-1], mem_peak_total=max(m["total"] for m in mem_after),
           locations=stats["locations"],
           categories=sorted({f["category"] for f in cachewatch.findings()}))


if __name__ == "__main__":
    main()
