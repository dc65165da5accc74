"""The fixed twin of object_lazy_connection: double-checked under the pool's
lock; the registry attribute holds a dict whose entries are set under it."""
# CACHEWATCH-ARGS: --watch __main__:POOL
# EXPECT: none
import threading
import time

CONNECTS = []


class Pool:
    _conn = None

    def __init__(self):
        self._lock = threading.Lock()
        self.registry = {}

    def connection(self):
        if self._conn is None:
            with self._lock:
                if self._conn is None:
                    time.sleep(0.001)
                    self._conn = self._connect()
        with self._lock:
            self.registry[threading.get_ident()] = self._conn
        return self._conn

    def _connect(self):
        CONNECTS.append(threading.get_ident())
        return object()


POOL = Pool()


def main():
    threads = [threading.Thread(target=POOL.connection) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("connects:", len(CONNECTS), "registered:", len(POOL.registry))


if __name__ == "__main__":
    main()
