"""A pool singleton that connects lazily: `if self._conn is None: self._conn
= connect()` from several threads connects more than once, and all but one
connection leak."""
# CACHEWATCH-ARGS: --watch __main__:POOL
# EXPECT: check-then-act __main__.POOL._conn lines=16,18
import threading
import time

CONNECTS = []


class Pool:
    _conn = None

    def connection(self):
        if self._conn is None:
            time.sleep(0.001)
            self._conn = self._connect()
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
    print("connects:", len(CONNECTS))


if __name__ == "__main__":
    main()
