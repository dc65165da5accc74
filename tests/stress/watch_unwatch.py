"""(b) One thread watches and unwatches a dict, a list and a set over and
over while WORKERS others mutate and iterate them (keys with Python-level
__hash__/__eq__, so the GIL can switch inside a watched operation).

Checks: locked counters exact, contents exact, nothing reported (it is
all correctly synchronised), every container plain again
at the end, the engine's watched count back to zero."""
import sys
import threading
import time

import cachewatch
from _common import engine_stats, memory, result, scale

WORKERS = 8
# Workers iterate the growing list: the work grows with the square of ROUNDS.
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else scale(800, 3000)


class Key:
    """A key whose hash and equality run Python code."""
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def __hash__(self):
        return hash(self.v)

    def __eq__(self, other):
        return isinstance(other, Key) and other.v == self.v


D = {"count": 0}
D.update({Key((w, j)): 0 for w in range(WORKERS) for j in range(37)})  # unlocked writes only update
L = []
S = set()
LOCK = threading.Lock()
stop_flag = False
toggles = 0
iterated = 0


def toggler():
    global toggles
    while not stop_flag:
        for obj, name in ((D, "D"), (L, "L"), (S, "S")):
            cachewatch.watch(obj, name=f"__main__.{name}")
        time.sleep(0)
        for obj in (D, L, S):
            cachewatch.unwatch(obj)
        toggles += 1


def worker(w):
    global iterated
    for i in range(ROUNDS):
        k = Key((w, i % 37))
        D[k] = i                                  # distinct per worker
        D.get(k)
        with LOCK:
            D["count"] += 1
            L.append((w, i))
            S.add(Key((w, i)))
        if i % 5 == 0:
            with LOCK:                            # a locked live loop
                n = 0
                for _ in D:
                    n += 1
                for _ in L:
                    n += 1
                for _ in S:
                    n += 1
                iterated += 1
            list(D); sorted(S, key=hash); L.copy()   # snapshots
        if i % 7 == 0:
            with LOCK:
                if L:
                    L.pop()
                    S.discard(Key((w, i)))
                    D.pop(Key((w, -1)), None)


def main():
    global stop_flag
    cachewatch.start("print_reports=0 thread_leaks=0")
    before = engine_stats()["watched"]
    shadow_start = memory()["shadow"]
    t = threading.Thread(target=toggler, name="toggler")
    t.start()
    workers = [threading.Thread(target=worker, args=(w,), name=f"w{w}") for w in range(WORKERS)]
    for x in workers:
        x.start()
    for x in workers:
        x.join()
    stop_flag = True
    t.join()
    after = engine_stats()["watched"]
    pops = sum(1 for i in range(ROUNDS) if i % 7 == 0) * WORKERS
    mem = memory()
    cachewatch.stop()
    result(rounds=ROUNDS, workers=WORKERS, toggles=toggles, count=D["count"],
           dict_len=len(D), list_len=len(L), set_len=len(S), pops=pops,
           plain=[type(D) is dict, type(L) is list, type(S) is set],
           watched_before=before, watched_after=after, iterated=iterated,
           expected_iterated=sum(1 for i in range(ROUNDS) if i % 5 == 0) * WORKERS,
           shadow=mem["shadow"], shadow_start=shadow_start,
           categories=sorted({f["category"] for f in cachewatch.findings()}))


if __name__ == "__main__":
    main()
