"""An OrderedDict LRU cache: look up, load on a miss, store, evict the oldest.
Without a lock two threads missing the same key both load it, and one
thread's eviction can drop what another just stored."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: check-then-act __main__.CACHE lines=16,21
import collections
import threading
import time

CACHE = collections.OrderedDict()
LIMIT = 8
LOADS = []


def lookup(key):
    value = CACHE.get(key)
    if value is None:
        time.sleep(0)
        LOADS.append(key)
        value = key * 2
        CACHE[key] = value
        if len(CACHE) > LIMIT:
            CACHE.popitem(last=False)
    else:
        CACHE.move_to_end(key)
    return value


def worker():
    for i in range(200):
        lookup(i % 12)


def main():
    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("loads:", len(LOADS))


if __name__ == "__main__":
    main()
