"""(e) os.fork() while THREADS other threads mutate watched state.

Run with CACHEWATCH_OPTIONS="watch=__main__:STATE json_path=DIR/r.%p.json".
FORKS times, the main thread forks while the mutators run; each child
checks the containers are still watched, makes a known race of its own on
STATE (two threads, check-then-act), watches a new dict, does locked updates
from threads, and exits 0 (its report is written at exit, to its own file).
The parent checks each child's status and that its own locked counters are
exact."""
import os
import sys
import threading
import time

import cachewatch
from _common import engine_stats, result, scale

FORKS = int(sys.argv[1]) if len(sys.argv) > 1 else scale(6, 40)
THREADS = 6
STATE = {}
LIST = []
LOCK = threading.Lock()
stop_flag = False
counts = [0] * THREADS
cachewatch.watch(LIST, name="__main__.LIST")


def mutate(n):
    i = 0
    while not stop_flag:
        i += 1
        with LOCK:
            STATE["total"] = STATE.get("total", 0) + 1
            counts[n] += 1
            LIST.append(i)
            if i % 250 == 0:
                del LIST[:]      # no len() check first: see the report on loops
        STATE[(n, i % 30)] = i
        for _ in list(STATE):
            pass


def child_exit(f):
    """In the forked child: everything must keep working; it ends normally
    (sys.exit: at-exit handlers run and its report is written)."""
    try:
        ok = cachewatch.is_active() and cachewatch._cachewatch.is_watched(LIST)
        fresh = {}
        cachewatch.watch(fresh, name="__main__.fresh")
        lock = threading.Lock()

        def racy():
            for k in range(10):
                if ("child", k) not in STATE:
                    STATE[("child", k)] = f

        def locked():
            for i in range(200):
                with lock:
                    fresh["n"] = fresh.get("n", 0) + 1
                LIST.append(i)
        ts = [threading.Thread(target=racy) for _ in range(2)] + \
             [threading.Thread(target=locked) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        ok = ok and fresh["n"] == 800 and cachewatch._cachewatch.is_watched(fresh)
    except BaseException as exc:  # report, then exit non-zero
        sys.stderr.write(f"child {f}: {exc!r}\n")
        ok = False
    sys.exit(0 if ok else 7)


def main():
    global stop_flag
    ts = [threading.Thread(target=mutate, args=(n,), name=f"mut-{n}") for n in range(THREADS)]
    for t in ts:
        t.start()
    statuses = []
    children = []
    for f in range(FORKS):
        time.sleep(0.05)
        pid = os.fork()
        if pid == 0:
            stop_flag = True   # the mutators are gone in the child anyway
            child_exit(f)
        children.append(pid)
        _, status = os.waitpid(pid, 0)
        statuses.append(os.waitstatus_to_exitcode(status))
    stop_flag = True
    for t in ts:
        t.join()
    result(forks=FORKS, statuses=statuses, children=children, pid=os.getpid(),
           total=STATE["total"], counted=sum(counts), list_len=len(LIST),
           categories=sorted({x["category"] for x in cachewatch.findings()}))


if __name__ == "__main__":
    main()
