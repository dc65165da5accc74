"""The fixed twin of object_mapping_api: the lookup holds one lock across the
check and the store (the cache's own per-method lock cannot)."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: none
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


LOOKUP = threading.Lock()


def lookup(key):
    with LOOKUP:
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
