"""The fixed twin of dict_logging_lock: the same logging inside the region,
and a real lock held across the check and the insert."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: none
import io
import logging
import threading

CACHE = {}
CACHE_LOCK = threading.Lock()
LOG = logging.getLogger("scenario")
LOG.addHandler(logging.StreamHandler(io.StringIO()))
LOG.setLevel(logging.INFO)
LOG.propagate = False


def lookup(key):
    with CACHE_LOCK:
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
