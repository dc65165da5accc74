"""(e) A watched dict kept at a few thousand entries while two threads insert
and delete many distinct keys (a cache of sessions, say): the engine's memory
must follow the keys alive, not every key there ever was.

Checks: the dict's contents exact, the engine's shadow memory at the end
and at its peak, and the number of locations it still has."""
import sys
import threading

import cachewatch
from _common import engine_stats, memory, result, scale

KEYS = int(sys.argv[1]) if len(sys.argv) > 1 else scale(200_000, 2_000_000)
LIVE = 5_000


def churn(d, lock, w):
    for i in range(KEYS // 2):
        k = (w, i)
        with lock:
            d[k] = i
            if i >= LIVE // 2:
                del d[(w, i - LIVE // 2)]


def main():
    cachewatch.start({"print_reports": "0"})
    d = {}
    cachewatch.watch(d, name="stress.sessions")
    lock = threading.Lock()
    threads = [threading.Thread(target=churn, args=(d, lock, w)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = engine_stats()
    result(size=len(d), keys=KEYS, shadow=memory()["shadow"],
           shadow_peak=stats.get("memory_peak", {}).get("shadow"),
           locations=stats["locations"], findings=len(cachewatch.findings()))
    cachewatch.stop(quiet=True)


if __name__ == "__main__":
    main()
