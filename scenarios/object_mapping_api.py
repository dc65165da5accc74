"""A cache class of one's own, each method under its own lock (so every
single operation is safe), used as `if key not in CACHE: CACHE[key] = load()`:
two threads both miss and both load; the check and the store are two calls."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: check-then-act __main__.CACHE lines=45,48
import collections.abc
import threading
import time


class LockedCache(collections.abc.MutableMapping):
    def __init__(self):
        self._data = {}
        self._lock = threading.Lock()

    def __getitem__(self, key):
        with self._lock:
            return self._data[key]

    def __setitem__(self, key, value):
        with self._lock:
            self._data[key] = value

    def __delitem__(self, key):
        with self._lock:
            del self._data[key]

    def __contains__(self, key):
        with self._lock:
            return key in self._data

    def __iter__(self):
        with self._lock:
            return iter(list(self._data))

    def __len__(self):
        return len(self._data)


CACHE = LockedCache()
LOADS = []


def lookup(key):
    if key not in CACHE:
        time.sleep(0.001)
        LOADS.append(key)
        CACHE[key] = key * 2
    return CACHE[key]


def main():
    threads = [threading.Thread(target=lookup, args=("user-1",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("loads:", len(LOADS))


if __name__ == "__main__":
    main()
