"""An OrderedDict LRU cache without a lock: two threads missing a key both load it, and
an eviction (popitem, line 23) falls between another thread's check (16) and act (21)."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: check-then-act __main__.CACHE lines=16,21,23
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
