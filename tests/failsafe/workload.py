"""A program that uses everything cachewatch hooks (watched dict, list, set
and global, locks, conditions, queues, an executor, threads) and prints a
checksum of what it computed. tests/python/test_failsafe.py runs it plain and
with an internal failure injected at a chosen point, and compares.

argv: [fail_after] -- make the nth engine allocation after the first race
fail (every one after too); 'plain' runs without cachewatch."""
import concurrent.futures
import hashlib
import queue
import sys
import threading

mode = sys.argv[1] if len(sys.argv) > 1 else "plain"
if mode != "plain":
    import cachewatch
    from cachewatch import _cachewatch
    cachewatch.start({"print_reports": 0, "exitcode": 0})

CACHE = {}
SEEN = set()
LOG = []
COUNT = 0
lock = threading.Lock()
if mode != "plain":
    cachewatch.watch("__main__:CACHE")
    cachewatch.watch("__main__:SEEN")
    cachewatch.watch("__main__:LOG")
    cachewatch.watch("__main__:COUNT")


def racy_fill(n):
    for k in range(n):
        if k not in CACHE:
            CACHE[k] = k * k


def worker(i, q):
    global COUNT
    for k in range(50):
        key = (i * 7 + k) % 40
        with lock:
            CACHE[key] = CACHE.get(key, 0) + 1
            COUNT += 1
        if key not in SEEN:
            with lock:
                SEEN.add(key)
        LOG.append(key)
        q.put(key)


def task(x):
    with lock:
        CACHE[("task", x)] = x
    return sum(range(x))


# A race first: its finding must survive whatever happens after.
first = [threading.Thread(target=racy_fill, args=(20,)) for _ in range(2)]
[t.start() for t in first]
[t.join() for t in first]
if mode != "plain":
    before = len(cachewatch.findings())
    if before == 0:
        sys.exit("the first race was not found")
    _cachewatch._fail_allocations_after(int(mode))

q = queue.Queue()
threads = [threading.Thread(target=worker, args=(i, q)) for i in range(6)]
[t.start() for t in threads]
with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
    results = list(pool.map(task, range(30)))
[t.join() for t in threads]
drained = sorted(q.get() for _ in range(q.qsize()))
cond = threading.Condition()
with cond:
    cond.notify_all()

digest = hashlib.sha256(repr((sorted(CACHE.items(), key=repr), sorted(SEEN), sorted(LOG),
                              COUNT, results, drained)).encode()).hexdigest()
print(digest)
if mode != "plain":
    # Findings made before the failure are kept and still reported.
    print("findings", len(cachewatch.findings()), "before", before, "failed", _cachewatch.has_failed())
