"""The fixed twin of object_singleton_counter: hit() holds the object's lock;
a property reads the count, and attributes set once before the threads start
are only read by them."""
# CACHEWATCH-ARGS: --watch __main__:STATS
# EXPECT: none
import threading


class Stats:
    __slots__ = ("_hits", "_lock", "name")

    def __init__(self):
        self._hits = 0
        self._lock = threading.Lock()
        self.name = "stats"

    def hit(self):
        with self._lock:
            self._hits += 1

    @property
    def hits(self):
        return self._hits


STATS = Stats()


def serve(n):
    for _ in range(n):
        STATS.hit()
        assert STATS.name == "stats"


def main():
    threads = [threading.Thread(target=serve, args=(300,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("hits:", STATS.hits)


if __name__ == "__main__":
    main()
