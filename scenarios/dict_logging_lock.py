"""An incidental lock must not hide a race: every worker logs between its
check and its insert, so each takes the logging handler's lock. The handler
lock orders the workers' log calls, not their accesses to the cache."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: check-then-act __main__.CACHE lines=18,20
import io
import logging
import threading

CACHE = {}
LOG = logging.getLogger("scenario")
LOG.addHandler(logging.StreamHandler(io.StringIO()))
LOG.setLevel(logging.INFO)
LOG.propagate = False


def lookup(key):
    if key not in CACHE:
        LOG.info("miss for %s", key)
        CACHE[key] = key.upper()
    return CACHE[key]


def worker():
    for i in range(10):
        lookup(f"k{i}")


def main():
    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("entries:", len(CACHE))


if __name__ == "__main__":
    main()
