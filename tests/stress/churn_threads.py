"""(a) Thread churn: THREADS short-lived threads, at most ALIVE at a time,
over watched state (a module-level dict watched by its target, a list and a
set watched as objects), doing unlocked check-then-acts and locked updates.

Checks: locked counters exact, every thread seen by the engine, engine
memory after 1000 threads no more than a bounded amount per thread above
its level after 100 (finished threads are freed but for their identity)."""
import sys
import threading
import time

import cachewatch
from _common import memory, engine_stats, result, scale

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else scale(1000, 10000)
ALIVE = 64
OPS = 20          # per thread
FIRST = 100       # memory is measured after this many threads, then at the end

STATE = {}        # the module-level cache, watched as __main__:STATE
ITEMS = []
SEEN = set()
LOCK = threading.Lock()
COUNTS = {"locked": 0, "items": 0}

gate = threading.BoundedSemaphore(ALIVE)
alive = 0
max_alive = 0
alive_lock = threading.Lock()
last_wave = False


def work(n):
    global alive, max_alive
    try:
        with alive_lock:
            alive += 1
            max_alive = max(max_alive, alive)
        for i in range(OPS):
            k = (n * 7 + i) % 50
            if k not in STATE:                       # check-then-act, no lock
                STATE[k] = n
            STATE.get(k)
            with LOCK:                               # locked updates: exact
                STATE["locked"] = STATE.get("locked", 0) + 1
                ITEMS.append(n)
                COUNTS["locked"] += 1
            m = n % 100                              # a bounded set of keys
            if n % 3 == 0:
                if m not in SEEN:                    # set check-then-act
                    SEEN.add(m)
            else:
                with LOCK:
                    SEEN.add(m)
            if i == 0:                               # let the live threads overlap
                deadline = time.monotonic() + 0.5
                while alive < ALIVE and not last_wave and time.monotonic() < deadline:
                    time.sleep(0.002)
        ITEMS.append(-n - 1)                         # appends commute
    finally:
        with alive_lock:
            alive -= 1
        gate.release()


def churn(start, stop):
    global last_wave
    threads = []
    last_wave = False
    for n in range(start, stop):
        if n >= stop - ALIVE:
            last_wave = True
        gate.acquire()
        t = threading.Thread(target=work, args=(n,), name=f"churn-{n}")
        t.start()
        threads.append(t)
        if len(threads) >= 4 * ALIVE:
            for t in threads:
                t.join()
            threads = []
    for t in threads:
        t.join()


def main():
    cachewatch.start("print_reports=0 thread_leaks=0")
    cachewatch.watch("__main__:STATE")
    cachewatch.watch(ITEMS, name="__main__.ITEMS")
    cachewatch.watch(SEEN, name="__main__.SEEN")
    threads_before = engine_stats()["threads"]
    churn(0, FIRST)
    mem_first = memory()
    churn(FIRST, THREADS)
    mem_last = memory()
    stats = engine_stats()
    findings = cachewatch.findings()
    watched = type(STATE) is not dict and type(ITEMS) is not list and type(SEEN) is not set
    result(threads=THREADS, max_alive=max_alive, ops=OPS,
           locked=STATE["locked"], counted=COUNTS["locked"],
           items=len(ITEMS), seen=len(SEEN), keys=sorted(k for k in STATE if k != "locked"),
           engine_threads=stats["threads"] - threads_before, watched=watched,
           mem_first=mem_first, mem_last=mem_last,
           categories=sorted({f["category"] for f in findings}),
           targets=sorted({f["target"] for f in findings}))
    cachewatch.stop()


if __name__ == "__main__":
    main()
