"""Serialised by re-entered RLocks and by value-1 semaphores (Semaphore and
BoundedSemaphore): each is one lock held across the check and the act."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: none
# RACY-TWIN: dict_check_then_set.py
import threading

CACHE = {}
RLOCK = threading.RLock()
SEM = threading.Semaphore(1)
BOUNDED = threading.BoundedSemaphore(1)


def store(key, value):
    with RLOCK:  # re-entered: the caller holds it already
        CACHE[key] = value


def with_rlock(key):
    with RLOCK:
        if key not in CACHE:
            store(key, 1)


def with_semaphores(key):
    with SEM:
        if key not in CACHE:
            CACHE[key] = 2
    BOUNDED.acquire()
    try:
        CACHE[key + "/b"] = CACHE.get(key + "/b", 0) + 1
    finally:
        BOUNDED.release()


def worker(index):
    for i in range(20):
        with_rlock(f"r{i}")
        with_semaphores(f"s{i}")


def main():
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("entries:", len(CACHE))


if __name__ == "__main__":
    main()
