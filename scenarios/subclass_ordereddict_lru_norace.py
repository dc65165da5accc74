"""The fixed twin of subclass_ordereddict_lru: the whole lookup holds one
lock (as functools.lru_cache's pure-Python version does)."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: none
import collections
import threading
import time

CACHE = collections.OrderedDict()
LIMIT = 8
LOADS = []
LOCK = threading.RLock()


def lookup(key):
    with LOCK:
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
